"""The federated training service end to end on tiny data: rounds, links, dropouts, deadline, checksum."""

from __future__ import annotations

import time

import numpy as np
import torch
import pytest

from semcom.federated.apps import ClientSpec
from semcom.federated.grid import LinkPlan, LocalGrid
from semcom.federated.model import LoraSettings
from semcom.federated.payload import Schema, UpdateCodec, encode_update, Update
from semcom.federated.service import FederatedTrainingService
from semcom.federated.task import TrainSettings
from semcom.network.clock import SimClock
from semcom.network.services import SERVICES


def _star(clients, **kw):
    from semcom.network.nodes import Network, Node

    slow = kw.get("slow") or {}
    net = Network()
    net.add_node(Node("edge", "edge", 1e12, 2**34))
    for i in range(clients):
        name = f"ue{i}"
        net.add_node(Node(name, "device", 1e9 / slow.get(name, 1.0), 2**31))
        for a, b in (("edge", name), (name, "edge")):
            net.add_link(a, b, snr_db=10.0, bandwidth_hz=1e6, latency_s=0.002)
    return net


def plan(clients, **kw):
    return LinkPlan("edge", tuple(f"ue{i}" for i in range(clients)), **kw)


def run(task, clients=2, rounds=2, network=None, codec=UpdateCodec(), lora=None, clock=None, **kw):
    strategy_options = kw.pop("strategy_options", {})
    strategy = kw.pop("strategy", "fedavg")
    spec = ClientSpec(task, TrainSettings(steps=2, batch=4, lr=1e-2), lora=lora, codec=codec)
    clock = clock or SimClock()
    report = FederatedTrainingService("local").run(
        network or _star(clients), clock, client=spec, plan=plan(clients, **kw), rounds=rounds,
        strategy=strategy, strategy_options={"min_available_nodes": clients, **strategy_options})
    return report, clock


def test_registered():
    assert SERVICES.get("federated_training") is FederatedTrainingService


def test_two_clients_two_rounds_on_tiny_data_in_seconds(tiny_task):
    task = tiny_task(2)
    start = time.perf_counter()
    report, clock = run(task)
    assert time.perf_counter() - start < 30
    assert [r["participants"] for r in report.details] == [2, 2] and all(r["accounted"] for r in report.details)
    # every update is the coded delta of the trainable arrays: header, 4 bytes a value, CRC
    schema = Schema.of(report.recorder.initial)
    size = len(encode_update(Update(0, 0, 0, 0.0, 0.0, {k: np.zeros(s, np.float32) for k, s in zip(schema.names, schema.shapes)}),
                             schema, UpdateCodec())[0])
    assert all(r["uplink_bits"] == 2 * 8 * size for r in report.details)
    assert report.metrics["initial_metric"] is not None and report.metrics["final_metric"] is not None
    assert not all(np.array_equal(report.arrays[k], report.recorder.initial[k]) for k in report.arrays)
    # the service contract: what the clock advanced, what the links carried
    assert report.latency_s == clock.now
    assert report.bits == report.metrics["uplink_bits"] + report.metrics["downlink_bits"]
    assert report.channel_uses == sum(c.amount for c in clock.ledger if c.kind == "transmission")
    assert sum(r["round_time_s"] for r in report.details) == pytest.approx(float(clock.now))


def test_runs_are_reproducible(tiny_task):
    a, _ = run(tiny_task(2), rounds=1)
    b, _ = run(tiny_task(2), rounds=1)
    assert a.details == b.details
    assert all(np.array_equal(a.arrays[k], b.arrays[k]) for k in a.arrays)


def test_corrupted_payloads_are_rejected_not_aggregated(tiny_task):
    report, _ = run(tiny_task(2), corruption=1.0)
    assert all(r["participants"] == 0 and r["rejected"] == 2 and r["accounted"] for r in report.details)
    assert all(set(r["outcomes"].values()) == {"checksum"} for r in report.details)
    assert all(np.array_equal(report.arrays[k], report.recorder.initial[k]) for k in report.arrays)


def test_dropouts_are_counted_once_and_never_aggregated(tiny_task):
    report, _ = run(tiny_task(6), clients=6, rounds=2, dropout=0.4)
    dropped = sum(r["dropped"] for r in report.details)
    assert 0 < dropped < 12
    for r in report.details:
        assert r["accounted"] and r["participants"] + r["dropped"] == r["selected"] == 6
        assert r["uplink_bits"] % (8 * r["participants"] or 1) == 0


