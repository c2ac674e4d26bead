"""Flower grids: every broadcast and update crosses the node model's links; an in-process grid for quick runs.

:class:`NetworkGrid` wraps the grid a Flower ``ServerApp`` is given (the simulation engine's, or
a deployment's) and puts the node model underneath a round (:meth:`NetworkGrid.send_and_receive`):

1. each message for client ``k`` is serialised (:func:`~semcom.federated.payload.encode_broadcast`),
   and sent over the link server -> k (which scrambles its codewords) with the one ARQ loop
   (:func:`semcom.link.arq.send`, selective retransmission of lost code blocks, ``arq_rounds`` rounds;
   payloads above 4 MiB go in several link calls); a payload that does not arrive, or fails its
   CRC-32, never reaches the client;
2. a client that drops out (probability ``dropout`` per round, seeded) receives the model and is
   never heard of again in that round;
3. the client's reply carries its coded update (:func:`~semcom.federated.payload.encode_update`,
   written by :func:`~semcom.federated.apps.update_codec_mod`); its local compute is charged on
   its node (reported FLOPs / node FLOP/s), then the update crosses the link k -> server the same
   way; one that is lost, fails its checksum, answers another round or repeats a client already
   counted is refused, and counted under its reason;
4. with a ``deadline_s``, a client whose compute ends after it does not upload and one whose
   upload ends after it is discarded (``late``); the round then lasts exactly the deadline;
   otherwise it lasts until the slowest client it waits for has answered (dropped clients are
   not waited for);
5. the accepted updates are decoded back to full arrays (``global + delta``) and handed to the
   Flower strategy, which aggregates them with its own code.

Each client's transfers and compute run on a fork of the :class:`~semcom.network.clock.SimClock`
(clients work in parallel); the round's end moves the clock. Every selected client ends the
round under exactly one outcome (:data:`OUTCOMES`), recorded in a :class:`RoundRecord`.

:class:`LocalGrid` runs a ``ClientApp`` in this process, one call per message: the same Flower
apps, strategies and message flow as the simulation engine, without starting Ray.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from semcom.errors import ConfigError
from semcom.federated.payload import Broadcast, PayloadRejected, Schema, decode_broadcast, decode_update, encode_broadcast
from semcom.link.arq import LinkCost, send
from semcom.network.clock import SimClock
from semcom.network.nodes import Link, Network

#: How a selected client can end a round.
OUTCOMES = ("aggregated", "dropped", "lost_downlink", "lost_uplink", "checksum", "malformed", "schema", "round",
            "duplicate", "late", "client_error", "no_reply")
#: Largest payload handed to the link in one call (the digital link takes up to 8 MiB).
CHUNK_BYTES = 4 * 2**20
#: Keys of the records in messages between the grid and the client app.
ARRAYS, CONFIG, METRICS, UPDATE = "arrays", "config", "metrics", "update"
PARTITION_ID = "partition-id"


def to_record(arrays: dict[str, np.ndarray]) -> ArrayRecord:
    """A Flower ``ArrayRecord`` of named float32 arrays."""
    return ArrayRecord({k: Array(np.ascontiguousarray(v, dtype=np.float32)) for k, v in arrays.items()})


def from_record(record: ArrayRecord) -> dict[str, np.ndarray]:
    """Named float32 arrays of a Flower ``ArrayRecord``."""
    return {k: np.asarray(v.numpy(), dtype=np.float32) for k, v in record.items()}


@dataclass
class RoundRecord:
    """One round (or one evaluation or query exchange) as the network saw it.

    outcomes:   client index -> outcome (:data:`OUTCOMES`), one per selected client.
    *_bits:     payload bits handed to links (retransmissions not counted again); ``*_channel_uses``
                and ``*_transmissions``: every transmission counted.
    round_time_s: simulated time the round took (exact); ``client_time_s``: per answering client,
                  the time its reply was complete (or its failure known).
    """

    round: int
    kind: str
    start_s: Fraction
    outcomes: dict[int, str] = field(default_factory=dict)
    downlink_bits: int = 0
    uplink_bits: int = 0
    downlink_channel_uses: int = 0
    uplink_channel_uses: int = 0
    downlink_transmissions: int = 0
    uplink_transmissions: int = 0
    round_time_s: Fraction = Fraction(0)
    client_time_s: dict[int, float] = field(default_factory=dict)
    delivered: int = 0
    duplicates: int = 0
    train_loss: float | None = None
    metric: float | None = None

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)

    @property
    def selected(self) -> int:
        return len(self.outcomes)

    @property
    def aggregated(self) -> int:
        return self.count("aggregated")

    @property
    def accounted(self) -> bool:
        """Every selected client ended under one outcome, and the strategy was handed exactly the
        aggregated updates (none twice, none dropped without a reason)."""
        return all(o in OUTCOMES for o in self.outcomes.values()) and self.delivered == self.aggregated

    def row(self) -> dict:
        """A flat dict for tables and JSON."""
        lost = self.count("lost_downlink") + self.count("lost_uplink")
        rejected = sum(self.count(o) for o in ("checksum", "malformed", "schema", "round", "duplicate"))
        return {
            "round": self.round, "kind": self.kind, "selected": self.selected, "participants": self.aggregated,
            "dropped": self.count("dropped"), "lost": lost, "rejected": rejected, "late": self.count("late"),
            "failed": self.count("client_error") + self.count("no_reply"), "duplicates": self.duplicates,
            "uplink_bits": self.uplink_bits, "downlink_bits": self.downlink_bits,
            "uplink_channel_uses": self.uplink_channel_uses, "downlink_channel_uses": self.downlink_channel_uses,
            "channel_uses": self.uplink_channel_uses + self.downlink_channel_uses,
            "round_time_s": float(self.round_time_s), "train_loss": self.train_loss, "metric": self.metric,
            "accounted": self.accounted,
            "outcomes": {str(k): v for k, v in sorted(self.outcomes.items())},
        }


@dataclass(frozen=True)
class LinkPlan:
    """Where the clients are: the server node, the client nodes (in partition order) and how the
    round treats them (dropout probability, deadline, ARQ rounds, corruption of arriving payloads
    after the link -- a test of the checksum path -- and the seed of all draws)."""

    server: str
    clients: tuple[str, ...]
    dropout: float = 0.0
    deadline_s: float | None = None
    arq_rounds: int = 3
    corruption: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.dropout < 1 or not 0 <= self.corruption <= 1:
            raise ConfigError(f"dropout must be in [0, 1) and corruption in [0, 1], got {self.dropout}, {self.corruption}")
        if self.deadline_s is not None and not self.deadline_s > 0:
            raise ConfigError(f"deadline_s must be positive, got {self.deadline_s}")
        if isinstance(self.arq_rounds, bool) or not isinstance(self.arq_rounds, int) or self.arq_rounds < 0:
            raise ConfigError(f"arq_rounds must be a non-negative integer, got {self.arq_rounds!r}")
        if not self.clients or len(set(self.clients)) != len(self.clients):
            raise ConfigError(f"clients must be distinct node names, got {list(self.clients)}")
        object.__setattr__(self, "clients", tuple(self.clients))

    def check(self, network: Network) -> None:
        network.node(self.server)
        for name in self.clients:
            network.node(name)
            network.link(self.server, name)
            network.link(name, self.server)


@dataclass
class _Transfer:
    data: bytes | None
    cost: LinkCost
    rounds: int


def _draw(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


def _noise(seed: int, *key: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, *key]).generate_state(1)[0]))


class NetworkGrid(Grid):
    """A Flower ``Grid`` whose messages cross simulated links (see the module doc).

    grid:    the grid the ``ServerApp`` was given. network, clock: the node model and its clock;
             ``network=None`` runs on a real deployment: payloads are still coded and checked,
             nothing is simulated or timed.
    plan:    :class:`LinkPlan`. aggregation_flops: FLOPs per aggregated value charged on the server.
    """

    def __init__(self, grid: Grid, network: Network | None, clock: SimClock | None, plan: LinkPlan,
                 aggregation_flops: float = 2.0):
        if network is not None:
            plan.check(network)
            if clock is None:
                raise ConfigError("a simulated network needs a clock")
        self._grid, self.network, self.clock, self.plan = grid, network, clock, plan
        self.aggregation_flops = aggregation_flops
        self.records: list[RoundRecord] = []
        self._clients: dict[int, int] | None = None
        self._sent: dict[int, Broadcast] = {}
        self._pending: dict[str, tuple[int, SimClock | None, int]] = {}
        self._accepted: set[tuple[int, int, str]] = set()
        self._forks: dict[int, SimClock] = {}

    # ------------------------------------------------------------------ Grid's plumbing
    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """The nodes that registered as one of the plan's clients, in client order (so that a strategy's
        seeded sampling picks the same clients under every backend)."""
        return [node for node, _ in sorted(self.clients().items(), key=lambda item: item[1])]

    def clients(self) -> dict[int, int]:
        """Flower node id -> client index, asked once of every node (a query message)."""
        if self._clients is None:
            ids = list(self._grid.get_node_ids())
            asks = [Message(RecordDict({CONFIG: ConfigRecord({"ask": PARTITION_ID})}), node, MessageType.QUERY)
                    for node in ids]
            mapping = {}
            for reply in self._grid.send_and_receive(asks, timeout=600):
                if reply.has_error() or METRICS not in reply.content:
                    continue
                index = int(reply.content[METRICS][PARTITION_ID])
                if 0 <= index < len(self.plan.clients):
                    mapping[reply.metadata.src_node_id] = index
            if sorted(mapping.values()) != list(range(len(self.plan.clients))):
                raise ConfigError(f"the nodes registered as clients {sorted(mapping.values())}; "
                                  f"the plan has {len(self.plan.clients)} (partition-id 0..{len(self.plan.clients) - 1})")
            self._clients = mapping
        return self._clients

    # ------------------------------------------------------------------ the link
    def _transfer(self, link: Link | None, payload: bytes, fork: SimClock | None, noise: torch.Generator) -> _Transfer:
        """Send ``payload`` over ``link`` (chunked, selective ARQ); charge ``fork``; return what arrived."""
        if link is None:
            return _Transfer(payload, LinkCost(8 * len(payload), 0, 0, 1), 0)
        digital = link.digital_link()
        parts, cost, rounds = [], LinkCost(), 0
        for start in range(0, len(payload), CHUNK_BYTES):
            chunk = payload[start : start + CHUNK_BYTES]
            bits = np.unpackbits(np.frombuffer(chunk, dtype=np.uint8))
            got = send(digital, bits, link.snr_db, rounds=self.plan.arq_rounds, generator=noise, selective=True)
            cost += got.cost
            rounds += got.retransmissions
            fork.charge_transmission(link, got.cost.channel_uses)
            for _ in range(got.retransmissions):  # each ARQ round waits for the link's latency again
                fork.charge_transmission(link, 0)
            if not got.ok:
                return _Transfer(None, cost, rounds)
            parts.append(np.packbits(got.bits).tobytes())
        return _Transfer(b"".join(parts), cost, rounds)

    def _corrupt(self, data: bytes, draw: np.random.Generator) -> bytes:
        if self.plan.corruption and draw.random() < self.plan.corruption:
            buf = bytearray(data)
            bit = int(draw.integers(8 * len(buf)))
            buf[bit // 8] ^= 1 << (bit % 8)
            return bytes(buf)
        return data

    # ------------------------------------------------------------------ a round
    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Open an exchange: send each message over its client's downlink and push those that arrived
        to the inner grid. (:meth:`send_and_receive` also closes the exchange on the clock.)"""
        messages = list(messages)
        if not messages:
            return []
        kind = messages[0].metadata.message_type.split(".")[0]
        config = messages[0].content[CONFIG] if CONFIG in messages[0].content else {}
        self.records.append(RoundRecord(int(config.get("server-round", 0)), kind,
                                        self.clock.now if self.clock is not None else Fraction(0)))
        self._forks = {}
        delivered = []
        for msg in messages:
            out = self._downlink(msg)
            if out is not None:
                delivered.append(out)
        ids = list(self._grid.push_messages([m for m, _ in delivered]))
        for mid, (_, key) in zip(ids, delivered):
            self._pending[mid] = key
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Pull replies from the inner grid; return those whose update crossed the uplink intact."""
        out = []
        for reply in self._grid.pull_messages(message_ids):
            key = self._pending.pop(reply.metadata.reply_to_message_id, None)
            if key is None:
                self._record().duplicates += 1
                continue
            accepted = self._uplink(reply, *key)
            if accepted is not None:
                out.append(accepted)
        return out

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        """One exchange (a training round, an evaluation, a query): downlinks, the clients' work,
        uplinks, then the round's end on the clock (see the module doc)."""
        messages = list(messages)
        if not messages:
            return []
        ids = set(self.push_messages(messages))
        record = self._record()
        replies, deadline = [], time.monotonic() + (timeout if timeout is not None else math.inf)
        while ids and time.monotonic() < deadline:
            batch = list(self._grid.pull_messages(ids))
            for reply in batch:
                ids.discard(reply.metadata.reply_to_message_id)
                key = self._pending.pop(reply.metadata.reply_to_message_id, None)
                if key is None:  # a second answer to a message already answered: never counted twice
                    record.duplicates += 1
                    continue
                accepted = self._uplink(reply, *key)
                if accepted is not None:
                    replies.append(accepted)
            if ids and not batch:
                time.sleep(getattr(self._grid, "pull_interval", 0.05))
        for mid in ids:
            client = self._pending.pop(mid)[0]
            record.outcomes[client] = "no_reply"
        record.delivered = len(replies)
        self._close(record)
        return replies

    def _record(self) -> RoundRecord:
        return self.records[-1]

    def _downlink(self, msg: Message) -> tuple[Message, tuple[int, SimClock | None, int]] | None:
        record = self._record()
        client = self.clients().get(msg.metadata.dst_node_id)
        if client is None:
            raise ConfigError(f"message for node {msg.metadata.dst_node_id}, which is not a registered client")
        if client in record.outcomes:
            raise ConfigError(f"client {client} was sent two messages in one round")
        arrays = from_record(msg.content[ARRAYS]) if ARRAYS in msg.content else {}
        config = dict(msg.content[CONFIG]) if CONFIG in msg.content else {}
        broadcast = Broadcast(record.round, arrays,
                              {k: v for k, v in config.items() if isinstance(v, (bool, int, float, str))})
        if self.plan.deadline_s is not None:
            broadcast.config["deadline-s"] = float(self.plan.deadline_s)
        fork = self.clock.fork() if self.clock is not None else None
        link = self.network.link(self.plan.server, self.plan.clients[client]) if self.network is not None else None
        sent = self._transfer(link, encode_broadcast(broadcast), fork, _noise(self.plan.seed, record.round, client, 0))
        record.downlink_bits += sent.cost.bits
        record.downlink_channel_uses += sent.cost.channel_uses
        record.downlink_transmissions += sent.cost.transmissions
        if fork is not None:
            self._forks[client] = fork
        if sent.data is None:
            record.outcomes[client] = "lost_downlink"
            return None
        try:
            got = decode_broadcast(self._corrupt(sent.data, _draw(self.plan.seed, record.round, client, 2)))
        except PayloadRejected as err:
            record.outcomes[client] = err.reason
            return None
        if self.network is not None and _draw(self.plan.seed, record.round, client, 1).random() < self.plan.dropout:
            record.outcomes[client] = "dropped"
            return None
        self._sent[client] = got
        content = RecordDict({ARRAYS: to_record(got.arrays), CONFIG: ConfigRecord(got.config)})
        record.outcomes[client] = "pending"
        return Message(content, msg.metadata.dst_node_id, msg.metadata.message_type, ttl=msg.metadata.ttl,
                       group_id=msg.metadata.group_id), (client, fork, record.round)

    def _uplink(self, reply: Message, client: int, fork: SimClock | None, rnd: int) -> Message | None:
        record = self._record()
        if reply.has_error() or UPDATE not in reply.content:
            record.outcomes[client] = "client_error"
            self._finish(record, client, fork)
            return None
        payload = bytes(reply.content[UPDATE]["payload"])
        if fork is not None:
            node = self.network.node(self.plan.clients[client])
            fork.charge_compute(node, float(reply.content[METRICS]["train-flops"]) if METRICS in reply.content else 0.0)
            if self._past_deadline(record, fork):
                record.outcomes[client] = "late"  # knows the deadline: does not upload
                return None
        link = self.network.link(self.plan.clients[client], self.plan.server) if self.network is not None else None
        sent = self._transfer(link, payload, fork, _noise(self.plan.seed, record.round, client, 3))
        record.uplink_bits += sent.cost.bits
        record.uplink_channel_uses += sent.cost.channel_uses
        record.uplink_transmissions += sent.cost.transmissions
        self._finish(record, client, fork)
        if sent.data is None:
            record.outcomes[client] = "lost_uplink"
            return None
        try:
            schema = self._sent[client].schema if record.kind == MessageType.TRAIN else Schema((), ())
            update = decode_update(self._corrupt(sent.data, _draw(self.plan.seed, record.round, client, 4)), schema)
        except PayloadRejected as err:
            record.outcomes[client] = err.reason
            return None
        if update.round != rnd:
            record.outcomes[client] = "round"
            return None
        if update.client != client or (rnd, client, record.kind) in self._accepted:
            record.outcomes[client] = "duplicate"
            return None
        if fork is not None and self._past_deadline(record, fork):
            record.outcomes[client] = "late"
            return None
        self._accepted.add((rnd, client, record.kind))
        record.outcomes[client] = "aggregated"
        loss_key = "train-loss" if record.kind == MessageType.TRAIN else "eval-loss"
        content = RecordDict({METRICS: MetricRecord({"num-examples": int(update.num_examples), loss_key: update.loss})})
        if record.kind == MessageType.TRAIN:
            base = self._sent[client].arrays
            content[ARRAYS] = to_record({k: base[k] + update.delta[k] for k in base})
        reply.content = content
        return reply

    def _past_deadline(self, record: RoundRecord, fork: SimClock) -> bool:
        return self.plan.deadline_s is not None and fork.now - record.start_s > Fraction(self.plan.deadline_s)

    def _finish(self, record: RoundRecord, client: int, fork: SimClock | None) -> None:
        if fork is not None:
            record.client_time_s[client] = float(fork.now - record.start_s)

    def _close(self, record: RoundRecord) -> None:
        """End the round on the clock: the deadline if a client was late, else the last client waited for."""
        stray = [c for c, o in record.outcomes.items() if o == "pending"]
        for c in stray:
            record.outcomes[c] = "no_reply"
        if self.clock is None:
            return
        waited = [self._forks[c].now for c, o in record.outcomes.items() if o not in ("dropped", "late") and c in self._forks]
        end = max(waited, default=record.start_s)
        if self.plan.deadline_s is not None and (record.count("late") or record.count("no_reply")):
            end = record.start_s + Fraction(self.plan.deadline_s)
        elif self.plan.deadline_s is not None:
            end = min(end, record.start_s + Fraction(self.plan.deadline_s))
        for fork in self._forks.values():
            self.clock.ledger.extend(fork.ledger)
        self.clock.advance(end - self.clock.now)
        if record.aggregated and record.kind == MessageType.TRAIN:
            values = sum(v.size for v in next(iter(self._sent.values())).arrays.values())
            self.clock.charge_compute(self.network.node(self.plan.server), self.aggregation_flops * values * record.aggregated)
        record.round_time_s = self.clock.now - record.start_s


