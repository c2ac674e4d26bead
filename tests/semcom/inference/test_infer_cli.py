import json
import pytest

from semcom.cli.main import main

CONFIG = """
route = ["ue", "edge"]
modes = ["device", "adaptive", "cascade"]
prompts = ["a dog", "two children"]
max_new_tokens = 2
threshold = 0.9
[[nodes]]
name = "ue"
kind = "device"
flops = 1.0e8
memory = 1073741824
[[nodes]]
name = "edge"
kind = "edge"
flops = 1.0e10
memory = 17179869184
[[links]]
src = "ue"
dst = "edge"
snr_db = 10.0
bandwidth_hz = 1.0e6
latency_s = 0.002
[plan]
seq_len = 8
snr_db = [-5.0, 10.0, 25.0]
"""


def test_infer_plan_and_run(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    assert main(["infer", "plan", str(cfg), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [r["snr_db"] for r in plan["rows"]] == [-5.0, 10.0, 25.0]
    for r in plan["rows"]:
        assert r["adaptive"] <= min(r["device"], r["edge"])
    assert main(["infer", "plan", str(cfg)]) == 0
    assert "adaptive ms" in capsys.readouterr().out
    assert main(["infer", "run", str(cfg), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["modes"]) == {"device", "adaptive", "cascade"}
    assert out["modes"]["device"]["channel_uses"] == 0
    assert all(d["ok"] for m in out["modes"].values() for d in m["details"])
    assert main(["infer", "run", str(cfg)]) == 0
    assert "cascade" in capsys.readouterr().out


def test_bad_config_is_one_error_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace('modes = ["device", "adaptive", "cascade"]', 'modes = ["teleport"]'))
    assert main(["infer", "run", str(cfg)]) == 2
    assert "unknown mode 'teleport'" in capsys.readouterr().err


@pytest.mark.parametrize("chain, first", [("vit-gpt2", "vit.embed"), ("jscc", "enc0")])
def test_plan_other_chains_with_analog_features(tmp_path, capsys, chain, first):
    cfg = tmp_path / "c.toml"
    text = CONFIG.replace("[plan]\nseq_len = 8", f'[plan]\nchain = "{chain}"\nimage = [64, 48]')
    cfg.write_text('features = "analog"\n' + text)
    assert main(["infer", "plan", str(cfg), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["features"] == "analog" and plan["model"]["chain"] == chain
    for r in plan["rows"]:
        assert r["adaptive"] <= min(r["device"], r["edge"]) * (1 + 1e-12)



def test_config_reads_memory_bandwidth_and_features():
    import tomllib

    from semcom.errors import ConfigError
    from semcom.inference.config import parse_config

    text = 'features = "analog"\nanalog_min_snr_db = 5\n' + CONFIG.replace(
        "flops = 1.0e8\n", "flops = 1.0e8\nmemory_bandwidth = 1.0e7\n")
    cfg = parse_config(tomllib.loads(text))
    assert cfg.memory_bandwidth == {"ue": 1e7} and cfg.features == "analog" and cfg.analog_min_snr_db == 5.0
    with pytest.raises(ConfigError, match="memory_bandwidth"):
        parse_config(tomllib.loads(text.replace("memory_bandwidth = 1.0e7", "memory_bandwidth = -1.0")))
    with pytest.raises(ConfigError, match="features"):
        parse_config(tomllib.loads(text.replace('features = "analog"', 'features = "smoke"')))


def test_bad_plan_image_is_one_error_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.replace("[plan]\nseq_len = 8", '[plan]\nchain = "jscc"\nimage = [64]'))
    assert main(["infer", "plan", str(cfg)]) == 2
    assert "[plan] image" in capsys.readouterr().err
