"""What code written for Norse 1.1.0 passes to the modules, and what must be refused clearly.

Sizes as numpy integers, parameter tuples of a related model, ``module.p`` / ``module.dt``
assigned after construction, states of the wrong class or shape, per-neuron parameters of the
wrong size: each either works as in 1.1.0 or raises a ``TypeError`` / ``ValueError`` naming
the module, the argument, what was expected and what was got.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import norse.torch as snn
from norse.torch._registry import MODELS, module_classes
from norse.torch.functional.leaky_integrator import LIParameters, LIState
from norse.torch.functional.leaky_integrator_box import LIBoxParameters, LIBoxState
from norse.torch.functional.lif import LIFParameters
from norse.torch.functional.lif_box import LIFBoxFeedForwardState
from norse.torch.functional.lif_refrac import LIFRefracParameters
from norse.torch.functional.lsnn import LSNNParameters

IN, HID = 3, 4
RECURRENT = ("recurrent_cell", "recurrent")
LAYERS = ("layer", "recurrent")

CASES = [
    pytest.param(spec, kind, id=f"{spec.name}-{kind}")
    for spec in MODELS
    for kind in module_classes(spec)
]
RECURRENT_CASES = [c for c in CASES if c.values[1] in RECURRENT]


def make(spec, kind, model_kwargs, **extra):
    cls = module_classes(spec)[kind]
    kwargs = {**model_kwargs(spec.name), **extra}
    return cls(IN, HID, **kwargs) if kind in RECURRENT else cls(**kwargs)


def make_input(kind: str, batch: int = 2, features: int = IN) -> torch.Tensor:
    shape = (batch, features)
    return torch.rand((5, *shape) if kind in LAYERS else shape)


def neurons(kind: str, x: torch.Tensor) -> tuple[int, ...]:
    step = x.shape[1:] if kind in LAYERS else x.shape
    return (*step[:-1], HID) if kind in RECURRENT else tuple(step)


def leaves(state):
    for value in state:
        if isinstance(value, tuple):
            yield from leaves(value)
        else:
            yield value


def map_leaves(state, fn):
    return type(state)(*(map_leaves(v, fn) if isinstance(v, tuple) else fn(v) for v in state))


# ----------------------------------------------------------------------------- sizes
SIZES = [np.int64(IN), np.int32(IN), np.prod((1, IN)), torch.tensor(IN)]


@pytest.mark.parametrize("size", SIZES, ids=["int64", "int32", "prod", "tensor"])
@pytest.mark.parametrize("spec, kind", RECURRENT_CASES)
def test_recurrent_sizes_accept_any_integer(spec, kind, size, model_kwargs):
    cls = module_classes(spec)[kind]
    m = cls(size, np.int64(HID), **model_kwargs(spec.name))
    assert int(m.input_size) == IN and int(m.hidden_size) == HID
    out, _ = m(make_input(kind))
    assert out.shape[-1] == HID


@pytest.mark.parametrize("bad", [True, 2.0, np.float64(2.0), "3", np.bool_(True)])
def test_sizes_refuse_non_integers(bad):
    with pytest.raises(TypeError, match=r"LIFRecurrentCell: input_size must be an integer"):
        snn.LIFRecurrentCell(bad, HID)
    with pytest.raises(ValueError, match="LIFRecurrentCell: hidden_size must be positive"):
        snn.LIFRecurrentCell(IN, np.int64(0))


def test_sizes_everywhere_accept_numpy_integers():
    """Every public constructor or function that takes a size (a real Norse script writes
    ``LIFRecurrentCell(np.prod(sensor_size), 100)``)."""
    from norse.torch.functional.encode import population_encode
    from norse.torch.models.conv import ConvNet
    from norse.torch.models.vgg import make_layers
    from norse.torch.module.exp_filter import ExpFilter
    from norse.torch.module.lif_correlation import LIFCorrelation

    n = np.int64
    x = torch.rand(2, 3)
    assert snn.LIFRecurrentCell(np.prod((1, 3)), n(5))(x)[0].shape == (2, 5)
    assert snn.LILinearCell(n(3), n(5))(x)[0].shape == (2, 5)
    assert snn.LIFMCRecurrentCell(n(3), n(5))(x)[0].shape == (2, 5)
    assert snn.LIFMCRefracRecurrentCell(n(3), n(5))(x)[0].shape == (2, 5)
    assert snn.CobaLIFCell(n(3), n(5))(x)[0].shape == (2, 5)
    w_in, w_rec = torch.rand(5, 3), torch.rand(5, 5)
    assert LIFCorrelation(n(3), n(5))(x, w_in, w_rec)[0].shape == (2, 5)
    assert ExpFilter(n(3), n(5))(torch.rand(4, 2, 3)).shape == (4, 2, 5)
    assert snn.PopulationEncoder(n(4))(torch.rand(3)).shape == (3, 4)
    assert population_encode(torch.rand(3), n(4)).shape == (3, 4)
    assert snn.PoissonEncoder(n(6))(torch.rand(3)).shape == (6, 3)
    assert snn.RecurrentSequential(snn.LIFCell(), output_modules=n(0)).output_modules == 0
    assert isinstance(make_layers([n(4), "M"]), nn.Sequential)
    assert ConvNet(n(1), n(28))(torch.rand(2, 1, 1, 28, 28)).shape == (2, 1, 10)


# ----------------------------------------------------------------------------- duck-typed p
def test_parameters_of_a_related_model_are_converted():
    """NIR example code writes ``LIBoxCell(p=LIParameters(tau_mem_inv=...))``."""
    tau = torch.tensor(50.0)
    given = snn.LIBoxCell(p=LIParameters(tau_mem_inv=tau, v_leak=torch.tensor(0.5)))
    own = snn.LIBoxCell(p=LIBoxParameters(tau_mem_inv=tau, v_leak=torch.tensor(0.5)))
    assert type(given.p) is LIBoxParameters
    assert given.p.tau_mem_inv is tau  # the user's tensor, kept
    x = torch.rand(2, 3)
    torch.testing.assert_close(given(x)[0], own(x)[0], rtol=0, atol=0)
    # also on assignment, and for the layer
    layer = snn.LIBox()
    layer.p = LIParameters(tau_mem_inv=tau)
    assert type(layer.p) is LIBoxParameters


def test_nested_parameter_tuples_are_converted():
    from typing import NamedTuple

    class MyRefrac(NamedTuple):
        lif: LIParameters  # no threshold fields: refused below
        rho_reset: torch.Tensor
        comment: str = "extra fields are ignored"

    class MyLIF(NamedTuple):
        tau_syn_inv: torch.Tensor
        tau_mem_inv: torch.Tensor
        v_leak: torch.Tensor
        v_th: torch.Tensor
        v_reset: torch.Tensor
        method: str
        alpha: torch.Tensor

    lif = MyLIF(*LIFParameters(v_th=torch.tensor(0.5)))
    cell = snn.LIFRefracCell(p=MyRefrac(lif, torch.tensor(3.0)))
    assert type(cell.p) is LIFRefracParameters and type(cell.p.lif) is LIFParameters
    assert float(cell.p.lif.v_th) == 0.5 and float(cell.p.rho_reset) == 3.0
    with pytest.raises(TypeError, match=r"LIFRefracCell: p must be a LIFParameters.*v_th"):
        snn.LIFRefracCell(p=MyRefrac(LIParameters(), torch.tensor(3.0)))


def test_parameters_missing_a_field_are_refused_by_name():
    with pytest.raises(TypeError, match=r"LIFBoxCell: p must be a LIFBoxParameters.*v_th"):
        snn.LIFBoxCell(p=LIParameters())
    with pytest.raises(TypeError, match=r"LIFCell: p must be a LIFParameters.*got dict"):
        snn.LIFCell(p={"v_th": 1.0})
    with pytest.raises(TypeError, match="LIFCell takes its size from the input"):
        snn.LIFCell(p=np.int64(10))


# ----------------------------------------------------------------------------- p and dt on set
def _with_nan(p):
    """``p`` with its first floating field (nested tuples included) set to NaN."""
    for name in p._fields:
        value = getattr(p, name)
        if hasattr(value, "_fields"):
            found = _with_nan(value)
            if found is not None:
                return p._replace(**{name: found[0]}), found[1]
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            return p._replace(**{name: torch.tensor(math.nan)}), name
        elif isinstance(value, float):
            return p._replace(**{name: math.nan}), name
    return None


@pytest.mark.parametrize("spec, kind", CASES)
def test_p_and_dt_are_checked_when_assigned(spec, kind, model_kwargs):
    m = make(spec, kind, model_kwargs)
    p = m.p
    bad, name = _with_nan(p)
    who = type(m).__name__
    with pytest.raises(ValueError, match=rf"{who}: parameter {name} (contains|is) NaN"):
        m.p = bad
    assert m.p is p  # a refused assignment changes nothing
    with pytest.raises(TypeError, match=rf"{who}: p must be"):
        m.p = object()
    for bad_dt, error in ((-0.001, ValueError), (0, ValueError), (math.nan, ValueError)):
        with pytest.raises(error, match=rf"{who}: dt must be a positive number"):
            m.dt = bad_dt
    with pytest.raises(TypeError, match=rf"{who}: dt must be a number"):
        m.dt = "1"
    assert m.dt == 0.001
    m.dt = np.float64(0.002)
    assert m.dt == 0.002 and type(m.dt) is float
    m.dt = np.float32(0.5)  # any real number (numpy's float32 is no python float)
    assert m.dt == 0.5 and type(m.dt) is float


def test_negative_time_constants_are_refused():
    with pytest.raises(ValueError, match=r"LIFCell: parameter tau_mem_inv .* must not be negative"):
        snn.LIFCell(p=LIFParameters(tau_mem_inv=torch.tensor(-100.0)))
    cell = snn.LIFCell()
    with pytest.raises(ValueError, match=r"LIFCell: parameter tau_syn_inv .* must not be negative"):
        cell.p = LIFParameters(tau_syn_inv=torch.tensor([1.0, -2.0]))
    with pytest.raises(ValueError, match="must not be negative"):
        snn.LSNNCell(p=LSNNParameters(tau_adapt_inv=-1.0))


def test_other_modules_check_p_and_dt_when_assigned():
    from norse.torch.module.lif_correlation import LIFCorrelation

    for m in (snn.LILinearCell(2, 3), LIFCorrelation(2, 3), snn.LIFMCRecurrentCell(2, 3)):
        with pytest.raises(ValueError, match=rf"{type(m).__name__}: dt must be"):
            m.dt = -1.0
        with pytest.raises(TypeError, match=rf"{type(m).__name__}: p must be"):
            m.p = object()
    encoder = snn.ConstantCurrentLIFEncoder(5)
    with pytest.raises(
        ValueError, match="ConstantCurrentLIFEncoder: parameter tau_mem_inv contains NaN"
    ):
        encoder.p = LIFParameters(tau_mem_inv=torch.tensor(math.nan))


# ----------------------------------------------------------------------------- states
def test_a_state_of_another_model_is_refused_by_name():
    x = torch.rand(5, 2, 3)
    with pytest.raises(
        TypeError, match=r"LIF: state must be LIFFeedForwardState\(v, i\).*got LIBoxState\(v\)"
    ):
        snn.LIF()(x, LIBoxState(v=torch.zeros(2, 3)))
    with pytest.raises(TypeError, match=r"LIFCell: state must be LIFFeedForwardState.*got tuple"):
        snn.LIFCell()(x[0], (torch.zeros(2, 3), torch.zeros(2, 3)))
    with pytest.raises(TypeError, match="LIFCell: state must be .*got Tensor"):
        snn.LIFCell()(x[0], torch.zeros(2, 3))
    # a tuple with the same fields (another model's, or the user's own) is fine
    z, s = snn.LIFCell()(x[0], LIState(v=torch.zeros(2, 3), i=torch.zeros(2, 3)))
    assert z.shape == (2, 3)


@pytest.mark.parametrize("spec, kind", CASES)
def test_a_state_of_a_wrong_type_is_refused(spec, kind, model_kwargs):
    m = make(spec, kind, model_kwargs)
    x = make_input(kind)
    _, state = m(x)
    other = LIFBoxFeedForwardState(v=torch.zeros(neurons(kind, x)))
    if getattr(state, "_fields", None) == other._fields:
        other = LIBoxState(v=torch.zeros(neurons(kind, x)))._replace()
        other = (other.v,)  # a plain tuple
    with pytest.raises(
        TypeError, match=rf"{type(m).__name__}: state must be {type(state).__name__}"
    ):
        m(x, other)


@pytest.mark.parametrize("spec, kind", CASES)
def test_a_state_of_a_smaller_batch_or_neuron_count_is_refused(spec, kind, model_kwargs):
    """Broadcasting would return outputs and states of mixed shapes (LSNN: the old shape)."""
    m = make(spec, kind, model_kwargs)
    x = make_input(kind, batch=3)
    _, state = m(x)
    shape = neurons(kind, x)
    cuts = (lambda t: t[:1], lambda t: t[..., :1], lambda t: t[0])  # batch 1, 1 neuron, no batch
    for index, leaf in enumerate(leaves(state)):
        if not leaf.dim():
            continue
        for cut in cuts:
            position = iter(range(100))

            def one(t, index=index, cut=cut, position=position):
                return cut(t) if next(position) == index else t

            with pytest.raises(
                ValueError,
                match=rf"{type(m).__name__}: state\.\S+ has shape .* but the input's neurons "
                rf"have shape \({shape[0]}, {shape[1]}\)",
            ):
                m(x, map_leaves(state, one))


def _leaf_names(state):
    for name, value in zip(state._fields, state, strict=True):
        if isinstance(value, tuple):
            yield from _leaf_names(value)
        else:
            yield name


@pytest.mark.parametrize("spec, kind", CASES)
def test_zero_dim_state_values_still_broadcast(spec, kind, model_kwargs):
    """Only 0-dim values broadcast (a resting value, as several 1.1.0 cells start with), and
    not in the fields that must carry the neurons' shape (``spec.full_fields``)."""
    m = make(spec, kind, model_kwargs)
    x = make_input(kind)
    _, state = m(x)
    order = iter(list(_leaf_names(state)))

    def scalar(t):
        name = next(order)
        return t.detach().reshape(-1)[0].clone() if t.dim() and name not in spec.full_fields else t

    out, new = m(x, map_leaves(state, scalar))
    assert out.shape == (*x.shape[:-1], neurons(kind, x)[-1])
    assert all(t.shape in (torch.Size(()), torch.Size(neurons(kind, x))) for t in leaves(new))
    for full in set(_leaf_names(state)) & set(spec.full_fields):
        names = iter(list(_leaf_names(state)))

        def only(t, full=full, names=names):
            return t.detach().reshape(-1)[0].clone() if next(names) == full else t

        with pytest.raises(
            ValueError,
            match=rf"{type(m).__name__}: state\.(\w+\.)?{full} has shape \(\), but the input's neurons have shape",
        ):
            m(x, map_leaves(state, only))


