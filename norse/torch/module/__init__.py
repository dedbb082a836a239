"""Stateful torch.nn modules: neuron cells and layers, encoders, containers."""
