"""Discrete adjoint backward passes for the spiking neuron steps (import the submodules)."""
