import math

import pytest

from semcom.errors import ConfigError
from semcom.inference.lm import load_caption_lm
from semcom.inference.quality import feature_noise_sweep

REQUESTS = [("a dog", "runs through the grass"), ("two children play in the", "water"), ("a man in a", "red shirt")]


def test_channel_noise_costs_analog_features_quality_and_digital_ones_delivery():
    lm = load_caption_lm("large")
    rows = feature_noise_sweep(lm, REQUESTS[:2], [-8.0, 0.0, 30.0], max_new=2, rounds=2)
    by = {(r["snr_db"], r["features"]): r for r in rows}
    assert len(rows) == 6
    for f in ("digital", "analog"):  # a clean link: the model's own outputs
        r = by[(30.0, f)]
        assert r["delivered"] == 1.0 and r["next_token_agreement"] == 1.0 and r["greedy_agreement"] == 1.0
        assert r["ce_link"] == pytest.approx(r["ce_clean"], abs=0.05)
    assert by[(30.0, "analog")]["channel_uses"] < by[(30.0, "digital")]["channel_uses"]
    # far below every MCS nothing gets through (an analog feature's header is a digital packet)
    assert by[(-8.0, "digital")]["delivered"] == by[(-8.0, "analog")]["delivered"] == 0.0
    assert math.isnan(by[(-8.0, "digital")]["ce_link"])
    # at 0 dB a packet that arrives is exact (8-bit quantisation aside); the analog values arrive noisy
    digital, analog = by[(0.0, "digital")], by[(0.0, "analog")]
    assert digital["next_token_agreement"] == 1.0 and digital["ce_link"] == pytest.approx(digital["ce_clean"], abs=0.05)
    assert analog["ce_link"] > by[(30.0, "analog")]["ce_link"] + 0.3


def test_bad_cut_is_refused():
    with pytest.raises(ConfigError, match="cut"):
        feature_noise_sweep(load_caption_lm("small"), REQUESTS, [10.0], cut=0)
