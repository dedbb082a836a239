"""A linear synapse that computes only over the nonzero inputs (spike-sparse synapses).

A layer fed by spiking neurons sees mostly zeros: at 2-10 % activity a dense
``F.linear(spikes, weight)`` spends more than 90 % of its multiply-adds on zeros.
:func:`spike_linear` gives the result of ``torch.nn.functional.linear`` but sums, for each
input row, only the weight columns of its nonzero entries, scaled by their values (float32:
one ``embedding_bag`` over the nonzero positions; float64: MKL's sparse-dense product). Its
backward computes the weight gradient over the nonzero inputs only; the input gradient stays
dense (``grad @ weight``), since surrogate gradients flow through silent neurons too.

When it applies: float32 or float64 strided CPU tensors, at least :data:`MIN_ROWS` input rows
(all dimensions but the last), :data:`MIN_OUT_FEATURES` output features and
:data:`MIN_MULTIPLY_ADDS` multiply-adds, and at most :data:`MAX_ACTIVITY` of the input nonzero
(less below 512 output features, in proportion). Everything else (denser or smaller inputs,
GPU, bfloat16/float16, sparse layouts, tensor subclasses, functorch transforms, forward-mode
AD, ``torch.compile`` / ``torch.export`` / ``torch.jit.trace`` / ONNX export) runs the dense
``F.linear``, so compiled, traced and exported graphs record a plain ``linear``. Whole
sequences (time merged into the batch, e.g. ``(T, B, N)`` spikes of a layer) qualify; one time
step of a small batch is faster dense.

What it saves: at 6400 x 700 spikes @ 700 x 512 (float32, 2 threads, 2 % activity) about
3.4x on the forward and 1.8x on forward + backward (whose dense input gradient stays); the
measured numbers are in ``docs/performance.md`` ("Spike-sparse synapses"). The result equals
the dense product up to floating-point rounding (another summation order; bit for bit where
the sums are exact, e.g. binary spikes and integer-valued weights). Zero inputs are skipped,
so a zero input times an infinite or NaN weight adds 0 where ``F.linear`` gives NaN.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd import forward_ad

__all__ = ["MAX_ACTIVITY", "MIN_MULTIPLY_ADDS", "MIN_OUT_FEATURES", "MIN_ROWS", "spike_linear"]

# When the sparse path runs (measured on 2 shared cores, float32 and float64, 1 and 2
# threads; see docs/performance.md). Below these sizes the fixed costs (finding the nonzero
# entries: about 1 ns per input entry; a transposed copy of the weight) outweigh the saving.

#: At most this fraction of the input may be nonzero (for ``out_features >= 512``; less in
#: proportion for fewer output features, which give each active input less work).
MAX_ACTIVITY: float = 0.08

#: At least this many input rows (all dimensions but the last, multiplied).
MIN_ROWS: int = 1024

#: At least this many output features.
MIN_OUT_FEATURES: int = 256

#: At least this many multiply-adds in the dense product (rows x in_features x out_features).
MIN_MULTIPLY_ADDS: int = 1 << 26

#: from this many output features on, the full MAX_ACTIVITY applies
_FULL_ACTIVITY_OUT_FEATURES = 512
_SPARSE_DTYPES = (torch.float32, torch.float64)
_PLAIN = (Tensor, torch.nn.Parameter)
#: inputs with more entries than this estimate their activity from a sample of rows
_SAMPLE = 1 << 16
_MKL = torch.backends.mkl.is_available()
_csr_warned = False  # whether torch's one warning about sparse CSR tensors was consumed


def spike_linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    r"""``torch.nn.functional.linear(input, weight, bias)``, computed over the nonzero inputs.

    :math:`y = x W^T + b` for an input of shape ``(*, in_features)``, a weight of shape
    ``(out_features, in_features)`` and a bias of shape ``(out_features,)`` (or ``None``).
    When the input is sparse enough (spikes; see the module docstring), the forward sums the
    weight columns of the active inputs, weighted by their values, and the backward computes
    the weight gradient over the active inputs only; otherwise it is ``F.linear``. Either way
    the result and the gradients of input, weight and bias equal ``F.linear``'s up to
    rounding.

    Args:
        input (Tensor): input of shape ``(*, in_features)``, typically spikes (0 or 1).
        weight (Tensor): weight of shape ``(out_features, in_features)``.
        bias (Tensor): bias of shape ``(out_features,)``, or ``None``.

    Returns:
        Tensor of shape ``(*, out_features)``.

    Raises:
        TypeError: ``input``, ``weight`` or ``bias`` is not a tensor, or their dtypes differ.
        ValueError: ``input``'s last dimension is not ``in_features``, or a shape is wrong.

    Example:
        >>> weight = torch.randn(512, 700, dtype=torch.float64)
        >>> spikes = (torch.rand(20, 100, 700) < 0.02).double()   # (T, B, N), 2 % active
        >>> out = spike_linear(spikes, weight)
        >>> out.shape
        torch.Size([20, 100, 512])
        >>> torch.allclose(out, torch.nn.functional.linear(spikes, weight))
        True
    """
    if torch.jit.is_tracing() or (
        isinstance(input, Tensor) and torch.is_autocast_enabled(input.device.type)
    ):  # (tracing would record the checks as constants; autocast casts the arguments)
        return F.linear(input, weight, bias)
    _check(input, weight, bias)
    if not _sparse_applies(input, weight, bias):
        return F.linear(input, weight, bias)
    out_features, in_features = weight.shape
    x2d = input.reshape(-1, in_features)
    limit = _activity_limit(out_features)
    if not _sparse_enough(x2d, limit):
        return F.linear(input, weight, bias)
    out = _apply(_SpikeLinearFunction, x2d, weight, bias, limit)
    return out.reshape(*input.shape[:-1], weight.shape[0])


# ----------------------------------------------------------------------------- argument checks
def _check(input: Any, weight: Any, bias: Any) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"spike_linear: input must be a tensor, got {type(input).__name__}")
    if not isinstance(weight, Tensor):
        raise TypeError(f"spike_linear: weight must be a tensor, got {type(weight).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"spike_linear: bias must be a tensor or None, got {type(bias).__name__}")
    if weight.dim() not in (1, 2):
        raise ValueError(
            "spike_linear: weight must have shape (out_features, in_features), got shape "
            f"{tuple(weight.shape)}"
        )
    if input.dim() < 1:
        raise ValueError(
            f"spike_linear: input must have shape (*, in_features={weight.shape[-1]}), got a "
            "0-dim tensor"
        )
    if input.shape[-1] != weight.shape[-1]:
        raise ValueError(
            f"spike_linear: input must have shape (*, in_features={weight.shape[-1]}) (its last "
            f"dimension is the weight's in_features), got shape {tuple(input.shape)}"
        )
    if input.dtype != weight.dtype:
        raise TypeError(
            f"spike_linear: input dtype must match the weight's dtype {weight.dtype}, got "
            f"{input.dtype}; convert it with input.to(weight.dtype)"
        )
    if bias is not None:
        if bias.dtype != weight.dtype:
            raise TypeError(
                f"spike_linear: bias dtype must match the weight's dtype {weight.dtype}, got "
                f"{bias.dtype}"
            )
        if weight.dim() == 2 and bias.shape == weight.shape[:1]:
            return
        out_shape = (*input.shape[:-1], weight.shape[0]) if weight.dim() == 2 else input.shape[:-1]
        try:
            fits = torch.broadcast_shapes(bias.shape, out_shape) == torch.Size(out_shape)
        except RuntimeError:
            fits = False
        if not fits:
            expected = f"({weight.shape[0]},)" if weight.dim() == 2 else "()"
            raise ValueError(
                f"spike_linear: bias must have shape {expected} (out_features), got shape "
                f"{tuple(bias.shape)}"
            )


# ----------------------------------------------------------------------------- when it applies
def _sparse_applies(input: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    """Whether the sparse path may run at all (before looking at the input's values)."""
    if weight.dim() != 2 or input.dtype not in _SPARSE_DTYPES or _recording(input):
        return False  # (before any size test, which would guard a compiled graph's shapes)
    out_features, in_features = weight.shape
    rows = input.numel() // max(in_features, 1)
    if (
        rows < MIN_ROWS
        or out_features < MIN_OUT_FEATURES
        or rows * in_features * out_features < MIN_MULTIPLY_ADDS
    ):
        return False
    tensors = (input, weight) if bias is None else (input, weight, bias)
    for t in tensors:
        if type(t) not in _PLAIN or t.layout != torch.strided or t.device.type != "cpu":
            return False
    return bias is None or bias.shape == (out_features,)


def _activity_limit(out_features: int) -> float:
    return MAX_ACTIVITY * min(1.0, out_features / _FULL_ACTIVITY_OUT_FEATURES)


def _recording(x: Tensor) -> bool:
    """Whether the call is being traced, compiled or exported, or runs under a functorch
    transform or forward-mode AD: then only the plain ``linear`` may be recorded."""
    onnx = sys.modules.get("torch.onnx")  # (never imported here)
    return (
        torch.compiler.is_compiling()
        or (onnx is not None and onnx.is_in_onnx_export())
        or torch._C._are_functorch_transforms_active()
        or torch._C._functorch.is_functorch_wrapped_tensor(x)
        or getattr(forward_ad, "_current_level", -1) >= 0
    )


def _sparse_enough(x2d: Tensor, limit: float) -> bool:
    """Whether at most ``limit`` of ``x2d`` is nonzero, counted on evenly spaced rows for
    large inputs (the forward checks the exact count again)."""
    rows, cols = x2d.shape
    if rows == 0 or cols == 0:
        return False
    step = max(1, (rows * cols) // _SAMPLE)
    sample = x2d[::step] if step > 1 else x2d
    return int(torch.count_nonzero(sample)) <= limit * sample.numel()


# ----------------------------------------------------------------------------- autograd function
def _apply(cls: type, *args: Any) -> Any:
    # ``Function.apply`` binds the arguments to ``forward``'s signature on every call; they are
    # positional and complete here, and functorch transforms never get this far, so call the
    # C++ apply (``torch._C._FunctionBase.apply``) directly.
    return super(torch.autograd.Function, cls).apply(*args)


def _offsets(index: Tensor, bags: int) -> Tensor:
    """Where each bag starts in ``index`` sorted by bag, and the end: ``bags + 1`` entries."""
    counts = torch.bincount(index, minlength=bags)
    offsets = counts.new_zeros(bags + 1)
    torch.cumsum(counts, 0, out=offsets[1:])
    return offsets


def _sum_rows(table: Tensor, indices: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:
    """``out[k] = sum(weights[j] * table[indices[j]] for j in offsets[k]:offsets[k + 1])``.

    float32: ``embedding_bag`` (vectorised, parallel over bags). float64, which
    ``embedding_bag`` runs serially and unvectorised: MKL's sparse-dense product of the CSR
    matrix ``(offsets, indices, weights)`` with ``table``.
    """
    if table.dtype == torch.float64 and _MKL:
        global _csr_warned
        size = (offsets.shape[0] - 1, table.shape[0])
        if _csr_warned:
            matrix = torch.sparse_csr_tensor(offsets, indices, weights, size)
        else:  # (torch warns once that sparse CSR support is in beta; not the user's concern)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                matrix = torch.sparse_csr_tensor(offsets, indices, weights, size)
            _csr_warned = True
        return torch.mm(matrix, table)
    return torch._embedding_bag_forward_only(
        table, indices, offsets[:-1], False, 0, False, weights, False, -1
    )[0]


class _SpikeLinearFunction(torch.autograd.Function):
    """``x2d @ weight.T + bias`` over the nonzero entries of ``x2d`` (rows, in_features).

    Saves ``x2d`` (as ``F.linear`` does) and, for the weight gradient, the positions of its
    nonzero entries. A backward that records a graph (``create_graph=True``) uses the dense,
    differentiable formulas, so second derivatives work as for ``F.linear``.
    """

    @staticmethod
    def forward(ctx: Any, x2d: Tensor, weight: Tensor, bias: Tensor | None, limit: float) -> Tensor:
        rows, in_features = x2d.shape
        ctx.in_features = in_features
        nz = x2d.nonzero()
        if nz.shape[0] > 1.5 * limit * x2d.numel():  # the sample was far off: go dense
            ctx.save_for_backward(x2d, weight, None, None)
            return F.linear(x2d, weight, bias)
        row_index, col_index = nz[:, 0].contiguous(), nz[:, 1].contiguous()
        values = x2d[row_index, col_index]
        out = _sum_rows(weight.t().contiguous(), col_index, _offsets(row_index, rows), values)
        if bias is not None:
            out += bias
        if ctx.needs_input_grad[1]:
            ctx.save_for_backward(x2d, weight, row_index, col_index)
        else:
            ctx.save_for_backward(x2d, weight, None, None)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        x2d, weight, row_index, col_index = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if need_input:
            grad_input = grad @ weight  # dense: surrogate gradients reach silent inputs too
        if need_weight:
            if row_index is None or torch.is_grad_enabled():
                grad_weight = grad.t() @ x2d
            else:
                # grad_weight.T[c] = sum of x[r, c] * grad[r] over the nonzero x[r, c]: the
                # forward's sum with bags by column (a stable sort keeps each in row order)
                order = torch.argsort(col_index, stable=True)
                values = x2d[row_index, col_index][order]
                offsets = _offsets(col_index, ctx.in_features)
                grad_weight = _sum_rows(grad.contiguous(), row_index[order], offsets, values).t()
        if need_bias:
            grad_bias = grad.sum(0)
        return grad_input, grad_weight, grad_bias, None
