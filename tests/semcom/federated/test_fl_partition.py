"""IID, topic and Dirichlet partitions: every item exactly once, and the skew each promises."""

from __future__ import annotations

import numpy as np
import pytest

from semcom.errors import ConfigError
from semcom.federated.partition import PARTITIONS, label_histogram, partition

LABELS = ["a"] * 40 + ["b"] * 30 + ["c"] * 20 + ["d"] * 10


@pytest.mark.parametrize("name", PARTITIONS.names())
def test_every_item_lands_on_exactly_one_client(name):
    parts = partition(name, LABELS, 4, seed=1)
    items = sorted(i for p in parts for i in p)
    assert items == list(range(len(LABELS))) and all(parts)


def test_iid_shares_are_equal():
    assert sorted(len(p) for p in partition("iid", LABELS, 3)) == [33, 33, 34]


def test_topic_clients_hold_one_topic_each():
    hist = label_histogram(LABELS, partition("topic", LABELS, 8))
    assert all(len(h) == 1 for h in hist)
    assert [next(iter(h)) for h in hist] == ["a", "b", "c", "d"] * 2


def test_dirichlet_alpha_controls_the_skew():
    labels = [i % 5 for i in range(2000)]

    def skew(alpha):
        parts = partition("dirichlet", labels, 10, alpha=alpha, seed=0)
        shares = [np.bincount([labels[j] for j in p], minlength=5) / len(p) for p in parts]
        return float(np.mean([s.max() for s in shares]))

    assert skew(0.1) > 0.6 > skew(100.0)
    assert skew(100.0) < 0.3


def test_bad_partitions_are_refused():
    with pytest.raises(ConfigError):
        partition("iid", LABELS[:3], 4)
    with pytest.raises(ConfigError):
        partition("dirichlet", LABELS, 4, alpha=0.0)
    with pytest.raises(ConfigError, match="unknown partition"):
        partition("by-size", LABELS, 2)
