"""Lift merges time into the batch for per-sample modules, and equals the 1.1.0 loop.

The reference everywhere is the loop over time that 1.1.0 runs (``torch.stack`` of
``module(x_t)``). A module is merged when it is called once instead of once per step; the
tests count the calls by wrapping ``forward`` (a hook would itself switch the merge off).
"""

from __future__ import annotations

import copy
import pickle
import warnings

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

import norse.torch as snn
from norse.torch.module.lift import _POINTWISE

T = 5


def loop(module, x):
    """What 1.1.0's Lift computes for a stateless module."""
    return torch.stack([module(x_t) for x_t in x.unbind(0)])


def record_calls(module):
    """Wrap ``module.forward`` and return the list of input shapes it is called with."""
    shapes = []
    forward = module.forward

    def recording(x, *args, **kwargs):
        shapes.append(tuple(x.shape))
        return forward(x, *args, **kwargs)

    module.forward = recording
    return shapes


def small_integers(shape, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-3, 4, tuple(shape), generator=gen).double()


def run_both(module, x, integers=False):
    """Forward and backward in float64 through the merge and through the loop.

    Each runs on its own copy of ``module``. Returns ``(merged, looped, calls)``; the first two
    are ``(output, x.grad, [parameter grads])``, ``calls`` the input shapes the merged
    module's forward saw. With ``integers``, the input, the parameters and the output
    gradient are small integers, so that every sum is exact whatever its order.
    """
    module = copy.deepcopy(module).double()
    if integers:
        x = small_integers(x.shape, seed=2)
        with torch.no_grad():
            for k, p in enumerate(module.parameters()):
                p.copy_(small_integers(p.shape, seed=3 + k))
    results = []
    calls = None
    for merged in (True, False):
        m = copy.deepcopy(module)
        xx = x.detach().double().requires_grad_()
        if merged:
            calls = record_calls(m)
            out = snn.Lift(m)(xx)
        else:
            out = loop(m, xx)
        if integers:
            g = small_integers(out.shape, seed=4)
        else:
            g = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
        out.backward(g)
        results.append((out.detach(), xx.grad, [p.grad for p in m.parameters()]))
    return results[0], results[1], calls


def assert_same(merged, looped, exact):
    """Bit for bit, or (``exact=False``) up to float64 rounding."""
    assert merged[0].shape == looped[0].shape and merged[0].dtype == looped[0].dtype
    pairs = [(merged[0], looped[0]), (merged[1], looped[1])]
    pairs += list(zip(merged[2], looped[2], strict=True))
    for got, expected in pairs:
        if exact:
            assert torch.equal(got, expected)
        else:
            torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


