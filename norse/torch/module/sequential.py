"""Containers that thread neuron states through a stack of modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from ..functional.spike_linear import spike_linear
from ..utils._validation import is_size
from ..utils.state import _is_module_stateful
from .lift import _has_hooks

__all__ = ["RecurrentSequential", "RecurrentSequentialState", "SequentialState"]

# Modules that pass spikes on as sparse values (reshapes; dropout zeroes or scales entries).
# Exact types: a subclass may compute something else.
_KEEPS_SPIKES: frozenset[type[nn.Module]] = frozenset(
    {nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d}
)


def _emits_spikes(module: nn.Module, previous: bool) -> bool:
    """Whether ``module``'s output is spikes: a neuron module whose spec says so (``spec.output
    == "spikes"``), or a reshape / dropout of spikes (``previous``: its input is spikes)."""
    spec = getattr(type(module), "spec", None)
    if spec is not None:
        return getattr(spec, "output", None) == "spikes"
    return previous and type(module) in _KEEPS_SPIKES


class SequentialState(nn.Sequential):
    """Like ``nn.Sequential``, but stateful modules get and return their state.

    A module is stateful when its ``forward`` takes a ``state`` argument (neuron cells and
    layers) or it is an ``nn.RNNBase``; it is called as ``module(x, state[i])`` and returns
    ``(x, new_state)``. Other modules are called as ``module(x)``. The state is a list with one
    entry per module (``None`` for stateless ones and for a first call). A list passed in is
    updated in place and returned.

    Spike-sparse synapses: a plain ``nn.Linear`` whose input is the spike output of a neuron
    module (a module whose ``spec.output`` is ``"spikes"``, such as ``LIFCell`` or ``LIF``,
    possibly followed by ``nn.Flatten``, ``nn.Unflatten``, ``nn.Identity`` or dropout) runs
    through :func:`~norse.torch.functional.spike_linear.spike_linear` with its own ``weight``
    and ``bias``: on sparse CPU spikes only the weight columns of the active inputs are summed
    (see ``docs/performance.md``). The module itself is not replaced (``state_dict`` and
    ``repr`` are unchanged); results equal ``nn.Linear``'s up to floating-point rounding. A
    ``Linear`` with hooks (its own or global ones) is called as usual, so its hooks run.

    Args:
        *args (nn.Module): the modules, run in order (children named ``"0"``, ``"1"``, ...).
        return_hidden (bool): return every module's output (a list) instead of the last one.
        spike_synapses (bool): keyword only; ``False`` calls every ``nn.Linear`` as it is
            (``F.linear`` throughout). Default: ``True``.

    Attributes:
        stateful_layers (list[bool]): which modules take a state.
        forward_state_hooks (list): handles of the hooks registered with
            :meth:`register_forward_state_hooks`.

    Example:
        >>> from norse.torch import LICell, LIFCell
        >>> model = SequentialState(torch.nn.Linear(4, 3), LIFCell(), torch.nn.Linear(3, 2), LICell())
        >>> out, state = model(torch.ones(8, 4))
        >>> out.shape, len(state), model.stateful_layers
        (torch.Size([8, 2]), 4, [False, True, False, True])
        >>> out, state = model(torch.ones(8, 4), state)   # continue from the last state

        The second ``Linear`` gets the first ``LIFCell``'s spikes, so it runs through
        ``spike_linear`` when they are sparse; ``spike_synapses=False`` turns that off:

        >>> dense = SequentialState(*model, spike_synapses=False)
        >>> torch.allclose(dense(torch.ones(8, 4))[0], model(torch.ones(8, 4))[0])
        True
    """

    def __init__(
        self, *args: nn.Module, return_hidden: bool = False, spike_synapses: bool = True
    ) -> None:
        super().__init__(*args)
        self.stateful_layers: list[bool] = [_is_module_stateful(m) for m in self]
        self.forward_state_hooks: list[RemovableHandle] = []
        self.return_hidden = return_hidden
        self.spike_synapses = spike_synapses

    # -- keep ``stateful_layers`` in step with the children --------------------------------
    def append(self, module: nn.Module) -> SequentialState:
        """Append ``module`` at the end (and record whether it is stateful).

        Example:
            >>> from norse.torch import LIFCell
            >>> model = SequentialState(torch.nn.Linear(2, 2)).append(LIFCell())
            >>> model.stateful_layers
            [False, True]
        """
        super().append(module)
        self.stateful_layers.append(_is_module_stateful(module))
        return self

    def insert(self, index: int, module: nn.Module) -> SequentialState:
        """Insert ``module`` before position ``index`` (and record whether it is stateful).

        Example:
            >>> from norse.torch import LIFCell
            >>> SequentialState(torch.nn.Linear(2, 2)).insert(0, LIFCell()).stateful_layers
            [True, False]
        """
        n = len(self)
        super().insert(index, module)
        self.stateful_layers.insert(index + n if index < 0 else index, _is_module_stateful(module))
        return self

    def __setitem__(self, idx: int, module: nn.Module) -> None:
        super().__setitem__(idx, module)
        self.stateful_layers[idx] = _is_module_stateful(module)

    def __delitem__(self, idx: slice | int) -> None:
        super().__delitem__(idx)
        del self.stateful_layers[idx]

    def __iadd__(self, other: nn.Sequential) -> SequentialState:
        super().__iadd__(other)
        self.stateful_layers.extend(_is_module_stateful(m) for m in other)
        return self

    # -- running ---------------------------------------------------------------------------
    def forward(self, input_tensor: Tensor, state: list | None = None) -> tuple[Any, list]:
        """Run the modules in order, threading each stateful module's state.

        Args:
            input_tensor (Tensor): input of the first module.
            state (list): one entry per module (``None`` to start at rest); updated in place.

        Returns:
            ``(output, state)``, or ``(list of every module's output, state)`` with
            ``return_hidden=True``.
        """
        n = len(self)
        if len(self.stateful_layers) != n:
            raise ValueError(
                f"SequentialState: stateful_layers has {len(self.stateful_layers)} entries for "
                f"{n} modules; add modules with append()/insert() so it stays in step"
            )
        if state is None:
            state = [None] * n
        elif not isinstance(state, list):
            if not isinstance(state, tuple):
                raise TypeError(
                    f"SequentialState: state must be a list with one entry per module (or None), "
                    f"got {type(state).__name__}"
                )
            state = list(state)
        if len(state) != n:
            raise ValueError(
                f"SequentialState: state has {len(state)} entries but there are {n} modules; "
                "pass the state list this model returned, or None to start at rest"
            )
        hidden = []
        x = input_tensor
        sparse = getattr(self, "spike_synapses", True)  # (absent in pickles of older versions)
        spikes = False  # whether x is the spike output of a neuron module
        for idx, module in enumerate(self):
            if self.stateful_layers[idx]:
                x, state[idx] = module(x, state[idx])
            elif spikes and sparse and _runs_sparse(module, x):
                x = spike_linear(x, module.weight, module.bias)
            else:
                x = module(x)
            spikes = sparse and _emits_spikes(module, spikes)
            if self.return_hidden:
                hidden.append(x)
        return (hidden if self.return_hidden else x), state

    def register_forward_state_hooks(
        self, forward_hook: Callable[[nn.Module, tuple, Any], Any]
    ) -> None:
        """Register ``forward_hook`` as a forward hook on every stateful module.

        The hook is called as ``forward_hook(module, (x, state), output)``. Remove the hooks
        with :meth:`remove_forward_state_hooks` before registering new ones.

        Raises:
            ValueError: if hooks are already registered.

        Example:
            >>> from norse.torch import LIFCell
            >>> model = SequentialState(torch.nn.Linear(2, 2), LIFCell())
            >>> seen = []
            >>> model.register_forward_state_hooks(lambda m, inp, out: seen.append(type(m).__name__))
            >>> _ = model(torch.ones(1, 2))
            >>> seen
            ['LIFCell']
            >>> model.remove_forward_state_hooks()
        """
        if self.forward_state_hooks:
            raise ValueError(
                "SequentialState: forward state hooks are already registered; call "
                "remove_forward_state_hooks() first"
            )
        for module, stateful in zip(self, self.stateful_layers, strict=True):
            if stateful:
                self.forward_state_hooks.append(module.register_forward_hook(forward_hook))

    def remove_forward_state_hooks(self) -> None:
        """Remove the hooks registered with :meth:`register_forward_state_hooks`."""
        for handle in self.forward_state_hooks:
            handle.remove()
        self.forward_state_hooks.clear()


def _runs_sparse(module: nn.Module, x: Any) -> bool:
    """Whether ``module(x)`` may run as ``spike_linear(x, module.weight, module.bias)``: a
    plain ``nn.Linear`` (not a subclass, which may compute something else) without hooks."""
    return (
        type(module) is nn.Linear
        and isinstance(x, Tensor)
        and nn.Linear.forward is _LINEAR_FORWARD  # (nobody replaced it)
        and "forward" not in module.__dict__
        and not _has_hooks(module)
    )


_LINEAR_FORWARD = nn.Linear.forward


class RecurrentSequentialState(NamedTuple):
    """State of :class:`RecurrentSequential`: the fed-back output ``cache`` and the list of
    module states ``state``.

    Example:
        >>> RecurrentSequentialState()
        RecurrentSequentialState(cache=None, state=None)
    """

    cache: Any = None
    state: Any = None


class RecurrentSequential(nn.Module):
    """A :class:`SequentialState` whose output is added to its next input (feedback).

    At the first call (``state=None``) the input goes in as is; afterwards the cached output of
    the previous call is added to it, so it must have the input's shape. ``output_modules``
    picks which module's output is returned and fed back: an index, or a list of indices (then
    a list is returned, and the sum of its entries is fed back).

    Args:
        *modules (nn.Module): the modules, run in order.
        output_modules (int or list[int]): index (or indices) of the output module(s).
        spike_synapses (bool): keyword only; as for :class:`SequentialState` (``nn.Linear``
            layers fed by spikes run through ``spike_linear``). Default: ``True``.

    Example:
        >>> from norse.torch import LIFCell
        >>> model = RecurrentSequential(torch.nn.Linear(2, 2), LIFCell())
        >>> out, state = model(torch.ones(3, 2))
        >>> out, state = model(torch.ones(3, 2), state)   # adds the last output to the input
        >>> out.shape, type(state).__name__
        (torch.Size([3, 2]), 'RecurrentSequentialState')
    """

    def __init__(
        self,
        *modules: nn.Module,
        output_modules: list[int] | int = -1,
        spike_synapses: bool = True,
    ) -> None:
        super().__init__()
        if is_size(output_modules):
            output_modules = int(output_modules)
        elif not isinstance(output_modules, list):
            raise TypeError(
                "RecurrentSequential: output_modules must be an int or a list of ints, got "
                f"{type(output_modules).__name__}"
            )
        indices = output_modules if isinstance(output_modules, list) else [output_modules]
        for k in indices:
            if not is_size(k):
                raise TypeError(
                    f"RecurrentSequential: output_modules entries must be ints, got {k!r}"
                )
            if not -len(modules) <= int(k) < len(modules):
                raise ValueError(
                    f"RecurrentSequential: output module index {k} is out of range for "
                    f"{len(modules)} modules"
                )
        if isinstance(output_modules, list):
            output_modules = [int(k) for k in output_modules]
        self.module = SequentialState(*modules, return_hidden=True, spike_synapses=spike_synapses)
        self.output_modules = output_modules

    def forward(
        self, x: Tensor, state: RecurrentSequentialState | None = None
    ) -> tuple[Any, RecurrentSequentialState]:
        """One step: add the fed-back output to ``x`` (unless ``state`` is None) and run.

        Returns:
            ``(output, RecurrentSequentialState(output, module_states))``.
        """
        if state is None:
            state = RecurrentSequentialState()
        else:
            feedback = state.cache
            if isinstance(feedback, (list, tuple)):
                feedback = sum(feedback)
            if feedback is not None:
                if isinstance(feedback, Tensor) and feedback.shape != x.shape:
                    raise ValueError(
                        f"RecurrentSequential: the fed-back output has shape "
                        f"{tuple(feedback.shape)} but the input has {tuple(x.shape)}; the "
                        "output module must produce the input's shape"
                    )
                x = x + feedback
        outputs, module_state = self.module(x, state.state)
        if isinstance(self.output_modules, int):
            out = outputs[self.output_modules]
        else:
            out = [outputs[k] for k in self.output_modules]
        return out, RecurrentSequentialState(out, module_state)
