r"""How Norse's neuron models and NIR nodes map onto each other, and the small modules NIR needs.

NIR (the Neuromorphic Intermediate Representation, package ``nir``) describes neurons as
continuous-time ODEs. Norse's models are one explicit Euler step per call. This module fixes
the one convention that makes the two agree exactly, and holds the per-model conversion table
that :func:`~norse.torch.utils.export_nir.to_nir` and
:func:`~norse.torch.utils.import_nir.from_nir` read.

**Convention.** A graph runs in steps of length :math:`\Delta t`. The value on an edge is held
constant during a step. Each neuron takes one explicit Euler step per time step, synaptic
current first and then the voltage from the *updated* current, so input reaches the voltage in
the same step. A spike is :math:`z = \Theta(v - v_{th})` on the updated voltage, strictly above
threshold, followed by :math:`v \leftarrow v_{reset}`. For NIR ``CubaLIF``

.. math::
    \tau_{syn} \dot I = -I + w_{in} S, \qquad \tau_{mem} \dot v = (v_{leak} - v) + r I

this reads

.. math::
    \begin{aligned}
    I_{t+1} &= I_t + \tfrac{\Delta t}{\tau_{syn}} (-I_t + w_{in} x_t) \\
    v_{t+1} &= v_t + \tfrac{\Delta t}{\tau_{mem}} (v_{leak} - v_{t} + r I_{t+1})
    \end{aligned}

which is Norse's jump-first LIF step (:mod:`norse.torch.functional.lif`) with current
:math:`i = r I`, :math:`\tau^{-1} = 1/\tau` and the input scaled by
:math:`c = r\, w_{in} \Delta t / \tau_{syn}`. NIR ``LIF``/``LI`` (no synapse) give the box
models with :math:`c = r`, and NIR ``IF`` (:math:`\dot v = r I`) gives IAF with
:math:`c = r \Delta t`. Export writes :math:`r = 1` and the :math:`w_{in}` (``CubaLIF``,
``CubaLI``) or :math:`r` (``IF``: :math:`1/\Delta t`) that makes :math:`c = 1`; import folds any
other :math:`c` into a :class:`ScaledInput`.

=============================  ===========  ===========================================
Norse                          NIR          parameters (export; import is the inverse)
=============================  ===========  ===========================================
LIF (``LIFParameters``)        ``CubaLIF``  ``tau_syn = 1/tau_syn_inv``,
                                            ``tau_mem = 1/tau_mem_inv``, ``r = 1``,
                                            ``w_in = tau_syn/dt``, ``v_leak``,
                                            ``v_threshold = v_th``, ``v_reset``
LIF box (``LIFBoxParameters``) ``LIF``      ``tau = 1/tau_mem_inv``, ``r = 1``, ``v_leak``,
                                            ``v_threshold = v_th``, ``v_reset``
LI (``LIParameters``)          ``CubaLI``   ``tau_syn``, ``tau_mem``, ``r = 1``,
                                            ``w_in = tau_syn/dt``, ``v_leak``
LI box (``LIBoxParameters``)   ``LI``       ``tau = 1/tau_mem_inv``, ``r = 1``, ``v_leak``
IAF (``IAFParameters``)        ``IF``       ``r = 1/dt``, ``v_threshold = v_th``, ``v_reset``
=============================  ===========  ===========================================

Every array has the neuron shape (one value per neuron). The surrogate ``method`` and ``alpha``
(which do not change the forward dynamics) travel in the node's metadata as ``norse_method``
and ``norse_alpha``.

Example:
    >>> from norse.torch.functional.lif import LIFParameters
    >>> node = NEURONS["lif"].export(LIFParameters(), 0.001, (2,), None)
    >>> type(node).__name__, node.tau_mem, node.w_in
    ('CubaLIF', array([0.01, 0.01]), array([5., 5.]))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import nir
import numpy as np
import torch
from torch import Tensor, nn

from ..functional.reset import ResetMethod
from ..functional.threshold import threshold
from ._validation import check_dt as _check_dt  # noqa: F401  (import_nir, export_nir)

__all__ = [
    "NEURONS",
    "Delay",
    "DelayState",
    "NeuronMapping",
    "ScaledInput",
    "Scale",
    "SumPool2d",
    "Threshold",
    "module_class",
    "neuron_mapping",
    "spec_for_node",
]

#: ``|c - 1|`` below this counts as no input scaling (float64 rounding of ``1/(1/x)``).
SCALE_TOLERANCE = 1e-9


# ----------------------------------------------------------------------------- arrays
def _to_tensor(x: Any) -> Tensor:
    """A tensor from a NIR value: tensors pass, numbers and arrays become float32."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.array(x, dtype=np.float32))
    return torch.as_tensor(x, dtype=torch.float32)


