r"""Exponential (first-order low-pass) filtering.

One step of the filter is

.. math::
    y_t = a\, y_{t-1} + x_t, \qquad a = e^{-\Delta t\,\tau_{filter}^{-1}},

so the response to a unit impulse at :math:`t = 0` is :math:`a^t`. The module
:class:`~norse.torch.module.exp_filter.ExpFilter` runs it over time after a linear map.
"""

from __future__ import annotations

from numbers import Real

import torch
from torch import Tensor

__all__ = ["exp_filter_step"]


def exp_filter_step(old_value: Tensor, new_value: Tensor, parameter: float | Tensor) -> Tensor:
    """One step of the exponential filter: ``parameter * old_value + new_value``.

    As in 1.1.0, ``parameter`` is a float: a Python or numpy number (``int`` and ``bool``
    included) is converted with ``float()``, so the result has torch's type promotion of
    ``float * old_value + new_value``. Integer and bool tensors are accepted (``int64``, ``int32``
    or ``bool`` inputs give the default float dtype, float inputs keep theirs). A tensor
    ``parameter`` is kept as a tensor so that it can be learned (1.1.0 turned it into a float
    and dropped its gradient); an integer or bool tensor is converted to the default float dtype
    first.

    Args:
        old_value (Tensor): the filter's previous output :math:`y_{t-1}`.
        new_value (Tensor): the new input :math:`x_t`.
        parameter (float): the decay factor :math:`a` per step.

    Example:
        >>> exp_filter_step(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.0]), 0.5)
        tensor([1., 1.])
        >>> exp_filter_step(torch.tensor([1, 2]), torch.tensor([True, False]), 2)
        tensor([3., 4.])
    """
    if isinstance(parameter, Tensor):
        if not parameter.is_floating_point() and not parameter.is_complex():
            parameter = parameter.to(torch.get_default_dtype())
    elif isinstance(parameter, Real):
        parameter = float(parameter)
    else:
        raise TypeError(
            "exp_filter_step: parameter must be a float (the decay factor per step) or a "
            f"tensor, got {type(parameter).__name__}"
        )
    return parameter * old_value + new_value
