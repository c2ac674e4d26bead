"""JSCC training state on disk: the log holds each step once across resumes; Ctrl-C saves and reports."""

from __future__ import annotations

import csv
import os
import signal

import numpy as np
import pytest

from semcom.cli.main import main
from semcom.jscc.data import CropSampler
from semcom.jscc.train import TrainOptions, train


@pytest.fixture
def images(tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _options(root, images, **extra) -> TrainOptions:
    return TrainOptions(**{**dict(data=str(images), val=str(images), out=str(root / "ck"), state_dir=str(root / "st"),
                                  widths=(8, 8, 16, 16), blocks=(0, 1, 1, 1), batch=2, crop=32, val_crop=32,
                                  val_images=2, val_every=0, ckpt_every=5, log_every=5, steps=20, warmup=2,
                                  final_eval=False, progress=False, threads=1, seed=0), **extra})


def _rows(root) -> list[list[str]]:
    with open(root / "st" / "train_log.csv", newline="") as handle:
        return [row[:1] + row[2:] for row in csv.reader(handle)]  # without elapsed_s


def test_resume_logs_every_step_once(tmp_path, images):
    """Rows written after the saved state (by a run killed before its next save) are cut on resume, and a
    finished run resumed again does not repeat its closing validation row."""
    train(_options(tmp_path / "straight", images))
    killed = tmp_path / "killed"
    train(_options(killed, images, stop_at_step=10))
    with open(killed / "st" / "train_log.csv", "a", newline="") as handle:
        csv.writer(handle).writerow([15, "9.9", "1e-3", 32, 2, "0.5", "10.0"])  # the killed run got further
    train(_options(killed, images, resume=True))
    train(_options(killed, images, resume=True))  # resuming a finished run
    assert _rows(killed) == _rows(tmp_path / "straight")
    steps = [row[0] for row in _rows(killed)[1:]]
    assert steps == ["5", "10", "15", "20", "20"]  # four logged steps, then the closing validation row


def test_ctrl_c_saves_the_state_and_exits_130(tmp_path, images, monkeypatch, capsys):
    batch = CropSampler.batch
    calls = []

    def interrupted_at_step_3(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return batch(self, *args, **kwargs)

    monkeypatch.setattr(CropSampler, "batch", interrupted_at_step_3)
    argv = ["train", "jscc", "--data", str(images), "--val", "", "--steps", "20", "--crop", "32", "--batch", "2",
            "--widths", "8,8,16,16", "--blocks", "0,1,1,1", "--threads", "1", "--no-progress",
            "--out", str(tmp_path / "ck"), "--state-dir", str(tmp_path / "st")]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "semcom: interrupted; resume with the same command and --resume"
    assert "interrupted at step 3" in err[-2]
    assert (tmp_path / "st" / "state.pt").is_file()
    assert main(argv) == 2
    assert "holds the state of an earlier run" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert "done at step 20" in capsys.readouterr().err
