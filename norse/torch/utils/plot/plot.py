"""Plots of spikes, neuron states and Izhikevich behaviours (needs matplotlib).

matplotlib is imported when a function is called, not when this module is imported, so
``norse.torch`` works without it; calling a plot function without matplotlib raises an
``ImportError`` that says how to install it.

Tensors are time-first, as the layers return them: ``(T, N)`` or ``(T, ...)``. Every function
draws into the given ``axes`` (or the current one) and returns what it drew into.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> spikes = (torch.rand(100, 20) < 0.1).float()
    >>> ax = plot_spike_raster(spikes, axes=ax, dt=1e-3)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('time (s)', 'neuron')
    >>> fig.savefig("raster.png")  # doctest: +SKIP
    >>> plt.close(fig)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

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


def _pyplot() -> Any:
    """Import ``matplotlib.pyplot`` on first use, with an actionable error when missing."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "norse.torch.utils.plot needs matplotlib, which is not installed; install it with "
            "`pip install matplotlib` (or `pip install norse[plot]`)"
        ) from error
    return plt


def _detach_tensor(t: Any) -> Any:
    """Detach a tensor and move it to the CPU; anything else passes through unchanged."""
    if isinstance(t, Tensor):
        return t.detach().cpu()
    return t


def _time_major(name: str, fn: str, data: Any, min_dim: int = 1) -> Tensor:
    """``data`` as a CPU tensor ``(T, N)``: time first, every other dimension flattened."""
    if not isinstance(data, Tensor):
        try:
            data = torch.as_tensor(data)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{fn}: {name} must be a tensor (or array) shaped (T, ...), got "
                f"{type(data).__name__}"
            ) from error
    data = _detach_tensor(data)
    if data.dim() < min_dim or data.numel() == 0:
        raise ValueError(
            f"{fn}: {name} must be a non-empty tensor shaped (T, ...) with time first, got "
            f"shape {tuple(data.shape)}; pass the output of a layer such as LIF()"
        )
    if data.is_sparse:
        data = data.to_dense()
    return data.reshape(data.shape[0], -1).to(torch.float32)


def _time_axis(n: int, dt: float | None) -> tuple[Tensor, str]:
    steps = torch.arange(n, dtype=torch.float64)
    if dt is None:
        return steps, "time step"
    return steps * dt, "time (s)"


def plot_heatmap_2d(
    data: Tensor, axes: Any = None, show_colorbar: bool = False, **kwargs: Any
) -> Any:
    """Draw a 2-D tensor ``(T, N)`` as an image with time along x and ``N`` along y.

    Args:
        data (Tensor): a 2-D tensor, time first
        axes (matplotlib.axes.Axes | None): where to draw (default: the current axes)
        show_colorbar (bool): add a colour bar
        **kwargs: passed to ``imshow`` (defaults ``aspect="auto"``, ``interpolation="none"``)

    Returns:
        the axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> ax = plot_heatmap_2d(torch.rand(50, 4), axes=ax, show_colorbar=True)
        >>> ax.images[0].get_array().shape  # drawn transposed: neurons along y
        (4, 50)
        >>> matplotlib.pyplot.close("all")
    """
    plt = _pyplot()
    if not isinstance(data, Tensor) or data.dim() != 2:
        shape = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
        raise ValueError(
            f"plot_heatmap_2d: data must be a 2-D tensor (T, N), got {shape}; flatten the "
            f"neuron dimensions with data.flatten(1)"
        )
    ax = plt.gca() if axes is None else axes
    kwargs.setdefault("aspect", "auto")
    kwargs.setdefault("interpolation", "none")
    image = ax.imshow(_detach_tensor(data).float().T.numpy(), **kwargs)
    if show_colorbar:
        ax.figure.colorbar(image, ax=ax)
    return ax


