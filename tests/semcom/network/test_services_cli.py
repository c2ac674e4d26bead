"""Services report bits and latency consistent with the clock; the simulate CLI; bad configs."""

from __future__ import annotations

import json
import pytest
import torch

from semcom.cli.main import main
from semcom.errors import ConfigError
from semcom.network import (
    SERVICES, DataSensingService, Network, Node, SemanticCommunicationService, SimClock, Service,
)
from semcom.network.control import Action
from semcom.network.scenario import parse_scenario
from semcom.semantic import TextCodec

CORPUS = [
    "A dog runs on the green grass .", "A man in a red shirt rides a bike down the street .",
    "Two children play with a ball in the park .", "A woman is sitting on a bench near the water .",
    "A black dog jumps over a log in the snow .", "A girl in a pink dress climbs the stairs .",
]


def _net():
    net = Network()
    net.add_node(Node("edge", "edge", 1e14, 2**34))
    for i, snr in enumerate((10.0, 5.0)):
        net.add_node(Node(f"ue{i}", "device", 2e13, 2**32))
        net.add_link("edge", f"ue{i}", snr_db=snr, bandwidth_hz=1e6, latency_s=0.002)
        net.add_link(f"ue{i}", "edge", snr_db=snr, bandwidth_hz=5e5, latency_s=0.002)
    return net


def test_registry():
    assert {"semantic_communication", "data_sensing"} <= set(SERVICES.names())
    assert issubclass(SERVICES.get("data_sensing"), Service)


def test_semantic_service_consistent_with_clock():
    net, codec = _net(), TextCodec.from_corpus(CORPUS)
    clock = SimClock(5)
    svc = SemanticCommunicationService()
    rep = svc.run(net, clock, sender="edge", prompts={"ue0": "a dog runs on the grass", "ue1": "a girl climbs the stairs"},
                  codecs={"ue0": codec, "ue1": codec}, actions={"ue0": Action(2, 1, 0, 1.0), "ue1": Action(0, 2, 0, 1.0)},
                  generator=torch.Generator().manual_seed(0))
    assert rep.latency_s == clock.now - 5
    assert rep.channel_uses == sum(d["channel_uses"] for d in rep.details) == sum(
        c.amount for c in clock.ledger if c.kind == "transmission")
    assert rep.metrics["exact_rate"] == 1.0 and rep.metrics["mean_fidelity"] == 1.0
    assert max(d["latency_s"] for d in rep.details) == pytest.approx(float(rep.latency_s))


def test_data_sensing_error_falls_and_costs_match_clock():
    net = _net()
    clock = SimClock()
    rep = DataSensingService().run(net, clock, edge="edge", rounds=3, readings_per_round=6, seed=0)
    assert rep.latency_s == clock.now
    assert rep.bits == 2 * 3 * 6 * 10
    assert rep.channel_uses == sum(c.amount for c in clock.ledger if c.kind == "transmission")
    assert rep.metrics["rmse_round_3"] < rep.metrics["rmse_round_1"]


SCENARIO = """
budget = 700
trials = 1
max_attempts = 2
fallback = "a photo"
[kb]
corpus = {corpus}
previous_lines = 3
current_lines = 6
[[users]]
name = "a"
snr_db = -2.0
prompt = "a dog runs on the grass"
confidences = [0.5, 0.6, 0.4]
[[users]]
name = "b"
snr_db = 4.0
prompt = "a girl climbs the stairs"
kb = "previous"
[[users]]
name = "c"
snr_db = 10.0
prompt = "a man rides a bike"
importance = 0.5
"""


def test_cli_json_three_users(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(corpus=json.dumps(CORPUS)))
    assert main(["network", "simulate", str(path), "--json", "--seed", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["users"]) == 3
    allocs = out["summary"]["allocations"]
    assert set(allocs) == {"equal", "confidence", "knowledge"}
    for v in allocs.values():
        assert {"mean_fidelity", "worst_fidelity", "channel_uses"} <= set(v)
        assert v["channel_uses"] <= 700 and 0 <= v["worst_fidelity"] <= v["mean_fidelity"] <= 1


@pytest.mark.parametrize(
    "patch, key",
    [
        ({"budget": None}, "budget"),
        ({"budget": "many"}, "budget"),
        ({"policies": ["equal", "fastest"]}, "policies"),
        ({"users": [{"name": "a", "prompt": "x"}]}, "users[0].snr_db"),
        ({"users": [{"name": "a", "snr_db": "high", "prompt": "x"}]}, "users[0].snr_db"),
        ({"users": [{"name": "a", "snr_db": 1e9, "prompt": "x"}]}, "users[0].snr_db"),
        ({"users": [{"name": "a", "snr_db": 1.0, "prompt": "x", "kb": "old"}]}, "users[0].kb"),
    ],
)
def test_bad_configs_name_the_key(patch, key):
    cfg = {"budget": 100, "kb": {"corpus": CORPUS}, "users": [{"name": "a", "snr_db": 1.0, "prompt": "a dog"}]}
    for k, v in patch.items():
        if v is None:
            cfg.pop(k)
        else:
            cfg[k] = v
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(cfg)


def test_cli_bad_config_exit_code(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('budget = 10\npolicies = ["nope"]\n[kb]\ncorpus = ["a dog"]\n[[users]]\nsnr_db = 1.0\nprompt = "a"\n')
    assert main(["network", "simulate", str(path)]) == 2
    assert "policies" in capsys.readouterr().err