def test_a_lost_link_drops_the_client_for_the_round(tiny_task):
    network = _star(2)
    network.link("edge", "ue1").snr_db = -20.0
    report, _ = run(tiny_task(2), network=network, arq_rounds=0)
    for r in report.details:
        assert r["outcomes"] == {"0": "aggregated", "1": "lost_downlink"} and r["lost"] == 1 and r["accounted"]


def test_straggler_sets_the_round_time_and_a_deadline_cuts_it(tiny_task):
    network = _star(3, slow={"ue2": 1000.0})
    free, _ = run(tiny_task(3), clients=3, network=network)
    times = free.details[0]
    waited = max(free.recorder.rounds[0].client_time_s.values())
    assert times["participants"] == 3 and times["round_time_s"] == pytest.approx(waited)
    fast = sorted(free.recorder.rounds[0].client_time_s.values())[1]
    deadline = (fast + waited) / 2
    cut, _ = run(tiny_task(3), clients=3, network=_star(3, slow={"ue2": 1000.0}), deadline_s=deadline)
    for r in cut.details:
        assert r["outcomes"]["2"] == "late" and r["participants"] == 2 and r["late"] == 1 and r["accounted"]
        assert r["round_time_s"] == pytest.approx(deadline)
        assert r["round_time_s"] < times["round_time_s"]


def test_a_repeated_answer_is_counted_once(tiny_task, monkeypatch):
    original = LocalGrid.pull_messages

    def twice(self, ids):
        replies = list(original(self, ids))
        return replies + replies  # a transport that delivers every answer twice

    monkeypatch.setattr(LocalGrid, "send_and_receive", lambda self, m, timeout=None: twice(self, self.push_messages(m)))
    monkeypatch.setattr(LocalGrid, "pull_messages", twice)
    report, _ = run(tiny_task(2))
    for r in report.details:
        assert r["participants"] == 2 and r["duplicates"] == 2 and r["accounted"]


def test_lora_sends_only_adapters(tiny_task):
    full, _ = run(tiny_task(2), rounds=1)
    lora, _ = run(tiny_task(2), rounds=1, lora=LoraSettings(2, 4.0, ("input_proj", "query")))
    assert set(lora.arrays) and all("lora_" in k for k in lora.arrays)
    assert lora.metrics["trainable_parameters"] < full.metrics["trainable_parameters"] / 4
    assert lora.metrics["uplink_bits"] < full.metrics["uplink_bits"] / 4
    int8, _ = run(tiny_task(2), rounds=1, lora=LoraSettings(2, 4.0, ("input_proj", "query")), codec=UpdateCodec("int8", 0.25))
    assert int8.metrics["uplink_bits"] < lora.metrics["uplink_bits"] / 3


def test_fedprox_and_fedadam_run(tiny_task):
    prox, _ = run(tiny_task(2), rounds=1, strategy="fedprox", strategy_options={"proximal_mu": 0.5})
    adam, _ = run(tiny_task(2), rounds=1, strategy="fedadam", strategy_options={"eta": 0.01})
    assert all(r["participants"] == 2 for r in prox.details + adam.details)


def test_partial_participation_samples_the_fraction(tiny_task):
    report, _ = run(tiny_task(4), clients=4, rounds=3, strategy_options={"fraction_train": 0.5, "min_train_nodes": 1})
    assert all(r["selected"] == 2 and r["accounted"] for r in report.details)
    assert len({tuple(r["outcomes"]) for r in report.details}) > 1  # different clients in different rounds


@pytest.mark.slow
def test_ray_backend_gives_the_local_result(tiny_task):
    spec = ClientSpec(tiny_task(2), TrainSettings(steps=2, batch=4, lr=1e-2))
    reports = [FederatedTrainingService(backend).run(_star(2), SimClock(), client=spec, plan=plan(2), rounds=2,
                                                    strategy_options={"min_available_nodes": 2})
               for backend in ("local", "ray")]
    assert reports[0].details == reports[1].details


def test_scrambling_lets_a_payload_of_zeros_cross_as_random_bits_do():
    from semcom.federated.grid import NetworkGrid

    network = _star(1)
    network.link("edge", "ue0").snr_db = 5.5  # where an unscrambled run of zeros loses most code blocks
    # (the digital link scrambles its codewords; tests/semcom/link checks the link itself)
    grid = NetworkGrid(LocalGrid(lambda m, c: m, 1), network, SimClock(), plan(1, arq_rounds=0))
    for payload in (bytes(10_000), np.random.default_rng(0).bytes(10_000)):
        fork = SimClock()
        sent = grid._transfer(network.link("edge", "ue0"), payload, fork, torch.Generator().manual_seed(0))
        assert sent.data == payload and sent.rounds == 0 and fork.now > 0
