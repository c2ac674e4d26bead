"""``semcom kb`` commands: init, show, diff, keygen, export, import, reset-sequence."""

from __future__ import annotations

import argparse
import json
import zlib

import pytest

from knowledge_base import CODEBOOK, VOCABULARY, KnowledgeBase, KnowledgeBaseError, make_update
from semcom.cli.kb import DEFAULT_DB, add_commands
from semcom.cli.main import main


def _parse(argv):
    parser = argparse.ArgumentParser(prog="semcom")
    add_commands(parser.add_subparsers(dest="command"))
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

    assert _run(["kb", "init", "--empty", "--db", tx_db]) == 0
    assert _run(["kb", "init", "--empty", "--db", rx_db]) == 0
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
    _run(["kb", "init", "--empty", "--db", db])
    with pytest.raises(KnowledgeBaseError, match="already exists"):
        _run(["kb", "init", "--empty", "--db", db])
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


def _store_with_three_updates(tmp_path, sign_key):
    """A sender with v1, v2 and back to v1, exported as updates 1, 2, 3; returns (paths, v1, v2)."""
    tx_db = str(tmp_path / "tx.sqlite")
    _run(["kb", "init", "--empty", "--db", tx_db])
    with KnowledgeBase(tx_db) as kb:
        kb.put(VOCABULARY, "en", b"alpha beta gamma")
        v1 = kb.commit("first")
        kb.put(CODEBOOK, "vq", bytes(64))
        v2 = kb.commit("second")
    paths = [str(tmp_path / f"u{i}.skbu") for i in (1, 2, 3)]
    for path, (a, b) in zip(paths, [("EMPTY", v1), (v1, v2), (v2, v1)]):
        assert _run(["kb", "export", "--db", tx_db, "--from", a, "--to", b, "--key-file", sign_key, path]) == 0
    return paths, v1, v2


def test_ed25519_keys_sign_and_verify_from_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEMCOM_KB_KEY", raising=False)
    assert _run(["kb", "keygen", "--algorithm", "ed25519", "--out", str(tmp_path / "publisher")]) == 0
    private, public = str(tmp_path / "publisher.key"), str(tmp_path / "publisher.pub")
    assert (tmp_path / "publisher.key").stat().st_mode & 0o077 == 0  # private key: owner only
    assert (tmp_path / "publisher.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    with pytest.raises(KnowledgeBaseError, match="already exists"):
        _run(["kb", "keygen", "--out", str(tmp_path / "publisher")])
    (u1, u2, _), v1, v2 = _store_with_three_updates(tmp_path, private)
    assert "signed with ed25519" in capsys.readouterr().out

    rx_db = str(tmp_path / "rx.sqlite")
    _run(["kb", "init", "--empty", "--db", rx_db])
    assert _run(["kb", "import", "--db", rx_db, "--key-file", public, u1]) == 0
    assert "ed25519 signature checked" in capsys.readouterr().out

    # A tampered update (checksum fixed up) fails the signature.
    data = bytearray(open(u2, "rb").read())
    data[100] ^= 0x01
    data[-4:] = zlib.crc32(bytes(data[:-4])).to_bytes(4, "big")
    tampered = tmp_path / "tampered.skbu"
    tampered.write_bytes(bytes(data))
    assert main(["kb", "import", "--db", rx_db, "--key-file", public, str(tampered)]) == 2
    assert "(signature)" in capsys.readouterr().err

    # A receiver holds only the public key: it cannot sign, not even by using it as an HMAC secret.
    with KnowledgeBase(rx_db) as kb:
        kb.put(VOCABULARY, "en", b"forged")
        kb.commit("forged")
    with pytest.raises(KnowledgeBaseError, match="cannot sign"):
        _run(["kb", "export", "--db", rx_db, "--from", v1, "--key-file", public, str(tmp_path / "f1")])
    forged = str(tmp_path / "forged.skbu")
    with KnowledgeBase(rx_db) as kb:
        forged_bytes = make_update(kb, v1, None, 99, open(public, "rb").read().strip())
    open(forged, "wb").write(forged_bytes)
    with KnowledgeBase(rx_db) as kb:
        kb.checkout(v1)
    assert main(["kb", "import", "--db", rx_db, "--key-file", public, forged]) == 2
    assert "(signature)" in capsys.readouterr().err
    # The private key is refused where only the public key belongs.
    with pytest.raises(KnowledgeBaseError, match="public key"):
        _run(["kb", "import", "--db", rx_db, "--key-file", private, u2])

    assert _run(["kb", "import", "--db", rx_db, "--key-file", public, u2]) == 0
    with KnowledgeBase(rx_db) as kb:
        assert (kb.head, kb.last_sequence) == (v2, 2)


def test_replays_rollbacks_and_counter_lowering_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEMCOM_KB_KEY", raising=False)
    assert _run(["kb", "keygen", "--algorithm", "hmac", "--out", str(tmp_path / "shared")]) == 0
    secret = str(tmp_path / "shared.key")
    (u1, u2, u3), v1, v2 = _store_with_three_updates(tmp_path, secret)
    rx_db = str(tmp_path / "rx.sqlite")
    _run(["kb", "init", "--empty", "--db", rx_db])
    for path in (u1, u2, u3):
        assert _run(["kb", "import", "--db", rx_db, "--key-file", secret, path]) == 0
    capsys.readouterr()
    # After 1, 2 and the revert 3 the receiver is on v1 again: update 2 fits its base but is old.
    for path in (u1, u2, u3):
        assert main(["kb", "import", "--db", rx_db, "--key-file", secret, path]) == 2
        assert "(replay)" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the counter cannot be overridden on import any more
        _parse(["kb", "import", "--db", rx_db, "--key-file", secret, "--last-sequence", "0", u2])
    with KnowledgeBase(rx_db) as kb:
        assert (kb.head, kb.last_sequence) == (v1, 3)

    # Lowering the counter is an explicit, audited act.
    with pytest.raises(KnowledgeBaseError, match="--confirm"):
        _run(["kb", "reset-sequence", "1", "--db", rx_db, "--reason", "test"])
    assert _run(["kb", "reset-sequence", "1", "--db", rx_db, "--reason", "sender key rotated", "--confirm"]) == 0
    assert "set from 3 to 1" in capsys.readouterr().out
    assert _run(["kb", "show", "--db", rx_db, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["last_sequence"] == 1
    assert [(r["old"], r["new"], r["reason"]) for r in report["sequence_resets"]] == [(3, 1, "sender key rotated")]
    assert _run(["kb", "show", "--db", rx_db]) == 0
    assert "counter reset 3 -> 1" in capsys.readouterr().out
