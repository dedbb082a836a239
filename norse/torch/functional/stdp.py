r"""Spike-timing-dependent plasticity (STDP) with exponential traces.

Every synapse keeps a presynaptic trace :math:`x` and a postsynaptic trace :math:`y`, one per
neuron, decayed with one explicit Euler step of length :math:`\Delta t` per call and bumped by
the spikes :math:`z_{pre}, z_{post}` of the same step:

.. math::
    \begin{aligned}
    x' &= x + \Delta t\,\tau_{pre}^{-1} (-x + a_{pre} z_{pre}) \\
    y' &= y + \Delta t\,\tau_{post}^{-1} (-y + a_{post} z_{post})
    \end{aligned}

The weight :math:`w_{ji}` from presynaptic neuron :math:`i` to postsynaptic neuron :math:`j`
grows when :math:`j` fires while :math:`i`'s trace is high (pre before post: potentiation) and
shrinks when :math:`i` fires while :math:`j`'s trace is high (post before pre: depression),
summed over the batch:

.. math::
    \begin{aligned}
    \Delta w^{+}_{ji} &= A_{+}(w_{ji}) \sum_b z_{post, bj}\, x'_{bi} \\
    \Delta w^{-}_{ji} &= A_{-}(w_{ji}) \sum_b y'_{bj}\, z_{pre, bi} \\
    w' &= \mathrm{bound}(w + \Delta w^{+} - \Delta w^{-})
    \end{aligned}

So a single pre/post pair at a lag of :math:`k` steps changes the weight by
:math:`\pm A\, a\, \Delta t\, \tau^{-1} (1 - \Delta t\, \tau^{-1})^{k}`, the discrete form of
the exponential STDP window :math:`\pm A\, e^{-|k\Delta t| / \tau}`, with :math:`\tau_{pre}`
on the potentiation side and :math:`\tau_{post}` on the depression side. Simultaneous spikes
give both terms.

The learning-rate functions :math:`A_{\pm}(w)` depend on ``stdp_algorithm``
(:math:`H` is the Heaviside step, :math:`\mu` the ``mu`` parameter):

=======================  ======================================  ======================================
``stdp_algorithm``       :math:`A_{+}(w)`                        :math:`A_{-}(w)`
=======================  ======================================  ======================================
``additive``             :math:`\eta_{+}`                        :math:`\eta_{-}`
``additive_step``        :math:`\eta_{+} H(w_{max} - w)`         :math:`\eta_{-} H(w - w_{min})`
``multiplicative_pow``   :math:`\eta_{+} (w_{max} - w)^{\mu}`    :math:`\eta_{-} (w - w_{min})^{\mu}`
``multiplicative_relu``  :math:`\eta_{+} [w_{max} - w]_{+}`      :math:`\eta_{-} [w - w_{min}]_{+}`
=======================  ======================================  ======================================

With ``hardbound=True`` the bound clamps the weights to :math:`[w_{min}, w_{max}]`.

The convolutional rule (:func:`stdp_step_conv2d`) is the same, applied to every receptive
field of the convolution (traces unfolded with the convolution's stride, padding and
dilation) and summed over positions.

See Gerstner et al., *Neuronal Dynamics* (2014), ch. 19.2, and Morrison, Diesmann & Gerstner,
"Phenomenological models of synaptic plasticity based on spike timing", *Biol. Cybern.* 98
(2008). :class:`norse.torch.module.stdp.STDPLearner` applies the rule to a ``Linear`` or
``Conv2d`` layer during its forward pass.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import Tensor

from ..utils._validation import is_size

__all__ = ["STDPParameters", "STDPState", "stdp_step_conv2d", "stdp_step_linear"]

_ALGORITHMS = ("additive", "additive_step", "multiplicative_pow", "multiplicative_relu")


class STDPState:
    """Pre- and postsynaptic STDP traces (a plain, mutable object, not a tuple).

    Parameters:
        t_pre (Tensor): presynaptic traces, shaped like the presynaptic spikes
        t_post (Tensor): postsynaptic traces, shaped like the postsynaptic spikes

    Example:
        >>> s = STDPState(t_pre=torch.zeros(1, 2), t_post=torch.zeros(1, 1))
        >>> s.decay(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 1),
        ...         tau_pre_inv=torch.tensor(20.0), tau_post_inv=torch.tensor(20.0),
        ...         a_pre=torch.tensor(1.0), a_post=torch.tensor(1.0))
        >>> s.t_pre
        tensor([[0.0200, 0.0000]])
    """

    def __init__(self, t_pre: Tensor, t_post: Tensor) -> None:
        self.t_pre = t_pre
        self.t_post = t_post

    def decay(
        self,
        z_pre: Tensor,
        z_post: Tensor,
        tau_pre_inv: Tensor,
        tau_post_inv: Tensor,
        a_pre: Tensor,
        a_post: Tensor,
        dt: float = 0.001,
    ) -> None:
        """Advance both traces by one Euler step with the spikes ``z_pre``, ``z_post``.

        The attributes are rebound to new tensors (the old trace tensors are not written to).

        Example:
            >>> s = STDPState(torch.zeros(1), torch.ones(1))
            >>> s.decay(torch.zeros(1), torch.zeros(1), torch.tensor(100.0),
            ...         torch.tensor(100.0), torch.tensor(1.0), torch.tensor(1.0))
            >>> s.t_post
            tensor([0.9000])
        """
        self.t_pre = self.t_pre + (dt * tau_pre_inv * (-self.t_pre + a_pre * z_pre))
        self.t_post = self.t_post + (dt * tau_post_inv * (-self.t_post + a_post * z_post))

    def __repr__(self) -> str:
        return f"STDPState(t_pre={self.t_pre!r}, t_post={self.t_post!r})"


def _check_nonnegative(name: str, value: object) -> None:
    """Time constants are checked once, at construction (not on the hot path)."""
    if isinstance(value, Tensor):
        if value.is_complex():
            raise TypeError(f"STDPParameters: {name} must be real, got a {value.dtype} tensor")
        negative = value.numel() > 0 and bool(((value < 0) | value.isnan()).any())
    elif isinstance(value, Real) and not isinstance(value, bool):
        negative = value < 0 or math.isnan(value)
    else:
        raise TypeError(
            f"STDPParameters: {name} must be a tensor or a real number, got "
            f"{type(value).__name__}; pass e.g. torch.tensor(20.0)"
        )
    if negative:
        raise ValueError(
            f"STDPParameters: {name} must be >= 0 (an inverse time constant in 1/s), got "
            f"{value}; pass a non-negative value such as torch.tensor(20.0)"
        )


class STDPParameters:
    """Parameters of the STDP rule (a plain object; see the module docstring for the equations).

    Parameters:
        a_pre (Tensor): presynaptic trace increment per spike
        a_post (Tensor): postsynaptic trace increment per spike
        tau_pre_inv (Tensor): inverse time constant of the presynaptic trace (1/s), >= 0
        tau_post_inv (Tensor): inverse time constant of the postsynaptic trace (1/s), >= 0
        w_min (float): lower weight bound
        w_max (float): upper weight bound
        eta_plus (float): potentiation learning rate
        eta_minus (float): depression learning rate
        stdp_algorithm (str): ``"additive"``, ``"additive_step"``, ``"multiplicative_pow"`` or
            ``"multiplicative_relu"``
        mu (float): exponent of ``"multiplicative_pow"`` (ignored by the others)
        hardbound (bool): clamp the weights to ``[w_min, w_max]`` after each update
        convolutional (bool): the parameters are meant for :func:`stdp_step_conv2d`
        stride, padding, dilation (int): geometry of the convolution (for
            :func:`stdp_step_conv2d`)

    Raises:
        ValueError: for an unknown ``stdp_algorithm``, a negative time constant or
            ``w_min > w_max``.

    Example:
        >>> p = STDPParameters(stdp_algorithm="multiplicative_relu")
        >>> p.mu, p.A_plus(torch.tensor([0.25, 1.5]))
        (tensor(1.), tensor([0.0008, 0.0000]))
    """

    def __init__(
        self,
        a_pre: Tensor = torch.as_tensor(1.0),
        a_post: Tensor = torch.as_tensor(1.0),
        tau_pre_inv: Tensor = torch.as_tensor(20.0),
        tau_post_inv: Tensor = torch.as_tensor(20.0),
        w_min: float = 0.0,
        w_max: float = 1.0,
        eta_plus: float = 1e-3,
        eta_minus: float = 1e-3,
        stdp_algorithm: str = "additive",
        mu: float = 0.0,
        hardbound: bool = True,
        convolutional: bool = False,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
    ) -> None:
        _check_nonnegative("tau_pre_inv", tau_pre_inv)
        _check_nonnegative("tau_post_inv", tau_post_inv)
        if not isinstance(stdp_algorithm, str) or stdp_algorithm not in _ALGORITHMS:
            raise ValueError(
                f"STDPParameters: stdp_algorithm must be one of {', '.join(_ALGORITHMS)}, got "
                f"{stdp_algorithm!r}; pick one of those names"
            )
        if (
            isinstance(w_min, Real)
            and isinstance(w_max, Real)
            and not isinstance(w_min, bool)
            and w_min > w_max
        ):
            raise ValueError(
                f"STDPParameters: w_min must not exceed w_max, got w_min={w_min}, "
                f"w_max={w_max}; swap them"
            )
        self.a_pre = a_pre
        self.a_post = a_post
        self.tau_pre_inv = tau_pre_inv
        self.tau_post_inv = tau_post_inv
        self.w_min = w_min
        self.w_max = w_max
        self.eta_plus = eta_plus
        self.eta_minus = eta_minus
        self.stdp_algorithm = stdp_algorithm
        if stdp_algorithm == "multiplicative_pow":
            self.mu = torch.as_tensor(mu)
        elif stdp_algorithm == "multiplicative_relu":
            self.mu = torch.as_tensor(1.0)
        else:
            self.mu = torch.as_tensor(0.0)
        self.hardbound = hardbound
        self.convolutional = convolutional
        # 1.1.0 stores the geometry only when ``convolutional``; keeping it always is harmless.
        self.stride = stride
        self.padding = padding
        self.dilation = dilation

    def A_plus(self, w: Tensor) -> Tensor | float:  # noqa: N802 (1.1.0's name)
        """Potentiation learning rate for the weights ``w`` (see the module docstring).

        Example:
            >>> STDPParameters(stdp_algorithm="additive_step").A_plus(torch.tensor([0.5, 1.0]))
            tensor([0.0010, 0.0000])
        """
        alg = self.stdp_algorithm
        if alg == "additive":
            return self.eta_plus
        if alg == "additive_step":
            return self.eta_plus * torch.heaviside(self.w_max - w, torch.zeros_like(w))
        if alg == "multiplicative_pow":
            return self.eta_plus * torch.pow(self.w_max - w, self.mu)
        return self.eta_plus * torch.relu(self.w_max - w)

    def A_minus(self, w: Tensor) -> Tensor | float:  # noqa: N802 (1.1.0's name)
        """Depression learning rate for the weights ``w`` (see the module docstring).

        Example:
            >>> STDPParameters(stdp_algorithm="additive_step").A_minus(torch.tensor([0.0, 0.5]))
            tensor([0.0000, 0.0010])
        """
        alg = self.stdp_algorithm
        if alg == "additive":
            return self.eta_minus
        if alg == "additive_step":
            return self.eta_minus * torch.heaviside(w - self.w_min, torch.zeros_like(w))
        if alg == "multiplicative_pow":
            return self.eta_minus * torch.pow(w - self.w_min, self.mu)
        return self.eta_minus * torch.relu(w - self.w_min)

    def bounding_func(self, w: Tensor) -> Tensor:
        """Clamp ``w`` to ``[w_min, w_max]`` when ``hardbound``, else return it unchanged.

        Example:
            >>> STDPParameters().bounding_func(torch.tensor([-0.5, 0.5, 1.5]))
            tensor([0.0000, 0.5000, 1.0000])
        """
        if self.hardbound:
            return torch.clamp(w, self.w_min, self.w_max)
        return w

    def __repr__(self) -> str:
        fields = (
            "a_pre",
            "a_post",
            "tau_pre_inv",
            "tau_post_inv",
            "w_min",
            "w_max",
            "eta_plus",
            "eta_minus",
            "stdp_algorithm",
            "mu",
            "hardbound",
            "convolutional",
        )
        return "STDPParameters(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in fields) + ")"


def _check_tensor(fn: str, name: str, value: object) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(value).__name__}")


def _as_float(z: Tensor, w: Tensor) -> Tensor:
    """Bool or integer spikes take the weights' dtype (einsum needs one floating dtype)."""
    return z if z.is_floating_point() else z.to(w.dtype)