def _dims(fn: str, spikes: Any, names: Sequence[str] | str | None, required: str) -> Tensor:
    """``spikes`` as a plain CPU tensor with dimensions ordered ``"T" + required``.

    The dimension names come from ``names``, else from a named tensor (torch versions that
    still have named tensors), else from the order: ``required`` for ``len(required)``
    dimensions and ``"T" + required`` for one more. A missing ``T`` becomes a size-1 dim.
    """
    if not isinstance(spikes, Tensor):
        raise TypeError(f"{fn}: spikes must be a torch.Tensor, got {type(spikes).__name__}")
    tensor_names = tuple(getattr(spikes, "names", ()) or ())
    if names is None and any(n is not None for n in tensor_names):
        names = tensor_names
        spikes = spikes.rename(None)
    if names is None:
        defaults = {len(required): required, len(required) + 1: "T" + required}
        names = defaults.get(spikes.dim())
    allowed = ("".join(sorted(required)), "".join(sorted("T" + required)))
    if (
        names is None
        or len(names) != spikes.dim()
        or any(not isinstance(n, str) for n in names)
        or "".join(sorted("".join(names))) not in allowed
    ):
        raise ValueError(
            f"{fn}: spikes must have the dimensions {', '.join(required)} (optionally T first), "
            f"got shape {tuple(spikes.shape)} with names {names}; pass a tensor shaped "
            f"({', '.join(required)}) or (T, {', '.join(required)}), or name its dimensions "
            f"with names=({', '.join(repr(n) for n in required)})"
        )
    names = list(names)
    data = _detach_tensor(spikes)
    if "T" not in names:
        data, names = data.unsqueeze(0), ["T", *names]
    return data.permute([names.index(d) for d in "T" + required]).to(torch.float32)


def plot_heatmap_3d(
    spikes: Tensor,
    show_colorbar: bool = False,
    *,
    names: Sequence[str] | str | None = None,
    **kwargs: Any,
) -> Any:
    """Draw the non-zero entries of an ``(L, X, Y)`` tensor as points in 3-D.

    Args:
        spikes (Tensor): a tensor with dimensions ``L``, ``X`` and ``Y``: in that order, in
            the order given by ``names``, or named (on torch versions with named tensors)
        show_colorbar (bool): add a colour bar for the values
        names (Sequence[str] | str | None): the dimension names of ``spikes``, e.g. ``"XYL"``
        **kwargs: passed to ``scatter`` (default colour: the values)

    Returns:
        the 3-D axes (in a new figure).

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> x = torch.zeros(4, 5, 3)
        >>> x[2, 3, 1] = 1.0
        >>> ax = plot_heatmap_3d(x, names="XYL")
        >>> ax.name, ax.collections[0].get_offsets().shape
        ('3d', (1, 2))
        >>> matplotlib.pyplot.close("all")
    """
    plt = _pyplot()
    data = _dims("plot_heatmap_3d", spikes, names, "LXY")[0]
    index = data.nonzero()
    values = data[tuple(index.T)]
    ax = plt.figure().add_subplot(projection="3d")
    kwargs.setdefault("c", values.numpy())
    points = ax.scatter(index[:, 0].numpy(), index[:, 1].numpy(), index[:, 2].numpy(), **kwargs)
    ax.set_xlim(0, max(data.shape[0] - 1, 1))
    ax.set_ylim(0, max(data.shape[1] - 1, 1))
    ax.set_zlim(0, max(data.shape[2] - 1, 1))
    ax.set_xlabel("L")
    ax.set_ylabel("X")
    ax.set_zlabel("Y")
    if show_colorbar:
        ax.figure.colorbar(points, ax=ax)
    return ax


def plot_histogram_2d(spikes: Tensor, axes: Any = None, **kwargs: Any) -> Any:
    """Histogram of the values of ``spikes`` (``hist`` of the array: one data set per column).

    Args:
        spikes (Tensor): the values, e.g. spike counts per neuron (1-D) or ``(T, N)``
        axes (matplotlib.axes.Axes | None): where to draw (default: the current axes)
        **kwargs: passed to ``hist``

    Returns:
        the axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> counts = (torch.rand(200, 30) < 0.05).sum(0)
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> ax = plot_histogram_2d(counts, axes=ax, bins=5)
        >>> len(ax.patches)
        5
        >>> matplotlib.pyplot.close("all")
    """
    plt = _pyplot()
    if not isinstance(spikes, Tensor):
        raise TypeError(
            f"plot_histogram_2d: spikes must be a torch.Tensor, got {type(spikes).__name__}"
        )
    ax = plt.gca() if axes is None else axes
    data = _detach_tensor(spikes).float()
    if data.dim() > 2:
        data = data.reshape(data.shape[0], -1)
    ax.hist(data.numpy(), **kwargs)
    return ax