@pytest.mark.parametrize("cls", [snn.LSNNCell, snn.LSNN])
def test_lsnn_with_a_batch_one_state_raises(cls):
    x = torch.rand(5, 4, 2) if cls is snn.LSNN else torch.rand(4, 2)
    m = cls()
    _, s = m(x[:1] if cls is snn.LSNNCell else x[:, :1])
    with pytest.raises(ValueError, match=rf"{cls.__name__}: state\.v has shape \(1, 2\)"):
        m(x, s)


# ----------------------------------------------------------------------------- parameter shapes
@pytest.mark.parametrize("spec, kind", CASES)
def test_a_per_neuron_parameter_of_another_size_is_refused(spec, kind, model_kwargs):
    m = make(spec, kind, model_kwargs)
    x = make_input(kind)
    p = m.p
    inner_name = next((f for f in p._fields if hasattr(getattr(p, f), "_fields")), None)
    inner = getattr(p, inner_name) if inner_name else p
    field = next(
        f
        for f in inner._fields
        if isinstance(getattr(inner, f), (torch.Tensor, float, int)) and "alpha" not in f
    )
    wide = torch.full((5,), float(torch.as_tensor(getattr(inner, field)).reshape(-1)[0]))
    inner = inner._replace(**{field: wide})
    m.p = p._replace(**{inner_name: inner}) if inner_name else inner
    n = neurons(kind, x)
    with pytest.raises(
        ValueError,
        match=rf"{type(m).__name__}: parameter \S*{field} has shape \(5,\), but the neurons have shape \({n[0]}, {n[1]}\)",
    ):
        m(x)


