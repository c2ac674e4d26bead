import pytest

from semcom.inference.decode import greedy
from semcom.inference.lm import load_caption_lm
from semcom.inference.service import MODES, CollaborativeInferenceService, held_out_requests
from semcom.network.clock import SimClock
from semcom.network.nodes import Network, tiered_network
from semcom.network.services import SERVICES

REQUESTS = [("a dog", "runs through the grass"), ("two children play in the", "water"), "a man in a red shirt"]


def net(snr_db: float = 15.0, device_memory: int = 2**30) -> Network:
    return tiered_network((1e8, 1e10, 1e11), (device_memory, 2**34, 2**40), snr_db=snr_db, bandwidth_hz=1e6)


def test_registered():
    assert SERVICES.get("collaborative_inference") is CollaborativeInferenceService


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_end_to_end_reports_what_the_clock_advanced(mode):
    service = CollaborativeInferenceService()
    network, clock = net(), SimClock()
    clock.advance(1)
    report = service.run(network, clock, route=["ue", "edge", "cloud"], requests=REQUESTS, mode=mode,
                         max_new_tokens=6, threshold=0.3)
    assert report.latency_s == clock.now - 1
    assert report.channel_uses == sum(c.amount for c in clock.ledger if c.kind == "transmission")
    assert report.metrics["ok_rate"] == 1.0 and len(report.details) == 3
    assert sum(d["latency_s"] for d in report.details) == pytest.approx(float(report.latency_s))
    if mode == "device":
        assert report.channel_uses == 0 and report.bits == 0
    else:
        assert report.channel_uses > 0 and report.bits > 0
    if mode in ("device", "edge", "cloud", "adaptive", "speculative"):  # the big model's own greedy output
        big = load_caption_lm("large")
        for d, req in zip(report.details, REQUESTS):
            prefix = req if isinstance(req, str) else req[0]
            if mode == "adaptive":  # 8-bit features may flip a near tie; nearly always equal
                assert d["agreement"] >= 0.5
            else:
                assert d["output"] == big.tokenizer.decode(greedy(big, big.tokenizer.encode(prefix), 6)[0])
    if mode == "speculative":
        assert 0 < report.metrics["acceptance_rate"] <= 1


def test_adaptive_never_slower_than_fixed_choices():
    service = CollaborativeInferenceService()
    lat = {}
    for mode in ("device", "edge", "cloud", "adaptive"):
        lat[mode] = float(service.run(net(10.0), SimClock(), route=["ue", "edge", "cloud"], requests=REQUESTS[:1],
                                      mode=mode, max_new_tokens=3).latency_s)
    assert lat["adaptive"] <= min(lat["device"], lat["edge"], lat["cloud"]) * (1 + 1e-9)


def test_low_snr_request_falls_back_or_fails_visibly():
    service = CollaborativeInferenceService()
    report = service.run(net(-12.0), SimClock(), route=["ue", "edge"], requests=REQUESTS[:1], mode="edge",
                         max_new_tokens=3, rounds=1, fallback="fail", mcs=0)
    d = report.details[0]
    assert not d["ok"] and d["output"] == "" and "CRC" in d["reason"] and report.metrics["ok_rate"] == 0.0
    assert report.channel_uses > 0 and d["retransmissions"] == 1
    back = service.run(net(-12.0), SimClock(), route=["ue", "edge"], requests=REQUESTS[:1], mode="edge",
                       max_new_tokens=3, rounds=1, fallback="device", mcs=0)
    assert back.details[0]["ok"] and back.details[0]["where"].startswith("ue[")


def test_held_out_requests_are_deterministic():
    a = held_out_requests(5)
    assert a == held_out_requests(5) and len(a) == 5 and all(p and r for p, r in a)


def test_speculative_with_the_big_model_on_the_device():
    service = CollaborativeInferenceService()
    clock = SimClock()
    report = service.run(net(), clock, route=["ue", "edge"], requests=REQUESTS[:2], mode="speculative",
                         max_new_tokens=6, speculative_target="device")
    big = load_caption_lm("large")
    for d, (prefix, _) in zip(report.details, REQUESTS[:2]):
        assert d["where"] == "draft edge, target ue"
        assert d["output"] == big.tokenizer.decode(greedy(big, big.tokenizer.encode(prefix), 6)[0])
    assert clock.ledger[0].target == "ue->edge"


def test_adaptive_replans_when_the_snr_changes():
    service = CollaborativeInferenceService()
    network = net(20.0)
    good = service.run(network, SimClock(), route=["ue", "edge"], requests=REQUESTS[:1], mode="adaptive", max_new_tokens=2)
    network.link("ue", "edge").snr_db = network.link("edge", "ue").snr_db = -10.0
    bad = service.run(network, SimClock(), route=["ue", "edge"], requests=REQUESTS[:1], mode="adaptive", max_new_tokens=2)
    assert good.details[0]["where"].startswith("edge[") and bad.details[0]["where"].startswith("ue[")
    assert bad.channel_uses == 0 and good.details[0]["output"] == bad.details[0]["output"]


def test_memory_split_with_analog_features_crosses_the_link_as_symbols():
    from semcom.network.nodes import Node

    network = Network()
    network.add_node(Node("ue", "device", 1e8, 2_500_000))
    network.add_node(Node("edge", "edge", 1e10, 3_000_000))
    for a, b in (("ue", "edge"), ("edge", "ue")):
        network.add_link(a, b, snr_db=25.0, bandwidth_hz=1e6, latency_s=0.002)
    service = CollaborativeInferenceService()
    clock = SimClock()
    report = service.run(network, clock, route=["ue", "edge"], requests=REQUESTS[:2], mode="adaptive",
                         max_new_tokens=4, features="analog")
    for d in report.details:
        assert d["ok"] and d["where"].startswith("ue[0:") and "edge[" in d["where"] and d["agreement"] >= 0.75
    assert report.bits > 0 and report.channel_uses == sum(c.amount for c in clock.ledger if c.kind == "transmission")
    with pytest.raises(Exception, match="features"):
        service.run(network, SimClock(), route=["ue", "edge"], requests=REQUESTS[:1], features="smoke")


def test_on_a_memory_bound_device_speculative_beats_the_big_model_alone():
    service = CollaborativeInferenceService()
    bandwidth = {"ue": 1e7, "edge": 5e8}  # 20 FLOP per byte of weights on both
    lat = {}
    for mode in ("device", "speculative"):
        report = service.run(net(), SimClock(), route=["ue", "edge"], requests=REQUESTS[:1], mode=mode, max_new_tokens=8,
                             speculative_target="device", memory_bandwidth=bandwidth)
        assert report.details[0]["agreement"] == 1.0
        lat[mode] = float(report.latency_s)
    assert lat["speculative"] < lat["device"]
