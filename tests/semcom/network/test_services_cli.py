"""Services report bits and latency consistent with the clock; the simulate CLI; bad configs."""

from __future__ import annotations

import json
import tomllib
import numpy as np
import pytest
import torch

from semcom.cli.main import main
from semcom.errors import ConfigError
from semcom.network import (
    SERVICES, DataSensingService, Network, Node, SemanticCommunicationService, SimClock, Service,
)
from semcom.network.control import Action
from semcom.network.scenario import parse_scenario
from semcom.generative import CAPTIONERS, KEYWORD_EXTRACTORS, FallbackGenerator
from semcom.images import save_image
from semcom.schemes.gai import GenerativeReceiver, GenerativeTransmitter, PromptBuilder
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


PROMPTS = {"a.png": "a dog runs on the grass", "b.png": "a girl climbs the stairs", "c.png": "a man rides a bike"}


@pytest.fixture
def captioned(tmp_path):
    """A folder of three images and the reference captions (the prompts) of each."""
    rng = np.random.default_rng(0)
    for name in PROMPTS:
        save_image(tmp_path / name, rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    (tmp_path / "captions.json").write_text(json.dumps({"images": {k: {"caption": v} for k, v in PROMPTS.items()}}))
    return tmp_path


def test_semantic_service_runs_the_scheme_halves_and_matches_the_clock(captioned):
    from semcom.images import load_image

    net, codec = _net(), TextCodec.from_corpus(CORPUS)
    captioner = CAPTIONERS.create("reference", captions=captioned / "captions.json")
    tx = GenerativeTransmitter(captioner, KEYWORD_EXTRACTORS.create("none"), PromptBuilder("caption", None), codec)
    rx = GenerativeReceiver(codec, FallbackGenerator("test"))
    clock = SimClock(5)
    svc = SemanticCommunicationService()
    images = {"ue0": load_image(captioned / "a.png"), "ue1": load_image(captioned / "b.png")}
    rep = svc.run(net, clock, sender="edge", images=images, transmitters={"ue0": tx, "ue1": tx},
                  receivers={"ue0": rx, "ue1": rx}, actions={"ue0": Action(2, 1, 0, 1.0), "ue1": Action(0, 2, 0, 1.0)},
                  generator=torch.Generator().manual_seed(0))
    assert rep.latency_s == clock.now - 5
    assert rep.channel_uses == sum(d["channel_uses"] for d in rep.details) == sum(
        c.amount for c in clock.ledger if c.kind == "transmission")
    assert rep.metrics["exact_rate"] == 1.0 and rep.metrics["mean_fidelity"] == 1.0
    assert [d["prompt"] for d in rep.details] == ["a dog runs on the grass", "a girl climbs the stairs"]
    assert all(d["reconstruction_shape"] == [24, 32, 3] for d in rep.details)
    assert max(d["latency_s"] for d in rep.details) == pytest.approx(float(rep.latency_s))


def test_a_receiver_without_the_kb_version_generates_from_its_fallback(captioned):
    from semcom.images import load_image

    net, old, new = _net(), TextCodec.from_corpus(CORPUS[:3]), TextCodec.from_corpus(CORPUS)
    captioner = CAPTIONERS.create("reference", captions=captioned / "captions.json")
    tx = GenerativeTransmitter(captioner, KEYWORD_EXTRACTORS.create("none"), PromptBuilder("caption", None), new)
    rx = GenerativeReceiver(old, FallbackGenerator("test"), fallback_prompt="a photo")
    rep = SemanticCommunicationService().run(net, SimClock(), sender="edge",
                                             images={"ue0": load_image(captioned / "c.png")},
                                             transmitters={"ue0": tx}, receivers={"ue0": rx},
                                             actions={"ue0": Action(0, 2, 0, 1.0)}, seed=0)
    (d,) = rep.details
    assert not d["delivered"] and d["reason"] == "kb-version-mismatch" and d["received"] == "a photo"
    assert d["attempts"] == 2  # the refused copy was sent again, and paid for


def test_data_sensing_error_falls_and_costs_match_clock():
    net = _net()
    clock = SimClock()
    rep = DataSensingService().run(net, clock, edge="edge", rounds=3, readings_per_round=6, seed=0)
    assert rep.latency_s == clock.now
    assert rep.bits == 2 * 3 * 6 * 10
    assert rep.channel_uses == sum(c.amount for c in clock.ledger if c.kind == "transmission")
    # a few readings per round make one run's error erratic; over seeds it falls as readings accumulate
    runs = [DataSensingService().run(_net(), SimClock(), edge="edge", rounds=3, readings_per_round=6, seed=s).metrics
            for s in range(4)]
    assert sum(m["rmse_round_3"] for m in runs) < 0.5 * sum(m["rmse_round_1"] for m in runs)


SCENARIO = """
budget = 700
captions = "{folder}/captions.json"
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
image = "{folder}/a.png"
confidences = [0.5, 0.6, 0.4]
[[users]]
name = "b"
snr_db = 4.0
image = "{folder}/b.png"
kb = "previous"
[[users]]
name = "c"
snr_db = 10.0
image = "{folder}/c.png"
importance = 0.5
"""


def test_cli_json_three_users(tmp_path, captioned, capsys):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(corpus=json.dumps(CORPUS), folder=captioned))
    assert main(["network", "simulate", str(path), "--json", "--seed", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["users"]) == 3
    assert [u["prompt"] for u in out["users"]] == list(PROMPTS.values())  # the captions of the images sent
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
        ({"users": [{"name": "a", "image": "x.png"}]}, "users[0].snr_db"),
        ({"users": [{"name": "a", "snr_db": "high", "image": "x.png"}]}, "users[0].snr_db"),
        ({"users": [{"name": "a", "snr_db": 1e9, "image": "x.png"}]}, "users[0].snr_db"),
        ({"users": [{"name": "a", "snr_db": 1.0, "image": "x.png", "kb": "old"}]}, "users[0].kb"),
        ({"users": [{"name": "a", "snr_db": 1.0, "prompt": "a dog"}]}, "users[0].prompt"),
        ({"captioner": "nope"}, "unknown captioner"),
    ],
)
def test_bad_configs_name_the_key(patch, key):
    cfg = {"budget": 100, "kb": {"corpus": CORPUS}, "users": [{"name": "a", "snr_db": 1.0, "image": "a.png"}]}
    for k, v in patch.items():
        if v is None:
            cfg.pop(k)
        else:
            cfg[k] = v
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(cfg)


