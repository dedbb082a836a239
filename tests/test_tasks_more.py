"""The tasks ``cifar10``, ``speech_commands``, ``cartpole`` and ``mnist_pl``: each runs end to
end on generated data with tiny sizes, continues from a checkpoint, reads its data files and
says what is wrong with missing files or bad flags."""

from __future__ import annotations

import importlib.util
import pickle
import sys

import numpy as np
import pytest
import torch

from norse.task import cartpole, cifar10, mnist_pl
from norse.task.__main__ import list_tasks
from norse.task.speech_commands import model as speech_model
from norse.task.speech_commands import run as speech_run


def _state(path):
    return torch.load(path, weights_only=True)


def _same_models(a, b):
    assert a["epoch"] == b["epoch"]
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def _resume_matches(main, small, epochs_flag, tmp_path):
    straight, resumed = tmp_path / "straight.pt", tmp_path / "resumed.pt"
    main([*small, epochs_flag, "2", "--checkpoint", str(straight)])
    main([*small, epochs_flag, "1", "--checkpoint", str(resumed)])
    assert _state(resumed)["epoch"] == 1
    main([*small, epochs_flag, "2", "--checkpoint", str(resumed), "--resume"])
    _same_models(_state(straight), _state(resumed))


def test_tasks_are_listed_with_a_summary():
    tasks = dict(list_tasks())
    for name in ("cartpole", "cifar10", "mnist_pl", "speech_commands"):
        assert tasks[name], name


# ----------------------------------------------------------------------------- cifar10
CIFAR = ["--synthetic", "--samples", "16", "--batch_size", "8", "--seq_length", "2", "--quiet"]


def test_cifar10_trains_on_synthetic_images(capsys):
    accuracy = cifar10.main([*CIFAR, "--max_epochs", "1", "--optimizer", "sgd",
                             "--lr_step", "True"])  # fmt: skip
    assert 0.0 <= accuracy <= 1.0
    assert "test accuracy" in capsys.readouterr().out


def test_cifar10_resume_continues_from_the_next_epoch(tmp_path):
    _resume_matches(cifar10.main, [*CIFAR, "--lr_step", "True"], "--max_epochs", tmp_path)
    assert "scheduler" in _state(tmp_path / "resumed.pt")["extra"]


def _write_cifar(folder, n=4, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)
        batches[name] = (data, labels)
    return batches


def test_cifar10_reads_the_python_batches(tmp_path):
    batches = _write_cifar(tmp_path / "cifar-10-batches-py")
    x, y = cifar10.load_cifar10(tmp_path, train=True)
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (20,)
    data, labels = batches["data_batch_1"]
    assert torch.equal(x[0], torch.from_numpy(data[0].reshape(3, 32, 32) / 255.0).float())
    assert y[:4].tolist() == labels
    x, y = cifar10.load_cifar10(tmp_path / "cifar-10-batches-py", train=False)
    assert x.shape == (4, 3, 32, 32) and y.tolist() == batches["test_batch"][1]
    acc = cifar10.main(["--data-root", str(tmp_path), "--max_epochs", "1", "--batch_size", "4",
                        "--seq_length", "2", "--limit-batches", "1", "--quiet"])  # fmt: skip
    assert 0.0 <= acc <= 1.0


def test_cifar10_missing_or_bad_files_and_flags_say_what_is_wrong(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="data_batch_1 not found.*--synthetic"):
        cifar10.main(["--data-root", str(tmp_path), "--quiet"])
    folder = tmp_path / "c" / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "test_batch").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="test_batch: not a readable CIFAR-10 batch"):
        cifar10.load_cifar10(tmp_path / "c", train=False)
    for flags, message in ((["--optimizer", "rmsprop"], "invalid choice"),
                           (["--lr_step", "maybe"], "expected True or False"),
                           (["--seq_length", "0"], "--seq_length must be at least 1")):  # fmt: skip
        with pytest.raises(SystemExit):
            cifar10.parse_args(flags)
        assert message in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"expected images \(B, 3, 32, 32\)"):
        cifar10.LIFConvNet(2, 3, 1e-3, "adam")(torch.rand(2, 3, 28, 28))


