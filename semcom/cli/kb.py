"""``semcom kb ...``: create, inspect, export and import knowledge bases.

Updates are signed with Ed25519 or HMAC-SHA256 (``semcom kb keygen --algorithm ed25519|hmac``).
Ed25519: ``export`` signs with the publisher's private key (``NAME.key``), ``import`` checks with
the public key (``NAME.pub``) only, so receivers cannot sign. HMAC: one shared secret of at least
16 bytes on both ends; whoever holds it can also sign. The key comes from ``--key-file`` or from the
environment variable ``SEMCOM_KB_KEY`` (its UTF-8 bytes); the file's content tells which kind it is.

Every import is checked against the store's replay counter (0 for a new store, then the last
accepted sequence number): replayed or older updates are refused. Only ``reset-sequence``, which
writes an audit entry and a log line, can lower it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
from typing import Any

from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.keys import ALGORITHMS, generate_keys, read_key_file, signer_from_bytes, verifier_from_bytes
from knowledge_base.store import EMPTY_VERSION, KnowledgeBase
from knowledge_base.update import COMPRESSIONS, Signer, Verifier, apply_update, make_update, read_header

DEFAULT_DB = "./semcom-kb.sqlite"
KEY_ENV = "SEMCOM_KB_KEY"
_EXPORT_SEQUENCE = "export_sequence"


def add_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``kb init|codec|show|diff|keygen|export|import|reset-sequence`` to an argparse sub-parsers object."""
    kb = subparsers.add_parser("kb", help="manage the shared knowledge base", description=__doc__)
    kb.set_defaults(run=lambda args: (kb.print_help(), 0)[1])
    commands = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=DEFAULT_DB, metavar="PATH", help=f"knowledge base file (default {DEFAULT_DB})")
    signing = argparse.ArgumentParser(add_help=False)
    signing.add_argument(
        "--key-file", metavar="FILE", help=f"Ed25519 private key or HMAC secret (default: ${KEY_ENV})"
    )
    checking = argparse.ArgumentParser(add_help=False)
    checking.add_argument(
        "--key-file", metavar="FILE", help=f"the publisher's Ed25519 public key or the HMAC secret (default: ${KEY_ENV})"
    )

    p = commands.add_parser("init", parents=[common],
                            help="create a knowledge base whose first version holds the prompt codec (or --empty)")
    p.add_argument("path", nargs="?", help="knowledge base file to create (instead of --db)")
    p.add_argument("--codec", choices=("neural", "ngram", "unigram"), default="neural",
                   help="the prompt codec of the first version (default: neural, the shipped checkpoint)")
    p.add_argument("--empty", action="store_true",
                   help="create an empty store instead (a receiver that gets its first version as an update)")
    p.add_argument("--corpus", metavar="DIR", help="captions for --codec ngram|unigram (default: the shared Flickr8k)")
    p.set_defaults(run=_init)

    p = commands.add_parser("codec", parents=[common], help="which prompt codec and header tag a version decodes with")
    p.add_argument("path", nargs="?", help="knowledge base file (instead of --db)")
    p.add_argument("--version", help="version id, prefix or HEAD (default: the head)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_codec)

    p = commands.add_parser("show", parents=[common], help="list versions and the entries of one")
    p.add_argument("version", nargs="?", help="version whose entries to list (default: the head)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_show)

    p = commands.add_parser("diff", parents=[common], help="what changes version A into version B")
    p.add_argument("a", help="version id, prefix, HEAD or EMPTY")
    p.add_argument("b", help="version id, prefix, HEAD or EMPTY")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_diff)

    p = commands.add_parser("keygen", help="write a new signing key (Ed25519 key pair or HMAC secret)")
    p.add_argument("--algorithm", choices=ALGORITHMS, default="ed25519", help="default ed25519")
    p.add_argument(
        "--out", required=True, metavar="PREFIX",
        help="writes PREFIX.key (private key or secret, mode 0600) and, for ed25519, PREFIX.pub",
    )
    p.set_defaults(run=_keygen)

    p = commands.add_parser("export", parents=[common, signing], help="write a signed update file")
    p.add_argument("output", help="update file to write")
    p.add_argument("--from", dest="from_version", default="EMPTY", help="version the receiver holds (default EMPTY)")
    p.add_argument("--to", dest="to_version", default="HEAD", help="version to send (default HEAD)")
    p.add_argument("--sequence", type=int, help="sequence number (default: one more than this store's last export)")
    p.add_argument("--compression", default="zlib", choices=["auto", *COMPRESSIONS], help="default zlib")
    p.set_defaults(run=_export)

    p = commands.add_parser("import", parents=[common, checking], help="check and apply a signed update file")
    p.add_argument("input", help="update file to read")
    p.set_defaults(run=_import)

    p = commands.add_parser(
        "reset-sequence", parents=[common],
        help="set the replay counter (administrators only; audited and logged)",
        description="Set the store's replay counter to VALUE. Lowering it makes the store accept again "
        "updates it refused as replays: do it only when the sender's counter was lost.",
    )
    p.add_argument("value", type=int, help="new value of the counter")
    p.add_argument("--reason", required=True, help="why; kept in the audit trail")
    p.add_argument("--confirm", action="store_true", help="required: confirms the reset")
    p.set_defaults(run=_reset_sequence)
    return kb


def _open(args: argparse.Namespace) -> KnowledgeBase:
    return KnowledgeBase(args.db, create=False)


def _key_bytes(args: argparse.Namespace) -> tuple[bytes, str]:
    if args.key_file:
        return read_key_file(args.key_file), args.key_file
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode("utf-8"), f"${KEY_ENV}"
    raise KnowledgeBaseError(f"no signing key: pass --key-file or set {KEY_ENV}")


def _signer(args: argparse.Namespace) -> Signer:
    return signer_from_bytes(*_key_bytes(args))


def _verifier(args: argparse.Namespace) -> Verifier:
    return verifier_from_bytes(*_key_bytes(args))


def _store_path(args: argparse.Namespace) -> str:
    if args.path is not None and args.db not in (DEFAULT_DB, args.path):
        raise KnowledgeBaseError(f"two stores given ({args.path!r} and --db {args.db!r}); give one")
    return args.path or args.db


def _init(args: argparse.Namespace) -> int:
    path = _store_path(args)
    if os.path.exists(path):
        raise KnowledgeBaseError(f"{path!r} already exists; pick another path or remove it")
    if args.empty:
        if args.corpus is not None:
            raise KnowledgeBaseError("--corpus builds a prompt codec; an --empty store holds none")
        KnowledgeBase(path).close()
        print(f"initialised an empty knowledge base at {path}")
        return 0
    from semcom.semantic.knowledge import init_kb  # the codecs live in semcom; imported only here

    info = init_kb(path, args.codec, corpus=args.corpus)
    print(f"initialised {path}: version {info.version[:16]} holds the {info.codec} prompt codec "
          f"({info.size} bytes); its prompts carry header tag {info.kb_version} ({info.version_bits} bits)")
    return 0


def _codec(args: argparse.Namespace) -> int:
    from semcom.semantic.knowledge import codec_info  # the codecs live in semcom; imported only here

    with KnowledgeBase(_store_path(args), create=False) as kb:
        info = codec_info(kb, args.version)
        head = kb.head
    if args.json:
        print(json.dumps(dataclasses.asdict(info), indent=2, sort_keys=True))
        return 0
    where = " (head)" if info.version == head else ""
    print(f"version {info.version[:16]}{where} decodes prompts with the {info.codec} codec of entry "
          f"language_model/{info.name}: {info.size} bytes, format {info.format}, sha256 {info.sha256[:12]}")
    print(f"header: tag {info.kb_version} (the version's short id, {info.version_bits} bits), "
          f"{info.check_bits} check bits")
    if info.minilm_sha256:
        print(f"word vectors from the MiniLM model with hash {info.minilm_sha256[:16]}")
    return 0


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _show(args: argparse.Namespace) -> int:
    with _open(args) as kb:
        head = kb.head
        target = kb.resolve(args.version) if (args.version or head) else None
        entries = kb.entries(target) if target else []
        report: dict[str, Any] = {
            "db": args.db,
            "head": head,
            "last_sequence": kb.last_sequence,
            "sequence_resets": [dataclasses.asdict(r) for r in kb.sequence_resets()],
            "versions": [
                {
                    "id": v.id,
                    "parent": v.parent,
                    "message": v.message,
                    "created": v.created,
                    "entries": v.num_entries,
                    "head": v.id == head,
                }
                for v in kb.versions()
            ],
            "version": target,
            "entries": [
                {"kind": e.kind, "name": e.name, "sha256": e.sha256, "size": e.size, "meta": e.meta} for e in entries
            ],
        }
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    print(
        f"knowledge base {args.db}: {len(report['versions'])} version(s), head {head[:8] if head else 'none'}, "
        f"replay counter {report['last_sequence']}"
    )
    for r in report["sequence_resets"]:
        print(f"  counter reset {r['old']} -> {r['new']} on {_when(r['time'])} by {r['user']}: {r['reason']}")
    for v in report["versions"]:
        mark = "*" if v["head"] else " "
        print(f"{mark} {v['id'][:16]}  {_when(v['created'])}  {v['entries']:4d} entries  {v['message']}")
    if target:
        print(f"entries of {target[:16]}:")
        for e in report["entries"]:
            meta = json.dumps(e["meta"], sort_keys=True) if e["meta"] else ""
            print(f"  {e['kind']}/{e['name']}  {e['size']} bytes  {e['sha256'][:12]}  {meta}".rstrip())
    return 0


def _diff(args: argparse.Namespace) -> int:
    with _open(args) as kb:
        diff = kb.diff(kb.resolve(args.a), kb.resolve(args.b))
    if args.json:
        groups = {"added": diff.added, "removed": diff.removed, "changed": diff.changed}
        out: dict[str, Any] = {"from": diff.from_version, "to": diff.to_version}
        for label, group in groups.items():
            out[label] = [
                {
                    "kind": c.kind,
                    "name": c.name,
                    "sha256": c.sha256,
                    "meta": c.meta,
                    "old_sha256": c.old_sha256,
                    "old_meta": c.old_meta,
                }
                for c in group
            ]
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    print(f"diff {diff.from_version[:16]} -> {diff.to_version[:16]}: {len(diff)} change(s)")
    for line in diff.lines():
        print(f"  {line}")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    paths = generate_keys(args.algorithm, args.out)
    if args.algorithm == "ed25519":
        print(f"wrote {paths['private']} (private key: signs updates, keep it with the publisher) and "
              f"{paths['public']} (public key: give it to receivers, it can only verify)")
    else:
        print(f"wrote {paths['secret']} (HMAC secret: both ends need it, and any holder can sign)")
    return 0


def _export(args: argparse.Namespace) -> int:
    signer = _signer(args)
    with _open(args) as kb:
        previous = kb._state(_EXPORT_SEQUENCE)
        sequence = args.sequence if args.sequence is not None else int(previous or 0) + 1
        from_version = None if args.from_version in ("EMPTY", "empty") else args.from_version
        data = make_update(kb, from_version, args.to_version, sequence, signer, compression=args.compression)
        try:
            with open(args.output, "wb") as f:
                f.write(data)
        except OSError as err:
            raise KnowledgeBaseError(f"cannot write {args.output!r}: {err.strerror}") from None
        with kb._transaction():
            kb._set_state(_EXPORT_SEQUENCE, str(max(sequence, int(previous or 0))))
    header = read_header(data)
    print(
        f"wrote {args.output}: {len(data)} bytes, {header.from_version[:8]} -> {header.to_version[:8]}, "
        f"sequence {sequence}, signed with {signer.algorithm_name}"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    verifier = _verifier(args)
    try:
        with open(args.input, "rb") as f:
            data = f.read()
    except OSError as err:
        raise KnowledgeBaseError(f"cannot read {args.input!r}: {err.strerror}") from None
    with _open(args) as kb:
        result = apply_update(kb, data, verifier)
    before = (result.previous_head or EMPTY_VERSION)[:8]
    print(
        f"applied {args.input}: {before} -> {result.head[:8]} (+{result.added} -{result.removed} "
        f"~{result.changed}), sequence {result.sequence}, {verifier.algorithm_name} signature checked"
    )
    return 0


def _reset_sequence(args: argparse.Namespace) -> int:
    if not args.confirm:
        raise KnowledgeBaseError(
            "resetting the replay counter can let old updates in again; add --confirm if that is intended"
        )
    with _open(args) as kb:
        entry = kb.reset_sequence(args.value, args.reason)
    print(f"replay counter of {args.db} set from {entry.old} to {entry.new} by {entry.user}; audit entry recorded")
    return 0
