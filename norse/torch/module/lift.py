"""Apply a one-step module to every time step of a ``(T, ...)`` sequence."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.modules import module as _torch_module

from ..utils.state import _is_module_stateful

__all__ = ["Lift"]

# How a stateless module can run on all time steps at once instead of once per step:
#   "direct":   module(x) on the whole (T, ...) input: T becomes one more batch dimension
#               (a pointwise module, Linear, or a layer whose steps are unbatched samples);
#   "flatten":  module(x.flatten(0, 1)).unflatten(0, (T, B)): the steps' first dimension is a
#               batch, and time is merged into it;
#   "sequence": an nn.Sequential of such modules, run child by child (each one merged);
#   None:       the loop over time, as in 1.1.0.
_Merge = Literal["direct", "flatten", "sequence"] | None

# Exact types only: a subclass may override ``forward`` (or what it calls), so it is looped
# unless it declares ``lift_batch_independent = True``.
_POINTWISE: frozenset[type[nn.Module]] = frozenset(
    {
        nn.Identity,
        nn.ReLU,
        nn.ReLU6,
        nn.LeakyReLU,
        nn.ELU,
        nn.SELU,
        nn.CELU,
        nn.GELU,
        nn.SiLU,
        nn.Mish,
        nn.Sigmoid,
        nn.Tanh,
        nn.Hardtanh,
        nn.Hardsigmoid,
        nn.Hardswish,
        nn.Hardshrink,
        nn.Softshrink,
        nn.Tanhshrink,
        nn.Softsign,
        nn.Softplus,
        nn.LogSigmoid,
        nn.Threshold,
    }
)
# Random in training mode (each step draws its own mask or slope), the identity in eval mode.
_POINTWISE_IN_EVAL: frozenset[type[nn.Module]] = frozenset(
    {nn.RReLU, nn.Dropout, nn.AlphaDropout, nn.FeatureAlphaDropout}
)
# Dropout1d/2d/3d check (and warn about) the number of dimensions even in eval mode, so they
# are merged only by "flatten", which keeps the steps' number of dimensions.
_FEATURE_DROPOUT: frozenset[type[nn.Module]] = frozenset({nn.Dropout1d, nn.Dropout2d, nn.Dropout3d})
# Layers over d spatial dimensions: a batched step is (B, C, *d), an unbatched one (C, *d).
_SPATIAL: dict[type[nn.Module], int] = {
    **dict.fromkeys((nn.Conv1d, nn.ConvTranspose1d, nn.MaxPool1d, nn.AvgPool1d), 1),
    **dict.fromkeys((nn.LPPool1d, nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d), 1),
    **dict.fromkeys((nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d), 2),
    **dict.fromkeys((nn.LPPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d), 2),
    **dict.fromkeys((nn.Conv3d, nn.ConvTranspose3d, nn.MaxPool3d, nn.AvgPool3d), 3),
    **dict.fromkeys((nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool3d), 3),
}
if hasattr(nn, "LPPool3d"):  # torch >= 2.2
    _SPATIAL[nn.LPPool3d] = 3

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_GLOBAL_HOOK_DICTS = tuple(f"_global{name}" for name in _HOOK_DICTS)


def _has_hooks(module: nn.Module) -> bool:
    """True when a hook would see the merged call instead of one call per step."""
    if any(getattr(_torch_module, name, None) for name in _GLOBAL_HOOK_DICTS):
        return True
    return any(getattr(module, name, None) for name in _HOOK_DICTS)


def _flatten_merge(module: nn.Flatten, ndim: int) -> _Merge:
    """``nn.Flatten`` is a reshape: merged when it leaves a step's first dimension alone."""
    start, end = module.start_dim, module.end_dim
    if ndim == 0 or not (-ndim <= start < ndim and -ndim <= end < ndim):
        return None  # the loop raises torch's error for this step
    if start % ndim > end % ndim:
        return None
    if start % ndim >= 1:
        return "flatten"  # dims 1.. of a step are dims 1.. of the merged batch
    if start < 0 and end < 0:
        return "direct"  # negative dims name the same trailing dims of (T, ...)
    return None  # Flatten(start_dim=0) joins a step's first dimension: not per step


def _merge(module: nn.Module, ndim: int, batch_independent: bool | None) -> _Merge:
    """How ``module`` can run on all steps at once, for steps with ``ndim`` dimensions.

    ``batch_independent`` is :class:`Lift`'s argument (``None`` for the children of a
    Sequential): ``False`` loops, ``True`` merges by "flatten" where no other rule applies.
    """
    if batch_independent is False or _has_hooks(module) or getattr(module, "inplace", False):
        return None
    mark = getattr(module, "lift_batch_independent", None)
    if mark is not None and not mark:
        return None
    merge = _known_merge(module, ndim) if _is_known(module) else None
    if merge is None and (batch_independent or mark) and ndim >= 1:
        merge = "flatten"
    return merge


