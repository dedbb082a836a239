r"""Spike thresholds with surrogate gradients.

Every method's forward pass is the Heaviside step :math:`\Theta(x)` with :math:`\Theta(0) = 0`
(a spike needs a strictly positive argument). They differ in the derivative used in the
backward pass, whose steepness is ``alpha`` (``p.alpha`` in the neuron models):

==================================  ===================================================
``method``                          surrogate derivative
==================================  ===================================================
``"super"`` (default)               :math:`1 / (\alpha |x| + 1)^2` (SuperSpike)
``"heavi_erfc"``                    :math:`2 e^{-(\alpha x)^2} / \sqrt{\pi}`
``"tanh"``, ``"heavi_tanh"``        :math:`1 - \tanh^2(\alpha x)`
``"logistic"``                      :math:`1 - \tanh^2(\alpha x)`
``"circ"``, ``"heavi_circ"``        :math:`\alpha^3 / (x^2 + \alpha^2)^{3/2}`
``"circ_dist"``                     :math:`\alpha^3 / (x^2 + \alpha^2)^{3/2}`
``"triangle"``                      :math:`\alpha \max(0, 1 - |x|)`
``"heaviside"``                     none (no gradient)
==================================  ===================================================

The stand-alone :func:`logistic_fn` and :func:`circ_dist_fn` *sample* their forward pass
(Bernoulli with the smooth function's value as probability); inside :func:`threshold` every
method is deterministic.
"""

from __future__ import annotations

import math

import torch

from ._surrogate import Surrogate
from .heaviside import heaviside
from .superspike import SuperSpike, super_fn

__all__ = [
    "CircDist",
    "HeaviCirc",
    "HeaviErfc",
    "HeaviTanh",
    "Logistic",
    "METHODS",
    "Triangle",
    "check_method",
    "circ_dist_fn",
    "heavi_circ_fn",
    "heavi_erfc_fn",
    "heavi_tanh_fn",
    "logistic_fn",
    "sign",
    "superspike_fn",
    "threshold",
    "triangle_fn",
]

_SQRT_PI = math.sqrt(math.pi)


class HeaviErfc(Surrogate):
    """Heaviside forward, ``2 exp(-(k x)^2) / sqrt(pi)`` backward."""

    @staticmethod
    def derivative(x, alpha):
        return 2.0 * torch.exp(-((alpha * x) ** 2)) / _SQRT_PI


class HeaviTanh(Surrogate):
    """Heaviside forward, ``1 - tanh(k x)^2`` backward."""

    @staticmethod
    def derivative(x, alpha):
        return 1.0 - torch.tanh(alpha * x) ** 2


class Logistic(HeaviTanh):
    """Samples a spike with probability ``(1 + tanh(k x)) / 2``; ``1 - tanh(k x)^2`` backward."""

    @staticmethod
    def forward(input_tensor, alpha):
        return torch.bernoulli(0.5 + 0.5 * torch.tanh(alpha * input_tensor))


class HeaviCirc(Surrogate):
    """Heaviside forward, ``alpha^3 / (x^2 + alpha^2)^(3/2)`` backward."""

    @staticmethod
    def derivative(x, alpha):
        return (1.0 + (x / alpha) ** 2) ** -1.5


class CircDist(HeaviCirc):
    """Samples a spike with probability ``(1 + x / sqrt(x^2 + alpha^2)) / 2``; circ backward."""

    @staticmethod
    def forward(input_tensor, alpha):
        p = 0.5 + 0.5 * input_tensor / torch.sqrt(input_tensor**2 + alpha**2)
        return torch.bernoulli(p)


class Triangle(Surrogate):
    """Heaviside forward, ``alpha * max(0, 1 - |x|)`` backward."""

    @staticmethod
    def derivative(x, alpha):
        return alpha * torch.relu(1.0 - x.abs())


def heavi_erfc_fn(x: torch.Tensor, k: torch.Tensor | float) -> torch.Tensor:
    """Heaviside with the erfc surrogate.

    Example:
        >>> heavi_erfc_fn(torch.tensor([-1.0, 1.0]), 1.0)
        tensor([0., 1.])
    """
    return HeaviErfc.apply(x, k)


