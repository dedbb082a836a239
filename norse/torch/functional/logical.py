r"""Logical operations on spike tensors (values in {0, 1}).

============================  =========================================================
function                      value
============================  =========================================================
:func:`logical_and`           :math:`x\,y`
:func:`logical_or`            :math:`\Theta(x + y)` (SuperSpike surrogate gradient)
:func:`logical_xor`           :math:`|x - y|`
:func:`muller_c`              :math:`\Theta(x_1 x_2 + (x_1 + x_2)\,y_{prev})`
:func:`posedge_detector`      :math:`(1 - z_{prev})\,z`
============================  =========================================================

:math:`\Theta` is the Heaviside step with :math:`\Theta(0) = 0`. The Muller C-element keeps its
previous output while its inputs disagree, and follows them when they agree.
"""

from __future__ import annotations

from torch import Tensor

from .superspike import super_fn

__all__ = ["logical_and", "logical_or", "logical_xor", "muller_c", "posedge_detector"]


def logical_and(x: Tensor, y: Tensor) -> Tensor:
    """Spike-wise AND: ``x * y``.

    Example:
        >>> logical_and(torch.tensor([0., 0., 1., 1.]), torch.tensor([0., 1., 0., 1.]))
        tensor([0., 0., 0., 1.])
    """
    return x * y


def logical_xor(x: Tensor, y: Tensor) -> Tensor:
    """Spike-wise exclusive OR: ``|x - y|``.

    Example:
        >>> logical_xor(torch.tensor([0., 0., 1., 1.]), torch.tensor([0., 1., 0., 1.]))
        tensor([0., 1., 1., 0.])
    """
    return (x - y).abs()


def logical_or(x: Tensor, y: Tensor) -> Tensor:
    """Spike-wise OR: ``Θ(x + y)`` with the SuperSpike surrogate gradient; keeps the dtype.

    Example:
        >>> logical_or(torch.tensor([0., 0., 1., 1.]), torch.tensor([0., 1., 0., 1.]))
        tensor([0., 1., 1., 1.])
    """
    return super_fn(x + y)


def muller_c(y_prev: Tensor, x_1: Tensor, x_2: Tensor) -> Tensor:
    """Muller C-element: 1 when both inputs are 1, 0 when both are 0, else the previous output.

    Args:
        y_prev (Tensor): previous output of the element.
        x_1 (Tensor): first input.
        x_2 (Tensor): second input.

    Example:
        >>> x1, x2 = torch.tensor([0., 0., 1., 1.]), torch.tensor([0., 1., 0., 1.])
        >>> muller_c(torch.zeros(4), x1, x2), muller_c(torch.ones(4), x1, x2)
        (tensor([0., 0., 0., 1.]), tensor([0., 1., 1., 1.]))
    """
    return super_fn(x_1 * x_2 + (x_1 + x_2) * y_prev)


def posedge_detector(z: Tensor, z_prev: Tensor) -> Tensor:
    """Positive-edge detector: 1 where ``z`` is 1 and ``z_prev`` was 0.

    Example:
        >>> posedge_detector(torch.tensor([0., 1., 0., 1.]), torch.tensor([0., 0., 1., 1.]))
        tensor([0., 1., 0., 0.])
    """
    return (1 - z_prev) * z
