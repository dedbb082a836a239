"""Learn the weights of a ``Linear`` or ``Conv2d`` layer with STDP while the network runs.

The rule and its parameters: :mod:`norse.torch.functional.stdp`. A worked example that learns
a repeated spike pattern hidden in noise is ``examples/stdp_pattern.py`` (see
``docs/plasticity.md``).
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..functional.stdp import STDPParameters, STDPState, stdp_step_conv2d, stdp_step_linear
from .lif import LIFCell

__all__ = ["STDPLearner", "STDPLearnerState"]


class STDPLearnerState(NamedTuple):
    """State of an :class:`STDPLearner`.

    Parameters:
        neuron (Any): the state of the postsynaptic neuron cell
        stdp (STDPState): the pre- and postsynaptic traces (updated in place every step)

    Example:
        >>> from norse.torch.functional.stdp import STDPState
        >>> s = STDPLearnerState(None, STDPState(torch.zeros(1, 2), torch.zeros(1, 1)))
        >>> s.stdp.t_pre.shape
        torch.Size([1, 2])
    """

    neuron: Any
    stdp: STDPState


def _conv_padding(layer: nn.Conv2d) -> tuple[int, int]:
    padding = layer.padding
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        totals = [d * (k - 1) for d, k in zip(layer.dilation, layer.kernel_size, strict=True)]
        if any(t % 2 for t in totals):
            raise ValueError(
                f"STDPLearner: layer uses padding='same' with kernel_size={layer.kernel_size} "
                f"and dilation={layer.dilation}, which pads unevenly; use an odd kernel size or "
                f"explicit integer padding"
            )
        return (totals[0] // 2, totals[1] // 2)
    return tuple(padding)  # type: ignore[return-value]


class STDPLearner(nn.Module):
    """A synaptic layer followed by spiking neurons whose weights learn by STDP.

    Each call processes **one time step**: the presynaptic spikes ``z_pre`` go through
    ``layer`` (an ``nn.Linear`` or ``nn.Conv2d``), the result drives ``neuron`` (a cell such as
    :class:`~norse.torch.LIFCell`), and the pre/post spike pair updates the STDP traces. While
    the module is in training mode and ``learning`` is true, ``layer.weight`` is then changed
    in place (without autograd) by :func:`~norse.torch.functional.stdp.stdp_step_linear` or
    :func:`~norse.torch.functional.stdp.stdp_step_conv2d`. Otherwise the traces keep running
    and the weights stay fixed. The bias, if any, is not learned.

    The weights change in place, so do not backpropagate through a step whose weights a later
    learning step has changed; STDP here is meant to run under ``torch.no_grad()`` or on
    inputs that do not require gradients.

    Args:
        layer (nn.Linear | nn.Conv2d): the synapses to learn (``Conv2d`` with ``groups=1`` and
            zero padding)
        neuron (nn.Module | None): the postsynaptic neurons, called ``neuron(x, state)`` and
            returning ``(spikes, state)``; default :class:`~norse.torch.LIFCell` with ``dt``
        p (STDPParameters | None): the STDP rule; default ``STDPParameters()``. For a
            ``Conv2d`` the stride, padding and dilation are taken from the layer.
        dt (float): time step of the traces (and of the default neuron)
        learning (bool): whether to change the weights in training mode

    Shape:
        - ``z_pre``: ``(B, in)`` or ``(in,)`` for ``Linear`` (further leading dimensions are
          treated as batch); ``(B, C, H, W)`` or ``(C, H, W)`` for ``Conv2d``
        - output: the neuron's spikes, shaped like ``layer(z_pre)``

    Example:
        >>> learner = STDPLearner(torch.nn.Linear(4, 2, bias=False))
        >>> _ = torch.nn.init.constant_(learner.layer.weight, 0.5)
        >>> z_pre = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> state = None
        >>> for t in range(40):  # afferents 0 and 1 fire every 4th step, with a strong drive
        ...     z, state = learner(z_pre * 10 * (t % 4 == 0), state)
        >>> learner.layer.weight  # pre-before-post pairs potentiated afferents 0 and 1
        Parameter containing:
        tensor([[0.5042, 0.5042, 0.5000, 0.5000],
                [0.5042, 0.5042, 0.5000, 0.5000]], requires_grad=True)
        >>> learner.layer.weight.shape, state.stdp.t_pre.shape
        (torch.Size([2, 4]), torch.Size([1, 4]))
    """

    def __init__(
        self,
        layer: nn.Linear | nn.Conv2d,
        neuron: nn.Module | None = None,
        p: STDPParameters | None = None,
        dt: float = 0.001,
        learning: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(layer, (nn.Linear, nn.Conv2d)):
            raise TypeError(
                f"STDPLearner: layer must be a torch.nn.Linear or torch.nn.Conv2d, got "
                f"{type(layer).__name__}; wrap the synapses you want to learn in one of those"
            )
        if p is None:
            p = STDPParameters()
        if not isinstance(p, STDPParameters):
            raise TypeError(f"STDPLearner: p must be STDPParameters, got {type(p).__name__}")
        if neuron is None:
            neuron = LIFCell(dt=dt)
        if not callable(neuron):
            raise TypeError(
                f"STDPLearner: neuron must be a module called as neuron(x, state), got "
                f"{type(neuron).__name__}; pass e.g. norse.torch.LIFCell()"
            )
        if isinstance(layer, nn.Conv2d):
            if layer.groups != 1 or layer.padding_mode != "zeros":
                raise ValueError(
                    f"STDPLearner: Conv2d layers need groups=1 and padding_mode='zeros', got "
                    f"groups={layer.groups}, padding_mode={layer.padding_mode!r}"
                )
            p = copy.copy(p)
            p.convolutional = True
            p.stride = tuple(layer.stride)
            p.padding = _conv_padding(layer)
            p.dilation = tuple(layer.dilation)
        self.layer = layer
        self.neuron = neuron
        self.p = p
        self.dt = dt
        self.learning = learning

    def _flat_input(self, z_pre: Tensor) -> tuple[Tensor, tuple[int, ...] | None]:
        """The presynaptic spikes in the shape the functional rule wants, and the batch shape
        to restore on the output (``None`` when nothing was reshaped)."""
        if isinstance(self.layer, nn.Linear):
            if z_pre.dim() == 0 or z_pre.shape[-1] != self.layer.in_features:
                raise ValueError(
                    f"STDPLearner: z_pre must end in in_features={self.layer.in_features}, got "
                    f"shape {tuple(z_pre.shape)}; pass (B, {self.layer.in_features}) spikes"
                )
            if z_pre.dim() == 2:
                return z_pre, None
            return z_pre.reshape(-1, z_pre.shape[-1]), tuple(z_pre.shape[:-1])
        if z_pre.dim() not in (3, 4) or z_pre.shape[-3] != self.layer.in_channels:
            raise ValueError(
                f"STDPLearner: z_pre must be (B, C, H, W) or (C, H, W) with "
                f"C={self.layer.in_channels}, got shape {tuple(z_pre.shape)}"
            )
        layer, p = self.layer, self.p
        for d in range(2):
            size = z_pre.shape[-2 + d] + 2 * p.padding[d]
            reach = layer.dilation[d] * (layer.kernel_size[d] - 1) + 1
            if reach > size:
                raise ValueError(
                    f"STDPLearner: the kernel {tuple(layer.kernel_size)} (dilation "
                    f"{tuple(layer.dilation)}) does not fit into z_pre of spatial size "
                    f"{tuple(z_pre.shape[-2:])} with padding {p.padding}; use a smaller kernel, "
                    f"more padding or a larger input"
                )
        if z_pre.dim() == 4:
            return z_pre, None
        return z_pre.unsqueeze(0), ()

    def forward(
        self, z_pre: Tensor, state: STDPLearnerState | None = None
    ) -> tuple[Tensor, STDPLearnerState]:
        """Run one step and, when learning, update ``layer.weight``.

        Args:
            z_pre (Tensor): presynaptic spikes of this step
            state (STDPLearnerState | None): the previous state (``None`` to start at rest)

        Returns:
            the postsynaptic spikes and the new state.
        """
        if state is not None and not isinstance(state, STDPLearnerState):
            raise TypeError(
                f"STDPLearner: state must be an STDPLearnerState or None, got "
                f"{type(state).__name__}; pass the state the previous call returned"
            )
        x, batch_shape = self._flat_input(z_pre)
        if not x.is_floating_point():
            x = x.to(self.layer.weight.dtype)
        z_post, neuron_state = self.neuron(self.layer(x), None if state is None else state.neuron)
        with torch.no_grad():
            zp, zq = x.detach(), z_post.detach()
            if state is None:
                traces = STDPState(torch.zeros_like(zp), torch.zeros_like(zq))
            else:
                traces = state.stdp
            if self.training and self.learning:
                step = stdp_step_linear if isinstance(self.layer, nn.Linear) else stdp_step_conv2d
                w, traces = step(zp, zq, self.layer.weight.detach(), traces, self.p, self.dt)
                self.layer.weight.copy_(w)
            else:
                p = self.p
                traces.decay(zp, zq, p.tau_pre_inv, p.tau_post_inv, p.a_pre, p.a_post, self.dt)
        if batch_shape is not None:
            z_post = z_post.reshape(*batch_shape, *z_post.shape[1:])
        return z_post, STDPLearnerState(neuron_state, traces)

    def extra_repr(self) -> str:
        return f"learning={self.learning}, p={self.p}, dt={self.dt}"
