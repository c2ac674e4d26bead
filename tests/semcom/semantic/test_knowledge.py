"""The knowledge base inside the codec: both ends decode with the codec their KB version holds, and
a signed update synced over a noisy link is what changes the receiver's codec."""

from __future__ import annotations

import struct
import zlib

import pytest

from knowledge_base import (
    LANGUAGE_MODEL,
    VOCABULARY,
    Ed25519Signer,
    Ed25519Verifier,
    KnowledgeBase,
    KnowledgeBaseError,
    apply_update,
    make_update,
)
from semcom.cli.main import main
from semcom.errors import ConfigError
from semcom.network import ControlPlane, Network, Node, SimClock
from semcom.semantic import TextCodec, UnigramTextCodec, default_data_dir, load_flickr8k_captions
from semcom.semantic.knowledge import CODEC_ENTRY, codec_from_kb, codec_info, init_kb, minilm_digest, put_codec

FLICKR = default_data_dir() / "flickr8k-captions" / "Flickr8k.token.txt"
PUBLISHER = Ed25519Signer(bytes(range(32)))
FORGER = Ed25519Signer(bytes(range(1, 33)))
PROMPTS = ["a black dog runs through the snow", "two children play football on the beach",
           "a man in a red shirt climbs a rock wall"]
# On this link (MCS 4, 16-QAM R=0.37, at 4.1 dB: near the code's threshold) the first two transfers
# of the v1 -> v2 update lose code blocks, the third arrives whole.
SNR_DB, MCS, LINK_SEED = 4.1, 4, 1


@pytest.fixture(scope="module")
def captions() -> list[str]:
    return load_flickr8k_captions(FLICKR)


@pytest.fixture(scope="module")
def codecs(captions) -> tuple[TextCodec, TextCodec]:
    """The n-gram codecs of KB v1 (100 captions) and v2 (200 captions)."""
    return TextCodec.from_corpus(captions[:100]), TextCodec.from_corpus(captions[:200])


def _sender_and_receiver(codecs):
    """Sender on v2, receiver on v1 (one version behind); returns (sender, receiver, v1)."""
    v1_codec, v2_codec = codecs
    sender, receiver = KnowledgeBase(), KnowledgeBase()
    for kb in (sender, receiver):
        put_codec(kb, v1_codec, details={"captions": 100})
        v1 = kb.commit("v1")
    put_codec(sender, v2_codec, details={"captions": 200})
    return sender, receiver, v1


def test_the_entry_names_the_codec_and_the_tag_names_the_version(codecs):
    kb = KnowledgeBase()
    put_codec(kb, codecs[0])
    v1 = kb.commit("v1")
    entry = kb.get(LANGUAGE_MODEL, CODEC_ENTRY)
    assert entry.data == codecs[0].to_bytes()
    assert entry.meta["codec"] == "ngram" and entry.meta["format"] == "SCTX/1"
    assert entry.meta["options"]["version_bits"] == 8 and entry.meta["options"]["check_bits"] == 14
    codec = codec_from_kb(kb)
    assert type(codec) is TextCodec and codec.digest == codecs[0].digest
    assert codec.kb_version == kb.short_id(v1, 8) == codec_info(kb).kb_version
    assert codec_from_kb(kb, v1) is codec  # cached per version
    assert codec_from_kb(kb, cache=False) is not codec
    for prompt in PROMPTS:
        assert codec.decode(codec.encode(prompt).bits).text == prompt

    unigram = UnigramTextCodec.from_corpus(["a dog runs", "a cat sleeps"], version_bits=6, check_bits=20)
    put_codec(kb, unigram, "baseline")
    kb.commit("baseline")
    baseline = codec_from_kb(kb, name="baseline")
    assert type(baseline) is UnigramTextCodec and (baseline.version_bits, baseline.check_bits) == (6, 20)
    assert baseline.kb_version == kb.short_id(None, 6)


def test_receiver_one_version_behind_decodes_after_the_update_crosses_a_noisy_link(codecs):
    sender, receiver, v1 = _sender_and_receiver(codecs)
    net = Network()
    net.add_node(Node("edge", "edge", 1e14, 2**36))
    net.add_node(Node("ue", "device", 2e13, 2**33))
    net.add_link("edge", "ue", snr_db=SNR_DB, bandwidth_hz=1e6, latency_s=0.001)
    clock = SimClock()
    plane = ControlPlane(net, "edge", sender, PUBLISHER, policy="on_demand", clock=clock, mcs=MCS, seed=LINK_SEED)
    plane.attach("ue", receiver, Ed25519Verifier(PUBLISHER.public_bytes()), acked_version=v1)
    v2 = plane.commit("v2")

    tx_codec = codec_from_kb(sender)
    sent = [tx_codec.encode(p) for p in PROMPTS]
    rx_codec = codec_from_kb(receiver)
    assert rx_codec.kb_version == receiver.short_id(v1, 8) != tx_codec.kb_version == sender.short_id(v2, 8)
    assert all(rx_codec.decode(enc.bits).reason == "kb-version-mismatch" for enc in sent)

    # each refused prompt makes the receiver ask for the update, until one arrives whole
    events = []
    for _ in range(4):
        events.append(plane.manager.on_packet("ue", now=float(clock.now)))
        if receiver.head == v2:
            break
    assert receiver.head == v2
    assert len(events) >= 2 and events[-1].accepted and not any(e.accepted for e in events[:-1])
    for lost, record in zip(events[:-1], plane.transports["ue"].log):  # blocks lost: the CRC refused it
        assert not lost.delivered and lost.reason == "integrity" and record.failed_blocks > 0
    total = plane.overhead()["total"]
    assert total["failed"] == len(events) - 1 and total["accepted"] == 1 and total["channel_uses"] > 0
    assert plane.overhead()["seconds"] > 0

    rebuilt = codec_from_kb(receiver, cache=False)  # from the receiver's own store
    assert rebuilt.kb_version == tx_codec.kb_version and rebuilt.digest == tx_codec.digest
    for prompt, enc in zip(PROMPTS, sent):
        out = rebuilt.decode(enc.bits)
        assert out.ok and out.text == prompt


