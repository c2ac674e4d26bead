"""Flower's own strategies, picked by name: FedAvg's aggregate is the n_k / n weighted mean."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import ConfigRecord, Message, MessageType, MetricRecord, RecordDict

from semcom.errors import ConfigError
from semcom.federated.apps import STRATEGIES, make_strategy
from semcom.federated.grid import LocalGrid, from_record, to_record


@pytest.fixture
def replies():
    LocalGrid(lambda m, c: m, 1)  # stamps this process's identity, as the SuperLink does
    rng = np.random.default_rng(0)
    out, weights = [], [10, 30, 60]
    for k, n in enumerate(weights):
        arrays = {"w": rng.standard_normal((3, 4)).astype(np.float32), "b": np.full(4, float(k), np.float32)}
        content = RecordDict({"arrays": to_record(arrays), "metrics": MetricRecord({"num-examples": n, "train-loss": float(k)})})
        out.append((Message(content, 1000 + k, MessageType.TRAIN), arrays, n))
    return out


def test_fedavg_aggregate_is_the_weighted_mean(replies):
    arrays, metrics = make_strategy("fedavg").aggregate_train(1, [m for m, _, _ in replies])
    total = sum(n for _, _, n in replies)
    got = from_record(arrays)
    for key in ("w", "b"):
        expected = sum(n / total * a[key] for _, a, n in replies)
        assert np.allclose(got[key], expected, atol=1e-6)
    assert metrics["train-loss"] == pytest.approx(sum(n * k for k, (_, _, n) in enumerate(replies)) / total)


def test_fedavg_with_equal_weights_is_the_plain_mean(replies):
    for message, _, _ in replies:
        message.content["metrics"]["num-examples"] = 5
    got = from_record(make_strategy("fedavg").aggregate_train(1, [m for m, _, _ in replies])[0])
    assert np.allclose(got["w"], np.mean([a["w"] for _, a, _ in replies], axis=0), atol=1e-6)


def test_strategies_by_name_are_flowers_own():
    import flwr.serverapp.strategy as fs

    assert STRATEGIES.get("fedavg") is fs.FedAvg and STRATEGIES.get("fedprox") is fs.FedProx
    assert STRATEGIES.get("fedadam") is fs.FedAdam
    with pytest.raises(ConfigError, match="unknown strategy"):
        make_strategy("fedsgd")
    with pytest.raises(ConfigError, match="bad options"):
        make_strategy("fedavg", proximal_mu=0.1)


def test_fedprox_sends_its_mu_to_the_clients():
    grid = LocalGrid(lambda m, c: m, 2)
    messages = list(make_strategy("fedprox", proximal_mu=0.25, min_available_nodes=2).configure_train(
        1, to_record({"w": np.zeros(2, np.float32)}), ConfigRecord(), grid))
    assert len(messages) == 2 and all(m.content["config"]["proximal-mu"] == 0.25 for m in messages)


def test_fedadam_moves_along_the_mean_update(replies):
    strategy = make_strategy("fedadam", eta=0.1, min_available_nodes=1)
    start = {"w": np.zeros((3, 4), np.float32), "b": np.zeros(4, np.float32)}
    grid = LocalGrid(lambda m, c: m, 3)
    list(strategy.configure_train(1, to_record(start), ConfigRecord(), grid))
    got = from_record(strategy.aggregate_train(1, [m for m, _, _ in replies])[0])
    total = sum(n for _, _, n in replies)
    mean = sum(n / total * a["b"] for _, a, n in replies)
    assert np.all(np.sign(got["b"]) == np.sign(mean)) and np.abs(got["b"]).max() <= 0.1 + 1e-6
