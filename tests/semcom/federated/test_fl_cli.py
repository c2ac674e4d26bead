"""``semcom fl run``: per-round rows and a summary, JSON keys, publishing, one-line errors."""

from __future__ import annotations

import json

import pytest

from semcom.cli.main import main

CONFIG = """
rounds = 2
backend = "local"
seed = 0
[server]
name = "edge"
flops = 1e12
[devices]
count = 2
flops = 1e9
snr_db = [8.0, 14.0]
bandwidth_hz = 1e6
[scenario]
arq_rounds = 2
[strategy]
name = "fedavg"
[train]
local_steps = 2
batch = 4
lr = 0.01
[levers]
quantise = "int8"
topk = 0.5
lora = {{ rank = 2, alpha = 4.0, targets = ["input_proj", "query"] }}
[task]
name = "prompt_lm"
base = "{base}"
data = "{data}"
held_out_topics = ["snow", "mountains"]
test_captions = 5
negatives = 20
"""


@pytest.fixture
def config(tmp_path, tiny_split, minilm_base):
    """A config of the prompt-LM task on the first 3000 Flickr8k captions with a tiny MiniLM-based codec."""
    from semcom.semantic.corpus import default_data_dir

    base = tmp_path / "base"
    minilm_base.save(base, minilm_base.model(), {"name": "tiny"})
    captions = (default_data_dir() / "flickr8k-captions" / "Flickr8k.token.txt").read_text(encoding="utf-8")
    (tmp_path / "captions.txt").write_text("\n".join(captions.splitlines()[:3000]) + "\n", encoding="utf-8")
    path = tmp_path / "fl.toml"
    path.write_text(CONFIG.format(base=base, data=tmp_path / "captions.txt"), encoding="utf-8")
    return path


def test_fl_run_prints_rounds_and_summary_as_json(config, capsys):
    assert main(["fl", "run", str(config), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"rounds", "summary", "config", "task", "versions", "git_revision"}
    assert [r["round"] for r in out["rounds"]] == [1, 2]
    for row in out["rounds"]:
        assert {"participants", "dropped", "uplink_bits", "downlink_bits", "channel_uses", "round_time_s", "metric"} <= set(row)
        assert row["participants"] == 2 and row["accounted"]
    s = out["summary"]
    assert s["total_uplink_bits"] == sum(r["uplink_bits"] for r in out["rounds"])
    assert s["simulated_time_s"] == pytest.approx(sum(r["round_time_s"] for r in out["rounds"]))
    assert s["final_metric"] == out["rounds"][-1]["metric"]


def test_fl_run_table_and_published_version(config, tmp_path, capsys):
    from knowledge_base import read_header
    from knowledge_base.keys import generate_keys

    keys = generate_keys("ed25519", tmp_path / "publisher")
    out = tmp_path / "out"
    assert main(["fl", "run", str(config), "--rounds", "1", "--out", str(out), "--kb", str(tmp_path / "kb.sqlite"),
                 "--key-file", str(keys["private"])]) == 0
    text = capsys.readouterr().out
    assert "uplink bits" in text and "published KB version" in text
    result = json.loads((out / "result.json").read_text())
    update = (out / "update.bin").read_bytes()
    assert len(result["rounds"]) == 1 and len(update) == result["published"]["update_bytes"]
    header = read_header(update)
    assert (header.from_version, header.to_version) == (result["published"]["from_version"], result["published"]["version"])
    assert main(["kb", "init", str(tmp_path / "device.sqlite"), "--empty"]) == 0
    for name in ("base.bin", "update.bin"):  # a new receiver: the base version, then the adapted one
        assert main(["kb", "import", str(out / name), "--db", str(tmp_path / "device.sqlite"),
                     "--key-file", str(keys["public"])]) == 0
    from knowledge_base import KnowledgeBase

    with KnowledgeBase(tmp_path / "device.sqlite") as device:
        assert device.head == result["published"]["version"]


@pytest.mark.parametrize("edit, message", [
    (("rounds = 2", "rounds = \"two\""), "rounds"),
    (("[train]", "[train]\nwarmup = 3"), "unknown key"),
    (("name = \"fedavg\"", "name = \"fedsgd\""), "unknown strategy"),
    (("quantise = \"int8\"", "quantise = \"int4\""), "quantiser"),
])
def test_bad_config_is_one_error_line(config, edit, message, capsys):
    config.write_text(config.read_text().replace(*edit))
    assert main(["fl", "run", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("semcom: error:") and message in err[0]


def test_missing_config_and_kb_without_key(tmp_path, config, capsys):
    assert main(["fl", "run", str(tmp_path / "none.toml")]) == 2
    assert main(["fl", "run", str(config), "--kb", str(tmp_path / "kb.sqlite")]) == 2
    assert "--key-file" in capsys.readouterr().err


def test_the_module_level_flower_apps_run_a_config(config, tmp_path):
    """The apps a deployment's ``flwr run`` loads, driven through the in-process grid."""
    from flwr.app import Context, RecordDict

    from semcom.federated.flower_app import client_app, server_app
    from semcom.federated.grid import LocalGrid

    run_config = {"config": str(config), "simulate-links": True, "out": str(tmp_path)}
    grid = LocalGrid(client_app, 2, run_config=run_config)
    server_app(grid, Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=run_config))
    result = json.loads((tmp_path / "result.json").read_text())
    assert [r["participants"] for r in result["rounds"]] == [2, 2] and result["simulated_time_s"] > 0
    assert all(r["accounted"] and r["uplink_bits"] > 0 for r in result["rounds"])
