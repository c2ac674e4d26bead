"""Knowledge base shared by transmitter and receiver, and its secure synchronisation.

- :mod:`knowledge_base.store`: versioned, content-addressed store over SQLite.
- :mod:`knowledge_base.update`: signed, compressed updates and their checked application.
- :mod:`knowledge_base.keys`: Ed25519 and HMAC key files.
- :mod:`knowledge_base.sync`: when to send updates to whom, over an abstract transport.
- :mod:`knowledge_base.transport`: a sync transport over the simulated digital link.

Its command line is ``semcom kb`` (:mod:`semcom.cli.kb`).
"""

from knowledge_base.errors import REJECTION_REASONS, KnowledgeBaseError, UpdateRejected
from knowledge_base.store import (
    CODEBOOK,
    EMPTY_VERSION,
    LANGUAGE_MODEL,
    MODEL_REF,
    VOCABULARY,
    Entry,
    EntryChange,
    KBDiff,
    KnowledgeBase,
    ModelRef,
    SequenceReset,
    VersionInfo,
    manifest_bytes,
    short_id,
    version_id_of,
)
from knowledge_base.sync import (
    Delivery,
    IdealTransport,
    ReceiverView,
    SyncEvent,
    SyncManager,
    SyncPolicy,
    SyncReceiver,
    SyncStats,
    Transport,
)
from knowledge_base.update import (
    ApplyResult,
    Ed25519Signer,
    Ed25519Verifier,
    HmacSigner,
    HmacVerifier,
    Signer,
    UpdateHeader,
    Verifier,
    apply_update,
    make_update,
    read_header,
)

__all__ = [
    "REJECTION_REASONS",
    "KnowledgeBaseError",
    "UpdateRejected",
    "CODEBOOK",
    "EMPTY_VERSION",
    "LANGUAGE_MODEL",
    "MODEL_REF",
    "VOCABULARY",
    "Entry",
    "EntryChange",
    "KBDiff",
    "KnowledgeBase",
    "ModelRef",
    "SequenceReset",
    "VersionInfo",
    "manifest_bytes",
    "short_id",
    "version_id_of",
    "Delivery",
    "IdealTransport",
    "ReceiverView",
    "SyncEvent",
    "SyncManager",
    "SyncPolicy",
    "SyncReceiver",
    "SyncStats",
    "Transport",
    "ApplyResult",
    "Ed25519Signer",
    "Ed25519Verifier",
    "HmacSigner",
    "HmacVerifier",
    "Signer",
    "UpdateHeader",
    "Verifier",
    "apply_update",
    "make_update",
    "read_header",
]