def test_per_neuron_parameter_on_one_neuron_is_refused():
    """The issue's case: ``v_th`` of five values on one neuron silently gave five neurons."""
    cell = snn.LIFCell(p=LIFParameters(v_th=torch.ones(5)))
    with pytest.raises(
        ValueError,
        match=r"LIFCell: parameter v_th has shape \(5,\), but the neurons have shape \(2, 1\); give it shape \(1,\) or \(2, 1\)",
    ):
        cell(torch.rand(2, 1))
    # values that fit broadcast as before: (N,), (1, N), (B, N)
    for shape in ((3,), (1, 3), (2, 3)):
        z, s = snn.LIFCell(p=LIFParameters(v_th=torch.ones(shape)))(torch.rand(2, 3))
        assert z.shape == (2, 3)


# ----------------------------------------------------------------------------- messages
@pytest.mark.parametrize("spec, kind", RECURRENT_CASES)
def test_too_few_dimensions_name_the_module_and_the_expected_shape(spec, kind, model_kwargs):
    m = make(spec, kind, model_kwargs)
    x = torch.tensor(1.0) if kind == "recurrent_cell" else torch.rand(IN)
    with pytest.raises(
        ValueError, match=rf"{type(m).__name__}: input_tensor needs at least"
    ) as info:
        m(x)
    message = str(info.value)
    assert "input_size" in message
    assert ("time first" in message) == (kind == "recurrent")


