"""The digits demo (``make demo``) and the ``python -m norse`` / ``norse.task`` banners."""

from __future__ import annotations

import runpy

import pytest
import torch

from norse.task import digits


def test_demo_learns_in_two_short_epochs(capsys):
    accuracy = digits.main(["--epochs", "2", "--seq-length", "16", "--lr", "1e-2", "--quiet"])
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert isinstance(accuracy, float)
    assert accuracy > 0.5, f"accuracy {accuracy:.1%} is not well above chance (10%)"


def test_data_split_is_stratified_and_reproducible():
    x_train, y_train, x_test, y_test = digits.load_data(seed=0)
    assert x_train.shape == (1347, 64) and x_test.shape == (450, 64)
    assert x_train.dtype == torch.float32
    assert 0 <= float(x_train.min()) and float(x_train.max()) <= 1
    train_counts = torch.bincount(y_train, minlength=10).double()
    test_counts = torch.bincount(y_test, minlength=10).double()
    fractions = test_counts / (train_counts + test_counts)
    assert (fractions - 0.25).abs().max() < 0.02, "every class is split 3:1"
    again = digits.load_data(seed=0)
    assert torch.equal(again[0], x_train) and torch.equal(again[3], y_test)
    assert not torch.equal(digits.load_data(seed=1)[0], x_train)


def test_model_output_shape():
    model = digits.DigitsSNN(hidden=8, seq_length=4)
    assert model(torch.rand(3, 64)).shape == (3, 10)


@pytest.mark.parametrize(
    "argv", [["--epochs", "0"], ["--lr", "-1"], ["--hidden", "0"], ["--seq-length", "x"]]
)
def test_bad_flags_exit(argv, capsys):
    with pytest.raises(SystemExit):
        digits.parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_flags():
    args = digits.parse_args(
        ["--epochs", "3", "--seq-length", "5", "--batch-size", "7", "--lr", "0.1", "--hidden", "9"]
        + ["--seed", "4", "--quiet"]
    )
    assert (args.epochs, args.seq_length, args.batch_size, args.hidden, args.seed) == (
        3,
        5,
        7,
        9,
        4,
    )
    assert args.lr == 0.1 and args.quiet


def test_python_m_norse_prints_banner(capsys):
    runpy.run_module("norse", run_name="__main__")
    out = capsys.readouterr().out
    assert "|_| \\_|" in out and "Norse" in out


def test_python_m_norse_task_lists_tasks(capsys):
    runpy.run_module("norse.task", run_name="__main__")
    out = capsys.readouterr().out
    assert "Norse" in out
    assert "digits" in out and "Classify handwritten digits" in out
