r"""SuperSpike surrogate gradient.

Forward: the Heaviside step. Backward: the derivative of a fast sigmoid,

.. math::
    \frac{\partial z}{\partial x} = \frac{1}{(\alpha |x| + 1)^2}

F. Zenke and S. Ganguli, "SuperSpike: Supervised learning in multilayer spiking neural
networks", Neural Computation 30(6), 2018.
"""

from __future__ import annotations

import torch

from ._surrogate import Surrogate

__all__ = ["SuperSpike", "super_fn"]


class SuperSpike(Surrogate):
    """Heaviside forward, SuperSpike surrogate ``1 / (alpha*|x| + 1)^2`` backward."""

    @staticmethod
    def derivative(x: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
        return 1.0 / (alpha * x.abs() + 1.0).pow(2)


def super_fn(x: torch.Tensor, alpha: torch.Tensor | float = 100.0) -> torch.Tensor:
    """Spike function with the SuperSpike surrogate gradient.

    Example:
        >>> x = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
        >>> super_fn(x, 1.0).sum().backward()
        >>> x.grad
        tensor([0.4444, 1.0000, 0.4444])
    """
    return SuperSpike.apply(x, alpha)
