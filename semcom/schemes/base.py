"""The contract of an end-to-end scheme: an image in, a reconstruction and its full bill out."""

from __future__ import annotations

import json
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.files import atomic_path
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


@dataclass(frozen=True)
class SchemeCard:
    """What a scheme is made of, for result files and tables.

    label:    what produced its rows (e.g. ``shipped checkpoint jscc-awgn-cbr1-16``).
    loaded:   component -> the weights, checkpoint or codec it loaded.
    fallback: a component stands in for one whose weights are missing (the rows are not the real model's).
    """

    label: str
    loaded: dict[str, str] = field(default_factory=dict)
    fallback: bool = False


@dataclass
class BuildContext:
    """What an experiment knows when it builds a scheme.

    images: (name, [H, W, 3] uint8) pairs it will send; ``folder``: where they came from (``embedded`` or a
    path); ``cropped``: they were cropped; ``out``: the results folder (None: results are not kept).
    """

    images: list[tuple[str, np.ndarray]] = field(default_factory=list)
    folder: str = "embedded"
    cropped: bool = False
    out: Path | None = None

    def reference_captions(self, options: dict) -> dict:
        """Point a reference captioner's options at files holding exactly the pixels sent.

        The reference captioner matches pixels against the files its captions name; embedded or cropped
        images exist only in memory, so they are written as lossless PNG under ``out/images_sent`` (or a
        temporary folder when results are not kept).
        """
        if "images" in options or not options.get("captions"):
            return options
        if self.folder != "embedded" and not self.cropped:
            return {**options, "images": self.folder}
        try:
            entries = json.loads(Path(options["captions"]).read_text(encoding="utf-8")).get("images", {})
        except (OSError, ValueError, AttributeError):
            return options  # the captioner reports the bad file itself
        from PIL import Image

        folder = self.out / "images_sent" if self.out is not None else Path(tempfile.mkdtemp(prefix="semcom-sent-"))
        folder.mkdir(parents=True, exist_ok=True)
        for name, image in self.images:
            key = name if name in entries else f"{name}.png"
            with atomic_path(folder / key) as tmp:  # workers of a parallel run may write the same file
                Image.fromarray(image).save(tmp, format="PNG")  # PNG bytes whatever the name ends with
        return {**options, "images": str(folder)}


class Scheme(ABC):
    """Base class: subclasses set ``name`` and implement :meth:`transmit`.

    A scheme describes itself: :meth:`describe` (settings for result files), :meth:`card` (what it loaded,
    whether it fell back) and :meth:`model_label` (the model column of a result row). Schemes built from a
    config go through :meth:`from_config`, which may use the experiment's :class:`BuildContext`.
    """

    name: str = "scheme"

    @classmethod
    def from_config(cls, context: BuildContext | None = None, **options: Any) -> "Scheme":
        """The scheme from config options (names and numbers); ``context``: what the experiment knows."""
        return cls(**options)

    @abstractmethod
    def transmit(self, image: np.ndarray, snr_db: float, generator: torch.Generator | None = None) -> SchemeResult:
        """Send ``image`` ([H, W, 3] uint8) at Es/N0 = ``snr_db`` and reconstruct it."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings that identify this scheme in result files."""
        return {"scheme": self.name}

    def card(self) -> SchemeCard:
        """What the scheme is made of; by default its ``model`` setting, or its name."""
        described = self.describe()
        return SchemeCard(str(described.get("model") or described.get("generator") or self.name))

    def model_label(self, result: SchemeResult) -> str:
        """The model column of the row of ``result`` (by default the card's label)."""
        return self.card().label


SCHEMES: Registry = Registry("scheme")


def make_scheme(name: str, **options: Any) -> Scheme:
    """The registered scheme ``name`` built from config options (through its ``from_config`` when it has one)."""
    factory = SCHEMES.get(name)
    build = getattr(factory, "from_config", factory)
    try:
        return build(**options)
    except TypeError as err:
        raise ConfigError(f"bad options for scheme {name!r}: {err}") from err
