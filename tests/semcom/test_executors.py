"""Every executor gives the same records; the driver stays the single writer, so runs resume under any of them."""

import json

import pytest

from semcom.errors import ConfigError, WeightsNotFoundError
from semcom.executors import make_executor
from semcom.runner import run_experiment, validate_config

CONFIG = {
    "name": "executors", "seed": 5, "snr_db": [0.0, 8.0],
    "images": {"folder": "embedded", "limit": 3, "crop": 48},
    "schemes": [{"name": "separation", "label": "traditional", "codec": "jpeg"}, {"name": "jscc"}, {"name": "bound"}],
}
MEASURED = ("psnr", "ssim", "ms_ssim", "bits", "coded_bits", "channel_uses", "failed", "model")


def _measured(result) -> dict:
    return {r["key"]: tuple(r[k] for k in MEASURED) for r in result.records}


@pytest.fixture(scope="module")
def config():
    return validate_config(dict(CONFIG))


@pytest.fixture(scope="module")
def local(config):
    return run_experiment(config, None, progress=False)


def test_process_executor_gives_the_local_records(config, local):
    pooled = run_experiment(config, None, progress=False, executor="process", workers=2)
    assert pooled.executor == "process" and len(pooled.records) == 18
    assert _measured(pooled) == _measured(local)  # same seeds, same figures to the last digit
    untimed = [{k: v for k, v in row.items() if k not in ("item_seconds", "build_seconds")} for row in pooled.summary]
    assert untimed == [{k: v for k, v in row.items() if k not in ("item_seconds", "build_seconds")}
                       for row in local.summary]


def test_a_process_run_resumes_what_a_local_run_left(config, local, tmp_path):
    out = tmp_path / "out"
    run_experiment(config, out, progress=False)
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:3]) + "\n")  # as if killed after 3 items
    resumed = run_experiment(config, out, progress=False, executor="process", workers=2)
    assert (resumed.computed, resumed.skipped) == (15, 3)
    keys = [json.loads(line)["key"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 18  # no item twice, none missing
    assert _measured(resumed) == _measured(local)


def test_ray_executor_gives_the_local_records(config, local):
    on_ray = run_experiment(config, None, progress=False, executor="ray", workers=2)
    assert on_ray.executor == "ray" and _measured(on_ray) == _measured(local)


def test_a_scheme_that_cannot_be_built_fails_before_anything_is_written(tmp_path):
    bad = validate_config({**CONFIG, "schemes": [{"name": "jscc", "model": "no-such-model"}]})
    with pytest.raises(WeightsNotFoundError, match="no-such-model"):  # raised in a worker, re-raised here
        run_experiment(bad, tmp_path / "out", progress=False, executor="process", workers=2)
    assert not (tmp_path / "out" / "config.json").exists() and not (tmp_path / "out" / "results.jsonl").exists()


@pytest.mark.parametrize("options, match", [
    ({"name": "threads"}, "unknown executor"),
    ({"name": "local", "workers": 4}, "need --executor process or ray"),
    ({"name": "process", "address": "auto"}, "needs --executor ray"),
    ({"name": "process", "workers": 0}, "positive"),
])
def test_bad_executor_settings_are_named(options, match):
    with pytest.raises(ConfigError, match=match):
        make_executor(**options)