def _is_known(module: nn.Module) -> bool:
    """A built-in layer that acts on each sample on its own (in its current mode)."""
    cls = type(module)
    if cls in _POINTWISE or cls is nn.Linear or cls is nn.Flatten:
        return True
    if cls in _POINTWISE_IN_EVAL or cls in _FEATURE_DROPOUT:
        return not module.training
    if cls in _SPATIAL:
        return not getattr(module, "return_indices", False)  # (output, indices) tuples
    if cls is nn.Sequential:
        return all(_is_mergeable_child(child) for child in module)
    return False


def _is_mergeable_child(module: nn.Module) -> bool:
    """Whether a Sequential's child can run outside 1.1.0's order of calls.

    A Sequential with any other child (a random one, one with side effects or hooks) is
    looped as a whole, so that its children are called step by step in 1.1.0's order. The
    children that pass this are pure, so each can be merged or looped on its own.
    """
    if _has_hooks(module) or getattr(module, "inplace", False):
        return False
    mark = getattr(module, "lift_batch_independent", None)
    return bool(mark) if mark is not None else _is_known(module)


def _known_merge(module: nn.Module, ndim: int) -> _Merge:
    """How a layer that :func:`_is_known` merges steps of ``ndim`` dims (None: loop)."""
    cls = type(module)
    if cls in _POINTWISE or cls in _POINTWISE_IN_EVAL:
        return "direct"
    if cls in _FEATURE_DROPOUT:
        return "flatten" if ndim >= 1 else None
    if cls is nn.Linear:
        return "direct" if ndim >= 1 else None  # Linear treats all leading dims as batch
    if cls is nn.Flatten:
        return _flatten_merge(module, ndim)
    if cls is nn.Sequential:
        return "sequence"
    spatial = _SPATIAL[cls]
    # other step shapes: the loop raises torch's error for one step
    return {spatial + 2: "flatten", spatial + 1: "direct"}.get(ndim)


def _loop(module: nn.Module, x: Tensor) -> Tensor:
    return torch.stack([module(x_t) for x_t in x.unbind(0)])


def _run(module: nn.Module, x: Tensor, batch_independent: bool | None) -> Tensor:
    """Lift's result for a stateless ``module``: merged where :func:`_merge` says so."""
    merge = _merge(module, x.dim() - 1, batch_independent)
    if merge is None:
        return _loop(module, x)
    if merge == "sequence":
        for child in module:
            x = _run(child, x, None)
        return x
    steps = x if merge == "direct" else x.flatten(0, 1)
    try:
        out = module(steps)
    except Exception:
        # Bad input (wrong channel count, size, ...): loop, so that the error is the one
        # the module raises for a single step, as in 1.1.0.
        return _loop(module, x)
    if merge == "direct":
        # Pointwise modules keep the input's strides; the loop's stack is contiguous.
        pointwise = type(module) in _POINTWISE or type(module) in _POINTWISE_IN_EVAL
        return out.contiguous() if pointwise else out
    if not isinstance(out, Tensor) or out.dim() == 0 or out.shape[0] != steps.shape[0]:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"Lift: {type(module).__name__} is treated as batch-independent, but for a "
            f"merged batch of shape {tuple(steps.shape)} it returned {got}; its output "
            f"must keep the first (batch) dimension. Use "
            f"Lift(module, batch_independent=False) or set lift_batch_independent = False"
        )
    return out.unflatten(0, x.shape[:2])