def _with_crc(data: bytes) -> bytes:
    body = data[:-4]
    return body + struct.pack(">I", zlib.crc32(body))


def test_tampered_updates_leave_the_receivers_codec_unchanged(codecs):
    sender, receiver, v1 = _sender_and_receiver(codecs)
    v2 = sender.commit("v2")
    verifier = Ed25519Verifier(PUBLISHER.public_bytes())
    genuine = make_update(sender, v1, v2, 1, PUBLISHER)
    flipped = bytearray(genuine)
    flipped[len(flipped) // 2] ^= 0x01
    v1_bits = [codec_from_kb(receiver).encode(p).bits for p in PROMPTS]
    v2_bits = [codec_from_kb(sender).encode(p).bits for p in PROMPTS]

    attempts = [
        ("integrity", bytes(flipped)),  # a byte flipped after signing
        ("signature", _with_crc(bytes(flipped))),  # the same, its CRC made to match
        ("signature", make_update(sender, v1, v2, 2, FORGER)),  # signed with another key
    ]
    for reason, data in attempts:
        result = apply_update(receiver, data, verifier, raise_on_reject=False)
        assert not result.accepted and result.reason == reason
        codec = codec_from_kb(receiver, cache=False)
        assert receiver.head == v1 and codec.kb_version == receiver.short_id(v1, 8)
        assert [codec.decode(bits).text for bits in v1_bits] == PROMPTS
        assert all(codec.decode(bits).reason == "kb-version-mismatch" for bits in v2_bits)

    assert apply_update(receiver, genuine, verifier).accepted
    assert [codec_from_kb(receiver).decode(bits).text for bits in v2_bits] == PROMPTS


def test_colliding_short_ids_are_refused_by_the_keyed_check(captions):
    # 3-bit tags: one version in eight shares v1's tag
    v1_codec = TextCodec.from_corpus(captions[:100], version_bits=3)
    v2_codec = TextCodec.from_corpus(captions[:200], version_bits=3)
    kb = KnowledgeBase()
    put_codec(kb, v1_codec)
    v1 = kb.commit("v1")
    put_codec(kb, v2_codec)
    for attempt in range(200):
        kb.put(VOCABULARY, "note", str(attempt).encode())
        other = kb.commit(f"v2 try {attempt}")
        if kb.short_id(other, 3) == kb.short_id(v1, 3):
            break
    old, new = codec_from_kb(kb, v1), codec_from_kb(kb, other)
    assert old.kb_version == new.kb_version and old.digest != new.digest
    for prompt in PROMPTS:
        assert old.decode(new.encode(prompt).bits).reason == "crc"


def test_neural_entry_refuses_another_minilm(tmp_path):
    card = b'{"version": 1}'
    kb = KnowledgeBase()
    kb.put(LANGUAGE_MODEL, CODEC_ENTRY, b"SCNL" + struct.pack(">II", len(card), 0) + card,
           {"codec": "neural", "format": "SCNL/1", "options": {"version_bits": 8, "check_bits": 14},
            "minilm_sha256": "0" * 64})
    kb.commit("a codec whose vectors came from another MiniLM")
    with pytest.raises(ConfigError, match="MiniLM"):
        codec_from_kb(kb)
    kb.put(LANGUAGE_MODEL, CODEC_ENTRY, b"not a codec", {"note": "no codec metadata"})
    kb.commit("not a codec")
    with pytest.raises(KnowledgeBaseError, match="not a prompt codec"):
        codec_from_kb(kb)


def test_kb_init_command_stores_a_codec_whose_tag_is_the_version(tmp_path, monkeypatch, captions, capsys):
    monkeypatch.setenv("SEMCOM_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "Flickr8k.token.txt").write_text(
        "".join(f"im{i // 5}.jpg#{i % 5}\t{c}\n" for i, c in enumerate(captions[:300])), encoding="utf-8")
    path = tmp_path / "kb.sqlite"
    assert main(["kb", "init", str(path), "--codec", "ngram", "--corpus", str(corpus)]) == 0
    assert main(["kb", "init", str(path), "--codec", "ngram", "--corpus", str(corpus)]) == 2  # exists
    with KnowledgeBase(path, create=False) as kb:
        codec = codec_from_kb(kb)
        assert codec.kb_version == kb.short_id(kb.head, codec.version_bits)
        assert kb.get(LANGUAGE_MODEL, CODEC_ENTRY).meta["details"]["source"] == "flickr8k captions"
    for prompt in PROMPTS + ["a zebra eats a hibiscus"]:
        assert codec.decode(codec.encode(prompt).bits).text == prompt
    capsys.readouterr()
    assert main(["kb", "codec", str(path)]) == 0
    assert f"tag {codec.kb_version} " in capsys.readouterr().out


def test_init_kb_with_the_shipped_neural_codec(tmp_path):
    info = init_kb(tmp_path / "kb.sqlite")
    assert info.codec == "neural" and info.format == "SCNL/1" and info.minilm_sha256 == minilm_digest()
    with KnowledgeBase(tmp_path / "kb.sqlite", create=False) as kb:
        codec = codec_from_kb(kb, cache=False)
        assert codec.kb_version == kb.short_id(kb.head, 8) == info.kb_version
    enc = codec.encode("a brown dog jumps over a hibiscus")
    assert codec.decode(enc.bits).text == "a brown dog jumps over a hibiscus"
