"""``libdevice`` for Triton's CPU interpreter (``TRITON_INTERPRET=1``).

The generated kernels call ``libdevice.exp`` & co., which compile to CUDA's own math library
(the functions torch's CUDA kernels call). The interpreter cannot run those external calls, so
under it the kernels get this module instead: the same functions, evaluated by numpy (or
python's ``math``) on the interpreter's tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import triton.language as tl
from triton.runtime.interpreter import TensorHandle

__all__ = [
    "cos", "erf", "erfc", "exp", "expm1", "log", "log1p", "nearbyint", "pow", "sin", "sqrt",
    "tanh", "trunc",
]  # fmt: skip


def _elementwise(fn: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        tensors = [a for a in args if isinstance(a, tl.tensor)]
        if not tensors:
            return fn(*args)
        like = max(tensors, key=lambda t: t.handle.data.size)
        data = [a.handle.data if isinstance(a, tl.tensor) else a for a in args]
        dtype = like.handle.data.dtype
        out = np.asarray(fn(*data)).astype(dtype, copy=False)
        return tl.tensor(TensorHandle(out, like.handle.dtype.scalar), like.type)

    apply.__name__ = getattr(fn, "__name__", "libdevice_function")
    return apply


def _vectorized(scalar: Callable[[float], float]) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        x = np.asarray(x)
        return np.vectorize(scalar, otypes=[np.float64])(x).astype(x.dtype, copy=False)

    return fn


exp = _elementwise(np.exp)
expm1 = _elementwise(np.expm1)
log = _elementwise(np.log)
log1p = _elementwise(np.log1p)
sqrt = _elementwise(np.sqrt)
tanh = _elementwise(np.tanh)
sin = _elementwise(np.sin)
cos = _elementwise(np.cos)
erf = _elementwise(_vectorized(math.erf))
erfc = _elementwise(_vectorized(math.erfc))
trunc = _elementwise(np.trunc)
nearbyint = _elementwise(np.rint)
pow = _elementwise(np.power)  # noqa: A001 - libdevice's name