# ------------------------------------------------------------- modules merged, per kind
# (name, module factory, shape of one batched step, shape of one unbatched step or None)
SPATIAL_CASES = [
    ("conv1d", lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 11), (3, 11)),
    (
        "conv2d_reflect",
        lambda: nn.Conv2d(3, 4, 3, padding=2, padding_mode="reflect"),
        (2, 3, 7, 6),
        (3, 7, 6),
    ),
    (
        "conv2d_groups_circular",
        lambda: nn.Conv2d(
            4, 6, 3, stride=2, padding=1, dilation=2, groups=2, padding_mode="circular"
        ),
        (2, 4, 9, 8),
        (4, 9, 8),
    ),
    (
        "conv2d_same",
        lambda: nn.Conv2d(2, 3, (3, 5), padding="same", bias=False),
        (2, 2, 6, 5),
        (2, 6, 5),
    ),
    (
        "conv3d_replicate",
        lambda: nn.Conv3d(2, 3, 2, padding=1, padding_mode="replicate"),
        (2, 2, 4, 5, 3),
        (2, 4, 5, 3),
    ),
    (
        "convtranspose1d",
        lambda: nn.ConvTranspose1d(2, 4, 3, stride=2, output_padding=1, groups=2),
        (2, 2, 6),
        (2, 6),
    ),
    (
        "convtranspose2d",
        lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1),
        (2, 3, 4, 5),
        (3, 4, 5),
    ),
    (
        "convtranspose3d",
        lambda: nn.ConvTranspose3d(2, 2, 2, stride=2),
        (2, 2, 3, 2, 3),
        (2, 3, 2, 3),
    ),
    ("maxpool1d", lambda: nn.MaxPool1d(3, stride=2, ceil_mode=True), (2, 3, 10), (3, 10)),
    ("maxpool2d", lambda: nn.MaxPool2d(2, 2), (2, 3, 8, 7), (3, 8, 7)),
    ("maxpool3d", lambda: nn.MaxPool3d(2, padding=1, dilation=2), (2, 2, 5, 5, 4), (2, 5, 5, 4)),
    ("avgpool1d", lambda: nn.AvgPool1d(3, padding=1, count_include_pad=False), (2, 3, 10), (3, 10)),
    ("avgpool2d", lambda: nn.AvgPool2d(3, stride=2, ceil_mode=True), (2, 3, 8, 7), (3, 8, 7)),
    ("avgpool3d", lambda: nn.AvgPool3d(2, divisor_override=3), (2, 2, 4, 4, 4), (2, 4, 4, 4)),
    ("lppool1d", lambda: nn.LPPool1d(2, 3), (2, 3, 9), (3, 9)),
    ("lppool2d", lambda: nn.LPPool2d(4, 2), (2, 3, 6, 6), (3, 6, 6)),
    ("adaptivemaxpool1d", lambda: nn.AdaptiveMaxPool1d(4), (2, 3, 9), (3, 9)),
    ("adaptivemaxpool2d", lambda: nn.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 5), (3, 7, 5)),
    ("adaptivemaxpool3d", lambda: nn.AdaptiveMaxPool3d(2), (2, 2, 5, 4, 3), (2, 5, 4, 3)),
    ("adaptiveavgpool1d", lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 9), (3, 9)),
    ("adaptiveavgpool2d", lambda: nn.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 5), (3, 7, 5)),
    ("adaptiveavgpool3d", lambda: nn.AdaptiveAvgPool3d(2), (2, 2, 5, 4, 3), (2, 5, 4, 3)),
]
if hasattr(nn, "LPPool3d"):
    SPATIAL_CASES.append(("lppool3d", lambda: nn.LPPool3d(2, 2), (2, 2, 4, 4, 4), (2, 4, 4, 4)))


DATA = ["integers", "random"]


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize(
    "name,factory,batched_step,unbatched_step", SPATIAL_CASES, ids=[c[0] for c in SPATIAL_CASES]
)
def test_spatial_layers_merge(name, factory, batched_step, unbatched_step, batched, data):
    step = batched_step if batched else unbatched_step
    x = torch.randn(T, *step, dtype=torch.float64)
    merged, looped, calls = run_both(factory(), x, integers=data == "integers")
    # LPPool's pow() rounds differently in its vectorised code and its scalar tail
    assert_same(merged, looped, exact=data == "integers" and not name.startswith("lppool"))
    # one call: T batches merged into one, or the T unbatched samples as one batch
    expected = (T * step[0], *step[1:]) if batched else (T, *step)
    assert calls == [expected]


@pytest.mark.parametrize("data", DATA)
@pytest.mark.parametrize("step", [(4, 7), (2, 3, 7), (7,), (1, 7)], ids=str)
def test_linear_merges(step, data):
    x = torch.randn(T, *step, dtype=torch.float64)
    merged, looped, calls = run_both(nn.Linear(7, 5), x, integers=data == "integers")
    assert calls == [(T, *step)]  # leading dims are batch dims for Linear: T is one more
    # BLAS rounds a matrix product differently for other row counts (and alignments)
    assert_same(merged, looped, exact=data == "integers")


POINTWISE_FACTORIES = {
    cls.__name__: (lambda cls=cls: cls(0.1, 20.0) if cls is nn.Threshold else cls())
    for cls in sorted(_POINTWISE, key=lambda c: c.__name__)
}
POINTWISE_FACTORIES.update(
    {
        "GELU_tanh": lambda: nn.GELU(approximate="tanh"),
        "Softplus_beta": lambda: nn.Softplus(beta=2.0, threshold=1.0),
        "LeakyReLU_slope": lambda: nn.LeakyReLU(0.3),
        "Hardtanh_range": lambda: nn.Hardtanh(-0.5, 0.25),
    }
)


# Built from single correctly rounded operations (comparisons, +, *, /): the same bits on
# any data. The others call exp/tanh/erf, whose vectorised code and scalar tail round
# differently, and the merge moves the tail.
PIECEWISE_LINEAR = {
    "Identity",
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "LeakyReLU_slope",
    "Hardtanh",
    "Hardtanh_range",
    "Threshold",
    "Hardshrink",
    "Softshrink",
    "Hardsigmoid",
    "Hardswish",
    "Softsign",
}