@pytest.mark.parametrize("spec, kind", [c for c in CASES if c.values[1] in LAYERS])
def test_an_empty_sequence_names_the_module(spec, kind, model_kwargs):
    m = make(spec, kind, model_kwargs)
    with pytest.raises(ValueError, match=rf"{type(m).__name__}: input_tensor has no time steps"):
        m(make_input(kind)[:0])


# ----------------------------------------------------------------------------- checks cached
def test_checks_run_again_when_what_they_depend_on_changes():
    """The checks are skipped for a repeated signature; every change that could make a call
    invalid is seen."""
    cell = snn.LIFRecurrentCell(IN, HID)
    x = torch.rand(2, IN)
    z, s = cell(x)
    cell(x, s)
    with pytest.raises(ValueError, match="state.v has shape"):  # other state shape
        cell(x, s._replace(v=s.v[:1]))
    with pytest.raises(ValueError, match="features"):  # other input shape
        cell(torch.rand(2, IN + 1))
    cell.double()  # other weight dtype
    with pytest.raises(TypeError, match="input_weights has dtype torch.float64"):
        cell(x)
    cell.float()
    cell(x)
    cell.p = cell.p._replace(v_th=torch.ones(HID + 1))  # other parameter shape
    with pytest.raises(ValueError, match="parameter v_th"):
        cell(x)
    cell.p = cell.p._replace(v_th=torch.ones(HID))
    cell(x)
    cell.input_weights = nn.Parameter(torch.rand(HID, IN, dtype=torch.float64))
    with pytest.raises(TypeError, match="input_weights has dtype"):
        cell(x)


