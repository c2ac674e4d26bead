"""Shared fixtures of the knowledge-base tests: sample stores and a fake transport."""

from __future__ import annotations

import math

import pytest

from knowledge_base import CODEBOOK, LANGUAGE_MODEL, VOCABULARY, Delivery, KnowledgeBase

KEY = b"test-key-0123456789abcdef"


class FakeTransport:
    """A transport that follows a script: "deliver", "corrupt", "truncate" or "drop" per payload.

    After the script runs out it uses ``default``. Every payload costs 8 bits per byte and
    ``ceil(bits / bits_per_use)`` channel uses, as a link with 2 bits per symbol would.
    """

    def __init__(self, script=(), default="deliver", bits_per_use=2):
        self.script = list(script)
        self.default = default
        self.bits_per_use = bits_per_use
        self.sent: list[tuple[str, bytes]] = []

    def __call__(self, payload: bytes) -> Delivery:
        mode = self.script.pop(0) if self.script else self.default
        self.sent.append((mode, payload))
        bits = 8 * len(payload)
        uses = math.ceil(bits / self.bits_per_use)
        if mode == "deliver":
            return Delivery(payload, bits, uses, True)
        if mode == "corrupt":  # an error the link did not detect
            damaged = bytearray(payload)
            damaged[len(damaged) // 2] ^= 0x5A
            return Delivery(bytes(damaged), bits, uses, True)
        if mode == "truncate":  # the link went down half way
            cut = len(payload) // 2
            return Delivery(payload[:cut], 8 * cut, math.ceil(8 * cut / self.bits_per_use), False)
        if mode == "drop":
            return Delivery(None, bits, uses, False)
        raise AssertionError(f"unknown mode {mode}")


@pytest.fixture
def fake_transport():
    return FakeTransport


@pytest.fixture
def sender():
    """A store with two versions; returns (kb, v1, v2)."""
    kb = KnowledgeBase(":memory:")
    kb.put(VOCABULARY, "en", b"the quick brown fox " * 50, {"size": 4, "lang": "en"})
    kb.put(VOCABULARY, "fr", b"le renard brun " * 40, {"size": 3})
    kb.put(LANGUAGE_MODEL, "bigram", bytes(range(256)) * 8, {"order": 2})
    v1 = kb.commit("first")
    kb.put(CODEBOOK, "vq-64", bytes(512), {"entries": 64, "dim": 8})
    kb.remove(VOCABULARY, "fr")
    kb.put(VOCABULARY, "en", b"the quick brown fox jumps " * 50, {"size": 5, "lang": "en"})
    kb.put(LANGUAGE_MODEL, "bigram", bytes(range(256)) * 8, {"order": 2, "smoothing": "kneser-ney"})
    v2 = kb.commit("second")
    yield kb, v1, v2
    kb.close()
