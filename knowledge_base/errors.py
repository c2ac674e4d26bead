"""Errors of the knowledge base and of its update protocol."""

from __future__ import annotations

from semcore.errors import SemcomError

#: Why a receiver refuses an update, in the order the checks run.
REJECTION_REASONS: tuple[str, ...] = (
    "truncated",  # the bytes end before the length the header announces
    "malformed",  # not an update of a format this code reads, or an inconsistent one
    "integrity",  # the checksum does not match: bytes damaged on the way
    "signature",  # the signature does not verify: forged, or signed with another key
    "replay",  # sequence number not above the last accepted one (replayed or out of order)
    "base-mismatch",  # the update is a diff from a version other than the receiver's head
    "hash-mismatch",  # the content does not hash to what the update claims
)


class KnowledgeBaseError(SemcomError):
    """A knowledge-base operation failed: unknown version or entry, bad argument, broken store."""


class UpdateRejected(KnowledgeBaseError):
    """A receiver refused an update; its knowledge base is left as it was.

    ``reason`` is one of :data:`REJECTION_REASONS`; ``sequence`` is the update's sequence
    number when it could be read.
    """

    def __init__(self, reason: str, message: str, *, sequence: int | None = None):
        if reason not in REJECTION_REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}; known: {', '.join(REJECTION_REASONS)}")
        super().__init__(f"update rejected ({reason}): {message}")
        self.reason = reason
        self.detail = message
        self.sequence = sequence

    def __reduce__(self):  # keep the keyword-only field when pickled
        return (_rebuild_rejection, (self.reason, self.detail, self.sequence))


def _rebuild_rejection(reason: str, message: str, sequence: int | None) -> UpdateRejected:
    return UpdateRejected(reason, message, sequence=sequence)