class LocalGrid(Grid):
    """A ``Grid`` that runs a ``ClientApp`` in this process: one call per message, nodes ``1000 + i``
    with ``node_config = {"partition-id": i, "num-partitions": n}`` and their own persistent state."""

    FIRST_NODE = 1000

    def __init__(self, client_app, num_nodes: int, run_config: dict | None = None):
        from flwr.common.constant import SUPERLINK_NODE_ID
        from flwr.supercore.task_identity import TaskIdentity

        if num_nodes < 1:
            raise ConfigError("a grid needs at least one node")
        self._app = client_app
        self._run = Run.create_empty(run_id=1)
        # this process plays the SuperLink: the messages a strategy creates are stamped with its identity
        TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID
        self._contexts = {self.FIRST_NODE + i: Context(run_id=1, node_id=self.FIRST_NODE + i, state=RecordDict(),
                                                       run_config=dict(run_config or {}),
                                                       node_config={PARTITION_ID: i, "num-partitions": num_nodes})
                          for i in range(num_nodes)}
        self._replies: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            node = msg.metadata.dst_node_id
            if node not in self._contexts:
                raise ConfigError(f"no node {node} in this grid")
            msg.metadata.__dict__["_message_id"] = uuid.uuid4().hex
            msg.metadata.__dict__["_run_id"] = self._run.run_id
            try:
                reply = self._app(msg, self._contexts[node])
            except Exception as err:  # a client that fails answers with an error, as on a SuperNode
                from flwr.app import Error

                reply = Message(Error(code=0, reason=f"{type(err).__name__}: {err}"), reply_to=msg)
            reply.metadata.__dict__["_src_node_id"] = node
            self._replies[msg.metadata.message_id] = reply
            ids.append(msg.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(m) for m in list(message_ids) if m in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))

