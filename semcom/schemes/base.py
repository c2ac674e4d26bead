"""The contract of an end-to-end scheme: an image in, a reconstruction and its full bill out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from semcom.registry import Registry


@dataclass
class SchemeResult:
    """One image sent over one link.

    reconstruction: [H, W, 3] uint8, what the receiver shows (a fallback when ``failed``).
    bits:           payload bits the scheme sent (source/semantic bits, its own headers included).
    coded_bits:     bits on air after channel coding (0 for analog schemes).
    channel_uses:   complex channel uses spent, retransmissions and pilots included.
    failed:         the payload could not be decoded and ``reconstruction`` is the fallback.
    metrics:        extra per-image figures of the scheme (e.g. prompt_bits, prompt_exact); ``semcom
                    eval`` reports their means in each summary record.
    details:        scheme-specific facts (codec, quality, MCS, retransmissions, prompts, ...).
    """

    reconstruction: np.ndarray
    bits: int
    coded_bits: int
    channel_uses: int
    failed: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class Scheme(ABC):
    """Base class: subclasses set ``name`` and implement :meth:`transmit`."""

    name: str = "scheme"

    @abstractmethod
    def transmit(self, image: np.ndarray, snr_db: float, generator: torch.Generator | None = None) -> SchemeResult:
        """Send ``image`` ([H, W, 3] uint8) at Es/N0 = ``snr_db`` and reconstruct it."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings that identify this scheme in result files."""
        return {"scheme": self.name}


SCHEMES: Registry = Registry("scheme")