def _check_common(fn: str, state_stdp: object, p_stdp: object) -> None:
    if not isinstance(state_stdp, STDPState):
        raise TypeError(
            f"{fn}: state_stdp must be an STDPState, got {type(state_stdp).__name__}; build one "
            f"with STDPState(t_pre=torch.zeros_like(z_pre), t_post=torch.zeros_like(z_post))"
        )
    if not isinstance(p_stdp, STDPParameters):
        raise TypeError(f"{fn}: p_stdp must be STDPParameters, got {type(p_stdp).__name__}")


def stdp_step_linear(
    z_pre: Tensor,
    z_post: Tensor,
    w: Tensor,
    state_stdp: STDPState,
    p_stdp: STDPParameters = STDPParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, STDPState]:
    """One STDP step for the weights of a linear (fully connected) layer.

    The traces in ``state_stdp`` are decayed first (with this step's spikes), then the
    weights change as in the module docstring. ``state_stdp`` is updated in place and
    returned; ``w`` itself is not modified.

    Args:
        z_pre (Tensor): presynaptic spikes, shape ``(B, in)``
        z_post (Tensor): postsynaptic spikes, shape ``(B, out)``
        w (Tensor): weights, shape ``(out, in)`` (as in ``torch.nn.Linear``)
        state_stdp (STDPState): the traces (shapes as ``z_pre`` and ``z_post``, or scalars)
        p_stdp (STDPParameters): the rule's parameters
        dt (float): integration time step

    Returns:
        the new weights and the (same, updated) state.

    Raises:
        ValueError: if the shapes of ``z_pre``, ``z_post`` and ``w`` do not fit together.

    Example:
        >>> w = torch.full((1, 2), 0.5)
        >>> s = STDPState(torch.zeros(1, 2), torch.zeros(1, 1))
        >>> w, s = stdp_step_linear(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 1), w, s)
        >>> w, s = stdp_step_linear(torch.zeros(1, 2), torch.ones(1, 1), w, s)
        >>> w  # the first afferent fired before the output: potentiated
        tensor([[0.5000, 0.5000]])
        >>> ((w - 0.5) * 1e5).round(decimals=2)  # eta_plus * 0.02 * (1 - 0.02)
        tensor([[1.9600, 0.0000]])
    """
    fn = "stdp_step_linear"
    _check_tensor(fn, "z_pre", z_pre)
    _check_tensor(fn, "z_post", z_post)
    _check_tensor(fn, "w", w)
    _check_common(fn, state_stdp, p_stdp)
    if z_pre.dim() != 2 or z_post.dim() != 2 or w.dim() != 2:
        raise ValueError(
            f"{fn}: expected z_pre (B, in), z_post (B, out) and w (out, in), got shapes "
            f"z_pre {tuple(z_pre.shape)}, z_post {tuple(z_post.shape)}, w {tuple(w.shape)}; "
            f"add a batch dimension with .unsqueeze(0) or flatten the features"
        )
    if z_pre.shape[0] != z_post.shape[0] or w.shape != (z_post.shape[1], z_pre.shape[1]):
        raise ValueError(
            f"{fn}: shape mismatch: z_pre {tuple(z_pre.shape)} (B, in) and z_post "
            f"{tuple(z_post.shape)} (B, out) need w of shape "
            f"({z_post.shape[1]}, {z_pre.shape[1]}) and equal batch sizes, got w "
            f"{tuple(w.shape)}; pass the weight of the Linear layer that maps z_pre to z_post"
        )

    z_pre, z_post = _as_float(z_pre, w), _as_float(z_post, w)
    state_stdp.decay(
        z_pre,
        z_post,
        p_stdp.tau_pre_inv,
        p_stdp.tau_post_inv,
        p_stdp.a_pre,
        p_stdp.a_post,
        dt,
    )
    # einsum("bi,bj->ij", z_post, t_pre), as a matrix product (less overhead per step)
    t_pre = state_stdp.t_pre.expand_as(z_pre)
    t_post = state_stdp.t_post.expand_as(z_post)
    dw_plus = p_stdp.A_plus(w) * torch.mm(z_post.t(), t_pre)
    dw_minus = p_stdp.A_minus(w) * torch.mm(t_post.t(), z_pre)
    w = p_stdp.bounding_func(w + dw_plus - dw_minus)
    return w, state_stdp