@pytest.mark.parametrize("step", [(3, 4), (2, 3, 4), ()], ids=["batched", "3d", "scalar_steps"])
@pytest.mark.parametrize("name", sorted(POINTWISE_FACTORIES))
def test_pointwise_modules_merge(name, step):
    x = torch.randn(T, *step, dtype=torch.float64) * 3
    merged, looped, calls = run_both(POINTWISE_FACTORIES[name](), x)
    assert_same(merged, looped, exact=name in PIECEWISE_LINEAR)
    assert calls == [(T, *step)]


EVAL_ONLY = {
    "Dropout": (lambda: nn.Dropout(0.5), (3, 4)),
    "AlphaDropout": (lambda: nn.AlphaDropout(0.5), (3, 4)),
    "FeatureAlphaDropout": (lambda: nn.FeatureAlphaDropout(0.5), (3, 4, 2)),
    "Dropout1d": (lambda: nn.Dropout1d(0.5), (3, 4, 5)),
    "Dropout2d": (lambda: nn.Dropout2d(0.5), (3, 4, 5, 2)),
    "Dropout3d": (lambda: nn.Dropout3d(0.5), (2, 3, 4, 5, 2)),
    "RReLU": (lambda: nn.RReLU(), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(EVAL_ONLY))
def test_random_modules_merge_in_eval_mode_and_loop_in_training(name):
    factory, step = EVAL_ONLY[name]
    x = torch.randn(T, *step, dtype=torch.float64)
    merged, looped, calls = run_both(factory().eval(), x)
    assert_same(merged, looped, exact=True)
    assert len(calls) == 1

    # training: every step draws its own random numbers, in the loop's order
    module = factory().double().train()
    calls = record_calls(module)
    torch.manual_seed(3)
    out = snn.Lift(module)(x)
    assert len(calls) == T
    torch.manual_seed(3)
    assert torch.equal(out, loop(module, x))


def test_dropout_training_merges_on_request():
    torch.manual_seed(0)
    module = nn.Dropout(0.5)
    calls = record_calls(module)
    out = snn.Lift(module, batch_independent=True)(torch.ones(T, 4, 6))
    assert calls == [(T * 4, 6)]
    assert set(out.unique().tolist()) <= {0.0, 2.0}


@pytest.mark.parametrize(
    "flatten,step,merged_shape",
    [
        (nn.Flatten(), (2, 3, 4, 5), (T * 2, 3, 4, 5)),  # batched steps: merge
        (nn.Flatten(2, 3), (2, 3, 4, 5), (T * 2, 3, 4, 5)),
        (nn.Flatten(-3, -2), (2, 3, 4, 5), (T * 2, 3, 4, 5)),
        (nn.Flatten(1, -1), (3, 4, 5), (T * 3, 4, 5)),  # (C, H, W) steps: still a reshape
        (nn.Flatten(-3, -1), (3, 4, 5), (T, 3, 4, 5)),
        (nn.Flatten(-2, -1), (3, 4), (T, 3, 4)),  # negative dims: the same dims of (T, ...)
        (nn.Flatten(1, 1), (3, 4), (T * 3, 4)),
    ],
    ids=["default", "2_3", "neg_batched", "unbatched", "neg3", "neg_all", "noop"],
)
def test_flatten_merges_when_it_keeps_the_steps_first_dim(flatten, step, merged_shape):
    x = torch.randn(T, *step, dtype=torch.float64)
    merged, looped, calls = run_both(flatten, x)
    assert_same(merged, looped, exact=True)
    assert calls == [merged_shape]


@pytest.mark.parametrize(
    "flatten,step",
    [
        (nn.Flatten(0), (2, 3, 4)),  # joins each step's batch dim with its features
        (nn.Flatten(0, 1), (2, 3, 4)),
        (nn.Flatten(-3, -1), (3, 4)),  # -3 is out of range for a 2-d step
        (nn.Flatten(0, -1), (3,)),
        (nn.Flatten(2, 1), (2, 3, 4)),  # start after end: the loop raises
        (nn.Flatten(), ()),  # scalar steps
    ],
    ids=["start0", "0_1", "out_of_range", "1d_start0", "start_after_end", "scalar"],
)
def test_flatten_loops_otherwise(flatten, step):
    x = torch.randn(T, *step)
    calls = record_calls(flatten)
    try:
        expected = loop(flatten, x)
    except Exception as e:  # compare with whatever the loop raises
        with pytest.raises(type(e)) as got:
            snn.Lift(flatten)(x)
        assert str(got.value) == str(e)
    else:
        calls.clear()
        out = snn.Lift(flatten)(x)
        assert torch.equal(out, expected)
        assert len(calls) == T


def test_identity_and_flatten_return_new_tensors_as_the_loop_does():
    for module in (nn.Identity(), nn.Flatten(), nn.Dropout().eval(), nn.Sequential()):
        x = torch.randn(T, 2, 3, 4)
        out = snn.Lift(module)(x)
        assert out.data_ptr() != x.data_ptr()
        out.zero_()
        assert x.abs().sum() > 0


def test_output_strides_follow_the_loop():
    # elementwise on a permuted input: the loop's stack is contiguous, so is the merge
    x = torch.randn(4, 6, T).permute(2, 1, 0)
    out = snn.Lift(nn.ReLU())(x)
    assert out.is_contiguous() and torch.equal(out, loop(nn.ReLU(), x))
    # channels_last steps: each step's output is channels_last, in both
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(T * 2, 3, 6, 6).to(memory_format=torch.channels_last).unflatten(0, (T, 2))
    out, ref = snn.Lift(conv)(x), loop(conv, x)
    assert out.stride() == ref.stride()
    torch.testing.assert_close(out, ref)


def test_non_contiguous_input_and_empty_batch():
    conv = nn.Conv2d(2, 3, 3).double()
    x = torch.randn(3, T, 2, 5, 5, dtype=torch.float64).transpose(0, 1)
    torch.testing.assert_close(snn.Lift(conv)(x), loop(conv, x), rtol=1e-13, atol=1e-14)
    empty = torch.randn(T, 0, 2, 5, 5)
    assert snn.Lift(conv.float())(empty).shape == loop(conv, empty).shape == (T, 0, 3, 3, 3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_merge_on_each_device(device, dtype):
    """Merge vs loop on the device; with integer data every sum is exact on any backend."""
    seq = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect"),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )
    with torch.no_grad():
        for k, p in enumerate(seq.parameters()):
            p.copy_(small_integers(p.shape, seed=10 + k))
    x = small_integers((T, 2, 1, 8, 8), seed=20).to(device, dtype)
    g = small_integers((T, 2, 3), seed=21).to(device, dtype)
    results = []
    for merged in (True, False):
        m = copy.deepcopy(seq).to(device, dtype)
        xx = x.clone().requires_grad_()
        out = snn.Lift(m)(xx) if merged else loop(m, xx)
        out.backward(g)
        results.append([out, xx.grad, *(p.grad for p in m.parameters())])
    for got, expected in zip(*results, strict=True):
        assert got.device.type == device.type and got.dtype == dtype
        assert torch.equal(got, expected)


# ------------------------------------------------------------------------- Sequential
@pytest.mark.parametrize("data", DATA)
def test_sequential_of_known_modules_merges_child_by_child(data):
    seq = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Flatten(), nn.Dropout(0.3)),
        nn.Linear(36, 5),
    ).eval()
    x = torch.randn(T, 2, 1, 8, 8, dtype=torch.float64)
    merged, looped, _ = run_both(seq, x, integers=data == "integers")
    assert_same(merged, looped, exact=data == "integers")

    seq = seq.double()
    calls = [record_calls(m) for m in (seq[0], seq[2], seq[4])]
    snn.Lift(seq)(x)
    assert calls == [[(T * 2, 1, 8, 8)], [(T * 2, 4, 6, 6)], [(T, 2, 36)]]


