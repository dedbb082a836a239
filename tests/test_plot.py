"""Plot functions (API.md §7.6, plus the raster and membrane-trace plots): every one renders a
non-blank PNG under Agg, draws what it was given, and reports bad input clearly."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from norse.torch.utils import plot as nplot  # noqa: E402
from norse.torch.utils.plot import plot as plot_module  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _png_pixels(fig, tmp_path, name="plot.png"):
    path = tmp_path / name
    fig.savefig(path, dpi=40)
    return torch.as_tensor(matplotlib.image.imread(path))


def _spikes(*shape, rate=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < rate).float()


def _izhikevich_behavior():
    izh = pytest.importorskip("norse.torch.functional.izhikevich")
    return izh.tonic_spiking


PLOTS = {
    "heatmap_2d": lambda ax: nplot.plot_heatmap_2d(torch.rand(30, 8), axes=ax, show_colorbar=True),
    "heatmap_3d": lambda ax: nplot.plot_heatmap_3d(_spikes(3, 6, 5), show_colorbar=True),
    "histogram_2d": lambda ax: nplot.plot_histogram_2d(_spikes(100, 20).sum(0), axes=ax),
    "neuron_states": lambda ax: nplot.plot_neuron_states(_lif_states(), "v", "i", axes=ax),
    "scatter_3d": lambda ax: nplot.plot_scatter_3d(_spikes(10, 2, 5, 5))[0],
    "spikes_2d": lambda ax: nplot.plot_spikes_2d(_spikes(50, 12), axes=ax),
    "izhikevich": lambda ax: nplot.plot_izhikevich(
        _izhikevich_behavior(), current=10, time_print=40, timestep_print=0.25
    )[0],
    "spike_raster": lambda ax: nplot.plot_spike_raster(_spikes(50, 3, 4), axes=ax, dt=1e-3),
    "membrane_traces": lambda ax: nplot.plot_membrane_traces(
        _lif_states().v, axes=ax, threshold=1.0
    ),
}


def _lif_states():
    from norse.torch.module.lif import LIF

    _, states = LIF(record_states=True)(torch.linspace(0.5, 3.0, 4).expand(60, 2, 4))
    return states


def test_every_spec_function_is_exported():
    spec = {
        "plot_heatmap_2d",
        "plot_heatmap_3d",
        "plot_histogram_2d",
        "plot_neuron_states",
        "plot_scatter_3d",
        "plot_spikes_2d",
        "plot_izhikevich",
    }
    import norse.torch

    for name in spec | {"plot_spike_raster", "plot_membrane_traces"}:
        assert getattr(nplot, name) is getattr(plot_module, name) is getattr(norse.torch, name)
        assert name in norse.torch.__all__


@pytest.mark.parametrize("name", list(PLOTS))
def test_renders_a_non_blank_png(name, tmp_path):
    fig, ax = plt.subplots()
    drawn = PLOTS[name](ax)
    fig = drawn.figure
    pixels = _png_pixels(fig, tmp_path)
    assert pixels.ndim == 3 and pixels.shape[0] > 10
    assert pixels.var() > 0
    # the data itself shows: hiding the drawn artists changes the picture
    for axes in fig.axes:
        for artist in [*axes.collections, *axes.images, *axes.lines, *axes.patches]:
            artist.set_visible(False)
    empty = _png_pixels(fig, tmp_path, "empty.png")
    assert empty.shape != pixels.shape or not torch.equal(empty, pixels)


def test_raster_marks_every_spike_at_its_time_and_neuron():
    spikes = torch.zeros(20, 2, 3)
    spikes[3, 0, 1] = 1
    spikes[7, 1, 2] = 1
    spikes[7, 0, 0] = 1
    ax = nplot.plot_spike_raster(spikes, axes=plt.gca(), dt=0.5)
    points = sorted(map(tuple, ax.collections[0].get_offsets().tolist()))
    assert points == [(1.5, 1.0), (3.5, 0.0), (3.5, 5.0)]
    assert ax.get_ylim() == (-0.5, 5.5) and ax.get_xlabel() == "time (s)"


def test_raster_accepts_bool_and_empty_spike_trains():
    ax = nplot.plot_spike_raster(torch.zeros(10, 4, dtype=torch.bool), axes=plt.gca())
    assert len(ax.collections[0].get_offsets()) == 0 and ax.get_xlabel() == "time step"


def test_membrane_traces_plot_the_given_values():
    v = torch.randn(25, 2, 2)
    ax = nplot.plot_membrane_traces(v, axes=plt.gca(), dt=1e-3, threshold=0.5)
    assert len(ax.lines) == 5
    torch.testing.assert_close(torch.as_tensor(ax.lines[3].get_ydata()), v[:, 1, 1])
    torch.testing.assert_close(
        torch.as_tensor(ax.lines[0].get_xdata()).float(), torch.arange(25) * 1e-3
    )
    assert ax.lines[4].get_ydata()[0] == 0.5


def test_neuron_states_one_colour_and_legend_entry_per_variable():
    states = _lif_states()
    ax = nplot.plot_neuron_states(states, "v", axes=plt.gca())
    assert len(ax.lines) == 8 and len({line.get_color() for line in ax.lines}) == 1
    torch.testing.assert_close(torch.as_tensor(ax.lines[1].get_ydata()), states.v[:, 0, 1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["v"]
    ax = nplot.plot_neuron_states(states, "i", label=False, axes=plt.figure().gca())
    assert ax.get_legend() is None


def test_spikes_2d_ticks_and_image():
    spikes = _spikes(40, 25)
    ax = nplot.plot_spikes_2d(spikes, axes=plt.gca())
    assert [int(t) for t in ax.get_yticks()] == list(range(0, 25, 2))
    assert torch.equal(torch.as_tensor(ax.images[0].get_array()), spikes.T)
    assert ax.images[0].get_cmap().name == "binary"


@pytest.mark.parametrize("names", ["LXY", "XYL", ("Y", "L", "X")])
def test_heatmap_3d_orders_dimensions_by_name(names):
    data = torch.zeros(2, 4, 3)  # L, X, Y
    data[1, 3, 2] = 1.0
    data[0, 1, 0] = 0.5
    permuted = data.permute(["LXY".index(n) for n in names])
    ax = nplot.plot_heatmap_3d(permuted, names=names)
    xs, ys, zs = ax.collections[0]._offsets3d
    assert sorted(zip(xs.tolist(), ys.tolist(), zs.tolist(), strict=True)) == [
        (0, 1, 0),
        (1, 3, 2),
    ]


def test_scatter_3d_one_axes_per_layer_and_time_axis():
    spikes = torch.zeros(6, 3, 4, 4)  # T, L, X, Y
    spikes[5, 2, 1, 3] = 1
    axes = nplot.plot_scatter_3d(spikes, show_colorbar=False)
    assert len(axes) == 3
    assert [len(ax.collections[0]._offsets3d[0]) for ax in axes] == [0, 0, 1]
    assert [v.tolist()[0] for v in axes[2].collections[0]._offsets3d] == [5, 1, 3]
    single = nplot.plot_scatter_3d(spikes[0].permute(1, 2, 0), names="XYL", show_colorbar=False)
    assert len(single) == 3
    fig = plt.figure()
    mine = [fig.add_subplot(1, 3, k + 1, projection="3d") for k in range(3)]
    assert nplot.plot_scatter_3d(spikes, axes=mine) == mine


def test_histogram_2d_counts():
    values = torch.tensor([0.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    ax = nplot.plot_histogram_2d(values, axes=plt.gca(), bins=3)
    assert [p.get_height() for p in ax.patches] == [1, 2, 3]


def test_izhikevich_tonic_spiking_fires_after_onset():
    ax_v, ax_i = nplot.plot_izhikevich(
        _izhikevich_behavior(), current=10, time_print=100, time_current=20
    )
    t = torch.as_tensor(ax_v.lines[0].get_xdata())
    v = torch.as_tensor(ax_v.lines[0].get_ydata())
    assert len(t) == 1000
    assert v[t < 20].max() < -50  # at rest before the current
    assert v[t > 20].max() > 0  # spikes after it
    assert torch.as_tensor(ax_i.lines[0].get_ydata()).max() == 10


def test_bad_input_errors():
    with pytest.raises(ValueError, match="at least one state variable"):
        nplot.plot_neuron_states(_lif_states())
    with pytest.raises(ValueError, match="no variable 'w'"):
        nplot.plot_neuron_states(_lif_states(), "w")
    with pytest.raises(ValueError, match=r"data must be a 2-D tensor \(T, N\)"):
        nplot.plot_heatmap_2d(torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="plot_spike_raster"):
        nplot.plot_spikes_2d(torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="dimensions L, X, Y"):
        nplot.plot_heatmap_3d(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="dimensions L, X, Y"):
        nplot.plot_heatmap_3d(torch.zeros(3, 4, 5), names="LXZ")
    with pytest.raises(ValueError, match="2 axes for 3 layers"):
        nplot.plot_scatter_3d(torch.zeros(2, 3, 4, 4), axes=[plt.gca(), plt.gca()])
    with pytest.raises(ValueError, match=r"shaped \(T, \.\.\.\)"):
        nplot.plot_spike_raster(torch.tensor(1.0))
    with pytest.raises(TypeError, match="spikes must be a tensor"):
        nplot.plot_spike_raster(object())
    with pytest.raises(TypeError, match="IzhikevichSpikingBehavior"):
        nplot.plot_izhikevich(object())


def test_import_without_matplotlib_or_tensorboard():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["matplotlib"] = None
        sys.modules["tensorboard"] = None
        import torch
        import norse.torch as nt
        assert not nt.HAS_MATPLOTLIB and not nt.HAS_TENSORBOARD
        assert "plot_spikes_2d" not in nt.__all__ and not hasattr(nt, "plot_spikes_2d")
        assert "hook_spike_image" not in nt.__all__ and not hasattr(nt, "hook_spike_image")
        z, _ = nt.LIF()(torch.ones(5, 2))
        from norse.torch.utils.plot import plot_spikes_2d
        try:
            plot_spikes_2d(z)
        except ImportError as e:
            assert "pip install matplotlib" in str(e), e
        else:
            raise AssertionError("expected ImportError")
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