def test_label_smoothing_loss():
    y_hat, y = torch.randn(5, 10), torch.randint(0, 10, (5,))
    nll = torch.nn.functional.cross_entropy(y_hat, y, reduction="sum")
    assert torch.allclose(cifar10.label_smoothing_loss(y_hat, y, alpha=0.0), nll)
    assert cifar10.label_smoothing_loss(y_hat, y) > 0
    with pytest.raises(ValueError, match="alpha"):
        cifar10.label_smoothing_loss(y_hat, y, alpha=2.0)


def test_cifar10_network_is_not_silent_at_initialisation():
    # every LIF layer must fire on the synthetic images with default initialisation, or the
    # readout sees nothing and the loss stays at log(10)
    torch.manual_seed(0)
    net = cifar10.LIFConvNet(24, 3, 2e-3, "adam")
    spikes = {}
    for name in ("lif1", "lif2", "lif3"):
        getattr(net, name).register_forward_hook(
            lambda m, i, o, name=name: spikes.__setitem__(name, spikes.get(name, 0) + o[0].sum())
        )
    x, _ = cifar10.synthetic_images(8)
    net(cifar10._normalise(x))
    assert all(spikes[name] > 0 for name in ("lif1", "lif2", "lif3")), spikes


# ----------------------------------------------------------------------------- speech commands
SPEECH = ["--synthetic", "--samples", "16", "--batch_size", "8", "--seq-length", "6",
          "--n-features", "8", "--quiet"]  # fmt: skip


@pytest.mark.parametrize("name", ["lif", "lsnn", "lstm"])
def test_speech_commands_trains_every_model(name):
    accuracy = speech_run.main([*SPEECH, "--epochs", "1", "--model", name])
    assert 0.0 <= accuracy <= 1.0


def test_speech_commands_resume_continues_from_the_next_epoch(tmp_path):
    _resume_matches(speech_run.main, [*SPEECH, "--model", "lsnn"], "--epochs", tmp_path)