def test_cli_bad_config_exit_code(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('budget = 10\npolicies = ["nope"]\n[kb]\ncorpus = ["a dog"]\n[[users]]\nsnr_db = 1.0\nimage = "a.png"\n')
    assert main(["network", "simulate", str(path)]) == 2
    assert "policies" in capsys.readouterr().err


def test_scenario_confidences_come_from_the_captioner(tmp_path, captioned):
    from semcom.images import load_image
    from semcom.network.scenario import simulate

    users = [{"name": n, "snr_db": 8.0, "image": str(captioned / f), "confidence": 0.123}
             for n, f in (("a", "a.png"), ("b", "b.png"))]
    scn = parse_scenario({"budget": 4000, "trials": 1, "policies": ["confidence"], "plugins": ["semcom.testing"],
                          "captioner": "tiny-vit-gpt2", "kb": {"corpus": CORPUS, "previous_lines": 3},
                          "users": users})
    report = simulate(scn, seed=0)
    tiny = CAPTIONERS.create("tiny-vit-gpt2", seed=0)
    for user, file in zip(report["users"], ("a.png", "b.png")):
        caption = tiny.caption(load_image(captioned / file))
        assert user["confidence"] == pytest.approx(float(np.mean(caption.token_confidences)))
        assert user["confidence"] != 0.123  # the stated value is only for captioners that give none
    assert report["setting"]["captioner"] == "tiny-vit-gpt2(seed=0) (test double)"


def test_every_node_decodes_with_its_own_knowledge_base(captioned):
    from semcom.network.scenario import held_codecs, knowledge_stores

    scn = parse_scenario(tomllib.loads(SCENARIO.format(corpus=json.dumps(CORPUS), folder=captioned)))
    stores, versions = knowledge_stores(scn)
    assert [len(stores[n].versions()) for n in ("edge", "a", "b", "c")] == [2, 2, 1, 2]  # b holds "previous"
    assert stores["b"].head == versions["previous"] and stores["a"].head == versions["current"]
    tags = [codec.kb_version for codec in held_codecs(stores["a"])]
    assert tags == [stores["edge"].short_id(versions[v], 8) for v in ("current", "previous")]
