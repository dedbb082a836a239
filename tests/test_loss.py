"""Losses, decoders and accuracies for output layers (norse.torch.functional.loss)."""

from __future__ import annotations

import math

import pytest
import torch

import norse.torch as snn
from norse.torch.functional import loss as L
from norse.torch.module import loss as M


def spikes_from(times, T):
    """``(T, 1, C)`` spikes with neuron ``c`` spiking at the steps in ``times[c]``."""
    z = torch.zeros(T, 1, len(times))
    for c, steps in enumerate(times):
        for t in steps:
            z[t, 0, c] = 1.0
    return z


# ----------------------------------------------------------------------------- values
def test_ce_count_loss_value():
    z = spikes_from([[0, 1, 2], [1], []], T=4)  # counts 3, 1, 0
    expected = -math.log(math.exp(3) / (math.exp(3) + math.exp(1) + 1))
    assert L.ce_count_loss(z, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)
    expected_1 = -math.log(math.exp(1) / (math.exp(3) + math.exp(1) + 1))
    assert L.ce_count_loss(z, torch.tensor([1])).item() == pytest.approx(expected_1, rel=1e-6)


def test_ce_count_loss_reductions():
    z = torch.rand(5, 3, 4).round()
    y = torch.tensor([0, 3, 1])
    per = L.ce_count_loss(z, y, reduction="none")
    assert per.shape == (3,)
    assert torch.allclose(L.ce_count_loss(z, y), per.mean())
    assert torch.allclose(L.ce_count_loss(z, y, reduction="sum"), per.sum())


def test_mse_count_loss_value():
    z = spikes_from([[0, 1, 2, 3, 4], [0, 1], [], [0]], T=5)  # counts 5, 2, 0, 1
    # targets: correct (class 2) 0.6 * 5 = 3, others 0.2 * 5 = 1
    loss = L.mse_count_loss(z, torch.tensor([2]), correct_rate=0.6, incorrect_rate=0.2)
    assert loss.item() == pytest.approx(((5 - 1) ** 2 + (2 - 1) ** 2 + 9 + 0) / 4)
    none = L.mse_count_loss(z, torch.tensor([2]), reduction="none")
    assert none.shape == (1, 4)


def test_membrane_losses_values():
    v = torch.tensor([[[0.0, 3.0, 1.0]], [[2.0, -1.0, 0.5]]])  # max [2, 3, 1], last [2, -1, .5]
    y = torch.tensor([1])
    mx = -math.log(math.exp(3) / (math.exp(2) + math.exp(3) + math.exp(1)))
    last = -math.log(math.exp(-1) / (math.exp(2) + math.exp(-1) + math.exp(0.5)))
    assert L.ce_max_membrane_loss(v, y).item() == pytest.approx(mx, rel=1e-6)
    assert L.ce_last_membrane_loss(v, y).item() == pytest.approx(last, rel=1e-6)


def test_first_spike_times():
    z = spikes_from([[2, 3], [0], [], [4]], T=5)
    times = L.first_spike_times(z)
    assert times.dtype == torch.long
    assert times.tolist() == [[2, 0, 5, 4]]
    assert L.first_spike_times(z.bool()).tolist() == [[2, 0, 5, 4]]


def test_soft_first_spike_times_match_hard_ones_on_binary_spikes():
    torch.manual_seed(1)
    z = (torch.rand(12, 6, 5) < 0.1).float()
    soft = L._soft_first_spike_times(z)
    assert torch.equal(soft, L.first_spike_times(z).float())


def test_ce_temporal_loss_value():
    z = spikes_from([[3], [1, 2], []], T=4)  # first times 3, 1, 4 (silent)
    y = torch.tensor([1])
    logits = torch.tensor([-3.0, -1.0, -4.0])
    expected = -torch.log_softmax(logits, 0)[1].item()
    assert L.ce_temporal_loss(z, y).item() == pytest.approx(expected, rel=1e-6)
    expected_t = -torch.log_softmax(logits / 2, 0)[1].item()
    assert L.ce_temporal_loss(z, y, temperature=2.0).item() == pytest.approx(expected_t, rel=1e-6)


