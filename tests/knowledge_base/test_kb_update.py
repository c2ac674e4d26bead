"""Updates: wire format, and every way a receiver refuses a bad one while keeping its version."""

from __future__ import annotations

import sqlite3
import struct
import zlib

import pytest

from knowledge_base import (
    CODEBOOK,
    EMPTY_VERSION,
    REJECTION_REASONS,
    VOCABULARY,
    Ed25519Signer,
    Ed25519Verifier,
    HmacSigner,
    HmacVerifier,
    KnowledgeBase,
    KnowledgeBaseError,
    UpdateRejected,
    apply_update,
    make_update,
    read_header,
)
from knowledge_base.update import HEADER, HEADER_SIZE

KEY = b"test-key-0123456789abcdef"


def _resign(data: bytes, signer, *, header=None, payload=None) -> bytes:
    """Rebuild an update with some fields replaced, correctly signed and checksummed."""
    h = read_header(data)
    old_payload = data[HEADER_SIZE : HEADER_SIZE + h.payload_size]
    payload = old_payload if payload is None else payload
    fields = list(HEADER.unpack_from(data))
    for index, value in (header or {}).items():
        fields[index] = value
    fields[8] = len(payload)
    body = HEADER.pack(*fields) + payload
    body += signer.sign(body)
    return body + struct.pack(">I", zlib.crc32(body))


def _receiver_at(kb: KnowledgeBase, version: str, sequence: int = 1) -> KnowledgeBase:
    rx = KnowledgeBase()
    apply_update(rx, make_update(kb, None, version, sequence, KEY), KEY)
    return rx


def _assert_intact(rx: KnowledgeBase, version: str) -> None:
    assert rx.head == version
    assert rx.get(VOCABULARY, "en").data == b"the quick brown fox " * 50
    assert rx.verify() == []


@pytest.mark.parametrize("compression", ["zlib", "lzma", "none", "auto"])
@pytest.mark.parametrize("algorithm", ["hmac", "ed25519"])
def test_round_trip_and_wire_format(sender, compression, algorithm):
    kb, v1, v2 = sender
    if algorithm == "hmac":
        signer, verifier, sig = HmacSigner(KEY), HmacVerifier(KEY), 32
    else:
        signer = Ed25519Signer.generate()
        verifier, sig = Ed25519Verifier(signer.public_bytes()), 64
    data = make_update(kb, None, v2, 7, signer, compression=compression)
    header = read_header(data)
    assert data[:4] == b"SKBU" and data[4] == 1
    assert (header.from_version, header.to_version, header.sequence) == (EMPTY_VERSION, v2, 7)
    assert header.signature_size == sig
    assert len(data) == HEADER_SIZE + header.payload_size + sig + 4 == header.total_size
    if compression != "none":
        assert header.payload_size < header.raw_size
    rx = KnowledgeBase()
    result = apply_update(rx, data, verifier)
    assert result.accepted and result.head == rx.head == v2 and result.previous_head is None
    assert (result.added, result.removed, result.changed, result.sequence) == (3, 0, 0, 7)
    assert rx.last_sequence == 7
    for entry in kb.entries(v2):
        got = rx.get(entry.kind, entry.name)
        assert (got.data, got.meta) == (entry.data, entry.meta)


def test_incremental_update_carries_only_what_changed(sender):
    kb, v1, v2 = sender
    rx = _receiver_at(kb, v1)
    full = make_update(kb, None, v2, 2, KEY, compression="none")
    delta = make_update(kb, v1, v2, 2, KEY, compression="none")
    assert len(delta) < len(full)
    result = apply_update(rx, delta, KEY)
    assert (result.added, result.removed, result.changed) == (1, 1, 2)
    assert rx.head == v2 and rx.version_info(v2).parent == v1
    assert rx.get(VOCABULARY, "fr", v1).data == b"le renard brun " * 40  # old version kept
    empty = make_update(kb, v2, v2, 3, KEY)  # nothing to send: header, empty payload, trailer
    assert apply_update(rx, empty, KEY).head == v2


def _reject(rx, data, verifier=KEY) -> UpdateRejected:
    with pytest.raises(UpdateRejected) as info:
        apply_update(rx, data, verifier)
    assert info.value.reason in REJECTION_REASONS
    counter = rx.last_sequence
    result = apply_update(rx, data, verifier, raise_on_reject=False)
    assert not result.accepted and result.reason == info.value.reason and result.head == rx.head
    assert result.last_sequence == rx.last_sequence == counter
    return info.value