def heavi_tanh_fn(x: torch.Tensor, k: torch.Tensor | float) -> torch.Tensor:
    """Heaviside with the tanh surrogate.

    Example:
        >>> heavi_tanh_fn(torch.tensor([-1.0, 1.0]), 1.0)
        tensor([0., 1.])
    """
    return HeaviTanh.apply(x, k)


def logistic_fn(x: torch.Tensor, k: torch.Tensor | float) -> torch.Tensor:
    """Stochastic spikes with probability ``(1 + tanh(k x)) / 2`` and the tanh surrogate.

    Example:
        >>> logistic_fn(torch.tensor([-100.0, 100.0]), 1.0)
        tensor([0., 1.])
    """
    return Logistic.apply(x, k)


def heavi_circ_fn(x: torch.Tensor, k: torch.Tensor | float) -> torch.Tensor:
    """Heaviside with the circ surrogate.

    Example:
        >>> heavi_circ_fn(torch.tensor([-1.0, 1.0]), 1.0)
        tensor([0., 1.])
    """
    return HeaviCirc.apply(x, k)


def circ_dist_fn(x: torch.Tensor, k: torch.Tensor | float) -> torch.Tensor:
    """Stochastic spikes with probability ``(1 + x / sqrt(x^2 + k^2)) / 2`` and the circ surrogate.

    Example:
        >>> circ_dist_fn(torch.tensor([-1e6, 1e6]), 1.0)
        tensor([0., 1.])
    """
    return CircDist.apply(x, k)


def triangle_fn(x: torch.Tensor, alpha: torch.Tensor | float = 0.3) -> torch.Tensor:
    """Heaviside with the triangle surrogate ``alpha * max(0, 1 - |x|)``.

    Example:
        >>> triangle_fn(torch.tensor([-1.0, 1.0]))
        tensor([0., 1.])
    """
    return Triangle.apply(x, alpha)


superspike_fn = super_fn

#: Surrogate autograd Function for each accepted ``method`` (``None``: plain Heaviside).
SURROGATES: dict[str, type[Surrogate] | None] = {
    "super": SuperSpike,
    "heaviside": None,
    "heavi_erfc": HeaviErfc,
    "tanh": HeaviTanh,
    "heavi_tanh": HeaviTanh,
    "logistic": HeaviTanh,
    "circ": HeaviCirc,
    "heavi_circ": HeaviCirc,
    "circ_dist": HeaviCirc,
    "triangle": Triangle,
}

#: Every ``method`` name that :func:`threshold` accepts.
METHODS: tuple[str, ...] = tuple(SURROGATES)


def check_method(method: object, who: str, extra: tuple[str, ...] = ()) -> None:
    """Raise a clear error unless ``method`` names a threshold method (or one of ``extra``)."""
    if not isinstance(method, str):
        raise TypeError(f"{who}: method must be a string, got {type(method).__name__}")
    if method not in SURROGATES and method not in extra:
        valid = ", ".join(repr(m) for m in METHODS + extra)
        raise ValueError(f"{who}: unknown method {method!r}; choose one of {valid}")


def threshold(x: torch.Tensor, method: str, alpha: torch.Tensor | float) -> torch.Tensor:
    """Spike (``x > 0``) with the surrogate gradient named by ``method``.

    Example:
        >>> x = torch.tensor([-0.1, 0.0, 0.1], requires_grad=True)
        >>> z = threshold(x, "super", 10.0)
        >>> z
        tensor([0., 0., 1.], grad_fn=<SuperSpikeBackward>)
        >>> z.sum().backward(); x.grad
        tensor([0.2500, 1.0000, 0.2500])
    """
    try:
        fn = SURROGATES[method]
    except (KeyError, TypeError):
        check_method(method, "threshold")
        raise
    if fn is None:
        return heaviside(x)
    return fn.apply(x, alpha)


def sign(x: torch.Tensor, method: str, alpha: torch.Tensor | float) -> torch.Tensor:
    """Signed spike: ``2 * threshold(x, method, alpha) - 1``.

    Example:
        >>> sign(torch.tensor([-1.0, 1.0]), "super", 100.0)
        tensor([-1.,  1.])
    """
    return 2 * threshold(x, method, alpha) - 1