def plot_neuron_states(
    states: Any, *variables: str, label: bool = True, axes: Any = None, **kwargs: Any
) -> Any:
    """Plot state variables over time, e.g. the voltages recorded with ``record_states=True``.

    Args:
        states (NamedTuple): a state whose fields are time-first tensors ``(T, ...)``
        *variables (str): the field names to plot (at least one), e.g. ``"v"``, ``"i"``
        label (bool): add a legend with one entry per variable
        axes (matplotlib.axes.Axes | None): where to draw (default: the current axes)
        **kwargs: passed to ``plot``

    Returns:
        the axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from norse.torch import LIF
        >>> _, states = LIF(record_states=True)(torch.rand(50, 2, 3))
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> ax = plot_neuron_states(states, "v", "i", axes=ax)
        >>> [t.get_text() for t in ax.get_legend().get_texts()], len(ax.lines)
        (['v', 'i'], 12)
        >>> matplotlib.pyplot.close("all")
    """
    plt = _pyplot()
    if not variables:
        raise ValueError(
            "plot_neuron_states: name at least one state variable to plot, e.g. "
            "plot_neuron_states(states, 'v')"
        )
    ax = plt.gca() if axes is None else axes
    for k, name in enumerate(variables):
        if not isinstance(name, str) or not hasattr(states, name):
            fields = getattr(states, "_fields", None)
            raise ValueError(
                f"plot_neuron_states: the state has no variable {name!r}; its fields are {fields}"
            )
        data = _time_major(name, "plot_neuron_states", getattr(states, name))
        style = dict(kwargs)
        style.setdefault("color", f"C{k}")
        lines = ax.plot(data.numpy(), **style)
        if label and lines:
            lines[0].set_label(name)
    if label:
        ax.legend()
    return ax


def plot_scatter_3d(
    spikes: Tensor,
    axes: Any = None,
    show_colorbar: bool = True,
    *,
    names: Sequence[str] | str | None = None,
    **kwargs: Any,
) -> list[Any]:
    """One 3-D scatter plot per layer ``L`` of the spikes over time ``T`` and space ``X, Y``.

    Args:
        spikes (Tensor): a tensor with dimensions ``T, L, X, Y`` or ``L, X, Y`` (then a
            single time step): in that order, in the order given by ``names``, or named (on
            torch versions with named tensors)
        axes (Axes | Sequence[Axes] | None): one 3-D axes per layer (default: a new figure
            with a row of them)
        show_colorbar (bool): add a colour bar (colour = time) to each plot
        names (Sequence[str] | str | None): the dimension names of ``spikes``, e.g. ``"TXYL"``
        **kwargs: passed to ``scatter``

    Returns:
        the list of axes, one per layer.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> x = (torch.rand(10, 2, 6, 6) < 0.2).float()  # (T, L, X, Y)
        >>> axes = plot_scatter_3d(x)
        >>> len(axes), axes[0].get_xlabel()
        (2, 'T')
        >>> matplotlib.pyplot.close("all")
    """
    plt = _pyplot()
    data = _dims("plot_scatter_3d", spikes, names, "LXY")
    layers = data.shape[1]
    if axes is None:
        fig = plt.figure(figsize=(4 * layers, 4))
        axes = [fig.add_subplot(1, layers, k + 1, projection="3d") for k in range(layers)]
    elif not isinstance(axes, Sequence):
        axes = [axes]
    axes = list(axes)
    if len(axes) != layers:
        raise ValueError(
            f"plot_scatter_3d: got {len(axes)} axes for {layers} layers; pass one 3-D axes per "
            f"layer or axes=None"
        )
    for layer, ax in enumerate(axes):
        index = data[:, layer].nonzero()
        style = dict(kwargs)
        style.setdefault("c", index[:, 0].numpy())
        style.setdefault("vmin", 0)
        style.setdefault("vmax", max(data.shape[0] - 1, 1))
        points = ax.scatter(index[:, 0].numpy(), index[:, 1].numpy(), index[:, 2].numpy(), **style)
        ax.set_xlim(0, max(data.shape[0] - 1, 1))
        ax.set_ylim(0, max(data.shape[2] - 1, 1))
        ax.set_zlim(0, max(data.shape[3] - 1, 1))
        ax.set_xlabel("T")
        ax.set_ylabel("X")
        ax.set_zlabel("Y")
        ax.set_title(f"L = {layer}")
        if show_colorbar:
            ax.figure.colorbar(points, ax=ax, label="T")
    return axes