@pytest.mark.parametrize("data", DATA)
def test_sequential_on_unbatched_steps(data):
    # (C, H, W) steps: Conv2d takes (T, C, H, W) as a batch of T; Flatten() then flattens
    # (H, W) of each step (its start_dim=1 is a step's H), and Linear sees (T, C, H*W)
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(36, 3))
    x = torch.randn(T, 1, 8, 8, dtype=torch.float64)
    merged, looped, _ = run_both(seq, x, integers=data == "integers")
    assert merged[0].shape == (T, 2, 3)
    assert_same(merged, looped, exact=data == "integers")


def test_sequential_with_an_unknown_child_loops_as_a_whole():
    seq = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())  # BN: training mode
    reference = copy.deepcopy(seq)
    calls = [record_calls(m) for m in seq]
    x = torch.randn(T, 6, 3)
    out = snn.Lift(seq)(x)
    assert [len(c) for c in calls] == [T, T, T]
    assert torch.equal(out, loop(reference, x))
    assert torch.equal(seq[1].running_mean, reference[1].running_mean)


def test_sequential_with_two_random_children_keeps_the_loops_random_stream():
    seq = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 4), nn.Dropout(0.5))
    x = torch.ones(T, 3, 4)
    torch.manual_seed(5)
    out = snn.Lift(seq)(x)
    torch.manual_seed(5)
    assert torch.equal(out, loop(seq, x))


