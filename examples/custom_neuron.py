"""A neuron model of your own, in plain PyTorch, with fused CPU and GPU kernels for free.

A quadratic integrate-and-fire neuron: ``v' = tau_inv * (v**2 + x)``, a spike when ``v``
crosses ``v_th``, then ``v`` resets to ``v_reset``. The step is written once, elementwise;
``norse`` traces it (and its gradient, through the surrogate) and generates the fused loops.

Run it: ``python examples/custom_neuron.py``.
"""

from typing import NamedTuple

import torch

from norse.torch.functional.threshold import threshold
from norse.torch.module.snn import SNN


class QIFParameters(NamedTuple):
    tau_inv: torch.Tensor = torch.tensor(50.0)
    v_th: torch.Tensor = torch.tensor(1.0)
    v_reset: torch.Tensor = torch.tensor(-0.5)
    method: str = "super"  # any threshold method: its surrogate gradient is traced
    alpha: float = 50.0


class QIFState(NamedTuple):
    v: torch.Tensor


def qif_step(x, state, p, dt=0.001):
    v = state.v + dt * p.tau_inv * (state.v * state.v + x)
    z = threshold(v - p.v_th, p.method, p.alpha)
    return z, QIFState(v=(1 - z) * v + z * p.v_reset)


def qif_layer(p=QIFParameters(), **kwargs):
    """A layer over (time, batch, neurons); ``backend="auto"`` runs the fused kernels."""
    return SNN(qif_step, lambda x: QIFState(v=torch.zeros_like(x[0])), p=p, **kwargs)


if __name__ == "__main__":
    x = torch.rand(200, 16, 256) * 30
    p = QIFParameters(tau_inv=torch.nn.Parameter(torch.full((256,), 50.0)))
    fused, reference = qif_layer(p, backend="cpu"), qif_layer(p, backend="reference")
    z, s = fused(x.requires_grad_())
    z_ref, s_ref = reference(x)
    print("spikes per neuron:", float(z.detach().sum(0).mean()))
    print("same spikes as the reference:", torch.equal(z, z_ref))
    z.sum().backward()
    print("gradient of tau_inv:", p.tau_inv.grad.shape)
