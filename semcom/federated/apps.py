"""The Flower apps of the service: a ``ClientApp`` per device, a ``ServerApp`` on the edge or cloud.

* Strategies are Flower's own classes, found by name in :data:`STRATEGIES` (``fedavg``: weighted
  by each client's examples n_k / n; ``fedprox``: clients add ``mu / 2 ||w - w_global||^2``;
  ``fedadam``, ``fedyogi``, ``fedadagrad``: server-side optimisers; ``fedavgm``: server momentum).
* :func:`make_client_app`: the client loads the broadcast arrays into its model (the task's base
  model, prepared with the LoRA / frozen-layer levers), trains ``local-steps`` steps on its own
  data (:func:`~semcom.federated.task.local_train`) and answers with its trainable arrays, its
  examples and the FLOPs it spent. The :func:`update_codec_mod` mod turns that answer into a coded
  update (delta, quantisation, top-k, error feedback kept in the node's ``context.state``).
* :func:`make_server_app`: wraps the grid in a :class:`~semcom.federated.grid.NetworkGrid` and
  runs the strategy's ``start`` (``num_rounds`` rounds, central evaluation of the task's metric
  after each), recording what happened in a :class:`RunRecorder`.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAdagrad, FedAdam, FedAvg, FedAvgM, FedProx, FedYogi

from semcom.errors import ConfigError
from semcom.federated.grid import (ARRAYS, CONFIG, METRICS, PARTITION_ID, UPDATE, LinkPlan, NetworkGrid, RoundRecord,
                                   from_record, to_record)
from semcom.federated.model import LoraSettings, load_trainable, prepare_model, trainable_arrays
from semcom.federated.payload import Schema, Update, UpdateCodec, encode_update, error_feedback_step
from semcom.federated.task import FederatedTask, TrainSettings, local_train
from semcom.network.clock import SimClock
from semcom.network.nodes import Network
from semcom.registry import Registry

STRATEGIES: Registry = Registry("strategy")
for _name, _cls in (("fedavg", FedAvg), ("fedprox", FedProx), ("fedadam", FedAdam), ("fedyogi", FedYogi),
                    ("fedadagrad", FedAdagrad), ("fedavgm", FedAvgM)):
    STRATEGIES.register(_name)(_cls)

RESIDUAL = "error-feedback-residual"


def make_strategy(name: str, **options: Any):
    """Flower's strategy ``name`` with ``options`` (``fraction_train``, ``min_train_nodes``,
    ``proximal_mu``, ``eta``, ...); federated evaluation is off unless ``fraction_evaluate`` is given."""
    options.setdefault("fraction_evaluate", 0.0)
    return STRATEGIES.create(name, **options)


@dataclass
class ClientSpec:
    """What every client runs: the task, local training, the model levers and the update codec."""

    task: FederatedTask
    train: TrainSettings
    lora: LoraSettings | None = None
    frozen: tuple[str, ...] = ()
    codec: UpdateCodec = field(default_factory=UpdateCodec)
    error_feedback: bool = True
    seed: int = 0
    threads: int = 1
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def model(self) -> torch.nn.Module:
        """The task's base model with the levers applied (adapters initialised from ``seed``)."""
        return prepare_model(self.task.build_model(), lora=self.lora, frozen=self.frozen, seed=self.seed)


_MODELS: dict[str, torch.nn.Module] = {}  # one model per spec and process (a Ray worker builds it once)


def _worker_model(spec: ClientSpec) -> torch.nn.Module:
    if spec.key not in _MODELS:
        _MODELS.clear()
        _MODELS[spec.key] = spec.model()
    return _MODELS[spec.key]


def client_seed(seed: int, rnd: int, client: int) -> int:
    """The seed of client ``client``'s data sampling in round ``rnd`` (any backend, any worker)."""
    return int(np.random.SeedSequence([seed, rnd, client, 7]).generate_state(1)[0])


def update_codec_mod(codec: UpdateCodec, error_feedback: bool = True):
    """A Flower client mod that codes the answer of a train or evaluate function as one payload.

    Train: ``delta = local arrays - received arrays``; with ``error_feedback`` (and a lossy codec)
    the residual of earlier rounds is added first and what the codec drops is kept in
    ``context.state`` for the next round. Evaluate: the examples and loss alone. Queries pass through.
    """

    def mod(msg: Message, context: Context, call_next) -> Message:
        kind = msg.metadata.message_type.split(".")[0]
        if kind not in (MessageType.TRAIN, MessageType.EVALUATE):
            return call_next(msg, context)
        received = from_record(msg.content[ARRAYS]) if ARRAYS in msg.content else {}
        reply = call_next(msg, context)
        if reply.has_error():
            return reply
        metrics = reply.content[METRICS]
        header = dict(round=int(msg.content[CONFIG]["server-round"]), client=int(context.node_config[PARTITION_ID]),
                      num_examples=int(metrics["num-examples"]), flops=float(metrics.get("train-flops", 0.0)))
        if kind == MessageType.TRAIN:
            local = from_record(reply.content[ARRAYS])
            schema = Schema.of(received)
            delta = {k: local[k] - received[k] for k in schema.names}
            residual = None
            if error_feedback and RESIDUAL in context.state:
                stored = from_record(context.state[RESIDUAL])
                residual = stored if Schema.of(stored) == schema else None
            payload, left = error_feedback_step(delta, residual, schema, codec, loss=float(metrics["train-loss"]),
                                                **header)
            if error_feedback and not codec.lossless:
                context.state[RESIDUAL] = to_record(left)
        else:
            payload, _ = encode_update(Update(delta={}, loss=float(metrics["eval-loss"]), **header), Schema((), ()), codec)
        out = RecordDict({UPDATE: ConfigRecord({"payload": payload}),
                          METRICS: MetricRecord({"train-flops": header["flops"]})})
        return Message(out, reply_to=msg)

    return mod


