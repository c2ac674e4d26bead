"""How local data is spread over clients: IID, by topic, or non-IID by a Dirichlet draw per label.

A partitioner takes one label per item (a topic, a class; items are whole images with all their
captions, so one photo's captions stay on one device) and returns, per client, the indices of its
items. Partitioners are found by name in :data:`PARTITIONS`:

* ``iid``: a seeded shuffle dealt out in equal shares;
* ``topic``: client ``i`` holds the items of topic ``topics[i % T]`` (the topics in first-seen order),
  shared equally among the clients of that topic: the most non-IID split;
* ``dirichlet``: for every label, shares ``p ~ Dir(alpha, ..., alpha)`` over the clients (Hsu et al.,
  2019); small ``alpha`` (0.1) gives each client few labels, large ``alpha`` (100) tends to IID.
  Draws repeat until every client holds at least ``min_items`` items.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

from semcom.errors import ConfigError
from semcom.registry import Registry

PARTITIONS: Registry = Registry("partition")


def _check(labels: Sequence[Hashable], clients: int) -> None:
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 1:
        raise ConfigError(f"the number of clients must be a positive integer, got {clients!r}")
    if len(labels) < clients:
        raise ConfigError(f"{len(labels)} items cannot be spread over {clients} clients (each needs one)")


@PARTITIONS.register("iid")
def iid_partition(labels: Sequence[Hashable], clients: int, *, seed: int = 0) -> list[list[int]]:
    """Equal random shares (sizes differ by at most one)."""
    _check(labels, clients)
    order = np.random.default_rng(seed).permutation(len(labels))
    return [sorted(order[i::clients].tolist()) for i in range(clients)]


@PARTITIONS.register("topic")
def topic_partition(labels: Sequence[Hashable], clients: int, *, seed: int = 0) -> list[list[int]]:
    """Client ``i`` gets topic ``i mod T``; a topic's items are shared equally by its clients."""
    _check(labels, clients)
    topics = list(dict.fromkeys(labels))
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(clients)]
    for t, topic in enumerate(topics):
        owners = [i for i in range(clients) if i % len(topics) == t]
        if not owners:
            continue  # more topics than clients: the extra topics stay off the devices
        items = rng.permutation([j for j, label in enumerate(labels) if label == topic])
        for share, owner in enumerate(owners):
            out[owner].extend(items[share :: len(owners)].tolist())
    if any(not part for part in out):
        raise ConfigError(f"a topic has fewer items than clients to share it ({clients} clients, {len(topics)} topics)")
    return [sorted(part) for part in out]


@PARTITIONS.register("dirichlet")
def dirichlet_partition(labels: Sequence[Hashable], clients: int, *, alpha: float = 0.5, seed: int = 0,
                        min_items: int = 1, max_draws: int = 1000) -> list[list[int]]:
    """Per label, split its items over clients in shares drawn from Dir(alpha)."""
    _check(labels, clients)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ConfigError(f"dirichlet alpha must be a positive number, got {alpha!r}")
    rng = np.random.default_rng(seed)
    by_label: dict[Hashable, list[int]] = {}
    for j, label in enumerate(labels):
        by_label.setdefault(label, []).append(j)
    for _ in range(max_draws):
        out: list[list[int]] = [[] for _ in range(clients)]
        for items in by_label.values():
            items = rng.permutation(items)
            shares = rng.dirichlet(np.full(clients, float(alpha)))
            cuts = (np.cumsum(shares)[:-1] * len(items)).astype(int)
            for i, part in enumerate(np.split(items, cuts)):
                out[i].extend(part.tolist())
        if min(len(p) for p in out) >= min_items:
            return [sorted(p) for p in out]
    raise ConfigError(f"no Dirichlet({alpha}) split in {max_draws} draws gave every client {min_items} item(s); "
                      "raise alpha or lower the number of clients")


def partition(name: str, labels: Sequence[Hashable], clients: int, **options) -> list[list[int]]:
    """The partition ``name`` of :data:`PARTITIONS` (options: ``seed``, ``alpha``, ...)."""
    return PARTITIONS.create(name, labels=labels, clients=clients, **options)


def label_histogram(labels: Sequence[Hashable], parts: Sequence[Sequence[int]]) -> list[dict]:
    """Per client, ``{label: items}``: what a partition gave each client."""
    return [dict(sorted(((str(k), int(v)) for k, v in zip(*np.unique([str(labels[j]) for j in p], return_counts=True))),
                        key=lambda kv: kv[0])) if p else {} for p in parts]