def test_p_is_read_once_and_rebuilt_when_a_tensor_is_replaced():
    cell = snn.LIFCell()
    p = cell.p
    assert cell.p is p  # cached
    cell.double()
    assert cell.p is not p and cell.p.v_th.dtype == torch.float64
    # functional_call replaces the tensors in the module's dicts directly
    from norse.torch.module._parameters import CHILD

    x = torch.full((2, 3), 50.0, dtype=torch.float64)
    swapped = torch.func.functional_call(
        cell, {f"{CHILD}.v_th": torch.tensor(1e3, dtype=torch.float64)}, (x,)
    )
    assert swapped[0].sum() == 0
    assert cell(x)[0].sum() > 0  # and back


# ----------------------------------------------------------------------------- LILinearCell, LIFMC
def test_li_linear_cell_runs_on_the_shared_machinery():
    cell = snn.LILinearCell(IN, HID)
    x = torch.rand(2, IN)
    v, s = cell(x)
    assert v.shape == (2, HID) and type(s) is LIState and s.v.shape == (2, HID)
    assert isinstance(cell.input_size, int) and isinstance(cell.hidden_size, int)  # as 1.1.0
    assert cell.p.v_leak.shape == ()
    cell.p = LIParameters(tau_mem_inv=torch.tensor(50.0))  # 1.1.0 has a p setter
    assert float(cell.p.tau_mem_inv) == 50.0
    with pytest.raises(TypeError, match="LILinearCell: input_tensor has dtype torch.int64"):
        cell(torch.ones(2, IN, dtype=torch.int64))
    with pytest.raises(TypeError, match="LILinearCell: input_tensor has dtype torch.float64"):
        cell(x.double())
    with pytest.raises(ValueError, match="LILinearCell: input has 2 features but input_size=3"):
        cell(torch.rand(2, 2))
    with pytest.raises(ValueError, match=r"LILinearCell: state\.i has shape \(1, 4\)"):
        cell(x, s._replace(i=s.i[:1]))
    with pytest.raises(ValueError, match="LILinearCell: parameter tau_mem_inv has shape"):
        snn.LILinearCell(IN, HID, p=LIParameters(tau_mem_inv=torch.ones(HID + 1)))(x)
    cell.double()
    assert cell(x.double())[0].dtype == torch.float64


