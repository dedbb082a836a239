"""Codes and array layout shared by :mod:`norse.torch.kernels.cpu` and its numba loops.

Kept apart from the loops so that the dispatch can read them without importing numba.
"""

from __future__ import annotations

# Model kinds (a compile-time literal in the loops).
LIF, LI, LIF_BOX, LIF_BOX_SUB, LI_BOX, IAF, LIF_REFRAC = range(7)
# Surrogate derivative families (``threshold`` methods map onto these).
HEAVISIDE, SUPER, ERFC, TANH, CIRC, TRIANGLE = range(6)
# Parameter rows: dt*tau_mem_inv, -dt*tau_syn_inv, v_leak, v_th, v_reset, alpha, rho_reset.
A, B, VL, TH, VR, ALPHA, RR = range(7)
N_PARAMS = 7
# State rows.
ROW_V, ROW_I, ROW_RHO = range(3)
# Scratch slots that the backward pass recomputes per block: voltage before reset, the bracket
# that dt*tau_mem_inv multiplies, the jumped current, the previous voltage and counter.
S_V1, S_D, S_I1, S_VP, S_RP = range(5)
N_SLOTS = 5


def scratch_slots(kind: int, want_pgrad: bool) -> int:
    """How many scratch slots (``T`` values per neuron each) the backward pass of ``kind`` fills."""
    if kind in (LI, LI_BOX):
        used = 0
    elif kind == LIF_REFRAC:
        used = 3
    else:
        used = 1
    if want_pgrad:
        used += {LIF: 2, LI: 2, LIF_BOX: 1, LIF_BOX_SUB: 1, LI_BOX: 1, IAF: 0, LIF_REFRAC: 2}[kind]
    return used