def test_ce_temporal_loss_gradient_asks_for_earlier_spikes():
    z = spikes_from([[3, 4], [2]], T=5).requires_grad_()
    L.ce_temporal_loss(z, torch.tensor([0])).backward()
    g = z.grad[:, 0, 0]
    # spiking earlier (or keeping the first spike) lowers the loss for the target neuron;
    # spikes after its first spike get no gradient
    assert (g[:4] < 0).all() and g[4] == 0
    # the competitor is pushed later: steps up to its first spike get positive gradient
    assert (z.grad[:3, 0, 1] > 0).all() and (z.grad[3:, 0, 1] == 0).all()


def test_population_decode_and_losses():
    # 2 classes x 3 neurons; class 0 block = neurons 0..2
    z = torch.zeros(4, 2, 6)
    z[:, 0, 0] = 1  # sample 0: class 0 counts 4
    z[:2, 0, 4] = 1  # sample 0: class 1 counts 2
    z[:, 1, 3:] = 1  # sample 1: class 1 counts 12
    counts = L.population_decode(z, 2)
    assert counts.tolist() == [[4.0, 2.0], [0.0, 12.0]]
    y = torch.tensor([0, 1])
    ce = L.ce_population_count_loss(z, y, 2)
    assert torch.allclose(ce, torch.nn.functional.cross_entropy(counts, y))
    # targets per class: pop * T * rate = 3 * 4 * {0.8, 0.2} = {9.6, 2.4}
    mse = L.mse_population_count_loss(z, y, 2)
    wanted = torch.tensor([[9.6, 2.4], [2.4, 9.6]])
    assert torch.allclose(mse, ((counts - wanted) ** 2).mean())
    # pop == 1 reduces to the plain count losses
    assert torch.allclose(L.ce_population_count_loss(z, y.clamp(max=1), 6), L.ce_count_loss(z, y))
    assert torch.allclose(L.mse_population_count_loss(z, y, 6), L.mse_count_loss(z, y))


def test_accuracies():
    z = torch.zeros(3, 4, 2)
    z[:, 0, 0] = 1  # most active 0, first 0
    z[2, 1, 1] = 1  # most active 1, first 1
    z[0, 2, 1] = 1
    z[1:, 2, 0] = 1  # counts 2 vs 1 -> rate says 0, first spike says 1
    # sample 3 silent: ties go to neuron 0
    y = torch.tensor([0, 1, 1, 0])
    acc = L.accuracy_rate(z, y)
    assert acc.dtype == torch.float32 and acc.ndim == 0
    assert acc.item() == pytest.approx(3 / 4)
    assert L.accuracy_first_spike(z, y).item() == pytest.approx(1.0)
    v = torch.tensor([[[0.0, 1.0], [5.0, 0.0]], [[2.0, 0.0], [0.0, 1.0]]])
    assert L.accuracy_max_membrane(v, torch.tensor([0, 1])).item() == pytest.approx(0.5)
    assert L.accuracy_rate(z.double(), y).dtype == torch.float64


# ----------------------------------------------------------------------------- gradients
GRAD_CASES = [
    ("ce_count_loss", lambda x, y: L.ce_count_loss(x, y)),
    ("mse_count_loss", lambda x, y: L.mse_count_loss(x, y, 0.7, 0.1)),
    ("ce_max_membrane_loss", lambda x, y: L.ce_max_membrane_loss(x, y)),
    ("ce_last_membrane_loss", lambda x, y: L.ce_last_membrane_loss(x, y, reduction="sum")),
    ("ce_temporal_loss", lambda x, y: L.ce_temporal_loss(x, y, temperature=0.5)),
    ("population_decode", lambda x, y: L.population_decode(x, 2)),
    ("ce_population_count_loss", lambda x, y: L.ce_population_count_loss(x, y, 2)),
    ("mse_population_count_loss", lambda x, y: L.mse_population_count_loss(x, y, 2)),
]