def plot_spikes_2d(spikes: Tensor, axes: Any = None, **kwargs: Any) -> Any:
    """Draw spikes ``(T, N)`` as a black-and-white image, neurons along y.

    Args:
        spikes (Tensor): a 2-D tensor, time first
        axes (matplotlib.axes.Axes | None): where to draw (default: the current axes)
        **kwargs: passed to :func:`plot_heatmap_2d` (default ``cmap="binary"``)

    Returns:
        the axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> ax = plot_spikes_2d((torch.rand(100, 30) < 0.1).float(), axes=ax)
        >>> [int(tick) for tick in ax.get_yticks()]
        [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
        >>> matplotlib.pyplot.close("all")
    """
    _pyplot()
    if not isinstance(spikes, Tensor) or spikes.dim() != 2:
        shape = tuple(spikes.shape) if isinstance(spikes, Tensor) else type(spikes).__name__
        raise ValueError(
            f"plot_spikes_2d: spikes must be a 2-D tensor (T, N), got {shape}; use "
            f"plot_spike_raster for (T, ...) tensors or flatten with spikes.flatten(1)"
        )
    kwargs.setdefault("cmap", "binary")
    ax = plot_heatmap_2d(spikes, axes=axes, **kwargs)
    n = spikes.shape[1]
    ax.set_yticks(list(range(0, n, max(1, n // 10))))
    return ax


def plot_izhikevich(
    behavior: Any,
    current: float = 1,
    time_print: float = 250,
    time_current: float = 20,
    timestep_print: float = 0.1,
) -> list[Any]:
    """Simulate an Izhikevich behaviour under a current step and plot ``v`` and the current.

    The neuron starts from the behaviour's state; the input is 0 until ``time_current`` and
    ``current`` afterwards. Times are in ms: each step advances ``timestep_print`` ms (the
    step's ``dt`` is ``timestep_print / tau_inv``).

    Args:
        behavior (IzhikevichSpikingBehavior): e.g. ``norse.torch.tonic_spiking``
        current (float): input current after the onset
        time_print (float): simulated duration (ms)
        time_current (float): onset of the current (ms)
        timestep_print (float): time step (ms)

    Returns:
        the voltage axes and the current axes (in a new figure).

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from norse.torch.functional.izhikevich import tonic_spiking
        >>> ax_v, ax_i = plot_izhikevich(tonic_spiking, current=10, time_print=50)
        >>> ax_v.get_ylabel(), len(ax_v.lines[0].get_xdata())
        ('v (mV)', 500)
        >>> matplotlib.pyplot.close("all")
    """
    plt = _pyplot()
    p, state = getattr(behavior, "p", None), getattr(behavior, "s", None)
    if p is None or state is None:
        raise TypeError(
            f"plot_izhikevich: behavior must be an IzhikevichSpikingBehavior (with .p and .s), "
            f"got {type(behavior).__name__}; pass e.g. norse.torch.tonic_spiking"
        )
    if timestep_print <= 0 or time_print <= 0:
        raise ValueError(
            f"plot_izhikevich: time_print and timestep_print must be positive, got "
            f"time_print={time_print}, timestep_print={timestep_print}"
        )
    from ...functional.izhikevich import izhikevich_feed_forward_step

    ts = torch.arange(0, time_print, timestep_print)
    dt = timestep_print / float(p.tau_inv)
    voltages, currents = [], []
    with torch.no_grad():
        for t in ts.tolist():
            i = float(current) if t > time_current else 0.0
            _, state = izhikevich_feed_forward_step(torch.as_tensor(i), state, p, dt)
            voltages.append(torch.as_tensor(state.v).detach().float().reshape(-1)[0])
            currents.append(i)
    fig, (ax_v, ax_i) = plt.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}, figsize=(6, 4)
    )
    ax_v.plot(ts.numpy(), torch.stack(voltages).numpy(), color="C0")
    ax_v.set_ylabel("v (mV)")
    ax_i.plot(ts.numpy(), currents, color="C1")
    ax_i.set_ylabel("current")
    ax_i.set_xlabel("time (ms)")
    return [ax_v, ax_i]


def plot_spike_raster(
    spikes: Tensor, axes: Any = None, dt: float | None = None, **kwargs: Any
) -> Any:
    """Spike raster of a time-first tensor ``(T, ...)``: a mark per spike, neurons along y.

    Dimensions after time (batch, channels, space) are flattened into one neuron index.

    Args:
        spikes (Tensor): spikes ``(T, ...)`` (any non-zero value counts as a spike)
        axes (matplotlib.axes.Axes | None): where to draw (default: the current axes)
        dt (float | None): time step in seconds; the x axis shows steps when ``None``
        **kwargs: passed to ``scatter`` (defaults: black ``"|"`` markers)

    Returns:
        the axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> spikes = torch.zeros(10, 2, 3)
        >>> spikes[4, 1, 2] = 1
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> ax = plot_spike_raster(spikes, axes=ax)
        >>> ax.collections[0].get_offsets().tolist()  # (time step, neuron 1 * 3 + 2)
        [[4.0, 5.0]]
        >>> matplotlib.pyplot.close("all")
    """
    plt = _pyplot()
    data = _time_major("spikes", "plot_spike_raster", spikes)
    ax = plt.gca() if axes is None else axes
    times, xlabel = _time_axis(data.shape[0], dt)
    index = data.nonzero()
    kwargs.setdefault("marker", "|")
    kwargs.setdefault("color", "black")
    kwargs.setdefault("s", max(4.0, min(60.0, 2000.0 / max(data.shape[1], 1))))
    kwargs.setdefault("linewidths", 1.0)
    ax.scatter(times[index[:, 0]].numpy(), index[:, 1].numpy(), **kwargs)
    step = float(times[1] - times[0]) if data.shape[0] > 1 else 1.0
    ax.set_xlim(float(times[0]) - step / 2, float(times[-1]) + step / 2)
    ax.set_ylim(-0.5, data.shape[1] - 0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("neuron")
    return ax


def plot_membrane_traces(
    voltages: Tensor,
    axes: Any = None,
    dt: float | None = None,
    threshold: float | None = None,
    **kwargs: Any,
) -> Any:
    """Membrane-voltage traces of a time-first tensor ``(T, ...)``, one line per neuron.

    Args:
        voltages (Tensor): voltages ``(T, ...)``, e.g. ``states.v`` of a layer run with
            ``record_states=True``
        axes (matplotlib.axes.Axes | None): where to draw (default: the current axes)
        dt (float | None): time step in seconds; the x axis shows steps when ``None``
        threshold (float | None): draw the firing threshold as a dashed line
        **kwargs: passed to ``plot``

    Returns:
        the axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from norse.torch import LIF
        >>> _, states = LIF(record_states=True)(torch.full((40, 3), 2.0))
        >>> import matplotlib.pyplot as plt
        >>> fig, ax = plt.subplots()
        >>> ax = plot_membrane_traces(states.v, axes=ax, dt=1e-3, threshold=1.0)
        >>> len(ax.lines)  # three neurons and the threshold
        4
        >>> matplotlib.pyplot.close("all")
    """
    plt = _pyplot()
    data = _time_major("voltages", "plot_membrane_traces", voltages)
    ax = plt.gca() if axes is None else axes
    times, xlabel = _time_axis(data.shape[0], dt)
    ax.plot(times.numpy(), data.numpy(), **kwargs)
    if threshold is not None:
        ax.axhline(float(threshold), linestyle="--", color="gray", linewidth=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("v")
    return ax
