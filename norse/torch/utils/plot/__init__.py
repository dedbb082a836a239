"""Plotting helpers for spikes and neuron states (need matplotlib, imported on first use).

The functions live in :mod:`norse.torch.utils.plot.plot` and are re-exported here (1.1.0's
package exported nothing; ``norse.task.memory`` imports ``plot_spikes_2d`` from here).

Example:
    >>> from norse.torch.utils.plot import plot_spikes_2d
    >>> plot_spikes_2d.__module__
    'norse.torch.utils.plot.plot'
"""

from .plot import (
    plot_heatmap_2d,
    plot_heatmap_3d,
    plot_histogram_2d,
    plot_izhikevich,
    plot_membrane_traces,
    plot_neuron_states,
    plot_scatter_3d,
    plot_spike_raster,
    plot_spikes_2d,
)

__all__ = [
    "plot_heatmap_2d",
    "plot_heatmap_3d",
    "plot_histogram_2d",
    "plot_izhikevich",
    "plot_membrane_traces",
    "plot_neuron_states",
    "plot_scatter_3d",
    "plot_spike_raster",
    "plot_spikes_2d",
]