def make_client_app(spec: ClientSpec) -> ClientApp:
    """The ``ClientApp`` of :class:`ClientSpec` (train, evaluate, and the query that names its partition)."""
    app = ClientApp(mods=[update_codec_mod(spec.codec, spec.error_feedback)])

    @app.query()
    def query(msg: Message, context: Context) -> Message:
        client = int(context.node_config[PARTITION_ID])
        return Message(RecordDict({METRICS: MetricRecord({PARTITION_ID: client,
                                                          "num-examples": spec.task.client_examples(client)})}),
                       reply_to=msg)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(spec.threads)
        client = int(context.node_config[PARTITION_ID])
        config = msg.content[CONFIG]
        rnd = int(config["server-round"])
        model = _worker_model(spec)
        load_trainable(model, from_record(msg.content[ARRAYS]))
        settings = replace(spec.train, steps=int(config.get("local-steps", spec.train.steps)),
                           lr=float(config.get("lr", spec.train.lr)))
        generator = torch.Generator().manual_seed(client_seed(spec.seed, rnd, client))
        stats = local_train(spec.task, model, client, settings, generator,
                            proximal_mu=float(config.get("proximal-mu", 0.0)))
        metrics = MetricRecord({"num-examples": spec.task.client_examples(client), "train-loss": stats.loss,
                                "train-flops": stats.flops})
        return Message(RecordDict({ARRAYS: to_record(trainable_arrays(model)), METRICS: metrics}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        torch.set_num_threads(spec.threads)
        client = int(context.node_config[PARTITION_ID])
        model = _worker_model(spec)
        load_trainable(model, from_record(msg.content[ARRAYS]))
        generator = torch.Generator().manual_seed(client_seed(spec.seed, int(msg.content[CONFIG]["server-round"]), client))
        batch = spec.task.sample_batch(client, spec.train.batch, generator)
        with torch.no_grad():
            model.eval()
            loss = float(spec.task.loss(model, batch, generator))
        flops = spec.task.forward_flops(model, batch)
        metrics = MetricRecord({"num-examples": spec.task.client_examples(client), "eval-loss": loss,
                                "train-flops": flops})
        return Message(RecordDict({METRICS: metrics}), reply_to=msg)

    return app


@dataclass
class ServerSpec:
    """What the server runs: the strategy (name and options), rounds, the round's train config
    (``local-steps``, ``lr``), the node model underneath (``network=None``: a real deployment) and
    the client spec whose model it starts from and evaluates."""

    client: ClientSpec
    plan: LinkPlan
    network: Network | None
    clock: SimClock | None
    strategy: str = "fedavg"
    strategy_options: dict = field(default_factory=dict)
    rounds: int = 3
    evaluate_every: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ConfigError(f"rounds must be a positive integer, got {self.rounds!r}")
        if self.evaluate_every < 0:
            raise ConfigError("evaluate_every must be >= 0")
        make_strategy(self.strategy, **dict(self.strategy_options))  # fails now on a bad name or option


@dataclass
class RunRecorder:
    """What a ``ServerApp`` run leaves behind: the exchanges (:class:`RoundRecord`), the metric
    before training (round 0) and after each evaluated round, and the final global arrays."""

    records: list[RoundRecord] = field(default_factory=list)
    metrics: dict[int, float] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] | None = None
    initial: dict[str, np.ndarray] | None = None

    @property
    def rounds(self) -> list[RoundRecord]:
        return [r for r in self.records if r.kind == MessageType.TRAIN]


def make_server_app(spec: ServerSpec, recorder: RunRecorder) -> ServerApp:
    """The ``ServerApp`` of :class:`ServerSpec`; results land in ``recorder``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        random.seed(spec.plan.seed)  # Flower's node sampling draws from Python's random module
        torch.manual_seed(spec.plan.seed)
        network_grid = NetworkGrid(grid, spec.network, spec.clock, spec.plan)
        model = spec.client.model()
        initial = trainable_arrays(model)
        recorder.initial = initial
        strategy = make_strategy(spec.strategy, **dict(spec.strategy_options))
        task = spec.client.task

        def evaluate(rnd: int, arrays: ArrayRecord) -> MetricRecord | None:
            if rnd and (not spec.evaluate_every or (rnd % spec.evaluate_every and rnd != spec.rounds)):
                return None
            load_trainable(model, from_record(arrays))
            value = task.evaluate(model)
            recorder.metrics[rnd] = value
            for record in network_grid.records:
                if record.kind == MessageType.TRAIN and record.round == rnd:
                    record.metric = value
            return MetricRecord({task.metric: value})

        def train_loss_of(rnd: int, metrics: MetricRecord | None) -> None:
            for record in network_grid.records:
                if record.kind == MessageType.TRAIN and record.round == rnd and metrics is not None:
                    record.train_loss = float(metrics["train-loss"]) if "train-loss" in metrics else None

        train_config = ConfigRecord({"local-steps": spec.client.train.steps, "lr": spec.client.train.lr})
        result = strategy.start(grid=network_grid, initial_arrays=to_record(initial), num_rounds=spec.rounds,
                                timeout=3600.0, train_config=train_config, evaluate_fn=evaluate)
        for rnd, metrics in result.train_metrics_clientapp.items():
            train_loss_of(rnd, metrics)
        recorder.records = network_grid.records
        # no round aggregated anything: the model is the one the run started from
        recorder.arrays = from_record(result.arrays) if result.arrays is not None and len(result.arrays) else initial

    return app
