r"""Exponential (first-order low-pass) filtering.

One step of the filter is

.. math::
    y_t = a\, y_{t-1} + x_t, \qquad a = e^{-\Delta t\,\tau_{filter}^{-1}},

so the response to a unit impulse at :math:`t = 0` is :math:`a^t`. The module
:class:`~norse.torch.module.exp_filter.ExpFilter` runs it over time after a linear map.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["exp_filter_step"]


def exp_filter_step(old_value: Tensor, new_value: Tensor, parameter: float | Tensor) -> Tensor:
    """One step of the exponential filter: ``parameter * old_value + new_value``.

    Args:
        old_value (Tensor): the filter's previous output :math:`y_{t-1}`.
        new_value (Tensor): the new input :math:`x_t`.
        parameter (float): the decay factor :math:`a` per step.

    Example:
        >>> exp_filter_step(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.0]), 0.5)
        tensor([1., 1.])
    """
    return parameter * old_value + new_value
