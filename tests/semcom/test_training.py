"""The shared training schedule (semcom.training.Schedule)."""

from __future__ import annotations

import pytest

from semcom.errors import ConfigError
from semcom.training import Schedule


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
