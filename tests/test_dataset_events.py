"""norse.dataset.events: event recordings (tonic's format) as time-first tensors."""

import numpy as np
import pytest
import torch

from norse.dataset.events import EventFrames, pad_collate, tonic_dataset

DVS = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])


def _recording(n, sensor=(5, 4, 2), t_max=20_000, seed=0):
    rng = np.random.default_rng(seed)
    events = np.zeros(n, DVS)
    events["x"] = rng.integers(0, sensor[0], n)
    events["y"] = rng.integers(0, sensor[1], n)
    events["p"] = rng.integers(0, sensor[2], n)
    events["t"] = np.sort(rng.integers(0, t_max, n))
    return events


def test_frames_count_every_event_at_its_bin_and_address():
    events = _recording(300)
    frames, target = EventFrames([(events, 4)], dt=0.002, sensor_size=(5, 4, 2))[0]
    expected = torch.zeros(int(events["t"].max()) // 2000 + 1, 2, 4, 5)
    for e in events:
        expected[e["t"] // 2000, e["p"], e["y"], e["x"]] += 1
    assert torch.equal(frames, expected)
    assert target.item() == 4 and frames.dtype == torch.float32


def test_bin_edges_are_exact_for_integer_microseconds():
    # 1 ms in microseconds is 1000 ticks exactly: t = 1000 opens the second bin
    events = np.array([(0, 0, 999, 0), (0, 0, 1000, 0), (0, 0, 2999, 0)], DVS)
    frames, _ = EventFrames([(events, 0)], dt=0.001, sensor_size=(1, 1, 1))[0]
    assert frames.shape == (3, 1)
    assert frames[:, 0].tolist() == [1.0, 1.0, 1.0]


def test_max_length_fixes_the_length_and_drops_later_events():
    events = np.array([(0, 0, 100, 0), (1, 0, 4_999, 0), (1, 0, 5_000, 0)], DVS)
    data = EventFrames([(events, 0)], dt=0.001, sensor_size=(2, 1, 1), max_length=0.005)
    frames, _ = data[0]
    assert frames.shape == (5, 2)
    assert frames.sum().item() == 2  # the event at 5 ms lies past the end


def test_binary_squeeze_dtype_and_start_time():
    events = np.array([(2, 1, 50, 1), (2, 1, 60, 1)], DVS)
    data = EventFrames([(events, 1)], dt=1e-4, sensor_size=(3, 2, 2), binary=True,
                       squeeze=False, dtype=torch.float64, start_time=40)  # fmt: skip
    frames, _ = data[0]
    assert frames.shape == (1, 2, 2, 3) and frames.dtype == torch.float64
    assert frames[0, 1, 1, 2].item() == 1.0 and frames.sum().item() == 1.0


def test_sensor_size_is_read_from_the_data_set():
    class Data(list):
        sensor_size = (700, 1, 1)

    audio = np.array([(3, 10, 1)], np.dtype([("x", int), ("t", int), ("p", int)]))
    frames, _ = EventFrames(Data([(audio, 2)]), dt=0.001)[0]
    assert frames.shape == (1, 700) and frames[0, 3].item() == 1.0


def test_pad_collate_batches_time_first():
    data = EventFrames([(_recording(30, t_max=3000), 1), (_recording(30, t_max=9000, seed=1), 2)],
                       dt=0.001, sensor_size=(5, 4, 2))  # fmt: skip
    loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=pad_collate)
    x, y = next(iter(loader))
    assert x.shape[1:] == (2, 2, 4, 5) and y.tolist() == [1, 2]
    assert x.shape[0] == max(data[0][0].shape[0], data[1][0].shape[0])
    assert torch.equal(x[: data[0][0].shape[0], 0], data[0][0])
    assert x[data[0][0].shape[0] :, 0].sum() == 0


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"dt": 0.0}, ValueError, "dt expected a positive number"),
        ({"dt": float("nan")}, ValueError, "dt"),
        ({"max_length": -1.0}, ValueError, "max_length"),
        ({"sensor_size": (5, 4)}, ValueError, "sensor_size expected 3 positive integers"),
        ({"sensor_size": None}, TypeError, "sensor_size expected (x, y, p)"),
        ({"dtype": "float32"}, TypeError, "dtype expected a torch.dtype"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, words):
    args = {"dt": 0.001, "sensor_size": (5, 4, 2), **kwargs}
    with pytest.raises(error, match="EventFrames") as info:
        EventFrames([(_recording(3), 0)], **args)
    assert words in str(info.value)