# --------------------------------------------------------------------- what stays a loop
def test_stateful_module_loops_and_carries_state():
    cell = snn.LIFCell()
    lifted = snn.Lift(cell)  # before wrapping forward: Lift reads its signature
    calls = record_calls(cell)
    x = torch.rand(T, 2, 3) * 3
    out, state = lifted(x)
    assert len(calls) == T
    s, expected = None, []
    for x_t in x:
        z, s = cell(x_t, s)
        expected.append(z)
    assert torch.equal(out, torch.stack(expected)) and torch.equal(state.v, s.v)


def test_batchnorm_in_training_loops_with_the_loops_statistics():
    bn = nn.BatchNorm2d(3)
    reference = copy.deepcopy(bn)
    calls = record_calls(bn)
    x = torch.randn(T, 4, 3, 5, 5)
    out = snn.Lift(bn)(x)
    assert len(calls) == T
    assert torch.equal(out, loop(reference, x))
    assert torch.equal(bn.running_var, reference.running_var)


class Doubler(nn.Module):
    def forward(self, x):
        return 2 * x


class LinearWithBias(nn.Linear):
    """Overrides forward: its output for one sample depends on the whole batch."""

    def forward(self, x):
        return super().forward(x) + x.mean()


class PlainLinearSubclass(nn.Linear):
    pass


@pytest.mark.parametrize(
    "factory",
    [
        Doubler,
        lambda: LinearWithBias(3, 3),
        lambda: PlainLinearSubclass(3, 3),  # exact types only: a subclass is not trusted
        lambda: nn.ReLU(inplace=True),
        lambda: nn.BatchNorm1d(3).eval(),  # not on the list
        lambda: nn.Softmax(dim=-1),
        lambda: nn.PReLU(3),
    ],
    ids=[
        "user_module",
        "linear_subclass_forward",
        "linear_subclass",
        "inplace",
        "bn_eval",
        "softmax",
        "prelu",
    ],
)
def test_other_modules_loop(factory):
    module = factory()
    x = torch.randn(T, 4, 3)
    expected = loop(copy.deepcopy(module), x.clone())
    calls = record_calls(module)
    out = snn.Lift(module)(x)
    assert len(calls) == T
    assert torch.equal(out, expected)


def test_inplace_activation_keeps_1_1_0_behaviour():
    x = torch.randn(T, 4)
    expected = torch.relu(x)
    out = snn.Lift(nn.ReLU(inplace=True))(x)
    # the loop's steps are views of x: x is changed in place, the output is a new tensor
    assert torch.equal(x, expected) and torch.equal(out, expected)
    assert out.data_ptr() != x.data_ptr()


def test_return_indices_loops_and_raises_like_1_1_0():
    pool = nn.MaxPool2d(2, return_indices=True)
    x = torch.randn(T, 2, 3, 4, 4)
    with pytest.raises(TypeError) as expected:
        loop(pool, x)
    with pytest.raises(TypeError) as got:
        snn.Lift(pool)(x)
    assert str(got.value) == str(expected.value)


