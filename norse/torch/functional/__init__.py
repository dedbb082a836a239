"""Stateless functional building blocks: neuron steps, thresholds, encoders, plasticity."""
