"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# Nothing may be fetched from the Hugging Face hub in tests: everything runs on tiny local models.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import semcom.testing  # noqa: E402,F401 - registers the tiny test doubles (tiny-vit-gpt2, tiny-stable-diffusion)


def pytest_sessionstart(session) -> None:
    """The suite reads the shared data (Flickr8k captions, Kodak): without it, stop at once and say where it looked."""
    from semcom.semantic import default_data_dir

    data = default_data_dir()
    missing = [str(data / f) for f in ("flickr8k-captions/Flickr8k.token.txt", "kodak/captions.json")
               if not (data / f).is_file()]
    if missing:
        pytest.exit(f"the tests need the shared data folder; missing: {', '.join(missing)} "
                    f"(set SEMCOM_DATA to the folder holding flickr8k-captions/ and kodak/)", returncode=4)


def _write_image_folder(folder: Path, n: int = 4, size: tuple[int, int] = (96, 80)) -> Path:
    """Write ``n`` smooth seeded colour images of ``size`` (H, W) as PNGs into a new ``folder``."""
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]] / max(size)
    for i in range(n):
        f = rng.uniform(1, 4, 3)
        img = np.stack([0.5 + 0.4 * np.sin(2 * np.pi * (f[c] * xx + f[(c + 1) % 3] * yy) + i) for c in range(3)], -1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"im{i}.png")
    return folder


@pytest.fixture
def image_folder():
    """``image_folder(path, n=4, size=(96, 80))`` writes a folder of synthetic images and returns it."""
    return _write_image_folder
