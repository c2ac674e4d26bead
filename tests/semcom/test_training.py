"""The shared training schedule, step loop and log (semcom.training)."""

from __future__ import annotations

import csv

import pytest
import torch

from semcom.errors import ConfigError
from semcom.training import Schedule, TrainingLog, run_steps


def test_plain_cosine_schedule_warms_up_then_decays_to_the_floor():
    s = Schedule(steps=100, minutes=None, lr=1e-3, min_lr_frac=0.1, warmup=10)
    assert s.learning_rate(0, 0.0) == pytest.approx(1e-4)
    assert s.learning_rate(50, 0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert s.learning_rate(100, 1.0) == pytest.approx(1e-4)


def test_stable_phase_holds_the_peak_until_the_decay_share():
    s = Schedule(steps=None, minutes=600, lr=1e-3, min_lr_frac=0.02, warmup=10, decay_frac=0.2)
    assert s.progress(5000, 300 * 60) == pytest.approx(0.5)
    for p in (0.1, 0.5, 0.8):
        assert s.learning_rate(1000, p) == pytest.approx(1e-3)
    assert s.learning_rate(1000, 0.9) == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5))
    assert s.learning_rate(1000, 1.0) == pytest.approx(2e-5)
    # a copy resumed with a budget that ends soon anneals: same step and time, later progress
    short = Schedule(steps=None, minutes=340, lr=1e-3, min_lr_frac=0.02, warmup=10, decay_frac=0.1)
    assert short.learning_rate(5000, short.progress(5000, 300 * 60)) == pytest.approx(1e-3)
    assert short.learning_rate(5500, short.progress(5500, 315 * 60)) < 1e-3


@pytest.mark.parametrize("frac", [0.0, -0.1, 1.5])
def test_bad_decay_share_is_a_config_error(frac):
    with pytest.raises(ConfigError):
        Schedule(steps=10, minutes=None, lr=1e-3, decay_frac=frac)


def _loop(tmp_path, schedule, state=None, **kwargs):
    """A run of run_steps on a one-parameter model whose step 'loss' is the learning rate it got."""
    param = torch.nn.Parameter(torch.zeros(()))
    optimizer = torch.optim.SGD([param], lr=1.0)
    log = TrainingLog(tmp_path / "log.csv", ["step", "elapsed_s", "lr", "tag", "loss", "val"], state)
    saves, validations = [], []

    def train_step(progress):
        return {"loss": optimizer.param_groups[0]["lr"]}, ["x"]

    def validate():
        validations.append(len(validations))
        return [f"v{len(validations)}"]

    result = run_steps(schedule, optimizer, train_step, log=log, averages={"loss": ".4f"},
                       save=lambda step, elapsed, size: saves.append((step, size)), validate=validate, **kwargs)
    log.close()
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.reader(f))
    return result, rows, saves


def test_run_steps_follows_the_schedule_logs_means_and_saves_on_cadence(tmp_path):
    schedule = Schedule(steps=6, minutes=None, lr=1.0, min_lr_frac=0.0, warmup=1)
    result, rows, saves = _loop(tmp_path, schedule, step=0, elapsed_s=0.0, log_every=2, val_every=3, ckpt_every=4)
    assert (result.step, result.interrupted, result.signal) == (6, False, None)
    lrs = [schedule.learning_rate(i, schedule.progress(i, 0.0)) for i in range(6)]
    assert rows[0] == ["step", "elapsed_s", "lr", "tag", "loss", "val"]
    logged = {int(r[0]): r for r in rows[1:]}
    assert sorted(logged) == [2, 3, 4, 6]  # every 2 steps, and at the validation of step 3
    assert float(logged[2][4]) == pytest.approx((lrs[0] + lrs[1]) / 2, abs=1e-4)
    assert float(logged[3][4]) == pytest.approx(lrs[2], abs=1e-4)  # the mean since the last row
    assert [logged[s][5] for s in (2, 3, 4, 6)] == ["", "v1", "", "v2"]  # short rows padded to the header
    assert logged[4][3] == "x" and float(logged[4][2]) == pytest.approx(lrs[3], rel=1e-3)
    assert [s for s, _ in saves] == [4]


def test_run_steps_resumes_and_stops_where_asked(tmp_path):
    schedule = Schedule(steps=10, minutes=None, lr=1.0, warmup=1)
    first, rows, saves = _loop(tmp_path, schedule, step=0, elapsed_s=0.0, log_every=1, ckpt_every=3, stop_at_step=5)
    assert (first.step, first.interrupted) == (5, True)
    (_, kept_bytes), = saves
    # a resume from the state saved at step 3 cuts the log back to its rows and logs steps 4.. once
    second, rows, _ = _loop(tmp_path, schedule, state={"log_bytes": kept_bytes}, step=3, elapsed_s=first.elapsed_s,
                            log_every=1)
    assert (second.step, second.interrupted) == (10, False)
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 11))
