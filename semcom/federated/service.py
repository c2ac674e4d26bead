"""``FederatedTrainingService``: federated learning on the node model, run by Flower.

A Flower ``ServerApp`` on the server node (an edge or cloud node) and a ``ClientApp`` on each client
node (:mod:`semcom.federated.apps`) run in Flower's simulation engine with its Ray backend
(``backend="ray"``, the default) or in this process (``backend="local"``: the same apps and
strategy driven through :class:`~semcom.federated.grid.LocalGrid`, no Ray start-up). Either way
every broadcast and update crosses the node model's links (:class:`~semcom.federated.grid.NetworkGrid`)
and the clock is charged for transfers and local compute.

The report follows the :class:`~semcom.network.services.Service` contract: ``bits`` and
``channel_uses`` are the sums over every transfer (downlink and uplink), ``latency_s`` the
simulated time of all rounds; ``metrics`` hold the task metric before and after, total uplink and
downlink bits and the outcome counts; ``details`` one row per round (participants, dropped, lost,
rejected, late, bits, channel uses, round time, metric).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from flwr.app import Context, RecordDict

from semcom.errors import ConfigError, SemcomError
from semcom.federated.apps import ClientSpec, RunRecorder, ServerSpec, make_client_app, make_server_app
from semcom.federated.grid import LinkPlan, LocalGrid
from semcom.federated.model import load_trainable, parameter_count
from semcom.network.clock import SimClock
from semcom.network.nodes import Network
from semcom.network.services import SERVICES, Service, ServiceReport

BACKENDS = ("ray", "local")


@dataclass
class FederatedReport(ServiceReport):
    """A :class:`ServiceReport` with the run's records and the trained model (``model``: the
    prepared model with the final global arrays loaded; ``arrays``: those arrays)."""

    recorder: RunRecorder | None = None
    model: Any = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"final_metric": self.metrics.get("final_metric"), "initial_metric": self.metrics.get("initial_metric"),
                "total_uplink_bits": int(self.metrics["uplink_bits"]),
                "total_downlink_bits": int(self.metrics["downlink_bits"]),
                "simulated_time_s": float(self.latency_s), "rounds": len(self.details),
                **{k: self.metrics[k] for k in ("aggregated", "dropped", "lost", "rejected", "late",
                                                "trainable_parameters", "metric_name") if k in self.metrics}}


def _quiet_flower() -> None:
    logging.getLogger("flwr").setLevel(logging.ERROR)


@SERVICES.register("federated_training")
class FederatedTrainingService(Service):
    """Federated training of a task's model over the network (see the module doc).

    backend: ``ray`` (Flower's simulation engine) or ``local`` (in-process grid).
    workers: Ray CPUs (client apps run in parallel, one CPU each).

    run(network, clock, *, client=ClientSpec, plan=LinkPlan, strategy="fedavg", strategy_options={},
        rounds=3, evaluate_every=1) -> FederatedReport
    """

    name = "federated_training"

    def __init__(self, backend: str = "ray", workers: int = 2, verbose: bool = False):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        self.backend, self.workers, self.verbose = backend, workers, verbose

    def run(self, network: Network, clock: SimClock, *, client: ClientSpec, plan: LinkPlan, strategy: str = "fedavg",
            strategy_options: dict | None = None, rounds: int = 3, evaluate_every: int = 1) -> FederatedReport:
        if len(plan.clients) != client.task.num_clients:
            raise ConfigError(f"the plan has {len(plan.clients)} client nodes, the task's data {client.task.num_clients} clients")
        if not self.verbose:
            _quiet_flower()
        start, first = clock.now, len(clock.ledger)
        server = ServerSpec(client, plan, network, clock, strategy, dict(strategy_options or {}), rounds, evaluate_every)
        recorder = RunRecorder()
        server_app, client_app = make_server_app(server, recorder), make_client_app(client)
        if self.backend == "local":
            grid = LocalGrid(client_app, len(plan.clients))
            server_app(grid, Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}))
        else:
            from flwr.simulation import run_simulation

            run_simulation(server_app, client_app, num_supernodes=len(plan.clients), backend_name="ray",
                           backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                           "init_args": {"num_cpus": self.workers, "include_dashboard": False}},
                           verbose_logging=self.verbose)
        if recorder.arrays is None:
            raise SemcomError("the federated run ended without a result (the ServerApp failed; rerun with verbose=True)")
        model = client.model()
        load_trainable(model, recorder.arrays)
        return self._report(clock, start, first, recorder, model, client)

    def _report(self, clock: SimClock, start: Fraction, first: int, recorder: RunRecorder, model, client) -> FederatedReport:
        rows = [r.row() for r in recorder.rounds]
        charges = clock.ledger[first:]
        up = sum(r.uplink_bits for r in recorder.records)
        down = sum(r.downlink_bits for r in recorder.records)
        uses = sum(r.uplink_channel_uses + r.downlink_channel_uses for r in recorder.records)
        totals = {key: sum(row[key] for row in rows) for key in ("dropped", "lost", "rejected", "late")}
        times = [row["round_time_s"] for row in rows]
        metrics = {"metric_name": client.task.metric, "initial_metric": recorder.metrics.get(0),
                   "final_metric": recorder.metrics.get(max(recorder.metrics)) if recorder.metrics else None,
                   "uplink_bits": up, "downlink_bits": down, "aggregated": sum(row["participants"] for row in rows),
                   **totals, "mean_round_time_s": float(np.mean(times)) if times else 0.0,
                   "max_round_time_s": max(times, default=0.0), "trainable_parameters": parameter_count(model, True)}
        return FederatedReport(
            self.name, up + down, uses, clock.now - start,
            sum((c.seconds for c in charges if c.kind == "compute"), Fraction(0)),
            sum((c.seconds for c in charges if c.kind == "transmission"), Fraction(0)),
            metrics, rows, recorder=recorder, model=model, arrays=recorder.arrays)