def stdp_step_conv2d(
    z_pre: Tensor,
    z_post: Tensor,
    w: Tensor,
    state_stdp: STDPState,
    p_stdp: STDPParameters = STDPParameters(convolutional=True),
    dt: float = 0.001,
) -> tuple[Tensor, STDPState]:
    """One STDP step for the kernel of a 2-D convolution (no groups, no bias).

    As :func:`stdp_step_linear`, with each kernel weight collecting the pre/post pairs of
    every position it connects, using ``p_stdp.stride``, ``p_stdp.padding`` and
    ``p_stdp.dilation`` as the convolution does.

    Args:
        z_pre (Tensor): presynaptic spikes, shape ``(B, C, H, W)``
        z_post (Tensor): postsynaptic spikes, shape ``(B, O, H', W')``: the output shape of
            the convolution
        w (Tensor): kernel, shape ``(O, C, kh, kw)`` (as in ``torch.nn.Conv2d``)
        state_stdp (STDPState): the traces (shapes as ``z_pre`` and ``z_post``)
        p_stdp (STDPParameters): the rule's parameters and the convolution's geometry
        dt (float): integration time step

    Returns:
        the new kernel and the (same, updated) state.

    Raises:
        ValueError: if the channels do not match or the kernel, stride, padding and dilation
            do not turn ``(H, W)`` into ``(H', W')``.

    Example:
        >>> w = torch.full((2, 1, 3, 3), 0.5)
        >>> s = STDPState(torch.zeros(1, 1, 5, 5), torch.zeros(1, 2, 3, 3))
        >>> w, s = stdp_step_conv2d(torch.ones(1, 1, 5, 5), torch.zeros(1, 2, 3, 3), w, s)
        >>> w, s = stdp_step_conv2d(torch.zeros(1, 1, 5, 5), torch.ones(1, 2, 3, 3), w, s)
        >>> w.shape, bool((w > 0.5).all())
        (torch.Size([2, 1, 3, 3]), True)
    """
    fn = "stdp_step_conv2d"
    _check_tensor(fn, "z_pre", z_pre)
    _check_tensor(fn, "z_post", z_post)
    _check_tensor(fn, "w", w)
    _check_common(fn, state_stdp, p_stdp)
    if z_pre.dim() != 4 or z_post.dim() != 4 or w.dim() != 4:
        raise ValueError(
            f"{fn}: expected z_pre (B, C, H, W), z_post (B, O, H', W') and w (O, C, kh, kw), "
            f"got shapes z_pre {tuple(z_pre.shape)}, z_post {tuple(z_post.shape)}, "
            f"w {tuple(w.shape)}; add a batch dimension with .unsqueeze(0)"
        )
    batch, channels = z_pre.shape[:2]
    out_channels = w.shape[0]
    if w.shape[1] != channels or z_post.shape[:2] != (batch, out_channels):
        raise ValueError(
            f"{fn}: shape mismatch: w {tuple(w.shape)} (O, C, kh, kw) needs z_pre with "
            f"C={w.shape[1]} channels and z_post with O={out_channels} channels and the same "
            f"batch size, got z_pre {tuple(z_pre.shape)} and z_post {tuple(z_post.shape)}; "
            f"pass the kernel of the Conv2d that maps z_pre to z_post (groups=1)"
        )
    kernel = tuple(w.shape[2:])
    geometry = {"stride": p_stdp.stride, "padding": p_stdp.padding, "dilation": p_stdp.dilation}
    pairs = {
        k: (int(v), int(v)) if is_size(v) else tuple(int(a) for a in v)
        for k, v in geometry.items()  # type: ignore[misc]
    }
    expected = tuple(
        (z_pre.shape[2 + d] + 2 * pairs["padding"][d] - pairs["dilation"][d] * (kernel[d] - 1) - 1)
        // pairs["stride"][d]
        + 1
        for d in range(2)
    )
    if expected[0] < 1 or expected[1] < 1 or tuple(z_post.shape[2:]) != expected:
        raise ValueError(
            f"{fn}: a {kernel[0]}x{kernel[1]} kernel with stride={p_stdp.stride}, "
            f"padding={p_stdp.padding}, dilation={p_stdp.dilation} maps z_pre of spatial size "
            f"{tuple(z_pre.shape[2:])} to {expected}, but z_post has spatial size "
            f"{tuple(z_post.shape[2:])}; set the convolution's geometry in STDPParameters("
            f"convolutional=True, stride=..., padding=..., dilation=...) or fix the kernel size"
        )

    z_pre, z_post = _as_float(z_pre, w), _as_float(z_post, w)
    state_stdp.decay(
        z_pre,
        z_post,
        p_stdp.tau_pre_inv,
        p_stdp.tau_post_inv,
        p_stdp.a_pre,
        p_stdp.a_post,
        dt,
    )
    t_pre = state_stdp.t_pre.expand_as(z_pre)
    t_post = state_stdp.t_post.expand_as(z_post)
    t_pre_unf = torch.nn.functional.unfold(t_pre, kernel, **pairs)
    z_pre_unf = torch.nn.functional.unfold(z_pre, kernel, **pairs)
    z_post_flat = z_post.reshape(batch, out_channels, -1)
    t_post_flat = t_post.reshape(batch, out_channels, -1)
    corr_plus = torch.einsum("bik,bjk->ij", z_post_flat, t_pre_unf).reshape(w.shape)
    corr_minus = torch.einsum("bik,bjk->ij", t_post_flat, z_pre_unf).reshape(w.shape)
    dw_plus = p_stdp.A_plus(w) * corr_plus
    dw_minus = p_stdp.A_minus(w) * corr_minus
    w = p_stdp.bounding_func(w + dw_plus - dw_minus)
    return w, state_stdp