@pytest.mark.parametrize("fn", [c[1] for c in GRAD_CASES], ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(fn):
    torch.manual_seed(0)
    x = torch.rand(5, 3, 4, dtype=torch.float64, requires_grad=True)  # in [0, 1]
    y = torch.tensor([0, 1, 1])
    assert torch.autograd.gradcheck(lambda x: fn(x, y), (x,))


def test_training_reduces_count_loss():
    torch.manual_seed(0)
    T, B, N, C = 20, 16, 10, 4
    x = torch.rand(B, N).expand(T, B, N)  # a constant input current per sample
    y = torch.randint(0, C, (B,))
    linear, lif = torch.nn.Linear(N, C), snn.LIF()
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.03)
    losses = []
    for _ in range(50):
        z, _ = lif(linear(x) * 3)
        loss = L.mse_count_loss(z, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    with torch.no_grad():
        z, _ = lif(linear(x) * 3)
    assert L.accuracy_rate(z, y).item() > 0.5  # chance: 0.25


# ----------------------------------------------------------------------------- modules
def test_modules_match_functions():
    torch.manual_seed(0)
    z = torch.rand(6, 3, 4).round()
    y = torch.tensor([0, 3, 2])
    pairs = [
        (M.CECountLoss(), L.ce_count_loss(z, y)),
        (M.MSECountLoss(0.5, 0.0), L.mse_count_loss(z, y, 0.5, 0.0)),
        (M.CEMaxMembraneLoss(reduction="sum"), L.ce_max_membrane_loss(z, y, "sum")),
        (M.CELastMembraneLoss(), L.ce_last_membrane_loss(z, y)),
        (M.CETemporalLoss(temperature=2.0), L.ce_temporal_loss(z, y, 2.0)),
        (M.CEPopulationCountLoss(2), L.ce_population_count_loss(z, y // 2, 2)),
        (M.MSEPopulationCountLoss(2, 0.9), L.mse_population_count_loss(z, y // 2, 2, 0.9)),
    ]
    for module, expected in pairs:
        targets = y // 2 if "Population" in type(module).__name__ else y
        assert torch.equal(module(z, targets), expected), type(module).__name__
        assert type(module).__name__ in repr(module)
    assert torch.equal(M.FirstSpikeTimes()(z), L.first_spike_times(z))
    assert torch.equal(M.PopulationDecode(2)(z), L.population_decode(z, 2))
    for name in L.__all__ + M.__all__:
        assert name in snn.__all__ and getattr(snn, name) is getattr(
            L if name in L.__all__ else M, name
        )


def test_ce_temporal_loss_trains_through_the_surrogate():
    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 3)
    z, _ = snn.LIF()(linear(torch.rand(10, 4, 5)) * 3)
    L.ce_temporal_loss(z, torch.tensor([0, 1, 2, 0])).backward()
    assert linear.weight.grad.abs().sum() > 0 and torch.isfinite(linear.weight.grad).all()


@pytest.mark.parametrize(
    "make, exc, words",
    [
        (lambda: M.CECountLoss(reduction="avg"), ValueError, ["CECountLoss", "reduction"]),
        (lambda: M.MSECountLoss(correct_rate=2), ValueError, ["MSECountLoss", "correct_rate"]),
        (lambda: M.MSECountLoss(incorrect_rate="a"), TypeError, ["incorrect_rate"]),
        (lambda: M.CETemporalLoss(temperature=0), ValueError, ["temperature"]),
        (lambda: M.PopulationDecode(0), ValueError, ["PopulationDecode", "num_classes"]),
        (lambda: M.CEPopulationCountLoss(2.0), TypeError, ["num_classes", "float"]),
    ],
)
def test_module_option_errors(make, exc, words):
    with pytest.raises(exc) as info:
        make()
    for word in words:
        assert word in str(info.value)


# ----------------------------------------------------------------------------- errors
Z = torch.zeros(4, 2, 3)
Y = torch.tensor([0, 2])
NAN = torch.zeros(4, 2, 3).index_put_((torch.tensor(1),), torch.tensor(float("nan")))

ERROR_CASES = [
    # (call, exception, words that must appear in the message)
    (lambda: L.ce_count_loss([0.0], Y), TypeError, ["ce_count_loss", "spikes", "list"]),
    (lambda: L.ce_count_loss(Z[0], Y), ValueError, ["ce_count_loss", "spikes", "3 dim", "(2, 3)"]),
    (lambda: L.ce_count_loss(Z.long(), Y), TypeError, ["spikes", "floating", "int64"]),
    (lambda: L.ce_count_loss(Z[:0], Y), ValueError, ["ce_count_loss", "T == 0"]),
    (lambda: L.ce_count_loss(Z, Y.float()), TypeError, ["targets", "integer", "float32"]),
    (lambda: L.ce_count_loss(Z, [0, 2]), TypeError, ["targets", "list"]),
    (lambda: L.ce_count_loss(Z, torch.tensor([0, 3])), ValueError, ["targets", "[0, 3)", "3]"]),
    (lambda: L.ce_count_loss(Z, torch.tensor([-1, 0])), ValueError, ["targets", "[-1, 0]"]),
    (lambda: L.ce_count_loss(Z, torch.tensor([0])), ValueError, ["targets", "(2,)", "(1,)"]),
    (lambda: L.ce_count_loss(Z, Y, reduction="avg"), ValueError, ["reduction", "'avg'"]),
    (lambda: L.ce_count_loss(NAN, Y), ValueError, ["ce_count_loss", "spikes", "NaN"]),
    (lambda: L.mse_count_loss(Z, Y, correct_rate=1.5), ValueError, ["correct_rate", "1.5"]),
    (lambda: L.mse_count_loss(Z, Y, 0.8, float("nan")), ValueError, ["incorrect_rate"]),
    (lambda: L.mse_count_loss(Z, Y, correct_rate=True), TypeError, ["correct_rate", "bool"]),
    (lambda: L.ce_max_membrane_loss(NAN, Y), ValueError, ["ce_max_membrane_loss", "v", "NaN"]),
    (lambda: L.ce_last_membrane_loss(Z[..., None], Y), ValueError, ["v", "(4, 2, 3, 1)"]),
    (lambda: L.ce_temporal_loss(Z + 2, Y), ValueError, ["ce_temporal_loss", "[0, 1]", "2.0"]),
    (lambda: L.ce_temporal_loss(Z, Y, temperature=-1), ValueError, ["temperature", "-1"]),
    (lambda: L.ce_temporal_loss(Z, Y, temperature="x"), TypeError, ["temperature", "str"]),
    (lambda: L.first_spike_times(Z[:0]), ValueError, ["first_spike_times", "T == 0"]),
    (lambda: L.first_spike_times(NAN), ValueError, ["first_spike_times", "NaN"]),
    (lambda: L.population_decode(Z, 2), ValueError, ["population_decode", "num_classes=2", "C=3"]),
    (lambda: L.population_decode(Z, 1.0), TypeError, ["num_classes", "float"]),
    (lambda: L.ce_population_count_loss(Z, Y, 1), ValueError, ["targets", "[0, 1)"]),
    (lambda: L.ce_population_count_loss(Z[0], Y, 1), ValueError, ["ce_population_count_loss"]),
    (lambda: L.mse_population_count_loss(Z, Y, 2), ValueError, ["mse_population_count_loss"]),
    (lambda: L.mse_population_count_loss(Z, Y, 3, 0.8, -0.1), ValueError, ["incorrect_rate"]),
    (lambda: L.accuracy_rate(Z, Y.bool()), TypeError, ["accuracy_rate", "targets", "bool"]),
    (lambda: L.accuracy_max_membrane(Z[0], Y), ValueError, ["accuracy_max_membrane", "v"]),
    (lambda: L.accuracy_first_spike(Z, Y + 5), ValueError, ["accuracy_first_spike", "targets"]),
]


@pytest.mark.parametrize("call, exc, words", ERROR_CASES)
def test_errors_name_function_argument_and_value(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
