"""Seeded corruptions of a bit stream: every kind, never the sent bits, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from semcom.errors import InputError
from semcom.semantic.corruption import CORRUPTIONS, corrupt


def test_every_kind_differs_from_the_sent_bits_and_keeps_its_shape_rules():
    sent = np.random.default_rng(0).integers(0, 2, size=60).astype(np.uint8)
    rng = np.random.default_rng(1)
    for kind in CORRUPTIONS:
        for _ in range(200):
            got_kind, out = corrupt(sent, rng, kind, tag_bits=8)
            assert got_kind == kind and out.dtype == np.uint8 and out.ndim == 1
            assert set(np.unique(out).tolist()) <= {0, 1}
            assert out.size != sent.size or not np.array_equal(out, sent)
            if kind in ("flips", "errors", "burst"):
                assert out.size == sent.size
            elif kind == "truncate":
                assert out.size < sent.size and np.array_equal(out, sent[: out.size])
            elif kind == "extend":
                assert sent.size < out.size <= sent.size + 40 and np.array_equal(out[: sent.size], sent)
            else:
                assert 30 <= out.size <= 90 and np.array_equal(out[:8], sent[:8])
    burst = corrupt(sent, np.random.default_rng(2), "burst")[1]
    changed = np.flatnonzero(burst != sent)
    assert changed.max() - changed.min() < 32


def test_kinds_are_drawn_uniformly_and_seeded():
    sent = np.ones(40, dtype=np.uint8)
    rng = np.random.default_rng(4)
    kinds = [corrupt(sent, rng)[0] for _ in range(3000)]
    counts = np.array([kinds.count(k) for k in CORRUPTIONS])
    assert counts.min() > 400
    a = [corrupt(sent, np.random.default_rng(5))[1] for _ in range(3)]
    assert all(np.array_equal(a[0], x) for x in a)


def test_bad_requests_are_input_errors():
    with pytest.raises(InputError):
        corrupt(np.zeros(1, dtype=np.uint8), np.random.default_rng(0))
    with pytest.raises(InputError):
        corrupt(np.zeros((2, 4), dtype=np.uint8), np.random.default_rng(0))
    with pytest.raises(InputError, match="unknown corruption"):
        corrupt(np.zeros(8, dtype=np.uint8), np.random.default_rng(0), "erase")