@pytest.mark.parametrize("cls", [snn.LIFMCRecurrentCell, snn.LIFMCRefracRecurrentCell])
def test_multi_compartment_cells_have_a_spec_and_check_parameters(cls):
    from norse.torch.functional import lif_mc, lif_mc_refrac

    assert cls.spec in (lif_mc.SPEC, lif_mc_refrac.SPEC)
    cell = cls(IN, HID)
    x = torch.rand(2, IN)
    z, s = cell(x)
    assert z.shape == (2, HID)
    p = cell.p
    wide = torch.ones(HID + 3)
    cell.p = (
        p._replace(lif=p.lif._replace(v_th=wide)) if hasattr(p, "lif") else p._replace(v_th=wide)
    )
    with pytest.raises(ValueError, match=rf"{cls.__name__}: parameter \S*v_th has shape \(7,\)"):
        cell(x)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: unknown method"):
        cls(
            IN,
            HID,
            p=LIFParameters(method="nope")
            if cls is snn.LIFMCRecurrentCell
            else LIFRefracParameters(LIFParameters(method="nope")),
        )
    with pytest.raises(TypeError, match=rf"{cls.__name__}: state must be"):
        cls(IN, HID)(x, LIBoxState(torch.zeros(2, HID)))


# ----------------------------------------------------------------------------- compile
def test_lif_box_cell_compiles_with_a_state_that_requires_grad():
    cell = snn.LIFBoxCell()
    compiled = torch.compile(cell)
    x = torch.rand(4, 8) * 3
    for v in (torch.zeros(4, 8, requires_grad=True), torch.zeros((), requires_grad=True)):
        z, s = compiled(x, LIFBoxFeedForwardState(v))
        z, s = compiled(x, s)
        (z.sum() + s.v.sum()).backward()
        assert v.grad is not None and torch.isfinite(v.grad).all()
        z_eager, s_eager = cell(x, cell(x, LIFBoxFeedForwardState(v.detach()))[1])
        torch.testing.assert_close(s.v.detach(), s_eager.v.detach())
    _, state = cell(x)  # the eager initial state: v a leaf that requires grad
    assert state.v.requires_grad
    z, s = compiled(x, state)
    s.v.sum().backward()


# ----------------------------------------------------------------------------- surrogates
def test_surrogates_without_argument_binding_keep_every_path():
    """The surrogate Functions skip ``Function.apply``'s signature binding; autograd,
    functorch and torch.compile still see the same function."""
    from norse.torch.functional.threshold import threshold

    x = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
    z = threshold(x, "super", torch.tensor(1.0))
    assert type(z.grad_fn).__name__ == "SuperSpikeBackward"
    (g,) = torch.autograd.grad(z.sum(), x)
    torch.testing.assert_close(g, 1 / (x.detach().abs() + 1) ** 2)
    g_func = torch.func.grad(lambda t: threshold(t, "super", 1.0).sum())(x.detach())
    torch.testing.assert_close(g_func, g)
    compiled = torch.compile(lambda t: threshold(t, "super", 1.0))
    torch.testing.assert_close(compiled(x), z)


def test_nested_parameters_are_rebuilt_after_any_change_in_the_tree():
    import copy
    import pickle

    from norse.torch.module._parameters import CHILD

    cell = snn.LIFRefracCell()
    p = cell.p
    assert cell.p is p
    x = torch.full((2, 3), 50.0)
    swapped = torch.func.functional_call(cell, {f"{CHILD}.lif.v_th": torch.tensor(1e3)}, (x,))
    assert swapped[0].sum() == 0 and cell(x)[0].sum() > 0
    for copied in (copy.deepcopy(cell), pickle.loads(pickle.dumps(cell))):
        q = copied.p
        copied.double()  # a change in the nested child is seen from the top
        assert copied.p is not q and copied.p.lif.v_th.dtype == torch.float64
    cell.get_submodule(f"{CHILD}.lif").v_th = torch.tensor(7.0)
    assert float(cell.p.lif.v_th) == 7.0


def test_the_cached_checks_are_not_pickled():
    import copy
    import pickle

    cell = snn.LIFRecurrentCell(IN, HID)
    cell(torch.rand(2, IN))
    for copied in (pickle.loads(pickle.dumps(cell)), copy.deepcopy(cell)):
        assert copied._validated is None
        with pytest.raises(ValueError, match="features"):
            copied(torch.rand(2, IN + 1))
        assert copied(torch.rand(2, IN))[0].shape == (2, HID)
