"""norse.dataset.speech_commands on small folders of the Speech Commands layout."""

import hashlib
import math
import tarfile

import pytest
import torch

from norse.dataset import speech_commands as sc
from norse.dataset.speech_commands import (
    MFCC,
    SpeechCommands,
    SpeechCommandsDataset,
    generate_background_noise,
    label_to_index,
    prepare_dataset,
    read_wav,
    write_wav,
)

RATE = 16000


def _tone(frequency, seconds=0.25, seed=0):
    t = torch.arange(int(RATE * seconds)) / RATE
    noise = torch.randn(t.shape, generator=torch.Generator().manual_seed(seed))
    return 0.5 * torch.sin(2 * math.pi * frequency * t) + 0.01 * noise


def make_folder(root, words=("yes", "no", "cat"), speakers=4, noise_seconds=2.5):
    """``root/SpeechCommands/speech_commands_v0.02`` with tones per word, split lists and a
    background recording; returns the folder."""
    folder = root / "SpeechCommands" / "speech_commands_v0.02"
    for w, word in enumerate(words):
        for s in range(speakers):
            write_wav(folder / word / f"s{s:03d}_nohash_0.wav", _tone(300 + 200 * w, seed=s))
    (folder / "validation_list.txt").write_text("yes/s001_nohash_0.wav\nno/s001_nohash_0.wav\n")
    (folder / "testing_list.txt").write_text("yes/s002_nohash_0.wav\ncat/s002_nohash_0.wav\n")
    write_wav(folder / "_background_noise_" / "white_noise.wav",
              0.1 * torch.randn(int(RATE * noise_seconds)))  # fmt: skip
    return folder


def test_items_match_torchaudios_format_and_the_written_samples(tmp_path):
    folder = make_folder(tmp_path)
    data = SpeechCommands(tmp_path)
    assert len(data) == 12  # three words, four speakers; no background recordings
    waveform, rate, label, speaker, number = data[0]
    assert (rate, label, speaker, number) == (16000, "cat", "s000", 0)
    assert waveform.shape == (1, 4000) and waveform.dtype == torch.float32
    expected = (_tone(300 + 200 * 2, seed=0).double().clamp(-1, 1) * 32767).round() / 32768
    assert torch.equal(waveform[0], expected.float())  # 16-bit PCM, read back exactly
    assert data._path == str(folder) and all(p.endswith(".wav") for p in data._walker)


def test_subsets_follow_the_lists(tmp_path):
    make_folder(tmp_path)
    sizes = {s: len(SpeechCommands(tmp_path, subset=s)) for s in ("training", "validation", "testing")}  # fmt: skip
    assert sizes == {"training": 8, "validation": 2, "testing": 2}
    valid = SpeechCommands(tmp_path, subset="validation")
    assert sorted(valid[k][2] for k in range(2)) == ["no", "yes"]
    with pytest.raises(ValueError, match="subset expected None, 'training'"):
        SpeechCommands(tmp_path, subset="train")


def test_background_noise_clips_and_prepare_dataset(tmp_path):
    make_folder(tmp_path, noise_seconds=10.5)
    data = SpeechCommands(tmp_path)
    clips = generate_background_noise(data)
    assert len(clips) == 10 and all(c.parent.name == "background" for c in clips)
    assert read_wav(clips[3])[0].shape == (1, RATE)
    assert len(data) == 22
    assert generate_background_noise(data) == clips  # once: the clips are kept
    train, valid, test = prepare_dataset(tmp_path)
    assert (len(train), len(valid), len(test)) == (8 + 8, 2 + 1, 2 + 1)
    assert {valid[k][2] for k in range(len(valid))} == {"yes", "no", "background"}


def test_label_to_index_and_the_padded_transformed_items(tmp_path):
    make_folder(tmp_path)
    assert [label_to_index(w) for w in sc.KNOWN_WORDS] == list(range(10))
    assert label_to_index("background") == 10
    assert label_to_index("cat") == sc.UNKNOWN_INDEX == 12
    data = SpeechCommandsDataset(SpeechCommands(tmp_path))
    waveform, index = data[0]
    assert waveform.shape == (1, RATE) and index == 12
    assert waveform[0, 4000:].abs().sum() == 0  # zero-padded at the end
    assert label_to_index(SpeechCommands(tmp_path)[-1]) == 0  # an item: 'yes'
    with pytest.raises(TypeError, match="label_to_index: expected a label string"):
        label_to_index((torch.zeros(1), RATE, 3))


def test_mfcc_shapes_and_a_tone_lands_in_its_mel_band():
    mfcc = MFCC(n_mfcc=13)
    features = mfcc(torch.stack([_tone(400, 1.0), _tone(2000, 1.0)]))
    assert features.shape == (2, 13, 101) and torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])
    # the inverse DCT recovers the mel spectrum: its peak sits where the tone is
    full = MFCC(n_mfcc=80)
    db = full.dct.T @ full(_tone(400, 1.0))
    mel_of = 2595 * math.log10(1 + 400 / 700)
    edges = torch.linspace(0, 2595 * math.log10(1 + 8000 / 700), 82)
    assert abs(int(db.mean(1).argmax()) - int((edges[1:-1] - mel_of).abs().argmin())) <= 1
    with pytest.raises(ValueError, match="MFCC: n_mfcc expected 1..n_mels=80"):
        MFCC(n_mfcc=81)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no data in .*speech_commands_v0.02.*download=True"):  # fmt: skip
        SpeechCommands(tmp_path)
    folder = make_folder(tmp_path)
    (folder / "no" / "s003_nohash_0.wav").write_bytes(b"RIFF....broken")
    data = SpeechCommands(tmp_path)
    with pytest.raises(ValueError, match=r"s003_nohash_0.wav is not a readable PCM WAV file"):
        data[data._walker.index(str(folder / "no" / "s003_nohash_0.wav"))]


def test_download_extracts_verifies_and_caches(tmp_path, monkeypatch):
    source = make_folder(tmp_path / "source")
    remote = tmp_path / "remote"
    remote.mkdir()
    archive = remote / "speech_commands_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source)), recursive=False)
    monkeypatch.setattr(SpeechCommands, "base_url", remote.as_uri() + "/")
    digest = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="is corrupt: md5 checksum expected 0000"):
        SpeechCommands(cache, download=True, checksum="0" * 32)
    assert not list((cache / "SpeechCommands").glob("*.tar.gz"))  # the bad download is gone
    data = SpeechCommands(cache, download=True, checksum=digest)
    assert len(data) == 12 and data[5][2] == "no"
    archive.unlink()  # cached: no second download
    assert len(SpeechCommands(cache, download=True, checksum=digest)) == 12
    with pytest.raises(RuntimeError, match="could not download .*speech_commands_v0.02.tar.gz"):
        SpeechCommands(tmp_path / "elsewhere", download=True)


def test_speech_commands_task_trains_on_a_folder(tmp_path):
    from norse.task.speech_commands import run

    make_folder(tmp_path, words=("yes", "no", "up"))
    accuracy = run.main(["--data-root", str(tmp_path), "--epochs", "1", "--batch_size", "4",
                         "--n-features", "8", "--quiet"])  # fmt: skip
    assert 0.0 <= accuracy <= 1.0
    x, y = run.load_speech_commands(tmp_path, "testing")[0]
    assert x.shape == (101, 80) and y == 0
    with pytest.raises(FileNotFoundError, match="no keyword recordings"):
        make_folder(tmp_path / "other", words=("cat",))
        run.load_speech_commands(tmp_path / "other", "training")
