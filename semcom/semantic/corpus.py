"""Where the prompt codec's knowledge base comes from: Flickr8k captions and general English word counts.

The shared data folder holds ``flickr8k-captions/Flickr8k.token.txt`` (lines ``IMAGE#N<TAB>caption``);
:func:`flickr8k_split` splits its images into training and held-out captions by a hash of the image id.
Built models are cached under :func:`default_cache_dir`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from semcom.errors import ConfigError
from semcom.extras import require
from semcom.files import default_data_dir


def load_flickr8k_captions(path: str | os.PathLike) -> list[str]:
    """Captions of ``Flickr8k.token.txt`` (lines ``IMAGE#N<TAB>caption``), in file order.

    ``path`` is the file itself, the ``flickr8k-captions`` folder, or the shared data folder
    that holds it. Raises ``FileNotFoundError`` when none is there.
    """
    return [caption for _, caption in load_flickr8k_pairs(path)]


def load_flickr8k_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(image id, caption)`` pairs of Flickr8k, in file order (see :func:`load_flickr8k_captions`)."""
    p = Path(path)
    for cand in (p, p / "Flickr8k.token.txt", p / "flickr8k-captions" / "Flickr8k.token.txt"):
        if cand.is_file():
            break
    else:
        raise FileNotFoundError(f"no Flickr8k.token.txt at {p} (nor in {p}/flickr8k-captions/)")
    pairs = []
    with open(cand, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            key, sep, caption = line.partition("\t")
            if not sep:
                continue
            pairs.append((key.split("#", 1)[0], caption.strip()))
    return pairs


def default_cache_dir() -> Path:
    """Where built models are cached: ``$SEMCOM_CACHE``, else ``$XDG_CACHE_HOME/semcom``, else ``~/.cache/semcom``."""
    env = os.environ.get("SEMCOM_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "semcom"




def flickr8k_split(data_dir: str | os.PathLike | None = None, holdout: float = 0.05) -> tuple[list[str], list[str]]:
    """(train captions, held-out captions): an image is held out when the first 4 bytes of the
    SHA-256 of its id, read as a fraction of 2**32, fall below ``holdout``."""
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    pairs = load_flickr8k_pairs(data_dir if data_dir is not None else default_data_dir())
    train, held = [], []
    limit = int(holdout * 2**32)
    for img, cap in pairs:
        frac = int.from_bytes(hashlib.sha256(img.encode()).digest()[:4], "big")
        (held if frac < limit else train).append(cap)
    return train, held


def general_english_counts(n_words: int = 50000, scale: float = 1e9) -> dict[str, int]:
    """``{word: count}`` of the ``n_words`` most frequent English words (``count`` =
    frequency x ``scale``), from the optional package ``wordfreq``."""
    wordfreq = require("wordfreq", "general English word counts")
    out = {}
    for w in wordfreq.top_n_list("en", n_words):
        out[w] = max(1, int(wordfreq.word_frequency(w, "en") * scale))
    return out

