"""Stateful torch.nn modules: neuron cells and layers, encoders, containers."""

from .delay import AxonalDelay, AxonalDelayCell, SynapticDelay, SynapticDelayCell
from .spike_linear import SpikeLinear
