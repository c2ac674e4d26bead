"""``semcom kb`` commands: init, show, diff, export, import."""

from __future__ import annotations

import argparse
import json

import pytest

from knowledge_base import CODEBOOK, VOCABULARY, KnowledgeBase, KnowledgeBaseError
from knowledge_base.cli import DEFAULT_DB, add_kb_commands, main


def _parse(argv):
    parser = argparse.ArgumentParser(prog="semcom")
    add_kb_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def _run(argv):
    args = _parse(argv)
    return args.run(args)


def test_round_trip_between_two_stores(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEMCOM_KB_KEY", raising=False)
    tx_db, rx_db = str(tmp_path / "tx.sqlite"), str(tmp_path / "rx.sqlite")
    key_file = tmp_path / "key"
    key_file.write_bytes(b"a-shared-secret-key-0123456789\n")
    update_1, update_2 = str(tmp_path / "u1.skbu"), str(tmp_path / "u2.skbu")

    assert _run(["kb", "init", "--db", tx_db]) == 0
    assert _run(["kb", "init", "--db", rx_db]) == 0
    with KnowledgeBase(tx_db) as kb:
        kb.put(VOCABULARY, "en", b"alpha beta gamma", {"size": 3})
        kb.model_ref("decoder", "cd" * 32, {"layers": 4})
        v1 = kb.commit("first")
        kb.put(CODEBOOK, "vq", bytes(64), {"dim": 8})
        v2 = kb.commit("second")

    assert _run(["kb", "export", "--db", tx_db, "--to", v1[:8], "--key-file", str(key_file), update_1]) == 0
    assert _run(["kb", "export", "--db", tx_db, "--from", v1, "--key-file", str(key_file), update_2]) == 0
    assert "sequence 2" in capsys.readouterr().out  # the export counter persists in the store

    monkeypatch.setenv("SEMCOM_KB_KEY", "a-shared-secret-key-0123456789")
    assert _run(["kb", "import", "--db", rx_db, update_1]) == 0
    assert _run(["kb", "import", "--db", rx_db, update_2]) == 0
    assert f"-> {v2[:8]}" in capsys.readouterr().out

    assert _run(["kb", "show", "--db", rx_db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["head"] == v2 and report["last_sequence"] == 2
    assert [v["id"] for v in report["versions"]] == [v1, v2]
    assert {(e["kind"], e["name"]) for e in report["entries"]} == {
        (VOCABULARY, "en"),
        ("model_ref", "decoder"),
        (CODEBOOK, "vq"),
    }
    with KnowledgeBase(rx_db) as kb:
        assert kb.get(VOCABULARY, "en").data == b"alpha beta gamma"
        assert kb.get_model_ref("decoder").config == {"layers": 4}

    assert _run(["kb", "show", "--db", rx_db, v1[:8]]) == 0
    text = capsys.readouterr().out
    assert "2 version(s)" in text and "vocabulary/en" in text and "codebook/vq" not in text
    assert _run(["kb", "diff", "--db", rx_db, v1[:8], "HEAD"]) == 0
    assert "+ codebook/vq" in capsys.readouterr().out
    assert _run(["kb", "diff", "--db", rx_db, "EMPTY", v1, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["added"]) == 2

    # Importing the same file again is a replay; main() reports it and exits with 2.
    assert main(["kb", "import", "--db", rx_db, update_2]) == 2
    assert "replay" in capsys.readouterr().err


def test_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEMCOM_KB_KEY", raising=False)
    db = str(tmp_path / "kb.sqlite")
    assert _parse(["kb", "show"]).db == DEFAULT_DB
    with pytest.raises(KnowledgeBaseError, match="no knowledge base"):
        _run(["kb", "show", "--db", db])
    _run(["kb", "init", "--db", db])
    with pytest.raises(KnowledgeBaseError, match="already exists"):
        _run(["kb", "init", "--db", db])
    assert _run(["kb", "show", "--db", db]) == 0
    assert "head none" in capsys.readouterr().out
    with KnowledgeBase(db) as kb:
        kb.put(VOCABULARY, "en", b"x")
        kb.commit()
    with pytest.raises(KnowledgeBaseError, match="no signing key"):
        _run(["kb", "export", "--db", db, str(tmp_path / "u")])
    monkeypatch.setenv("SEMCOM_KB_KEY", "short")
    with pytest.raises(KnowledgeBaseError, match="at least 16"):
        _run(["kb", "export", "--db", db, str(tmp_path / "u")])
    with pytest.raises(KnowledgeBaseError, match="unknown version"):
        _run(["kb", "diff", "--db", db, "beef", "HEAD"])
    monkeypatch.setenv("SEMCOM_KB_KEY", "a-long-enough-key-0123")
    assert main(["kb", "import", "--db", db, str(tmp_path / "missing")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["kb"]) == 0  # prints the kb help
