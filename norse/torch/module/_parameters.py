"""Where a module keeps its neuron parameter tuple (``module.p``).

``module.p`` reads as the parameter ``NamedTuple`` (``LIFParameters(...)``), as in 1.1.0. Its
tensors live in a child module named :data:`CHILD` as non-persistent buffers, so they follow
``.to()`` / ``.double()``; ``nn.Parameter`` fields are registered there, so optimisers and
``state_dict()`` see them (``neuron_parameters.<field>``).

The child is not called ``p``: ``torch.export``, ``torch.func.functional_call`` and every other
tool that walks a module by attribute name (``getattr(module, "p")``) must find an
``nn.Module`` under a child's name, and ``p`` is the tuple.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .._spec import is_namedtuple
from ..utils._validation import check_dt

__all__ = ["CHILD", "HasNeuronParameters", "HasTimeStep"]

#: the name of the child module that holds the tensors of ``p``
CHILD = "neuron_parameters"


class _Changes:
    """A counter shared by every dict of one tree of :class:`_NeuronParameters`."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class _Watched(dict):
    """The ``_parameters`` / ``_buffers`` / ``_modules`` dict of :class:`_NeuronParameters`:
    counts every change, whoever makes it (``register_buffer``, ``.to()``,
    ``load_state_dict(assign=True)``, or ``torch.func.functional_call`` / ``torch.export``
    writing into the dict directly)."""

    __slots__ = ("changes",)

    def __init__(self, changes: _Changes, *args: Any) -> None:
        super().__init__(*args)
        self.changes = changes

    def __setitem__(self, key: str, value: Any) -> None:
        self.changes.n += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.changes.n += 1
        super().__delitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.changes.n += 1
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.changes.n += 1
        return super().setdefault(key, default)

    def pop(self, *args: Any) -> Any:
        self.changes.n += 1
        return super().pop(*args)

    def popitem(self) -> Any:
        self.changes.n += 1
        return super().popitem()

    def clear(self) -> None:
        self.changes.n += 1
        super().clear()

    def __reduce__(self) -> Any:
        return (_Watched, (self.changes, dict(self)))


class _NeuronParameters(nn.Module):
    """Holds a parameter tuple's tensors as buffers (or parameters) of the owning module.

    The class-level default tensors are copied so that no two modules share them; tensors the
    user passed in are kept as the same objects. :meth:`value` rebuilds the tuple only when a
    tensor was replaced (``.to()``, an assignment, ``functional_call``): every dict of the tree
    counts its changes in one shared counter, so reading ``p`` in every forward costs one
    integer comparison.
    """

    def __init__(self, p: Any, as_tensors: bool, _changes: _Changes | None = None) -> None:
        super().__init__()
        changes = _Changes() if _changes is None else _changes
        self.__dict__["_changes"] = changes
        for store in ("_parameters", "_buffers", "_modules"):
            self.__dict__[store] = _Watched(changes)
        self._kind = type(p) if is_namedtuple(p) else None
        self._constants: dict[str, Any] = {}
        self._cache: tuple[Any, Any] | None = None
        if self._kind is None:
            self._constants["__raw__"] = p
            return
        defaults = getattr(self._kind, "_field_defaults", {})
        for name, value in zip(p._fields, p, strict=True):
            if is_namedtuple(value):
                self.add_module(name, _NeuronParameters(value, as_tensors, changes))
            elif isinstance(value, nn.Parameter):
                self.register_parameter(name, value)
            elif isinstance(value, Tensor):
                if value is defaults.get(name, None):
                    value = value.detach().clone()
                self.register_buffer(name, value, persistent=False)
            elif as_tensors and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.register_buffer(name, torch.as_tensor(value), persistent=False)
            else:
                self._constants[name] = value

    def _field(self, name: str) -> Any:
        if name in self._constants:
            return self._constants[name]
        for store in (self._parameters, self._buffers):
            if name in store:
                return store[name]
        return self._modules[name].value()  # type: ignore[union-attr]

    def value(self) -> Any:
        """The parameter tuple (under ``torch.compile`` rebuilt on every read, for dynamo)."""
        if self._kind is None:
            return self._constants["__raw__"]
        if torch.compiler.is_compiling():
            return self._kind(*[self._field(f) for f in self._kind._fields])
        return self.cached_value()

    def cached_value(self) -> Any:
        """:meth:`value` outside ``torch.compile``: rebuilt only after a tensor was replaced."""
        if self._kind is None:
            return self._constants["__raw__"]
        key = self._changes.n  # any change anywhere in this tree of parameters
        cache = self._cache
        if cache is not None and cache[0] == key:
            return cache[1]
        value = self._kind(*[self._field(f) for f in self._kind._fields])
        self._cache = (key, value)
        return value

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_cache"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("_cache", None)
        super().__setstate__(state)

    def extra_repr(self) -> str:
        return "" if self._kind is None else self._kind.__name__


class HasNeuronParameters:
    """Mixin for ``nn.Module`` s with a parameter tuple ``p`` (read, assigned, validated).

    ``module.p = ...`` goes through :meth:`_check_p`, the same check as at construction, so
    an invalid tuple is refused whenever it is set.
    """

    @property
    def p(self) -> Any:
        return self._modules[CHILD].value()  # type: ignore[attr-defined]

    @p.setter
    def p(self, value: Any) -> None:
        value = self._check_p(value)
        self._modules[CHILD] = _NeuronParameters(value, self._numbers_as_tensors())  # type: ignore[attr-defined]

    def _numbers_as_tensors(self) -> bool:
        """Whether python numbers in ``p`` become tensors (buffers that follow the module)."""
        return False

    def _check_p(self, value: Any) -> Any:
        """Validate (and convert) a parameter tuple; subclasses say what they accept."""
        return value


class HasTimeStep:
    """Mixin: ``module.dt`` is checked whenever it is set, as at construction."""

    @property
    def dt(self) -> float:
        """The integration time step in seconds."""
        return self._dt  # type: ignore[attr-defined]

    @dt.setter
    def dt(self, value: Any) -> None:
        self._dt = check_dt(value, type(self).__name__)
