"""Truth tables and gradients of the spike logic gates."""

import pytest
import torch

from norse.torch.functional.logical import (
    logical_and,
    logical_or,
    logical_xor,
    muller_c,
    posedge_detector,
)

X = torch.tensor([0.0, 0.0, 1.0, 1.0])
Y = torch.tensor([0.0, 1.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "fn, table",
    [
        (logical_and, [0, 0, 0, 1]),
        (logical_or, [0, 1, 1, 1]),
        (logical_xor, [0, 1, 1, 0]),
    ],
    ids=["and", "or", "xor"],
)
def test_truth_tables(fn, table):
    assert torch.equal(fn(X, Y), torch.tensor(table, dtype=torch.float32))


def test_or_keeps_integer_dtype():
    out = logical_or(X.long(), Y.long())
    assert out.dtype == torch.long
    assert out.tolist() == [0, 1, 1, 1]


def test_or_has_superspike_gradient():
    x = X.clone().requires_grad_(True)
    logical_or(x, Y).sum().backward()
    # SuperSpike at x + y in {0, 1, 1, 2} with alpha=100: 1 / (100 |s| + 1)^2
    s = X + Y
    assert torch.allclose(x.grad, 1 / (100 * s.abs() + 1) ** 2)


def test_muller_c_holds_state_while_inputs_disagree():
    # agree -> follow the inputs; disagree -> keep y_prev
    for y_prev in (0.0, 1.0):
        out = muller_c(torch.full((4,), y_prev), X, Y)
        assert out.tolist() == [0.0, y_prev, y_prev, 1.0]


def test_muller_c_sequence():
    seq = [(1, 0), (1, 1), (0, 1), (0, 0), (0, 1)]
    y = torch.tensor(0.0)
    outs = []
    for a, b in seq:
        y = muller_c(y, torch.tensor(float(a)), torch.tensor(float(b)))
        outs.append(y.item())
    assert outs == [0.0, 1.0, 1.0, 0.0, 0.0]


def test_posedge_detector():
    z = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
    z_prev = torch.cat([torch.zeros(1), z[:-1]])
    assert posedge_detector(z, z_prev).tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]
