"""Parameter and state tuples that behave as pytrees and move between devices.

:class:`StateTuple` is a mixin for named tuples whose tensor leaves can be moved and
converted together (``.to()``, ``.cuda()``, ``.float()``, ...), and
:class:`MultipleInheritanceNamedTupleMeta` lets a ``NamedTuple`` also inherit that mixin.

Example:
    >>> import torch
    >>> from torch import Tensor
    >>> class S(StateTuple, metaclass=MultipleInheritanceNamedTupleMeta):
    ...     x: Tensor
    ...     y: Tensor = torch.tensor(1.0)
    >>> s = S(torch.zeros(2))
    >>> s.double().x.dtype
    torch.float64
    >>> s.broadcast(torch.zeros(2)).y
    tensor([1., 1.])
"""

from __future__ import annotations

import collections
import typing
from collections.abc import Callable
from numbers import Number
from typing import Any

import torch
from torch.utils import _pytree

NamedTuple = typing._NamedTuple  # type: ignore[attr-defined]

__all__ = [
    "MultipleInheritanceNamedTupleMeta",
    "StateTuple",
    "broadcast_input",
    "map_only",
    "register_tuple",
    "tree_map_only",
]


def map_only(ty: type | tuple[type, ...]) -> Callable[[Callable], Callable]:
    """Return a decorator that applies a function only to instances of ``ty``."""

    def decorator(f: Callable) -> Callable:
        def wrapped(x: Any) -> Any:
            return f(x) if isinstance(x, ty) else x

        return wrapped

    return decorator


def tree_map_only(ty: type | tuple[type, ...], fn: Callable, pytree: Any) -> Any:
    """Map ``fn`` over the leaves of ``pytree`` that are instances of ``ty``."""
    return _pytree.tree_map(map_only(ty)(fn), pytree)


def register_tuple(typ: type) -> None:
    """Register a named-tuple class as a pytree node (flattened into its fields)."""
    if typ in _pytree.SUPPORTED_NODES:
        return
    _pytree.register_pytree_node(
        typ,
        lambda t: (list(t), None),
        lambda values, _: typ(*values),
        serialized_type_name=f"{typ.__module__}.{typ.__qualname__}",
    )


def broadcast_input(
    potential_scalar: torch.Tensor | Number, template: torch.Tensor
) -> torch.Tensor:
    """Broadcast a single-element value to the shape of ``template``.

    A tensor with exactly ``template``'s shape is returned unchanged; anything else raises.
    """
    if isinstance(potential_scalar, torch.Tensor):
        if potential_scalar.numel() == 1:
            return torch.full_like(template, potential_scalar.item())
        if potential_scalar.shape == template.shape:
            return potential_scalar
        raise ValueError(
            f"broadcast_input: cannot broadcast a tensor of shape {tuple(potential_scalar.shape)} "
            f"to the template shape {tuple(template.shape)}; pass a single value or a tensor of "
            "the template's shape"
        )
    return torch.full_like(template, float(potential_scalar))  # type: ignore[arg-type]


class StateTuple:
    """Mixin for named tuples of tensors: every method returns a new tuple of the same class."""

    def broadcast(self, template: torch.Tensor) -> Any:
        """Broadcast every tensor leaf to ``template``'s shape (python numbers are kept)."""
        return tree_map_only(torch.Tensor, lambda x: broadcast_input(x, template), self)

    def to(self, device: Any) -> Any:
        """Move (or convert) every tensor leaf, keeping each leaf's ``requires_grad``."""
        return tree_map_only(
            torch.Tensor, lambda x: x.to(device).requires_grad_(x.requires_grad), self
        )

    def cuda(self) -> Any:
        return self.to("cuda")

    def cpu(self) -> Any:
        return self.to("cpu")

    def int(self) -> Any:
        return tree_map_only(torch.Tensor, lambda x: x.int(), self)

    def float(self) -> Any:
        return tree_map_only(torch.Tensor, lambda x: x.float(), self)

    def double(self) -> Any:
        return tree_map_only(torch.Tensor, lambda x: x.double(), self)


class MultipleInheritanceNamedTupleMeta(typing.NamedTupleMeta):  # type: ignore[name-defined,misc]
    """Metaclass for a ``NamedTuple`` that also inherits other (mixin) classes.

    The annotated fields and their defaults become a hidden named-tuple base class; methods
    and docstrings written in the class body stay on the class. The class keeps the module
    it is defined in, so its instances pickle.
    """

    def __new__(mcls, typename: str, bases: tuple[type, ...], ns: dict[str, Any]):  # noqa: N804
        annotations = ns.get("__annotations__", {})
        if not annotations and "__annotate__" in ns:  # Python 3.14 lazy annotations
            annotations = ns["__annotate__"](1)
        fields = list(annotations)
        defaults = [ns[f] for f in fields if f in ns]
        base = collections.namedtuple(typename + "_nm_base", fields, defaults=defaults)
        base.__annotations__ = dict(annotations)
        body = {
            k: v
            for k, v in ns.items()
            if k not in fields and k not in ("__annotations__", "__annotate__", "__dict__")
        }
        body["__slots__"] = ()
        cls = type(typename, tuple(bases) + (base,), body)
        register_tuple(cls)
        return cls