def _f64(x: Any) -> np.ndarray:
    """A float64 numpy array from a tensor, number or array (detached, on the CPU)."""
    if isinstance(x, Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _per_neuron(value: Any, shape: tuple[int, ...], field: str, who: str) -> np.ndarray:
    """``value`` broadcast to one float64 entry per neuron, or a ValueError naming ``field``."""
    array = _f64(value)
    try:
        return np.broadcast_to(array, shape).copy()
    except ValueError:
        raise ValueError(
            f"{who}: parameter {field} has shape {array.shape}, which does not broadcast to "
            f"the neuron shape {shape}; pass one value or one per neuron"
        ) from None


def _metadata(p: Any) -> dict[str, Any]:
    """Surrogate settings (no effect on the forward dynamics) for the node's metadata."""
    meta: dict[str, Any] = {}
    method = getattr(p, "method", None)
    if isinstance(method, str):
        meta["norse_method"] = method
    alpha = getattr(p, "alpha", None)
    if alpha is not None:
        alpha = _f64(alpha)
        meta["norse_alpha"] = float(alpha) if alpha.ndim == 0 else alpha
    return meta


def _surrogate(meta: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``method``/``alpha`` from node metadata written by :func:`_metadata`, for the parameter
    ``fields`` that exist (nothing when the metadata has none: the defaults apply)."""
    out = {}
    method = meta.get("norse_method")
    if isinstance(method, bytes):
        method = method.decode("utf8")
    if isinstance(method, str) and "method" in fields:
        out["method"] = method
    if "norse_alpha" in meta and "alpha" in fields:
        out["alpha"] = _to_tensor(np.asarray(meta["norse_alpha"], dtype=np.float64))
    return out


def _inverse(tau: Any, field: str, who: str) -> Tensor:
    """``1/tau`` as a float32 tensor (computed in float64), with a clear error for tau <= 0."""
    tau = _f64(tau)
    if not np.all(tau > 0) or np.any(np.isnan(tau)):
        raise ValueError(
            f"{who}: {field} must be positive (seconds), got {tau.min() if tau.size else tau}; "
            "NIR time constants are in seconds and Norse stores their inverses"
        )
    return _to_tensor(1.0 / tau)


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class NeuronMapping:
    """How one neuron model maps to one NIR node type.

    Attributes:
        node_type: the NIR node class (``nir.CubaLIF``).
        export: ``(p, dt, shape, input_scale) -> node``: the node for neurons of ``shape``
            with parameters ``p`` that run at ``dt``; ``input_scale`` (an array or ``None``)
            multiplies their input first.
        load: ``(node, dt, reset_method, who) -> (p, input_scale)``: the parameters and the
            input scale that reproduce ``node`` at ``dt``; ``reset_method`` is ``from_nir``'s.
        time_constants: the node fields (seconds) that explicit Euler needs above ``dt``.

    Example:
        >>> from norse.torch import LIFBoxParameters
        >>> from norse.torch.functional.reset import reset_value
        >>> mapping = NEURONS["lif_box"]
        >>> node = mapping.export(LIFBoxParameters(), 0.001, (3,), None)
        >>> p, scale = mapping.load(node, 0.001, reset_value, "example")
        >>> p.tau_mem_inv, scale
        (tensor([100., 100., 100.]), array([1., 1., 1.]))
    """

    node_type: type
    export: Callable[[Any, float, tuple[int, ...], np.ndarray | None], Any]
    load: Callable[[Any, float, ResetMethod, str], tuple[Any, np.ndarray]]
    time_constants: tuple[str, ...] = ()


def _scale_or_one(input_scale: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if input_scale is None:
        return np.ones(shape)
    return _per_neuron(input_scale, shape, "input scale", "to_nir")


def neuron_mapping(spec: Any) -> NeuronMapping | None:
    """The NIR mapping of a neuron model, from ``spec.nir`` (stated in the model's file).

    Example:
        >>> from norse.torch.functional import lif
        >>> neuron_mapping(lif.SPEC).node_type.__name__
        'CubaLIF'
    """
    mapping = getattr(spec, "nir", None)
    if mapping is None or isinstance(mapping, NeuronMapping):
        return mapping
    found = _MAPPINGS.get(id(mapping))
    if found is None:
        node, export, load, time_constants = mapping
        found = NeuronMapping(getattr(nir, node), export, load, tuple(time_constants))
        _MAPPINGS[id(mapping)] = found
    return found


_MAPPINGS: dict[int, NeuronMapping] = {}


def _neurons() -> dict[str, NeuronMapping]:
    from .._registry import MODELS

    found = {spec.name: neuron_mapping(spec) for spec in MODELS}
    return {name: m for name, m in found.items() if m is not None}


#: The models that map to NIR nodes, keyed by ``NeuronSpec.name`` (read from the registry's
#: specs; a model without ``SPEC.nir`` cannot be exported, and ``to_nir`` says so).
NEURONS: dict[str, NeuronMapping] = _neurons()


def module_class(spec: Any, kind: str) -> type | None:
    """The module class of ``kind`` (``"cell"``, ``"recurrent_cell"``, ...) built on ``spec``.

    Imports the model's module file (``functional.<model>`` -> ``module.<model>``) first, so
    that the class exists even when ``norse.torch`` has not imported it.

    Example:
        >>> from norse.torch.functional import lif_box
        >>> module_class(lif_box.SPEC, "cell").__name__
        'LIFBoxCell'
    """
    from .._registry import module_classes

    found = module_classes(spec).get(kind)
    if found is None:
        home = getattr(spec.step, "__module__", "").replace(".functional.", ".module.", 1)
        try:
            importlib.import_module(home)
        except ImportError:
            return None
        found = module_classes(spec).get(kind)
    return found


def spec_for_node(node: Any) -> Any | None:
    """The registered neuron model whose NIR node type is ``type(node)`` (or ``None``).

    Example:
        >>> spec_for_node(nir.LI(tau=np.ones(1), r=np.ones(1), v_leak=np.zeros(1))).name
        'li_box'
    """
    from .._registry import MODELS

    for spec in MODELS:
        mapping = neuron_mapping(spec)
        if mapping is not None and type(node) is mapping.node_type:
            return spec
    if type(node) is nir.IF:
        try:
            return importlib.import_module("norse.torch.functional.iaf").SPEC
        except (ImportError, AttributeError):
            return None
    return None


# ----------------------------------------------------------------------------- modules
class Scale(nn.Module):
    """Multiplies its input elementwise by ``scale`` (the NIR ``Scale`` node).

    Args:
        scale (Tensor): factors, broadcast against the input's trailing dimensions.

    Example:
        >>> Scale(torch.tensor([1.0, 2.0]))(torch.ones(3, 2))[0]
        tensor([1., 2.])
    """

    def __init__(self, scale: Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale))

    def forward(self, input_tensor: Tensor) -> Tensor:
        return input_tensor * self.scale


class Threshold(nn.Module):
    """Spikes where the input is strictly above ``threshold`` (the NIR ``Threshold`` node).

    The forward pass is :math:`\\Theta(x - \\theta)`; the backward pass uses the surrogate
    ``method`` with steepness ``alpha`` (see :mod:`norse.torch.functional.threshold`).

    Example:
        >>> Threshold(torch.tensor(0.5))(torch.tensor([0.2, 0.5, 0.7]))
        tensor([0., 0., 1.])
    """

    def __init__(
        self, threshold: Tensor, method: str = "super", alpha: Tensor | float = 100.0
    ) -> None:
        super().__init__()
        from ..functional.threshold import check_method

        check_method(method, "Threshold")
        self.method = method
        self.register_buffer("threshold", torch.as_tensor(threshold))
        self.register_buffer("alpha", torch.as_tensor(alpha))

    def forward(self, input_tensor: Tensor) -> Tensor:
        return threshold(input_tensor - self.threshold, self.method, self.alpha)


class SumPool2d(nn.LPPool2d):
    """Sum pooling over 2-D windows with zero padding (the NIR ``SumPool2d`` node).

    An ``nn.LPPool2d`` with ``norm_type=1`` (as 1.1.0 imported ``SumPool2d``), computed as an
    exact sum and with ``padding`` support.

    Example:
        >>> SumPool2d(2)(torch.ones(1, 1, 4, 4))
        tensor([[[[4., 4.],
                  [4., 4.]]]])
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__(1, kernel_size, stride)
        self.padding = padding

    def forward(self, input_tensor: Tensor) -> Tensor:
        return nn.functional.avg_pool2d(
            input_tensor,
            self.kernel_size,
            self.stride if self.stride is not None else self.kernel_size,
            self.padding,
            count_include_pad=True,
            divisor_override=1,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class DelayState(NamedTuple):
    """State of :class:`Delay`: the last inputs, most recent first (``(D, *x.shape)``).

    Example:
        >>> _, s = Delay(torch.tensor([2]))(torch.ones(1))
        >>> s.buffer.shape
        torch.Size([2, 1])
    """

    buffer: Tensor


class Delay(nn.Module):
    """Delays every element of its input by a whole number of steps (the NIR ``Delay`` node).

    :func:`~norse.torch.utils.import_nir.from_nir` imports ``Delay`` nodes as
    :class:`~norse.torch.AxonalDelayCell` (the same shift); this class stays for code that
    builds it directly, and exports as before.

    ``y_t = x_{t - d}`` with ``d`` per element (zeros before the first input arrived).

    Args:
        steps (Tensor): integer delay of every element, in steps (``round(delay / dt)``).

    Example:
        >>> d = Delay(torch.tensor([0, 2]))
        >>> s = None
        >>> for t in range(3):
        ...     y, s = d(torch.full((2,), float(t + 1)), s)
        ...     print(y.tolist())
        [1.0, 0.0]
        [2.0, 0.0]
        [3.0, 1.0]
    """

    def __init__(self, steps: Tensor) -> None:
        super().__init__()
        steps = torch.as_tensor(steps)
        if steps.is_floating_point() or steps.is_complex():
            raise TypeError(
                f"Delay: steps must be an integer tensor, got {steps.dtype}; pass "
                "torch.round(delay / dt).long()"
            )
        self.register_buffer("steps", steps.long())
        self.depth = int(steps.max()) if steps.numel() else 0
        if steps.numel() and int(steps.min()) < 0:
            raise ValueError(f"Delay: steps must be >= 0, got a minimum of {int(steps.min())}")

    def initial_state(self, input_tensor: Tensor) -> DelayState:
        """No input seen yet: a buffer of zeros.

        Example:
            >>> Delay(torch.tensor([3])).initial_state(torch.ones(2, 1)).buffer.shape
            torch.Size([3, 2, 1])
        """
        return DelayState(input_tensor.new_zeros((self.depth, *input_tensor.shape)))

    def forward(self, input_tensor: Tensor, state: DelayState | None = None) -> tuple[Tensor, Any]:
        if state is None:
            state = self.initial_state(input_tensor)
        if self.depth == 0:
            return input_tensor, state
        history = torch.cat((input_tensor.unsqueeze(0), state.buffer), 0)
        index = torch.broadcast_to(self.steps, input_tensor.shape).unsqueeze(0)
        out = history.gather(0, index).squeeze(0)
        return out, DelayState(history[:-1])

    def extra_repr(self) -> str:
        return f"depth={self.depth}"


class ScaledInput(nn.Module):
    """Runs a neuron ``module`` on its input times ``scale`` (NIR ``w_in``/``r`` factors).

    Example:
        >>> from norse.torch import LIFBoxCell
        >>> cell = ScaledInput(LIFBoxCell(), torch.tensor(2.0))
        >>> z, s = cell(torch.ones(1))
        >>> s.v.detach()
        tensor([0.2000])
    """

    def __init__(self, module: nn.Module, scale: Tensor) -> None:
        super().__init__()
        self.module = module
        self.register_buffer("scale", torch.as_tensor(scale))

    def forward(self, input_tensor: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        return self.module(input_tensor * self.scale, state)


def _is_unit_scale(scale: np.ndarray) -> bool:
    """Whether every entry of ``scale`` is 1 up to float64 rounding."""
    return bool(np.all(np.abs(np.asarray(scale, dtype=np.float64) - 1.0) <= SCALE_TOLERANCE))


def _delay_steps(delay: Any, dt: float, who: str) -> Tensor:
    """``delay / dt`` as integer steps, or a ValueError when a delay is not a multiple of dt."""
    steps = _f64(delay) / dt
    rounded = np.round(steps)
    if np.any(rounded < 0) or not np.allclose(steps, rounded, rtol=0.0, atol=1e-6):
        worst = float(np.max(np.abs(steps - rounded))) if steps.size else 0.0
        raise ValueError(
            f"{who}: delays must be non-negative whole multiples of dt={dt}; got "
            f"{_f64(delay).ravel()[:4]} s (off by up to {worst:.3g} steps); pass a dt that "
            "divides every delay"
        )
    return torch.from_numpy(rounded.astype(np.int64))
