"""Tiny end-to-end runs of ``semcom lifecycle run`` and ``semcom instruct run``, and their bad inputs."""

from __future__ import annotations

import json

import pytest

from semcom.cli.main import main

NETWORK = """
[[nodes]]
name = "ue"
kind = "device"
flops = 1.0e9
memory = 2147483648
[[nodes]]
name = "edge"
kind = "edge"
flops = 1.0e12
memory = 17179869184
[[nodes]]
name = "cloud"
kind = "cloud"
flops = 1.0e14
memory = 1099511627776
[[links]]
src = "ue"
dst = "edge"
snr_db = 15.0
bandwidth_hz = 1.0e7
latency_s = 0.002
[[links]]
src = "edge"
dst = "cloud"
snr_db = 30.0
bandwidth_hz = 1.0e8
latency_s = 0.01
"""


def lifecycle_config(tmp_path, images, extra: str = "") -> str:
    path = tmp_path / "lifecycle.toml"
    path.write_text(f"""
model = "jscc-awgn-cbr1-16"
snr_db = 5.0
images = "{images}"
traffic_images = 6
crop = 32
validation = "{images}"
validation_images = 3
publisher = "edge"
device = "ue"
data_at = "cloud"
transfer = "plan"
format = ["safetensors", "int8-weights"]
device_model_bytes = 4000000
seed = 0
{extra}
[[phases]]
channel = "awgn"
items = 16
[[phases]]
channel = "rayleigh"
items = 16
snr_db = 0.0
channel_options = {{ equalizer = "mmse" }}
[detector]
name = "cusum"
window = 2
k = 0.5
h = 3.0
burn_in = 4
[retrain]
data = "{images}"
steps = 2
batch = 2
crop = 32
max_images = 4
[queues]
cloud = 100.0
{NETWORK}
""")
    return str(path)


def test_lifecycle_run_tiny(tmp_path, image_folder, capsys):
    images = image_folder(tmp_path / "images", n=4, size=(96, 80))
    assert main(["lifecycle", "run", lifecycle_config(tmp_path, images), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m = out["report"]["metrics"]
    assert m["items"] == 32 and m["change_item"] == 16
    assert m["detection_delay_items"] >= 0 and m["psnr_during_db"] < m["psnr_before_db"]
    retrain = [d for d in out["report"]["details"] if d["kind"] == "retrain"][0]
    assert retrain["site"] in ("ue", "edge", "cloud") and "finishes first" in retrain["why"]
    assert retrain["fine_tune"]["steps"] == 2 and retrain["flops"] > 0
    # the float16 model (5.8 MB) does not fit the device's 4 MB: only int8 weights were validated
    assert not retrain["formats"]["safetensors"]["fits"] and retrain["formats"]["int8-weights"]["fits"]
    assert retrain["format"] == "int8-weights" and retrain["formats"]["int8-weights"]["bytes"] < 4_000_000
    assert out["initial_deployment"]["format"] == "int8-weights"  # float16 would not fit the device
    assert 2_000_000 < out["initial_deployment"]["update_bytes"] < 4_000_000
    assert out["report"]["bits"] >= 0 and out["provenance"]["seed"] == 0
    items = [d for d in out["report"]["details"] if d["kind"] == "item"]
    assert {d["phase"] for d in items[:16]} == {"before"}
    assert main(["lifecycle", "run", lifecycle_config(tmp_path, images)]) == 0
    text = capsys.readouterr().out
    assert "PSNR before" in text and "retrained on" in text


def instruct_config(tmp_path, extra: str = "") -> str:
    path = tmp_path / "instruct.toml"
    path.write_text(f"""
policy = "small"
codec = "ngram"
similarity = "lexical"
sft_captions = 40
sft_steps = 5
sft_batch = 8
train_captions = 4
eval_captions = 3
samples = 2
seed = 0
edge = "edge"
{extra}
[raters]
ue1 = "honest"
ue2 = "honest"
ue3 = "inverted"
ue4 = "constant"
[dpo]
epochs = 1.0
batch = 4
lora_rank = 2
[[nodes]]
name = "edge"
kind = "edge"
flops = 1.0e12
memory = 17179869184
""" + "".join(f"""
[[nodes]]
name = "ue{i}"
kind = "device"
flops = 1.0e9
memory = 2147483648
[[links]]
src = "edge"
dst = "ue{i}"
snr_db = 20.0
bandwidth_hz = 1.0e6
""" for i in range(1, 5)))
    return str(path)


def test_instruct_run_tiny(tmp_path, capsys):
    assert main(["instruct", "run", instruct_config(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m = out["report"]["metrics"]
    for key in ("prompt_bits_before", "prompt_bits_after", "similarity_before", "similarity_after", "filtered_share"):
        assert key in m
    filt = next(d for d in out["report"]["details"] if d["kind"] == "filter")
    assert filt["raters_dropped"] == {"ue4": "low-quality", "ue3": "outlier-rater"}
    assert m["feedback_bytes"] == 7 * m["judgements"] and m["receivers_lost"] == 0
    assert out["report"]["bits"] > 0 and out["report"]["channel_uses"] > 0
    dpo = next(d for d in out["report"]["details"] if d["kind"] == "dpo")
    assert dpo["lora_rank"] == 2 and dpo["steps"] >= 1 and dpo["pairs"] == m["pairs"] > 0
    held = [d for d in out["report"]["details"] if d["kind"] == "held_out"]
    assert len(held) == 3 and all(d["before_bits"] > 0 for d in held)


@pytest.mark.parametrize("command,extra,needle", [
    ("lifecycle", "bogus = 1", "unknown key"),
    ("lifecycle", 'interval_s = "soon"', "interval_s"),
    ("instruct", "bogus = 1", "unknown key"),
])
def test_bad_configs_fail_with_one_line(tmp_path, image_folder, capsys, command, extra, needle):
    if command == "lifecycle":
        cfg = lifecycle_config(tmp_path, image_folder(tmp_path / "images", n=2), extra)
    else:
        cfg = instruct_config(tmp_path, extra)
    assert main([command, "run", cfg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("semcom: error:") and needle in err[0]
