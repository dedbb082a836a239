"""Data sets for spiking neural networks."""