def test_hooks_see_one_call_per_step():
    conv = nn.Conv2d(1, 2, 3)
    seen = []
    handle = conv.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape))
    snn.Lift(conv)(torch.randn(T, 4, 1, 5, 5))
    assert seen == [(4, 1, 5, 5)] * T
    handle.remove()

    # a hook on a Sequential's child loops the whole Sequential
    seq = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    handle = seq[1].register_forward_pre_hook(lambda m, inp: seen.append(inp[0].shape))
    seen.clear()
    snn.Lift(seq)(torch.randn(T, 2, 3))
    assert seen == [(2, 3)] * T
    handle.remove()

    # a global hook, and a backward hook
    seen.clear()
    handle = nn.modules.module.register_module_forward_hook(
        lambda m, inp, out: seen.append(type(m).__name__)
    )
    try:
        snn.Lift(nn.Linear(3, 3))(torch.randn(T, 2, 3))
    finally:
        handle.remove()
    assert seen.count("Linear") == T
    linear = nn.Linear(3, 3)
    linear.register_full_backward_hook(lambda m, gi, go: seen.append("backward"))
    seen.clear()
    snn.Lift(linear)(torch.randn(T, 2, 3, requires_grad=True)).sum().backward()
    assert seen == ["backward"] * T


def test_opt_out_and_marks():
    x = torch.randn(T, 2, 3)
    # batch_independent=False loops even known modules
    linear = nn.Linear(3, 3)
    calls = record_calls(linear)
    lifted = snn.Lift(linear, batch_independent=False)
    lifted(x)
    assert len(calls) == T
    # ... and is an attribute that can be switched
    calls.clear()
    lifted.batch_independent = None
    lifted(x)
    assert len(calls) == 1

    # an instance (or class) marked False loops
    linear = nn.Linear(3, 3)
    linear.lift_batch_independent = False
    calls = record_calls(linear)
    snn.Lift(linear)(x)
    assert len(calls) == T

    # a class marked True merges, also inside a Sequential
    class Scale(nn.Module):
        lift_batch_independent = True

        def forward(self, x):
            return 3 * x

    scale = Scale()
    calls = record_calls(scale)
    out = snn.Lift(nn.Sequential(nn.Linear(3, 3), scale))(x)
    assert calls == [(T * 2, 3)] and out.shape == (T, 2, 3)

    # the argument does it for one instance; the result equals the loop
    doubler = Doubler()
    calls = record_calls(doubler)
    out = snn.Lift(doubler, batch_independent=True)(x)
    assert calls == [(T * 2, 3)] and torch.equal(out, 2 * x)


def test_marked_module_that_breaks_the_promise_raises():
    class Mean(nn.Module):
        def forward(self, x):
            return x.mean(0)

    with pytest.raises(ValueError, match="batch-independent.*batch_independent=False"):
        snn.Lift(Mean(), batch_independent=True)(torch.randn(T, 4, 3))
    # scalar steps cannot be a batch: looped
    assert snn.Lift(Doubler(), batch_independent=True)(torch.ones(T)).shape == (T,)


# -------------------------------------------------------------------- 1.1.0 behaviours
def test_tuple_input_attributes_state_dict_and_repr():
    conv = nn.Conv2d(1, 2, 3)
    lifted = snn.Lift(conv)
    assert lifted.lifted_module is conv and lifted.is_stateful is False
    assert lifted.batch_independent is None
    x = torch.randn(T, 2, 1, 5, 5)
    assert torch.equal(lifted((x, "dropped state")), lifted(x))
    assert list(lifted.state_dict()) == ["lifted_module.weight", "lifted_module.bias"]
    assert repr(lifted) == "Lift(\n  (lifted_module): " + repr(conv) + "\n)"
    assert "batch_independent=False" in repr(snn.Lift(conv, batch_independent=False))


def test_pickle_and_an_old_pickle_without_the_argument():
    lifted = snn.Lift(nn.Linear(3, 2), batch_independent=False)
    copy_ = pickle.loads(pickle.dumps(lifted))
    assert copy_.batch_independent is False
    x = torch.randn(T, 3)
    assert torch.equal(copy_(x), lifted(x))
    del copy_.__dict__["batch_independent"]  # as unpickled from before the argument existed
    assert copy_.batch_independent is None
    torch.testing.assert_close(copy_(x), lifted(x))


@pytest.mark.parametrize("batch_independent", [None, True, False])
@pytest.mark.parametrize(
    "module", [nn.Conv2d(1, 2, 3), nn.Linear(2, 2), nn.ReLU(), snn.LIFCell()], ids=repr
)
def test_errors_for_bad_input_unchanged(module, batch_independent):
    if batch_independent and isinstance(module, snn.LIFCell):
        return
    lifted = snn.Lift(module, batch_independent=batch_independent)
    with pytest.raises(
        ValueError, match=r"non-empty time dimension first, \(T, \.\.\.\), got shape \(0, 2\)"
    ):
        lifted(torch.ones(0, 2))
    with pytest.raises(ValueError, match="time dimension"):
        lifted(torch.tensor(1.0))
    with pytest.raises(TypeError, match="Lift: input must be a torch.Tensor"):
        lifted([1.0, 2.0])


