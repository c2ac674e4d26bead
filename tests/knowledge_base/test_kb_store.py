"""The store: content addressing, immutability, diff and patch, errors."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from knowledge_base import (
    CODEBOOK,
    EMPTY_VERSION,
    LANGUAGE_MODEL,
    MODEL_REF,
    VOCABULARY,
    KnowledgeBase,
    KnowledgeBaseError,
    ModelRef,
    short_id,
    version_id_of,
)
from semcore.errors import SemcomError


def _fill(kb: KnowledgeBase, order: list[int]) -> None:
    items = [
        (VOCABULARY, "en", b"alpha beta", {"size": 2, "lang": "en"}),
        (CODEBOOK, "cb", b"\x01\x02\x03", {"dim": 3}),
        (LANGUAGE_MODEL, "lm", b"weights", None),
    ]
    for i in order:
        kb.put(*items[i])


def test_same_content_same_id_whatever_the_order_history_or_message():
    a, b, c = KnowledgeBase(), KnowledgeBase(), KnowledgeBase()
    _fill(a, [0, 1, 2])
    va = a.commit("one go")
    _fill(b, [2, 0, 1])
    vb = b.commit("other order, other message")
    _fill(c, [0])
    c.commit("step 1")
    _fill(c, [1])
    c.commit("step 2")
    _fill(c, [2])
    vc = c.commit("step 3")
    assert va == vb == vc
    assert va == version_id_of(a.manifest(va))
    assert len(va) == 64


def test_metadata_key_order_does_not_matter_but_values_do():
    a, b, c = KnowledgeBase(), KnowledgeBase(), KnowledgeBase()
    a.put(VOCABULARY, "en", b"x", {"a": 1, "b": [1, 2]})
    b.put(VOCABULARY, "en", b"x", {"b": (1, 2), "a": 1})
    c.put(VOCABULARY, "en", b"x", {"a": 2, "b": [1, 2]})
    assert a.commit() == b.commit() != c.commit()
    assert b.get(VOCABULARY, "en").meta == {"a": 1, "b": [1, 2]}


def test_recommitting_identical_content_reuses_the_version():
    kb = KnowledgeBase()
    kb.put(VOCABULARY, "en", b"x")
    v1 = kb.commit("first")
    kb.put(VOCABULARY, "en", b"y")
    v2 = kb.commit("second")
    kb.put(VOCABULARY, "en", b"x")
    assert kb.commit("back") == v1
    assert kb.head == v1
    assert [v.id for v in kb.versions()] == [v1, v2]
    assert kb.versions()[1].parent == v1


def test_blobs_are_stored_once():
    kb = KnowledgeBase()
    kb.put(VOCABULARY, "a", b"same bytes")
    kb.put(VOCABULARY, "b", b"same bytes")
    kb.commit()
    assert kb._conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1
    assert kb.get(VOCABULARY, "a").sha256 == kb.get(VOCABULARY, "b").sha256


def test_old_versions_stay_readable(sender):
    kb, v1, v2 = sender
    assert kb.head == v2
    assert kb.get(VOCABULARY, "fr", v1).data == b"le renard brun " * 40
    assert kb.get(VOCABULARY, "en", v1).meta == {"size": 4, "lang": "en"}
    assert kb.get(VOCABULARY, "en").meta == {"size": 5, "lang": "en"}
    with pytest.raises(KnowledgeBaseError, match="no entry vocabulary/fr"):
        kb.get(VOCABULARY, "fr")
    infos = kb.versions()
    assert [(i.id, i.parent, i.message, i.num_entries) for i in infos] == [
        (v1, None, "first", 3),
        (v2, v1, "second", 3),
    ]


def test_unknown_version_and_entry_raise_clear_errors(sender):
    kb, v1, _ = sender
    with pytest.raises(KnowledgeBaseError, match="unknown version") as info:
        kb.get(VOCABULARY, "en", "f" * 64)
    assert isinstance(info.value, SemcomError)
    with pytest.raises(KnowledgeBaseError, match="unknown version"):
        kb.checkout("zzzz")
    with pytest.raises(KnowledgeBaseError, match="no entry codebook/missing"):
        kb.get(CODEBOOK, "missing")
    assert kb.resolve(v1[:10]) == v1
    assert kb.resolve("EMPTY") == EMPTY_VERSION
    with pytest.raises(KnowledgeBaseError, match="no version yet"):
        KnowledgeBase().get(VOCABULARY, "en")


def test_committed_versions_are_immutable(sender):
    kb, v1, v2 = sender
    entry = kb.get(VOCABULARY, "en", v1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.data = b"changed"  # type: ignore[misc]
    entry.meta["size"] = 999  # a copy: the store does not see it
    assert kb.get(VOCABULARY, "en", v1).meta["size"] == 4
    manifest = kb.manifest(v1)
    with pytest.raises(TypeError):
        manifest[(VOCABULARY, "en")] = ("0" * 64, {})  # type: ignore[index]
    with pytest.raises(TypeError):
        manifest[(VOCABULARY, "en")][1]["size"] = 1  # type: ignore[index]
    for statement in (
        "UPDATE versions SET message = 'rewritten'",
        "DELETE FROM versions",
        "UPDATE version_entries SET sha256 = 'x'",
        "DELETE FROM version_entries",
        f"INSERT INTO version_entries VALUES ('{v1}', 'codebook', 'sneaky', '{'0' * 64}', '{{}}')",
        "UPDATE blobs SET data = x'00'",
        "DELETE FROM blobs",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            kb._conn.execute(statement)
    # Staging on top of an old version makes a new version; the old one is unchanged.
    kb.checkout(v1)
    kb.put(VOCABULARY, "en", b"rewritten")
    v3 = kb.commit("child of v1")
    assert v3 not in (v1, v2)
    assert kb.get(VOCABULARY, "en", v1).data == b"the quick brown fox " * 50
    assert kb.version_info(v3).parent == v1
    assert kb.verify() == []


def test_corrupt_blob_is_detected(sender):
    kb, v1, _ = sender
    sha = kb.get(VOCABULARY, "fr", v1).sha256
    kb._conn.execute("DROP TRIGGER blobs_no_update")
    kb._conn.execute("UPDATE blobs SET data = x'00' WHERE sha256 = ?", (sha,))
    with pytest.raises(KnowledgeBaseError, match="corrupt"):
        kb.get(VOCABULARY, "fr", v1)
    assert any(sha[:12] in p for p in kb.verify())


def test_diff_then_patch_reproduces_the_target_id(sender):
    kb, v1, v2 = sender
    diff = kb.diff(v1, v2)
    assert [c.key for c in diff.added] == [(CODEBOOK, "vq-64")]
    assert [c.key for c in diff.removed] == [(VOCABULARY, "fr")]
    assert sorted(c.key for c in diff.changed) == [(LANGUAGE_MODEL, "bigram"), (VOCABULARY, "en")]
    lm = next(c for c in diff.changed if c.kind == LANGUAGE_MODEL)
    assert lm.sha256 == lm.old_sha256 and lm.meta != lm.old_meta  # metadata-only change
    assert kb.diff(v1, v1).is_empty and len(diff) == 4
    assert any(line.startswith("- vocabulary/fr") for line in diff.lines())

    # In the same store.
    assert kb.patch(v1, diff) == v2
    # In another store that only holds v1: the diff carries the blobs v1 lacks.
    other = KnowledgeBase()
    assert other.patch(None, kb.diff(None, v1, include_blobs=True), checkout=True) == v1
    full = kb.diff(v1, v2, include_blobs=True)
    assert set(full.blobs) == {c.sha256 for c in full.added + full.changed} - {lm.sha256}
    assert other.patch(v1, full) == v2
    assert other.head == v1  # patch does not move the head unless asked
    assert other.get(CODEBOOK, "vq-64", v2).meta == {"entries": 64, "dim": 8}
    assert other.verify() == []


def test_patch_refuses_conflicts_and_missing_blobs(sender):
    kb, v1, v2 = sender
    with pytest.raises(KnowledgeBaseError, match="cannot remove vocabulary/fr"):
        kb.patch(v2, kb.diff(v1, v2))
    other = KnowledgeBase()
    with pytest.raises(KnowledgeBaseError, match="missing"):
        other.patch(None, kb.diff(None, v1))  # no blobs carried
    assert other.versions() == []
    with pytest.raises(KnowledgeBaseError, match="expected"):
        kb.patch(v1, kb.diff(v1, v2), expected=v1)


def test_short_ids(sender):
    kb, v1, v2 = sender
    assert short_id(v1) == int(v1[:4], 16)
    assert short_id(v1, 32) == int(v1[:8], 16)
    assert short_id(v1, 12) == int(v1[:3], 16)
    assert kb.short_id() == short_id(v2)
    assert kb.short_id(v1, bits=8) == int(v1[:2], 16)
    for bad in (0, 257, 1.5):
        with pytest.raises(KnowledgeBaseError, match="bits"):
            short_id(v1, bad)  # type: ignore[arg-type]


def test_checkout_and_staging(sender):
    kb, v1, v2 = sender
    kb.put(CODEBOOK, "extra", b"e")
    assert [c.key for c in kb.staged()] == [(CODEBOOK, "extra")]
    with pytest.raises(KnowledgeBaseError, match="staged"):
        kb.checkout(v1)
    kb.discard()
    assert kb.checkout(v1[:8]) == v1 and kb.head == v1
    with pytest.raises(KnowledgeBaseError, match="nothing to commit"):
        kb.commit()
    with pytest.raises(KnowledgeBaseError, match="no entry codebook/vq-64 to remove"):
        kb.remove(CODEBOOK, "vq-64")
    kb.put(CODEBOOK, "tmp", b"t")
    kb.remove(CODEBOOK, "tmp")  # unstages it
    assert kb.staged() == []


def test_model_refs():
    kb = KnowledgeBase()
    kb.model_ref("decoder", "AB" * 32, {"layers": 6, "width": 512})
    kb.commit("model")
    assert kb.get_model_ref("decoder") == ModelRef("decoder", "ab" * 32, {"layers": 6, "width": 512})
    assert kb.get(MODEL_REF, "decoder").meta == {"sha256": "ab" * 32}
    with pytest.raises(KnowledgeBaseError, match="64 hex"):
        kb.model_ref("decoder", "not-a-hash", {})


@pytest.mark.parametrize(
    "kind, name, data, meta, match",
    [
        ("", "n", b"x", None, "kind"),
        ("k", "", b"x", None, "name"),
        ("k", "n", "text", None, "bytes"),
        ("k", "n", b"x", {"v": float("nan")}, "JSON"),
        ("k", "n", b"x", {1: "int key"}, "keys must be strings"),
        ("k", "n", b"x", ["not", "a", "dict"], "dict"),
        ("k", "n", b"x", {"v": object()}, "JSON"),
    ],
)
def test_bad_entries_are_refused(kind, name, data, meta, match):
    with pytest.raises(KnowledgeBaseError, match=match):
        KnowledgeBase().put(kind, name, data, meta)


def test_persistence_and_opening_errors(tmp_path):
    path = tmp_path / "kb.sqlite"
    with KnowledgeBase(path) as kb:
        kb.put(VOCABULARY, "en", b"persisted", {"n": 1})
        vid = kb.commit("saved")
    with KnowledgeBase(path, create=False) as kb:
        assert kb.head == vid and kb.get(VOCABULARY, "en").data == b"persisted"
    with pytest.raises(KnowledgeBaseError, match="no knowledge base"):
        KnowledgeBase(tmp_path / "missing.sqlite", create=False)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(KnowledgeBaseError, match="not a semcom knowledge base"):
        KnowledgeBase(other)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(KnowledgeBaseError, match="not a semcom knowledge base"):
        KnowledgeBase(garbage)
