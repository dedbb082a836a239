r"""Short-term synaptic plasticity after Tsodyks and Markram.

A synapse has a utilisation :math:`u` (the fraction of available resources a spike releases;
it facilitates) and available resources :math:`x` (they deplete). Per explicit Euler step of
length :math:`\Delta t`, with presynaptic spikes :math:`z`:

.. math::
    \begin{aligned}
    u' &= u + \Delta t\,(-\tau_f^{-1} u) + U (1 - u) z \\
    x' &= x + \Delta t\,(\tau_d^{-1} (1 - x)) - u' x z \\
    \text{out} &= u' x z
    \end{aligned}

The released amount uses the *new* utilisation and the *old* resources. Between spikes
:math:`u` decays to 0 with :math:`\tau_f` and :math:`x` recovers to 1 with :math:`\tau_d`.
A small :math:`U` with a long :math:`\tau_f` and a short :math:`\tau_d` makes a spike train's
responses grow (facilitation); a large :math:`U` with a short :math:`\tau_f` and a long
:math:`\tau_d` makes them shrink (depression). ``tau_s_inv`` (the postsynaptic current's
decay) is not used by the step.

See Tsodyks, Pawelzik & Markram, "Neural networks with dynamic synapses", *Neural
Computation* 10 (1998), and Mongillo, Barak & Tsodyks, *Science* 319 (2008).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["TsodyksMakramParameters", "TsodyksMakramState", "stp_step"]


class TsodyksMakramParameters(NamedTuple):
    """Parameters of the Tsodyks-Markram synapse (the defaults depress).

    Parameters:
        tau_f_inv (float): inverse facilitation time constant (1/s)
        tau_s_inv (float): inverse synaptic current time constant (1/s; unused by the step)
        tau_d_inv (float): inverse recovery (depression) time constant (1/s)
        U (float): utilisation increment per spike

    Example:
        >>> TsodyksMakramParameters().U
        0.45
    """

    tau_f_inv: float = 1 / (50e-3)
    tau_s_inv: float = 1 / (20e-3)
    tau_d_inv: float = 1 / (750e-3)
    U: float = 0.45


class TsodyksMakramState(NamedTuple):
    """State of the Tsodyks-Markram synapse.

    Parameters:
        u (Tensor): utilisation (starts at 0)
        x (Tensor): available resources (starts at 1)

    Example:
        >>> TsodyksMakramState(u=torch.zeros(2), x=torch.ones(2)).x
        tensor([1., 1.])
    """

    u: Tensor
    x: Tensor


def stp_step(
    z: Tensor,
    s: TsodyksMakramState,
    p: TsodyksMakramParameters,
    dt: float = 0.001,
) -> tuple[Tensor, TsodyksMakramState]:
    """One step of the Tsodyks-Markram synapse (equations in the module docstring).

    Args:
        z (Tensor): presynaptic spikes
        s (TsodyksMakramState): the synapse state (broadcastable with ``z``)
        p (TsodyksMakramParameters): parameters
        dt (float): integration time step

    Returns:
        the released resources ``u' x z`` and the new state.

    Example:
        >>> s = TsodyksMakramState(u=torch.zeros(1), x=torch.ones(1))
        >>> p = TsodyksMakramParameters()
        >>> outs = []
        >>> for spike in (1.0, 0.0, 1.0):
        ...     out, s = stp_step(torch.tensor([spike]), s, p)
        ...     outs.append(round(out.item(), 5))
        >>> outs
        [0.45, 0.0, 0.37646]
    """
    if not isinstance(s, tuple) or not hasattr(s, "u") or not hasattr(s, "x"):
        raise TypeError(
            f"stp_step: s must be a TsodyksMakramState, got {type(s).__name__}; start from "
            f"TsodyksMakramState(u=torch.zeros_like(z), x=torch.ones_like(z))"
        )
    u = s.u + dt * (-p.tau_f_inv * s.u) + p.U * (1 - s.u) * z
    x = s.x + dt * (p.tau_d_inv * (1 - s.x)) - u * s.x * z
    return u * s.x * z, TsodyksMakramState(u=u, x=x)
