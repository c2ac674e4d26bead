"""Drift detectors on synthetic streams with known change points: delay and false alarms bounded."""

from __future__ import annotations

import numpy as np
import pytest

from semcom.errors import ConfigError, InputError
from semcom.optimisation.drift import (Cusum, PageHinkley, cusum_run_length, detector_report, make_detector,
                                       run_detector)


def stream(n_before: int, n_after: int, shift: float, seed: int, sigma: float = 1.0, mean: float = 25.0):
    rng = np.random.default_rng(seed)
    return np.concatenate([mean + sigma * rng.standard_normal(n_before),
                           mean + shift + sigma * rng.standard_normal(n_after)]).tolist()


@pytest.mark.parametrize("make", [lambda: Cusum(k=0.5, h=5.0, burn_in=30),
                                  lambda: PageHinkley(delta=0.25, threshold=12.0, min_samples=30)],
                         ids=["cusum", "page_hinkley"])
def test_fall_of_two_sigma_found_quickly_and_rarely_falsely(make):
    delays, false = [], 0
    for seed in range(40):
        r = detector_report(make(), stream(200, 100, -2.0, seed), change=200)
        assert r.delay is not None, f"seed {seed}: change missed"
        delays.append(r.delay)
        false += r.false_alarms
    assert np.median(delays) <= 12 and max(delays) <= 40
    assert false / (40 * 200) <= 0.01  # at most 1 false alarm per 100 stationary samples


def test_cusum_false_alarm_rate_matches_siegmund():
    # mean run length between false alarms on stationary traffic ~ 938 samples for k=0.5, h=5
    arl = cusum_run_length(0.5, 5.0)
    assert 900 < arl < 980
    alarms = run_detector(Cusum(k=0.5, h=5.0, burn_in=500), stream(200_000, 0, 0.0, 1))
    gaps = np.diff([500] + alarms)
    assert 0.6 * arl < np.mean(gaps) < 1.5 * arl  # burn-in estimates of mean and deviation add some spread


def test_rise_direction_and_no_alarm_on_a_fall():
    up = stream(100, 100, +3.0, 0)
    r = detector_report(Cusum(direction="up", burn_in=30), up, change=100)
    assert r.delay is not None and r.delay <= 10
    down = stream(100, 100, -3.0, 0)
    assert detector_report(Cusum(direction="up", burn_in=30), down, change=100).delay is None


def test_windowed_detector_fires_on_the_last_sample_of_a_window():
    det = make_detector("cusum", window=5, k=0.5, h=4.0, burn_in=10)
    alarms = run_detector(det, stream(200, 100, -2.0, 3, sigma=2.0))
    first = [a for a in alarms if a >= 200][0]
    assert (first + 1) % 5 == 0 and first - 200 <= 40


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(ConfigError):
        make_detector("adwin")
    with pytest.raises(ConfigError):
        make_detector("cusum", bogus=1)
    with pytest.raises(ConfigError):
        Cusum(direction="sideways")
    with pytest.raises(InputError):
        PageHinkley().update(float("nan"))
    with pytest.raises(InputError):
        detector_report(Cusum(), [1.0, 2.0], change=5)