def test_constructor_errors():
    with pytest.raises(TypeError, match="batch_independent must be True, False or None"):
        snn.Lift(nn.Linear(2, 2), batch_independent="yes")
    with pytest.raises(ValueError, match="stateful"):
        snn.Lift(snn.LIFCell(), batch_independent=True)
    with pytest.raises(TypeError, match="nn.Module"):
        snn.Lift(3)


@pytest.mark.parametrize(
    "module,x",
    [
        (nn.Conv2d(3, 4, 3), torch.randn(T, 2, 1, 5, 5)),  # wrong channel count
        (nn.Conv2d(1, 4, 3), torch.randn(T, 2, 1, 2, 2)),  # image smaller than the kernel
        (nn.Linear(3, 2), torch.randn(T, 2, 4)),  # wrong feature count
        (nn.MaxPool2d(3), torch.randn(T, 2, 1, 2, 2)),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(3, 2)), torch.randn(T, 2, 3)),
    ],
    ids=["channels", "small_image", "features", "pool", "sequential"],
)
def test_inner_module_errors_are_the_loops(module, x):
    with pytest.raises(RuntimeError) as expected:
        loop(module, x)
    with pytest.raises(RuntimeError) as got:
        snn.Lift(module)(x)
    assert str(got.value) == str(expected.value)


# -------------------------------------------------------------- hypothesis: any shape
# each module with a step-shape tail that fits it, so that draws also reach the merge
MODULES_FOR_SHAPES = {
    "conv2d": (lambda: nn.Conv2d(2, 3, 2), (2, 3, 3)),
    "conv1d": (lambda: nn.Conv1d(2, 1, 2, padding=1, padding_mode="circular"), (2, 3)),
    "linear": (lambda: nn.Linear(2, 3), (2,)),
    "maxpool2d": (lambda: nn.MaxPool2d(2), (2, 2)),
    "adaptiveavgpool2d": (lambda: nn.AdaptiveAvgPool2d(1), (1, 2)),
    "flatten": (lambda: nn.Flatten(), ()),
    "flatten_neg": (lambda: nn.Flatten(-2, -1), ()),
    "dropout2d_eval": (lambda: nn.Dropout2d().eval(), ()),
    "tanh": (lambda: nn.Tanh(), ()),
    "sequential": (
        lambda: nn.Sequential(nn.Conv1d(2, 2, 1), nn.Flatten(), nn.Linear(2, 2)),
        (2, 1),
    ),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(MODULES_FOR_SHAPES)),
    head=st.lists(st.integers(0, 3), min_size=1, max_size=4).map(tuple),
    fit=st.booleans(),
)
def test_any_input_shape_gives_the_loops_result_or_error(name, head, fit):
    factory, tail = MODULES_FOR_SHAPES[name]
    module = factory().double()
    shape = head + tail if fit else head
    x = torch.randn(shape, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if shape[0] == 0:
            with pytest.raises(ValueError, match="time dimension"):
                snn.Lift(module)(x)
            return
        try:
            expected = loop(module, x)
        except Exception as e:  # whatever the loop raises, Lift raises
            event("error")
            with pytest.raises(type(e)) as got:
                snn.Lift(module)(x)
            assert str(got.value) == str(e)
            return
        event("result")
        out = snn.Lift(module)(x)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-13, atol=1e-14, equal_nan=True)


# --------------------------------------------------------------------- seed quickstart
def test_seed_quickstart_merges_the_convolution():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 20, 5, 1)

    def model(c):
        return snn.SequentialState(
            snn.Lift(c),
            snn.LIFCell(),
            nn.MaxPool2d(2, 2),
            snn.LIFCell(),
            nn.Flatten(),
            snn.LICell(),
        )

    merged = model(conv)
    calls = record_calls(conv)
    data = torch.randn(8, 1, 28, 28)
    out, state = merged(data)
    assert calls == [(8, 1, 28, 28)]  # was 8 single-image convolutions
    looped = model(conv)
    looped[0].batch_independent = False
    ref, ref_state = looped(data)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(state[1].v, ref_state[1].v)
