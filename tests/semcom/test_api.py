"""``import semcom``: the Python interface over the one engine (semcom.runner)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import semcom
from semcom.errors import ConfigError
from semcom.runner import run_item

REPO = Path(__file__).resolve().parents[2]


def test_import_semcom_is_light_and_lists_its_interface():
    probe = "import json, sys, semcom; print(json.dumps([sorted(semcom.API), 'torch' in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    names, torch_loaded = json.loads(out.stdout)
    assert set(names) >= {"load_images", "make_scheme", "transmit", "evaluate", "run_config"} and not torch_loaded
    with pytest.raises(AttributeError):
        semcom.no_such_thing


def test_load_make_transmit_match_the_runner():
    (name, image), = semcom.load_images(limit=1, crop=48)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    scheme = semcom.make_scheme("separation", codec="webp", cbr="1/4", arq=0)
    sent = semcom.transmit(scheme, image, snr_db=12.0, seed=3)
    record, result = run_item(scheme, {"label": "separation", "name": "separation"}, 3, 0, "image", image, 12.0)
    assert sent.record["psnr"] == record["psnr"] and sent.record["bits"] == record["bits"] > 0
    assert np.array_equal(sent.reconstruction, result.reconstruction)
    with pytest.raises(ConfigError, match="cbr must be a fraction"):
        semcom.make_scheme("separation", cbr="2")
    with pytest.raises(ConfigError, match="images.limit|limit must be"):
        semcom.load_images(limit=0)


def test_evaluate_and_run_config_resume(tmp_path):
    out = tmp_path / "eval"
    first = semcom.evaluate("bound", snr_db=[0.0, 10.0], limit=1, crop=32, out=out)
    assert len(first.records) == 2 and first.computed == 2
    again = semcom.evaluate("bound", snr_db=[0.0, 10.0], limit=1, crop=32, out=out)
    assert again.computed == 0 and [r["psnr"] for r in again.records] == [r["psnr"] for r in first.records]
    config = {"name": "api", "snr_db": [5.0], "images": {"folder": "embedded", "limit": 1, "crop": 32},
              "scheme": {"name": "bound"}}
    result = semcom.run_config(config)
    assert result.out is None and result.summary[0]["scheme"] == "bound"
    from_file = semcom.run_config(REPO / "experiments" / "tiny.toml", tmp_path / "tiny")
    assert (tmp_path / "tiny" / "results.jsonl").is_file() and from_file.computed == len(from_file.records)