def test_bad_events_are_named():
    data = EventFrames([(np.zeros((3, 4)), 0)], dt=0.001, sensor_size=(5, 4, 2))
    with pytest.raises(TypeError, match="structured array with a 't' field"):
        data[0]
    outside = _recording(5)
    outside["y"][2] = 4
    with pytest.raises(ValueError, match=r"field 'y' expected values in 0\.\.3"):
        EventFrames([(outside, 0)], dt=0.001, sensor_size=(5, 4, 2))[0]
    with pytest.raises(ValueError, match="field 't' expected times at or after start_time"):
        EventFrames([(_recording(5), 0)], dt=0.001, sensor_size=(5, 4, 2), start_time=1e9)[0]
    with pytest.raises(ValueError, match="pad_collate: spike tensors expected the same shape"):
        pad_collate([(torch.zeros(2, 3), 0), (torch.zeros(2, 4), 1)])


# ------------------------------------------------------------------ through tonic itself
def test_tonic_frames_match_tonic_to_frame():
    tonic = pytest.importorskip("tonic")
    events = _recording(500, t_max=50_000, seed=3)
    ours, _ = EventFrames([(events, 0)], dt=0.005, sensor_size=(5, 4, 2), max_length=0.05)[0]
    theirs = tonic.transforms.ToFrame(sensor_size=(5, 4, 2), time_window=5000, start_time=0,
                                      end_time=50_000)(events)  # fmt: skip
    assert theirs.shape == (10, 2, 4, 5)
    assert torch.equal(ours, torch.as_tensor(theirs, dtype=torch.float32))


def test_tonic_shd_equals_the_norse_shd_loader(tmp_path):
    pytest.importorskip("tonic")
    pytest.importorskip("h5py")
    from norse.dataset.spiking_heidelberg import SpikingHeidelbergDigitsDataset
    from norse.task.shd import write_synthetic_shd

    folder = tmp_path / "SHD"  # tonic's layout: save_to/SHD/shd_train.h5 (+ its archive)
    write_synthetic_shd(folder / "shd_train.h5", 6, seed=2)
    (folder / "shd_train.h5.zip").touch()
    ours = SpikingHeidelbergDigitsDataset(folder, dt=0.01, sparse=False)
    theirs = tonic_dataset("SHD", str(tmp_path), dt=0.01, max_length=1.4, train=True)
    assert len(theirs) == len(ours) == 6
    for k in range(6):
        (a, la), (b, lb) = ours[k], theirs[k]
        assert b.shape == a.shape == (140, 700)
        assert torch.equal(a.float(), b) and int(la) == int(lb)
    ours.close()


def test_tonic_dataset_names_unknown_data_sets(tmp_path):
    pytest.importorskip("tonic")
    with pytest.raises(ValueError, match="tonic_dataset: name expected one of"):
        tonic_dataset("NoSuchSet", str(tmp_path))


def test_shd_task_reads_through_tonic(tmp_path):
    pytest.importorskip("tonic")
    pytest.importorskip("h5py")
    from norse.task import shd

    args = ["--synthetic", "--samples", "24", "--epochs", "1", "--dt", "0.02", "--hidden",
            "8", "--quiet", "--plot", ""]  # fmt: skip
    via_tonic = shd.main([*args, "--tonic"])
    via_norse = shd.main(args)
    assert via_tonic == via_norse  # same files, same bins, same training
    with pytest.raises(FileNotFoundError, match="pass --download to have tonic fetch"):
        shd.main(["--tonic", "--data-root", str(tmp_path), "--quiet", "--plot", ""])