class Lift(nn.Module):
    r"""Run ``module`` on every slice ``x_t`` of the first (time) dimension and stack the results.

    A stateful inner module (its ``forward`` takes ``state``, e.g. :class:`~norse.torch.LIFCell`)
    is called as ``module(x_t, state)`` with the state carried over time, and ``Lift`` returns
    ``(outputs, last_state)``; a stateless one (``nn.Conv2d``) is called as ``module(x_t)`` and
    ``Lift`` returns the stacked outputs only.

    The input may be an ``(x, state)`` tuple, as returned by a neuron layer before it in an
    ``nn.Sequential``: the state is the initial state of a stateful inner module and is dropped
    for a stateless one.

    **Merging time into the batch.** A stateless module that treats every sample on its own
    runs once on all time steps instead of ``T`` times: on ``x.flatten(0, 1)`` when every step
    is a batch ``(B, *)``, or on ``x`` itself when every step is one unbatched sample (a
    ``(T, C, H, W)`` input of an ``nn.Conv2d``), with the result split into ``(T, ...)`` again.
    That is the same computation with bigger, faster kernel calls. These modules are merged
    (exact types; a subclass may change ``forward``, so it is looped unless it is marked):

    * ``nn.Linear``; ``nn.Conv1d/2d/3d`` and ``nn.ConvTranspose1d/2d/3d``; the max, average,
      power-average and adaptive pooling layers (not with ``return_indices=True``), each for
      steps of the batched or the unbatched number of dimensions;
    * ``nn.Flatten`` when ``start_dim`` names a step's dimension 1 or later (the default
      ``Flatten()`` on ``(B, C, H, W)`` steps), or when both dims are negative (they name the
      same trailing dims of ``(T, ...)``); ``Flatten(start_dim=0)`` is looped;
    * ``nn.Identity`` and the elementwise activations (``nn.ReLU``, ``nn.Sigmoid``,
      ``nn.GELU``, ...); the dropout layers and ``nn.RReLU`` in eval mode (in training mode
      each step draws its own random numbers in the loop, unless ``batch_independent=True``);
    * an ``nn.Sequential`` made only of such modules, child by child (one other child, and
      the whole Sequential loops, so its children run in 1.1.0's order);
    * any module whose class (or the instance) sets ``lift_batch_independent = True``, and
      the wrapped module of ``Lift(module, batch_independent=True)``. Both promise that the
      module's input and output share the first dimension as a batch whose entries are
      processed independently (``module(cat([a, b])) == cat([module(a), module(b)])``); such
      a module is merged with ``x.flatten(0, 1)``.

    ``lift_batch_independent = False`` on a module, or ``Lift(module, batch_independent=False)``,
    always loops. So do stateful modules, modules built with ``inplace=True``, and modules
    with hooks (their own or global forward/backward hooks), which see one call per step.

    The merge computes what the loop computes, in bigger pieces, so float rounding can differ
    in the last bits: BLAS (``nn.Linear``, convolutions on the CPU) rounds a product
    differently for other row counts and memory alignments, vectorised ``exp``/``tanh``/``erf``
    round differently from their scalar tail, and parameter gradients add the same terms in
    another order. Where every sum is exact (small-integer data) the outputs and all gradients
    are bit-for-bit the loop's, and ``Flatten``, ``Identity``, dropout in eval mode and the
    piecewise-linear activations (``ReLU``, ``Hardtanh``, ...) are always. Errors for bad
    input are the ones the loop raises for one step.

    Args:
        module (nn.Module): the module to apply at every time step.
        batch_independent (bool | None): ``None`` (default) merges the modules listed above;
            ``True`` also merges ``module`` itself with ``x.flatten(0, 1)`` (the promise above);
            ``False`` always loops. Kept as the attribute ``batch_independent``.

    Shape:
        input ``(T, *)``; output ``(T, *out)`` where ``module`` maps ``*`` to ``*out``.

    Example:
        >>> lifted = Lift(torch.nn.Linear(3, 2))
        >>> lifted(torch.ones(10, 8, 3)).shape
        torch.Size([10, 8, 2])
        >>> class Scale(torch.nn.Module):
        ...     lift_batch_independent = True  # each sample of dim 0 on its own
        ...     def forward(self, x):
        ...         return 2 * x
        >>> Lift(Scale())(torch.ones(10, 8, 3)).shape
        torch.Size([10, 8, 3])
        >>> Lift(torch.nn.Conv2d(1, 4, 3), batch_independent=False)  # loop over time
        Lift(
          batch_independent=False
          (lifted_module): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))
        )
    """

    # A class attribute too, so that a Lift unpickled from before this argument existed works.
    batch_independent: bool | None = None

    def __init__(self, module: nn.Module, batch_independent: bool | None = None) -> None:
        super().__init__()
        if not callable(module):
            raise TypeError(f"Lift: module must be an nn.Module, got {type(module).__name__}")
        if batch_independent is not None and not isinstance(batch_independent, bool):
            raise TypeError(
                f"Lift: batch_independent must be True, False or None, "
                f"got {type(batch_independent).__name__}"
            )
        self.lifted_module = module
        self.is_stateful = _is_module_stateful(module)
        if batch_independent and self.is_stateful:
            raise ValueError(
                f"Lift: batch_independent=True, but {type(module).__name__} is stateful (its "
                f"forward takes a state), so each step depends on the one before; leave "
                f"batch_independent out"
            )
        self.batch_independent = batch_independent

    def extra_repr(self) -> str:
        if self.batch_independent is None:
            return ""
        return f"batch_independent={self.batch_independent}"

    def forward(self, x: Tensor | tuple[Tensor, Any]) -> Tensor | tuple[Tensor, Any]:
        state = None
        if isinstance(x, tuple):
            x, state = x
        if not isinstance(x, Tensor):
            raise TypeError(
                f"Lift: input must be a torch.Tensor or an (x, state) tuple, got {type(x).__name__}"
            )
        if x.dim() == 0 or x.shape[0] == 0:
            raise ValueError(
                f"Lift: the input needs a non-empty time dimension first, (T, ...), "
                f"got shape {tuple(x.shape)}"
            )
        module = self.lifted_module
        if self.is_stateful:
            outputs = []
            for x_t in x.unbind(0):
                out, state = module(x_t, state)
                outputs.append(out)
            return torch.stack(outputs), state
        out = _run(module, x, self.batch_independent)
        if _is_view_of(out, x):
            # Identity, Flatten, dropout in eval: the loop's torch.stack never returns a view
            # of the input, so neither does the merge.
            out = out.clone(memory_format=torch.contiguous_format)
        return out


def _is_view_of(out: Tensor, x: Tensor) -> bool:
    """Whether ``out`` is ``x`` or a view of its memory (from view metadata only, which fake
    tensors under ``torch.export`` / ``torch.compile`` have too; no data pointers)."""
    if out is x:
        return True
    root = x._base if x._base is not None else x
    return out._base is not None and out._base is root
