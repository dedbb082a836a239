"""LSNN modules (adaptive threshold). Equations: :mod:`norse.torch.functional.lsnn`.

Every constructor takes ``adjoint: bool = False``; ``adjoint=True`` runs the discrete-adjoint
steps of :mod:`norse.torch.functional.adjoint.lsnn_adjoint` (same forward, hand-written
backward).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..functional import lsnn
from ..functional.lsnn import LSNNFeedForwardState, LSNNParameters, LSNNState
from .snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

__all__ = [
    "LSNN",
    "LSNNCell",
    "LSNNFeedForwardState",
    "LSNNParameters",
    "LSNNRecurrent",
    "LSNNRecurrentCell",
    "LSNNState",
]

_ADJOINT_MODULE = "norse.torch.functional.adjoint.lsnn_adjoint"


def _adjoint_step(who: str, adjoint: Any, recurrent: bool) -> Callable | None:
    """The adjoint step for ``adjoint=True`` (imported here, so plain use never needs it)."""
    if not isinstance(adjoint, bool):
        raise TypeError(f"{who}: adjoint must be True or False, got {type(adjoint).__name__}")
    if not adjoint:
        return None
    try:
        module = importlib.import_module(_ADJOINT_MODULE)
    except ModuleNotFoundError as e:
        if e.name is None or not _ADJOINT_MODULE.startswith(e.name):
            raise
        raise NotImplementedError(
            f"{who}: adjoint=True needs {_ADJOINT_MODULE}, which is not available in this "
            "installation; use adjoint=False (autograd through the same forward)"
        ) from e
    name = "lsnn_adjoint_step" if recurrent else "lsnn_feed_forward_adjoint_step"
    return getattr(module, name)


class LSNNCell(SNNCell):
    """Feed-forward LSNN neurons for one time step; the number of neurons follows the input.

    Args:
        p (LSNNParameters): neuron parameters.
        adjoint (bool): use the discrete-adjoint backward pass.
        dt (float): integration time step in seconds.

    Example:
        >>> cell = LSNNCell()
        >>> z, s = cell(torch.ones(1, 2, 2))
        >>> z, s = cell(torch.ones(1, 2, 2), s)
        >>> z.sum().item(), s.i[0, 0, 0].item()
        (0.0, 1.7999999523162842)
    """

    spec = lsnn.SPEC
    scalar_state = ("b",)

    def __init__(self, p: LSNNParameters | None = None, adjoint: bool = False, **kwargs: Any):
        super().__init__(p, **kwargs)
        self.adjoint = adjoint
        step = _adjoint_step(type(self).__name__, adjoint, recurrent=False)
        if step is not None:
            self.activation = step


class LSNNRecurrentCell(SNNRecurrentCell):
    """Recurrently connected LSNN neurons for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        p (LSNNParameters): neuron parameters.
        adjoint (bool): use the discrete-adjoint backward pass.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections (diagonal zeroed otherwise).
        dt (float): integration time step in seconds.

    Example:
        >>> cell = LSNNRecurrentCell(2, 4)
        >>> z, s = cell(torch.ones(5, 2))
        >>> z.shape, cell.initial_state(torch.ones(5, 2)).b.shape   # b starts 0-dim
        (torch.Size([5, 4]), torch.Size([]))
    """

    spec = lsnn.SPEC
    scalar_state = ("b",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LSNNParameters | None = None,
        adjoint: bool = False,
        **kwargs: Any,
    ):
        super().__init__(input_size, hidden_size, p, **kwargs)
        self.adjoint = adjoint
        step = _adjoint_step(type(self).__name__, adjoint, recurrent=True)
        if step is not None:
            self.activation = step


class LSNN(SNN):
    """A layer of feed-forward LSNN neurons over time: ``(T, B, *) -> (T, B, *)``.

    Args:
        p (LSNNParameters): neuron parameters.
        adjoint (bool): use the discrete-adjoint backward pass.
        dt (float): integration time step in seconds.
        record_states (bool): return the state of every step instead of the last one.
        backend (str): ``"auto"`` (fused kernel when it applies) or ``"reference"``.

    Example:
        >>> z, s = LSNN()(torch.ones(10, 5, 2))
        >>> z.shape, s.b.shape
        (torch.Size([10, 5, 2]), torch.Size([5, 2]))
    """

    spec = lsnn.SPEC

    def __init__(self, p: LSNNParameters | None = None, adjoint: bool = False, **kwargs: Any):
        super().__init__(p, **kwargs)
        self.adjoint = adjoint
        step = _adjoint_step(type(self).__name__, adjoint, recurrent=False)
        if step is not None:
            self.activation = step


class LSNNRecurrent(SNNRecurrent):
    """A layer of recurrently connected LSNN neurons over time.

    Args: as :class:`LSNNRecurrentCell`, plus ``record_states`` and ``backend``.

    Example:
        >>> z, s = LSNNRecurrent(2, 4)(torch.ones(10, 5, 2))
        >>> z.shape, s.b.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """

    spec = lsnn.SPEC

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LSNNParameters | None = None,
        adjoint: bool = False,
        **kwargs: Any,
    ):
        super().__init__(input_size, hidden_size, p, **kwargs)
        self.adjoint = adjoint
        step = _adjoint_step(type(self).__name__, adjoint, recurrent=True)
        if step is not None:
            self.activation = step
