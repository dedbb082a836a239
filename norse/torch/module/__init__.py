"""Stateful torch.nn modules: neuron cells and layers, encoders, containers."""

from .spike_linear import SpikeLinear