def test_speech_commands_models_and_errors(tmp_path, capsys):
    x = torch.rand(4, 3, 20)
    for m in (speech_model.lif_model(8, 20, 5), speech_model.lsnn_model(8, 20, 5),
              speech_model.LSTMModel(8, 20, 5)):  # fmt: skip
        out = m(x)
        assert out.shape == (3, 5)
        assert torch.allclose(out.exp().sum(1), torch.ones(3))
        with pytest.raises(ValueError, match=r"expected features \(T, B, 20\)"):
            m(torch.rand(3, 80))
    features, labels = speech_run.synthetic_features(8, seq_length=5)
    assert features.shape == (8, 5, 80) and labels.max() < 10
    with pytest.raises(SystemExit):
        speech_run.parse_args(["--model", "gru"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no data in .*download=True"):
        speech_run.main(["--data-root", str(tmp_path), "--quiet"])


# ----------------------------------------------------------------------------- cartpole
CARTPOLE = ["--synthetic", "--seq-length", "3", "--max-steps", "15", "--quiet"]


@pytest.mark.parametrize("policy", ["snn", "lsnn", "ann"])
def test_cartpole_trains_every_policy(policy, capsys):
    reward = cartpole.main([*CARTPOLE, "--episodes", "2", "--policy", policy])
    assert 0 < reward < 500
    assert "running reward" in capsys.readouterr().out


def test_cartpole_resume_continues_from_the_next_episode(tmp_path):
    _resume_matches(cartpole.main, [*CARTPOLE, "--policy", "ann"], "--episodes", tmp_path)
    assert "running_reward" in _state(tmp_path / "resumed.pt")["extra"]


def test_cartpole_simulation_follows_the_equations():
    env = cartpole.CartPoleSimulation(max_episode_steps=1000)
    state, _ = env.reset(seed=3)
    assert np.all(np.abs(state) <= 0.05)
    steps, done = 0, False
    while not done:
        state, reward, done, truncated, _ = env.step(1)
        steps += 1
        assert reward == 1.0 and not truncated
    assert 5 < steps < 100  # always pushing right topples the pole
    with pytest.raises(ValueError, match="action must be 0 or 1"):
        env.step(2)


@pytest.mark.skipif(importlib.util.find_spec("gymnasium") is None, reason="needs gymnasium")
def test_cartpole_simulation_matches_gymnasium():
    import gymnasium

    gym_env, env = gymnasium.make("CartPole-v1"), cartpole.CartPoleSimulation()
    a, _ = gym_env.reset(seed=7)
    b, _ = env.reset(seed=7)
    rng = np.random.default_rng(0)
    for _ in range(30):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        action = int(rng.integers(0, 2))
        a, _, done_a, _, _ = gym_env.step(action)
        b, _, done_b, _, _ = env.step(action)
        assert done_a == done_b
        if done_a:
            break


def test_cartpole_without_gymnasium_and_bad_flags(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(ImportError, match="pip install gymnasium.*--synthetic"):
        cartpole.main(["--episodes", "1", "--quiet"])
    for flags, message in ((["--policy", "rnn"], "invalid choice"),
                           (["--gamma", "1.5"], "--gamma must lie in [0, 1]"),
                           (["--episodes", "0"], "--episodes must be at least 1")):  # fmt: skip
        with pytest.raises(SystemExit):
            cartpole.parse_args(flags)
        assert message in capsys.readouterr().err
    policy = cartpole.ANNPolicy()
    with pytest.raises(ValueError, match="episode is empty"):
        cartpole.finish_episode(policy, torch.optim.Adam(policy.parameters()), 0.99)


# ----------------------------------------------------------------------------- mnist_pl
def test_mnist_pl_keeps_the_model_and_explains_the_missing_lightning(monkeypatch):
    net = mnist_pl.LIFConvNet(28 * 28, 2, 1e-3, only_output=True, optimizer="sgd")
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    opt = net.configure_optimizers()
    assert isinstance(opt, torch.optim.SGD)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == 10 * 1024
    monkeypatch.setattr(mnist_pl, "lightning_available", lambda: False)
    with pytest.raises(ImportError, match="pip install lightning.*norse.task.mnist"):
        mnist_pl.main([])


def test_mnist_pl_trains_logs_checkpoints_and_resumes_with_lightning(tmp_path):
    pytest.importorskip("lightning")
    ckpt = tmp_path / "pl" / "last.ckpt"
    args = ["--synthetic", "--samples", "16", "--batch_size", "8", "--seq_length", "2",
            "--quiet", "--checkpoint", str(ckpt), "--logdir", str(tmp_path / "logs")]  # fmt: skip
    assert 0.0 <= mnist_pl.main([*args, "--max_epochs", "1"]) <= 1.0
    first = torch.load(ckpt, weights_only=False)
    assert first["epoch"] == 0 and first["global_step"] == 2
    assert list((tmp_path / "logs").rglob("events.out.tfevents*"))
    mnist_pl.main([*args, "--max_epochs", "2", "--resume"])
    second = torch.load(ckpt, weights_only=False)
    assert second["epoch"] == 1 and second["global_step"] == 4  # continued, not restarted


def test_tensorboard_logs_are_written(tmp_path):
    cartpole.main([*CARTPOLE, "--episodes", "1", "--policy", "ann", "--logdir",
                   str(tmp_path / "cp")])  # fmt: skip
    speech_run.main([*SPEECH, "--epochs", "1", "--model", "lstm", "--logdir",
                     str(tmp_path / "sc")])  # fmt: skip
    for name in ("cp", "sc"):
        assert any(f.name.startswith("events.out.tfevents") for f in (tmp_path / name).iterdir())
