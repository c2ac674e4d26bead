"""Image folders for JSCC training and evaluation: decode once into memory, sample random crops."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from semcom.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")


def list_images(folder: str | os.PathLike) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder {folder} does not exist (set --data/--images or SEMCOM_DATA)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """One image file -> uint8 tensor [3, H, W] (RGB)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot decode image {path}: {err}") from err
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def load_images(folder: str | os.PathLike, max_images: int | None = None) -> list[torch.Tensor]:
    """All images of a folder (sorted by name), decoded once, as uint8 [3, H, W] tensors."""
    files = list_images(folder)
    if max_images is not None:
        files = files[: max(0, int(max_images))]
    return [load_image(p) for p in files]


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0)


class CropSampler:
    """Random crops with random horizontal flips from in-memory uint8 images."""

    def __init__(self, images: list[torch.Tensor], generator: torch.Generator, device: torch.device | str = "cpu"):
        if not images:
            raise InputError("no training images")
        # on a GPU the decoded images live in its memory and crops are cut there: nothing waits on the CPU
        self.images = [im.to(device) for im in images]
        self.device = torch.device(device)
        self.generator = generator
        self.min_side = min(min(im.shape[1:]) for im in images)

    def batch(self, batch: int, crop: int, width: int | None = None) -> torch.Tensor:
        """[batch, 3, crop, width] float32 in [0, 1] (square when ``width`` is None)."""
        width = crop if width is None else width
        if max(crop, width) > self.min_side:
            raise InputError(f"crop {crop}x{width} exceeds the smallest training image side {self.min_side}")
        g = self.generator
        idx = torch.randint(len(self.images), (batch,), generator=g).tolist()
        flips = torch.rand(batch, generator=g).lt(0.5).tolist()
        out = torch.empty(batch, 3, crop, width, dtype=torch.uint8, device=self.device)
        for i, (k, flip) in enumerate(zip(idx, flips)):
            im = self.images[k]
            top = int(torch.randint(im.shape[1] - crop + 1, (1,), generator=g))
            left = int(torch.randint(im.shape[2] - width + 1, (1,), generator=g))
            patch = im[:, top : top + crop, left : left + width]
            out[i] = patch.flip(-1) if flip else patch
        return to_float(out)