def test_tampered_bytes_are_rejected_for_integrity(sender):
    kb, v1, v2 = sender
    rx = _receiver_at(kb, v1)
    good = make_update(kb, v1, v2, 2, KEY)
    blobs_before = rx._conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
    for position in (9, 45, 75, HEADER_SIZE + 3, len(good) // 2, len(good) - 20, len(good) - 1):
        bad = bytearray(good)
        bad[position] ^= 0x01
        assert _reject(rx, bytes(bad)).reason == "integrity", position
        _assert_intact(rx, v1)
    assert rx._conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == blobs_before
    assert apply_update(rx, good, KEY).head == v2  # the genuine one still goes through


def test_forged_updates_are_rejected_for_signature(sender):
    kb, v1, v2 = sender
    rx = _receiver_at(kb, v1)
    wrong_key = make_update(kb, v1, v2, 2, b"attacker-key-0123456789")
    assert _reject(rx, wrong_key).reason == "signature"
    # Changing a field and fixing the checksum is not enough without the key.
    good = make_update(kb, v1, v2, 2, KEY)
    forged = bytearray(good[:-4])
    forged[72:80] = (99).to_bytes(8, "big")
    forged += struct.pack(">I", zlib.crc32(bytes(forged)))
    assert _reject(rx, bytes(forged)).reason == "signature"
    # Ed25519: another private key, and an algorithm the receiver does not check.
    signer, impostor = Ed25519Signer.generate(), Ed25519Signer.generate()
    ed_rx = KnowledgeBase()
    assert _reject(ed_rx, make_update(kb, None, v1, 1, impostor), signer.verifier()).reason == "signature"
    assert _reject(ed_rx, make_update(kb, None, v1, 1, KEY), signer.verifier()).reason == "signature"
    assert _reject(rx, make_update(kb, v1, v2, 2, signer)).reason == "signature"
    _assert_intact(rx, v1)
    assert ed_rx.head is None


def test_replayed_and_out_of_order_updates_are_rejected(sender):
    kb, v1, v2 = sender
    rx = KnowledgeBase()
    assert rx.last_sequence == 0  # a fresh store: any sequence number from 1 is new
    first = make_update(kb, None, v1, 5, KEY)
    apply_update(rx, first, KEY)
    assert rx.last_sequence == 5
    error = _reject(rx, first)
    assert error.reason == "replay" and error.sequence == 5
    stale = make_update(kb, v1, v2, 3, KEY)  # right base, but older than what was accepted
    assert _reject(rx, stale).reason == "replay"
    _assert_intact(rx, v1)
    assert apply_update(rx, make_update(kb, v1, v2, 9, KEY), KEY).head == v2  # gaps are fine
    assert rx.last_sequence == 9
    with pytest.raises(KnowledgeBaseError, match="sequence"):
        make_update(kb, None, v1, 0, KEY)  # 0 could never be accepted


def test_a_rolled_back_update_cannot_be_replayed(sender):
    """Seq 1 (-> v1), 2 (-> v2), 3 (back to v1): replaying 2 matches the base again but is refused."""
    kb, v1, v2 = sender
    updates = [make_update(kb, None, v1, 1, KEY), make_update(kb, v1, v2, 2, KEY), make_update(kb, v2, v1, 3, KEY)]
    rx = KnowledgeBase()
    for update in updates:
        apply_update(rx, update, KEY)
    assert (rx.head, rx.last_sequence) == (v1, 3)
    for old in updates:
        assert _reject(rx, old).reason == "replay"
    assert (rx.head, rx.last_sequence) == (v1, 3)


def test_the_counter_only_moves_by_an_audited_reset(sender, caplog):
    kb, v1, v2 = sender
    rx = _receiver_at(kb, v1, sequence=7)
    with pytest.raises(KnowledgeBaseError, match="not above"):
        rx._advance_sequence(7)
    with pytest.raises(KnowledgeBaseError, match="reason"):
        rx.reset_sequence(1, "  ")
    assert rx.sequence_resets() == [] and rx.last_sequence == 7
    with caplog.at_level("WARNING", logger="knowledge_base"):
        entry = rx.reset_sequence(1, "sender re-installed", user="admin")
    assert (entry.old, entry.new, entry.user, entry.reason) == (7, 1, "admin", "sender re-installed")
    assert "reset from 7 to 1 by admin: sender re-installed" in caplog.text
    assert rx.sequence_resets() == [entry] and rx.last_sequence == 1
    assert apply_update(rx, make_update(kb, v1, v2, 2, KEY), KEY).head == v2
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        rx._conn.execute("DELETE FROM sequence_resets")


def test_truncated_updates_are_rejected(sender):
    kb, v1, v2 = sender
    rx = _receiver_at(kb, v1)
    good = make_update(kb, v1, v2, 2, KEY)
    for cut in (0, 2, 4, 10, HEADER_SIZE - 1, HEADER_SIZE, len(good) // 2, len(good) - 1):
        assert _reject(rx, good[:cut]).reason == "truncated", cut
        _assert_intact(rx, v1)
    assert apply_update(rx, None, KEY, raise_on_reject=False).reason == "truncated"


def test_base_mismatch(sender):
    kb, v1, v2 = sender
    rx = _receiver_at(kb, v1)
    error = _reject(rx, make_update(kb, None, v2, 2, KEY))
    assert error.reason == "base-mismatch" and "receiver's version" in str(error)
    _assert_intact(rx, v1)
    empty_rx = KnowledgeBase()
    assert _reject(empty_rx, make_update(kb, v1, v2, 1, KEY)).reason == "base-mismatch"


def test_hash_mismatch(sender):
    kb, v1, v2 = sender
    rx = _receiver_at(kb, v1)
    signer = HmacSigner(KEY)
    good = make_update(kb, v1, v2, 2, KEY)
    wrong_target = _resign(good, signer, header={6: bytes.fromhex(v1)})
    assert _reject(rx, wrong_target).reason == "hash-mismatch"
    # A payload whose blob is not the one its entry names.
    other = KnowledgeBase()
    other.put(CODEBOOK, "vq-64", bytes(512), {"entries": 64, "dim": 8})
    other.commit()
    swapped_payload = make_update(other, None, None, 1, KEY, compression="none")
    h = read_header(swapped_payload)
    payload = bytearray(swapped_payload[HEADER_SIZE : HEADER_SIZE + h.payload_size])
    payload[-1] ^= 0xFF  # last byte of the blob: its hash no longer matches the entry's
    data = _resign(
        swapped_payload, signer, header={5: bytes.fromhex(EMPTY_VERSION), 3: 0}, payload=bytes(payload)
    )
    assert _reject(KnowledgeBase(), data).reason == "hash-mismatch"
    _assert_intact(rx, v1)


def test_malformed_updates(sender):
    kb, v1, v2 = sender
    rx = _receiver_at(kb, v1)
    good = make_update(kb, v1, v2, 2, KEY)
    signer = HmacSigner(KEY)
    assert _reject(rx, b"GIF89a" + good[6:]).reason == "malformed"
    assert _reject(rx, good + b"\x00").reason == "malformed"
    assert _reject(rx, _resign(good, signer, header={1: 2})).reason == "malformed"
    assert _reject(rx, _resign(good, signer, payload=b"\x00\x01garbage")).reason == "malformed"
    garbage_raw = _resign(good, signer, header={3: 0, 9: 7}, payload=b"\xff" * 7)
    assert _reject(rx, garbage_raw).reason == "malformed"
    with pytest.raises(UpdateRejected, match="exceeds the limit") as info:
        apply_update(rx, good, KEY, max_payload=10)
    assert info.value.reason == "malformed"
    _assert_intact(rx, v1)


def test_rejections_are_knowledge_base_errors_and_arguments_are_checked(sender):
    kb, v1, _ = sender
    assert issubclass(UpdateRejected, KnowledgeBaseError)
    with pytest.raises(ValueError):
        UpdateRejected("made-up", "no such reason")
    with pytest.raises(KnowledgeBaseError, match="at least 16"):
        HmacSigner(b"short")
    with pytest.raises(KnowledgeBaseError, match="sequence"):
        make_update(kb, None, v1, -1, KEY)
    with pytest.raises(KnowledgeBaseError, match="compression"):
        make_update(kb, None, v1, 1, KEY, compression="brotli")
    with pytest.raises(KnowledgeBaseError, match="unknown version"):
        make_update(kb, None, "ab" * 32, 1, KEY)
    signer = Ed25519Signer.generate()
    assert Ed25519Signer(signer.private_bytes()).public_bytes() == signer.public_bytes()
