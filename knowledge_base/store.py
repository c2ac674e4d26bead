"""A versioned, content-addressed knowledge base over SQLite.

Entries are ``(kind, name) -> blob + metadata``. Blobs are stored once, keyed by their SHA-256.
A *version* is an immutable snapshot: a manifest that maps every ``(kind, name)`` to
``(blob hash, metadata)``. Its id is the SHA-256 of the manifest's canonical serialisation
(:func:`manifest_bytes`), so the same content always gets the same id, whichever store built it
and whatever history led to it. The parent version, the message and the time of a version are
recorded next to it but are not part of the id: a diff applied to its base version reproduces
the target's id exactly, even when the target was reached through several commits.

Changes go through a staging area (:meth:`KnowledgeBase.put`, :meth:`KnowledgeBase.remove`) and
become a version with :meth:`KnowledgeBase.commit`. Committed versions and blobs cannot be changed
or deleted: the store refuses it at the SQLite level too (triggers).
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from knowledge_base.errors import KnowledgeBaseError

log = logging.getLogger("knowledge_base")

# Kinds are free strings; these are the ones the codecs and models use.
VOCABULARY = "vocabulary"
LANGUAGE_MODEL = "language_model"
CODEBOOK = "codebook"
MODEL_REF = "model_ref"

MANIFEST_FORMAT = "semcom-kb-manifest/1"
SCHEMA_VERSION = 1
#: Longest kind or name, in UTF-8 bytes (the update format stores them with a 16-bit length).
MAX_KEY_BYTES = 1024

EntryKey = tuple[str, str]
#: A manifest: ``(kind, name) -> (blob sha256, metadata)``.
Manifest = Mapping[EntryKey, tuple[str, Mapping[str, Any]]]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def manifest_bytes(manifest: Manifest) -> bytes:
    """The canonical serialisation of a manifest, the input of its version id.

    UTF-8 JSON, keys sorted, no spaces, ASCII only::

        {"entries":[[kind,name,sha256,meta],...],"format":"semcom-kb-manifest/1"}

    with the entries sorted by ``(kind, name)``.
    """
    entries = [[kind, name, sha, dict(meta)] for (kind, name), (sha, meta) in sorted(manifest.items())]
    return _canonical_json({"entries": entries, "format": MANIFEST_FORMAT}).encode("ascii")


def version_id_of(manifest: Manifest) -> str:
    """The version id of a manifest: hex SHA-256 of :func:`manifest_bytes`."""
    return _sha256(manifest_bytes(manifest))


#: Id of the version with no entries: where every receiver starts.
EMPTY_VERSION: str = version_id_of({})


def short_id(version: str, bits: int = 16) -> int:
    """The first ``bits`` bits of a version id, as an int: a tag for packet headers.

    >>> short_id(EMPTY_VERSION, 8) == int(EMPTY_VERSION[:2], 16)
    True
    """
    if not isinstance(bits, int) or not 1 <= bits <= 256:
        raise KnowledgeBaseError(f"short id bits must be an int in 1..256, got {bits!r}")
    if not _is_full_id(version):
        raise KnowledgeBaseError(f"not a full version id (64 hex digits): {version!r}")
    return int(version, 16) >> (256 - bits)


def _is_full_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _check_key(kind: object, name: object) -> EntryKey:
    for label, value in (("kind", kind), ("name", name)):
        if not isinstance(value, str) or not value:
            raise KnowledgeBaseError(f"entry {label} must be a non-empty string, got {value!r}")
        if "\x00" in value:
            raise KnowledgeBaseError(f"entry {label} must not contain NUL characters: {value!r}")
        if len(value.encode("utf-8")) > MAX_KEY_BYTES:
            raise KnowledgeBaseError(f"entry {label} is longer than {MAX_KEY_BYTES} UTF-8 bytes")
    return kind, name  # type: ignore[return-value]


def normalise_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata as it is stored: a JSON round trip of a dict with string keys, no NaN or infinity."""
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise KnowledgeBaseError(f"entry metadata must be a dict, got {type(meta).__name__}")

    def check_keys(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise KnowledgeBaseError(f"metadata keys must be strings, got {key!r} at {path or 'top level'}")
                check_keys(item, f"{path}.{key}" if path else key)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                check_keys(item, f"{path}[{index}]")

    check_keys(meta, "")
    try:
        return json.loads(_canonical_json(dict(meta)))
    except (TypeError, ValueError) as err:
        raise KnowledgeBaseError(f"entry metadata must be JSON-serialisable (no NaN or infinity): {err}") from None


@dataclass(frozen=True)
class Entry:
    """One entry of one version. ``meta`` is a copy: changing it does not change the store."""

    kind: str
    name: str
    data: bytes
    meta: dict[str, Any]
    sha256: str
    version: str

    @property
    def key(self) -> EntryKey:
        return (self.kind, self.name)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class SequenceReset:
    """One audited change of a store's replay counter by an administrator (never by an update)."""

    time: float
    old: int
    new: int
    user: str
    reason: str


@dataclass(frozen=True)
class VersionInfo:
    """A committed version: its id, where it came from, and how many entries it holds."""

    id: str
    parent: str | None
    message: str
    created: float
    num_entries: int

    @property
    def short(self) -> str:
        """The first 8 hex digits of the id."""
        return self.id[:8]


@dataclass(frozen=True)
class ModelRef:
    """A reference to model weights kept outside the knowledge base: name, hash, config."""

    name: str
    sha256: str
    config: dict[str, Any]


@dataclass(frozen=True)
class EntryChange:
    """One entry of a diff. ``old_*`` are None for an added entry, the new ones for a removed one."""

    kind: str
    name: str
    sha256: str | None
    meta: dict[str, Any] | None
    old_sha256: str | None = None
    old_meta: dict[str, Any] | None = None

    @property
    def key(self) -> EntryKey:
        return (self.kind, self.name)


@dataclass(frozen=True)
class KBDiff:
    """What turns version ``from_version`` into ``to_version``.

    ``blobs`` carries blob contents (sha256 -> bytes) the base may lack; it is empty for a diff
    computed inside one store (:meth:`KnowledgeBase.diff` with ``include_blobs=False``).
    """

    from_version: str
    to_version: str
    added: tuple[EntryChange, ...] = ()
    removed: tuple[EntryChange, ...] = ()
    changed: tuple[EntryChange, ...] = ()
    blobs: Mapping[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def __len__(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)

    def lines(self) -> list[str]:
        """Human-readable lines: ``+`` added, ``-`` removed, ``~`` changed."""
        out = []
        for sign, group in (("+", self.added), ("-", self.removed), ("~", self.changed)):
            for change in group:
                sha = change.sha256 if sign != "-" else change.old_sha256
                detail = f"{sha[:12]}" if sha else ""
                if sign == "~":
                    what = []
                    if change.old_sha256 != change.sha256:
                        what.append(f"data {change.old_sha256[:12]} -> {change.sha256[:12]}")
                    if change.old_meta != change.meta:
                        what.append("meta")
                    detail = ", ".join(what)
                out.append(f"{sign} {change.kind}/{change.name}  {detail}".rstrip())
        return out


_SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    parent TEXT,
    message TEXT NOT NULL,
    created REAL NOT NULL,
    num_entries INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS version_entries (
    version TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    meta TEXT NOT NULL,
    PRIMARY KEY (version, kind, name)
);
CREATE TABLE IF NOT EXISTS staging (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT,
    meta TEXT,
    PRIMARY KEY (kind, name)
);
CREATE TRIGGER IF NOT EXISTS versions_no_update BEFORE UPDATE ON versions
    BEGIN SELECT RAISE(ABORT, 'knowledge base versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS versions_no_delete BEFORE DELETE ON versions
    BEGIN SELECT RAISE(ABORT, 'knowledge base versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS version_entries_no_update BEFORE UPDATE ON version_entries
    BEGIN SELECT RAISE(ABORT, 'knowledge base versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS version_entries_no_delete BEFORE DELETE ON version_entries
    BEGIN SELECT RAISE(ABORT, 'knowledge base versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS version_entries_no_insert_late BEFORE INSERT ON version_entries
    WHEN (SELECT num_entries FROM versions WHERE id = NEW.version) IS NOT NULL
         AND (SELECT count(*) FROM version_entries WHERE version = NEW.version)
             >= (SELECT num_entries FROM versions WHERE id = NEW.version)
    BEGIN SELECT RAISE(ABORT, 'knowledge base versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS blobs_no_update BEFORE UPDATE ON blobs
    BEGIN SELECT RAISE(ABORT, 'knowledge base blobs are immutable'); END;
CREATE TRIGGER IF NOT EXISTS blobs_no_delete BEFORE DELETE ON blobs
    BEGIN SELECT RAISE(ABORT, 'knowledge base blobs are immutable'); END;
"""

# The audit trail of replay-counter resets; created with the first reset (stores of schema 1 that
# never had one stay as they were). Rows cannot be changed or deleted.
_AUDIT_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sequence_resets (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time REAL NOT NULL, old INTEGER NOT NULL, new INTEGER NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL
    )""",
    """CREATE TRIGGER IF NOT EXISTS sequence_resets_no_update BEFORE UPDATE ON sequence_resets
        BEGIN SELECT RAISE(ABORT, 'the sequence audit trail is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS sequence_resets_no_delete BEFORE DELETE ON sequence_resets
        BEGIN SELECT RAISE(ABORT, 'the sequence audit trail is append-only'); END""",
)

_MAGIC_KEY = "format"
_MAGIC_VALUE = "semcom-knowledge-base"


class KnowledgeBase:
    """A versioned, content-addressed store of the knowledge both ends of a link share.

    ``path`` is an SQLite file (created when missing unless ``create=False``) or ``":memory:"``.

    >>> kb = KnowledgeBase(":memory:")
    >>> kb.put(VOCABULARY, "en", b"a b c", {"size": 3})
    >>> v1 = kb.commit("first")
    >>> kb.get(VOCABULARY, "en").data
    b'a b c'
    >>> kb.head == v1
    True
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, create: bool = True):
        self.path = os.fspath(path)
        if self.path != ":memory:" and not create and not os.path.exists(self.path):
            raise KnowledgeBaseError(f"no knowledge base at {self.path!r}; create one first (semcom kb init)")
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as err:
            raise KnowledgeBaseError(f"cannot open knowledge base {self.path!r}: {err}") from None
        self._in_transaction = False
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._init_schema()
        except sqlite3.DatabaseError as err:
            self._conn.close()
            raise KnowledgeBaseError(f"{self.path!r} is not a semcom knowledge base: {err}") from None
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _init_schema(self) -> None:
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "kb_meta" not in tables:
            raise KnowledgeBaseError(f"{self.path!r} is an SQLite file but not a semcom knowledge base")
        if not tables:
            self._conn.executescript(_SCHEMA)
            with self._transaction():
                self._set_state(_MAGIC_KEY, _MAGIC_VALUE)
                self._set_state("schema", str(SCHEMA_VERSION))
        if self._state(_MAGIC_KEY) != _MAGIC_VALUE:
            raise KnowledgeBaseError(f"{self.path!r} is an SQLite file but not a semcom knowledge base")
        schema = self._state("schema")
        if schema != str(SCHEMA_VERSION):
            raise KnowledgeBaseError(
                f"{self.path!r} holds a knowledge base of schema {schema!r}; this code reads {SCHEMA_VERSION}"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One SQLite transaction; nested uses join the outer one."""
        if self._in_transaction:
            yield self._conn
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield self._conn
        except BaseException:
            self._in_transaction = False
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._in_transaction = False
            self._conn.execute("COMMIT")

    def _state(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM kb_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_state(self, key: str, value: str | None) -> None:
        if value is None:
            self._conn.execute("DELETE FROM kb_meta WHERE key = ?", (key,))
        else:
            self._conn.execute("INSERT OR REPLACE INTO kb_meta (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "KnowledgeBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        head = self.head
        return f"KnowledgeBase({self.path!r}, head={head[:8] if head else None})"

    # ------------------------------------------------------------------ versions

    @property
    def head(self) -> str | None:
        """The current version id of this store; None before the first commit or update."""
        return self._state("head")

    @property
    def last_sequence(self) -> int:
        """The replay counter: sequence number of the last update this store accepted, 0 before any.

        An update is accepted only with a larger number (so the first may carry any number >= 1).
        Updates only raise it; :meth:`reset_sequence` is the audited way to set it otherwise.
        """
        value = self._state("last_sequence")
        return 0 if value is None else int(value)

    def _advance_sequence(self, sequence: int) -> None:
        """Record an accepted update's sequence number; refuses to keep or lower the counter."""
        if sequence <= self.last_sequence:
            raise KnowledgeBaseError(f"sequence {sequence} is not above the last accepted one ({self.last_sequence})")
        self._set_state("last_sequence", str(sequence))

    def reset_sequence(self, value: int, reason: str, *, user: str | None = None) -> SequenceReset:
        """Set the replay counter to ``value`` (an administrator's act): audited and logged.

        Lowering it lets this store accept updates it once refused as replays, so only do it when
        the sender's counter was lost. ``reason`` is kept in the audit trail
        (:meth:`sequence_resets`) with the old and new value, the time and ``user``.
        """
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
            raise KnowledgeBaseError(f"the sequence counter is an int in [0, 2**64), got {value!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise KnowledgeBaseError("give a reason for resetting the sequence counter; it goes in the audit trail")
        if user is None:
            try:
                user = getpass.getuser()
            except (KeyError, OSError):
                user = "unknown"
        with self._transaction():
            for statement in _AUDIT_SCHEMA:
                self._conn.execute(statement)
            entry = SequenceReset(time.time(), self.last_sequence, value, user, reason.strip())
            self._conn.execute(
                "INSERT INTO sequence_resets (time, old, new, user, reason) VALUES (?, ?, ?, ?, ?)",
                (entry.time, entry.old, entry.new, entry.user, entry.reason),
            )
            self._set_state("last_sequence", str(value))
        log.warning(
            "knowledge base %s: sequence counter reset from %d to %d by %s: %s",
            self.path, entry.old, entry.new, entry.user, entry.reason,
        )
        return entry

    def sequence_resets(self) -> list[SequenceReset]:
        """The audit trail of :meth:`reset_sequence`, oldest first."""
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sequence_resets'"
        ).fetchone()
        if exists is None:
            return []
        rows = self._conn.execute("SELECT time, old, new, user, reason FROM sequence_resets ORDER BY seq")
        return [SequenceReset(*row) for row in rows]

    def has_version(self, version: str) -> bool:
        if version == EMPTY_VERSION:
            return True
        return self._conn.execute("SELECT 1 FROM versions WHERE id = ?", (version,)).fetchone() is not None

    def resolve(self, version: str | None = None) -> str:
        """The full id of ``version``: a full id, a unique hex prefix (4+ digits), or "HEAD"/None.

        The empty version (:data:`EMPTY_VERSION`, also spelt "EMPTY") is always known.
        """
        if version is None or version in ("HEAD", "head"):
            head = self.head
            if head is None:
                raise KnowledgeBaseError("the knowledge base has no version yet (nothing committed)")
            return head
        if not isinstance(version, str):
            raise KnowledgeBaseError(f"a version is a hex id string, got {type(version).__name__}")
        if version in ("EMPTY", "empty"):
            return EMPTY_VERSION
        candidate = version.lower()
        if len(candidate) < 4 or any(c not in "0123456789abcdef" for c in candidate):
            raise KnowledgeBaseError(f"unknown version {version!r}: give a hex id or a prefix of 4+ hex digits")
        if len(candidate) == 64:
            if self.has_version(candidate):
                return candidate
            raise KnowledgeBaseError(f"unknown version {version!r}")
        matches = [
            row[0]
            for row in self._conn.execute(
                "SELECT id FROM versions WHERE id >= ? AND id < ? LIMIT 2", (candidate, candidate + "g")
            )
        ]
        if EMPTY_VERSION.startswith(candidate) and EMPTY_VERSION not in matches:
            matches.append(EMPTY_VERSION)
        if not matches:
            raise KnowledgeBaseError(f"unknown version {version!r}")
        if len(matches) > 1:
            raise KnowledgeBaseError(f"version prefix {version!r} is ambiguous; give more digits")
        return matches[0]

    def versions(self) -> list[VersionInfo]:
        """Every committed version, oldest first."""
        rows = self._conn.execute(
            "SELECT id, parent, message, created, num_entries FROM versions ORDER BY seq"
        ).fetchall()
        return [VersionInfo(*row) for row in rows]

    def version_info(self, version: str | None = None) -> VersionInfo:
        vid = self.resolve(version)
        row = self._conn.execute(
            "SELECT id, parent, message, created, num_entries FROM versions WHERE id = ?", (vid,)
        ).fetchone()
        if row is None:  # the empty version, never committed here
            return VersionInfo(EMPTY_VERSION, None, "empty", 0.0, 0)
        return VersionInfo(*row)

    def manifest(self, version: str | None = None) -> Mapping[EntryKey, tuple[str, Mapping[str, Any]]]:
        """The read-only manifest of a version: ``(kind, name) -> (sha256, metadata)``."""
        return MappingProxyType(self._manifest(self.resolve(version)))

    def _manifest(self, vid: str) -> dict[EntryKey, tuple[str, Mapping[str, Any]]]:
        rows = self._conn.execute(
            "SELECT kind, name, sha256, meta FROM version_entries WHERE version = ?", (vid,)
        ).fetchall()
        return {(kind, name): (sha, MappingProxyType(json.loads(meta))) for kind, name, sha, meta in rows}

    def short_id(self, version: str | None = None, bits: int = 16) -> int:
        """The first ``bits`` bits of a version's id (default: the head), for packet headers."""
        return short_id(self.resolve(version), bits)

    def checkout(self, version: str) -> str:
        """Make ``version`` the head. Refused while changes are staged."""
        vid = self.resolve(version)
        if self.staged():
            raise KnowledgeBaseError("cannot check out with staged changes; commit them or call discard()")
        with self._transaction():
            self._set_state("head", vid)
        return vid

    # ------------------------------------------------------------------ entries

    def _blob(self, sha: str) -> bytes:
        row = self._conn.execute("SELECT data FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
        if row is None:
            raise KnowledgeBaseError(f"blob {sha[:12]} is missing from the store")
        data = bytes(row[0])
        if _sha256(data) != sha:
            raise KnowledgeBaseError(f"blob {sha[:12]} is corrupt: its content no longer matches its hash")
        return data

    def has_blob(self, sha: str) -> bool:
        return self._conn.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)).fetchone() is not None

    def blob(self, sha: str) -> bytes:
        """A blob by its SHA-256 (checked on read)."""
        return self._blob(sha)

    def _store_blob(self, data: bytes) -> str:
        sha = _sha256(data)
        self._conn.execute("INSERT OR IGNORE INTO blobs (sha256, data) VALUES (?, ?)", (sha, sqlite3.Binary(data)))
        return sha

    def get(self, kind: str, name: str, version: str | None = None) -> Entry:
        """The entry ``(kind, name)`` of ``version`` (default: the head)."""
        _check_key(kind, name)
        vid = self.resolve(version)
        row = self._conn.execute(
            "SELECT sha256, meta FROM version_entries WHERE version = ? AND kind = ? AND name = ?",
            (vid, kind, name),
        ).fetchone()
        if row is None:
            raise KnowledgeBaseError(f"no entry {kind}/{name} in version {vid[:8]}")
        sha, meta = row
        return Entry(kind, name, self._blob(sha), json.loads(meta), sha, vid)

    def entries(self, version: str | None = None, kind: str | None = None) -> list[Entry]:
        """Every entry of a version (optionally one kind), sorted by (kind, name)."""
        vid = self.resolve(version)
        out = []
        for (k, n), (sha, meta) in sorted(self._manifest(vid).items()):
            if kind is None or k == kind:
                out.append(Entry(k, n, self._blob(sha), dict(meta), sha, vid))
        return out

    def put(self, kind: str, name: str, data: bytes, meta: Mapping[str, Any] | None = None) -> None:
        """Stage ``(kind, name) -> data, meta`` for the next :meth:`commit`."""
        _check_key(kind, name)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise KnowledgeBaseError(f"entry data must be bytes, got {type(data).__name__}")
        meta_json = _canonical_json(normalise_meta(meta))
        with self._transaction():
            sha = self._store_blob(bytes(data))
            self._conn.execute(
                "INSERT OR REPLACE INTO staging (kind, name, sha256, meta) VALUES (?, ?, ?, ?)",
                (kind, name, sha, meta_json),
            )

    def remove(self, kind: str, name: str) -> None:
        """Stage the removal of ``(kind, name)`` (which the head or the staging area must hold)."""
        _check_key(kind, name)
        head = self.head
        in_head = head is not None and (kind, name) in self._manifest(head)
        staged = self._conn.execute(
            "SELECT sha256 FROM staging WHERE kind = ? AND name = ?", (kind, name)
        ).fetchone()
        if not in_head and (staged is None or staged[0] is None):
            raise KnowledgeBaseError(f"no entry {kind}/{name} to remove")
        with self._transaction():
            if in_head:
                self._conn.execute(
                    "INSERT OR REPLACE INTO staging (kind, name, sha256, meta) VALUES (?, ?, NULL, NULL)", (kind, name)
                )
            else:
                self._conn.execute("DELETE FROM staging WHERE kind = ? AND name = ?", (kind, name))

    def model_ref(self, name: str, sha256: str, config: Mapping[str, Any] | None = None) -> None:
        """Stage a reference to model weights: their name, SHA-256 and config (kind :data:`MODEL_REF`)."""
        if not isinstance(sha256, str) or not _is_full_id(sha256.lower()):
            raise KnowledgeBaseError(f"model sha256 must be 64 hex digits, got {sha256!r}")
        config = normalise_meta(config)
        record = {"config": config, "name": name, "sha256": sha256.lower()}
        self.put(MODEL_REF, name, _canonical_json(record).encode("ascii"), {"sha256": sha256.lower()})

    def get_model_ref(self, name: str, version: str | None = None) -> ModelRef:
        """The model reference ``name`` of ``version`` (default: the head)."""
        entry = self.get(MODEL_REF, name, version)
        try:
            record = json.loads(entry.data)
            return ModelRef(record["name"], record["sha256"], record["config"])
        except (ValueError, KeyError, TypeError):
            raise KnowledgeBaseError(f"entry {MODEL_REF}/{name} is not a model reference") from None

    def staged(self) -> list[EntryChange]:
        """Staged changes, sorted; a removal has ``sha256=None``."""
        rows = self._conn.execute("SELECT kind, name, sha256, meta FROM staging ORDER BY kind, name").fetchall()
        return [EntryChange(k, n, sha, None if meta is None else json.loads(meta)) for k, n, sha, meta in rows]

    def discard(self) -> None:
        """Drop every staged change."""
        with self._transaction():
            self._conn.execute("DELETE FROM staging")

    def commit(self, message: str = "") -> str:
        """Turn the staged changes into a version on top of the head, make it the head, return its id.

        If the result has the same content as an existing version, that version's id is returned
        (and becomes the head); no second copy is made.
        """
        if not isinstance(message, str):
            raise KnowledgeBaseError("commit message must be a string")
        changes = self.staged()
        if not changes:
            raise KnowledgeBaseError("nothing to commit: stage entries with put() or remove() first")
        with self._transaction():
            head = self.head
            manifest = dict(self._manifest(head)) if head is not None else {}
            for change in changes:
                if change.sha256 is None:
                    manifest.pop(change.key, None)
                else:
                    manifest[change.key] = (change.sha256, change.meta or {})
            vid = self._write_version(manifest, parent=head, message=message)
            self._set_state("head", vid)
            self._conn.execute("DELETE FROM staging")
        return vid

    def _write_version(self, manifest: Manifest, *, parent: str | None, message: str) -> str:
        """Record a version (if new) inside the current transaction; its blobs must be stored."""
        vid = version_id_of(manifest)
        if self._conn.execute("SELECT 1 FROM versions WHERE id = ?", (vid,)).fetchone():
            return vid
        for sha, _ in manifest.values():
            if not self.has_blob(sha):
                raise KnowledgeBaseError(f"blob {sha[:12]} is missing from the store")
        self._conn.execute(
            "INSERT INTO versions (id, parent, message, created, num_entries) VALUES (?, ?, ?, ?, ?)",
            (vid, parent, message, time.time(), len(manifest)),
        )
        self._conn.executemany(
            "INSERT INTO version_entries (version, kind, name, sha256, meta) VALUES (?, ?, ?, ?, ?)",
            [(vid, kind, name, sha, _canonical_json(dict(meta))) for (kind, name), (sha, meta) in manifest.items()],
        )
        return vid

    # ------------------------------------------------------------------ diff and patch

    def diff(self, a: str | None, b: str | None, *, include_blobs: bool = False) -> KBDiff:
        """What changes version ``a`` into version ``b`` (``a=None``: from the empty version).

        With ``include_blobs``, the diff carries the contents of the blobs ``b`` uses that ``a``
        does not, so that a store holding only ``a`` can apply it.
        """
        va = EMPTY_VERSION if a is None else self.resolve(a)
        vb = self.resolve(b)
        ma, mb = self._manifest(va), self._manifest(vb)
        added, removed, changed = [], [], []
        for key in sorted(mb.keys() - ma.keys()):
            sha, meta = mb[key]
            added.append(EntryChange(key[0], key[1], sha, dict(meta)))
        for key in sorted(ma.keys() - mb.keys()):
            sha, meta = ma[key]
            removed.append(EntryChange(key[0], key[1], None, None, sha, dict(meta)))
        for key in sorted(ma.keys() & mb.keys()):
            (old_sha, old_meta), (sha, meta) = ma[key], mb[key]
            if old_sha != sha or dict(old_meta) != dict(meta):
                changed.append(EntryChange(key[0], key[1], sha, dict(meta), old_sha, dict(old_meta)))
        blobs: dict[str, bytes] = {}
        if include_blobs:
            have = {sha for sha, _ in ma.values()}
            for change in added + changed:
                if change.sha256 not in have and change.sha256 not in blobs:
                    blobs[change.sha256] = self._blob(change.sha256)
        return KBDiff(va, vb, tuple(added), tuple(removed), tuple(changed), blobs)

    def _patched_manifest(self, base: str, diff: KBDiff) -> dict[EntryKey, tuple[str, Mapping[str, Any]]]:
        manifest = self._manifest(base)
        for change in diff.removed:
            current = manifest.get(change.key)
            if current is None:
                raise KnowledgeBaseError(f"cannot remove {change.kind}/{change.name}: not in version {base[:8]}")
            if change.old_sha256 is not None and current[0] != change.old_sha256:
                raise KnowledgeBaseError(f"cannot remove {change.kind}/{change.name}: it differs in version {base[:8]}")
            del manifest[change.key]
        for change in diff.changed:
            current = manifest.get(change.key)
            if current is None:
                raise KnowledgeBaseError(f"cannot change {change.kind}/{change.name}: not in version {base[:8]}")
            if change.old_sha256 is not None and current[0] != change.old_sha256:
                raise KnowledgeBaseError(f"cannot change {change.kind}/{change.name}: it differs in version {base[:8]}")
            manifest[change.key] = (change.sha256, normalise_meta(change.meta))
        for change in diff.added:
            if change.key in manifest:
                raise KnowledgeBaseError(f"cannot add {change.kind}/{change.name}: already in version {base[:8]}")
            _check_key(change.kind, change.name)
            manifest[change.key] = (change.sha256, normalise_meta(change.meta))
        for change in diff.added + diff.changed:
            if not isinstance(change.sha256, str) or not _is_full_id(change.sha256):
                raise KnowledgeBaseError(f"{change.kind}/{change.name}: bad blob hash {change.sha256!r}")
        return manifest

    def patch(
        self,
        base_version: str | None,
        diff: KBDiff,
        *,
        message: str = "patch",
        expected: str | None = None,
        checkout: bool = False,
    ) -> str:
        """Apply ``diff`` to ``base_version`` and record the result; return its id.

        ``patch(a, diff(a, b))`` gives ``b``'s id exactly. Blobs come from ``diff.blobs`` or the
        store. With ``expected``, a result with another id is refused and nothing is written;
        with ``checkout``, the result becomes the head in the same transaction.
        """
        base = EMPTY_VERSION if base_version is None else self.resolve(base_version)
        manifest = self._patched_manifest(base, diff)
        vid = version_id_of(manifest)
        if expected is not None and vid != expected:
            raise KnowledgeBaseError(f"patched content hashes to {vid[:8]}, expected {expected[:8]}")
        blobs = {}
        for sha, data in diff.blobs.items():
            if _sha256(bytes(data)) != sha:
                raise KnowledgeBaseError(f"blob content does not match its hash {sha[:12]}")
            blobs[sha] = bytes(data)
        with self._transaction():
            for data in blobs.values():
                self._store_blob(data)
            vid = self._write_version(manifest, parent=base, message=message)
            if checkout:
                self._set_state("head", vid)
        return vid

    # ------------------------------------------------------------------ checks

    def verify(self) -> list[str]:
        """Re-hash every blob and version; return the problems found (empty when all is well)."""
        problems = []
        for sha, data in self._conn.execute("SELECT sha256, data FROM blobs"):
            if _sha256(bytes(data)) != sha:
                problems.append(f"blob {sha[:12]} does not match its hash")
        for info in self.versions():
            if version_id_of(self._manifest(info.id)) != info.id:
                problems.append(f"version {info.id[:8]} does not match its manifest")
        return problems

