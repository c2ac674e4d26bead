"""Image I/O shared by every scheme: one pixel format, [H, W, 3] uint8 RGB.

Conversions done by :func:`load_image` (all documented choices):

* grayscale (``1``, ``L``, 16-bit ``I;16``) is replicated to three channels;
* transparency (``RGBA``, ``LA``, ``P``/``PA`` with a transparent colour, premultiplied
  ``RGBa``/``La``) is **composited on white**: ``out = a * rgb + (1 - a) * 255`` with the
  alpha taken in [0, 1] at the file's precision (dropping alpha instead would expose whatever
  colour sits under fully transparent pixels, often black or garbage);
* 16-bit samples are scaled to 8 bits with rounding, ``round(v * 255 / 65535)``; Pillow
  itself keeps only the high byte of 16-bit colour PNG/TIFF samples (a truncation), so the
  low byte is decoded separately for those files;
* 32-bit integer images (mode ``I``) are taken as 16-bit data (clipped to [0, 65535]);
  float images (mode ``F``) as [0, 1] when their maximum is <= 1, else as [0, 255];
* CMYK, YCbCr, LAB and HSV go through Pillow's conversion to RGB (no ICC colour management:
  embedded ICC profiles are ignored and pixel values are taken as sRGB);
* the EXIF orientation tag is applied, so the array is the image as displayed;
* multi-frame files (GIF, TIFF, ...) give their first frame.

Size limits: more than ``max_pixels`` (default 64 megapixels) or fewer than ``min_size``
(default 8) pixels on a side raise :class:`~semcom.errors.InputError`. The 8-pixel floor is
the size every registered codec and the SSIM window handle without special cases; codecs
themselves accept smaller images (see ``ImageCodec.min_size``), and callers that need them can
pass ``min_size=1``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from semcom.errors import InputError

DEFAULT_MAX_PIXELS = 64_000_000
DEFAULT_MIN_SIZE = 8

#: File name endings that :func:`list_images` picks up (case-insensitive).
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm",
    ".gif", ".heic", ".heif", ".avif",
)  # fmt: skip

#: The natural colour photographs shipped inside scikit-image (no download needed).
#: Left out on purpose: ``hubble_deep_field`` (astronomical, mostly black),
#: ``immunohistochemistry`` (microscopy stain), ``retina`` (medical, may need a download),
#: ``colorwheel`` and ``logo`` (synthetic graphics).
DEFAULT_IMAGE_NAMES = ("astronaut", "chelsea", "coffee", "rocket")

_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except Exception:  # pragma: no cover - HEIF support is optional for reading files
            pass
        _heif_registered = True


def _scale16(values: np.ndarray) -> np.ndarray:
    """16-bit samples -> float in [0, 1]."""
    return np.clip(values.astype(np.float64), 0, 65535) / 65535.0


def _decode_16bit_colour(im) -> np.ndarray | None:
    """Full 16-bit samples of a 16-bit RGB(A)/LA file that Pillow would truncate to 8 bits.

    Pillow unpacks big-endian 16-bit samples ("RGB;16B") by keeping the high byte. Decoding the
    same file once more with the byte order swapped ("RGB;16L") keeps the low byte instead.
    Returns float samples in [0, 1], or None when the file is not such a case.
    """
    from PIL import Image

    tiles = getattr(im, "tile", None) or []
    if not tiles or im.mode not in ("RGB", "RGBA", "LA", "L"):
        return None

    def rawmode_of(tile):
        args = tile.args
        return args if isinstance(args, str) else (args[0] if args and isinstance(args[0], str) else None)

    rawmodes = {rawmode_of(t) for t in tiles}
    if len(rawmodes) != 1:
        return None
    rawmode = rawmodes.pop()
    if not rawmode or not rawmode.endswith((";16B", ";16L")):
        return None
    swapped = rawmode[:-1] + ("L" if rawmode.endswith("B") else "B")

    def with_rawmode(tile):
        args = tile.args
        new_args = swapped if isinstance(args, str) else (swapped, *args[1:])
        return tile._replace(args=new_args)

    try:
        filename = im.filename
        with Image.open(filename) as other:
            other.tile = [with_rawmode(t) for t in other.tile]
            low = np.asarray(other).astype(np.uint16)
        high = np.asarray(im).astype(np.uint16)
    except Exception:
        return None  # fall back to Pillow's 8-bit decoding
    if high.shape != low.shape:
        return None
    return _scale16(high * 256 + low)


def _to_unit_float(im) -> tuple[np.ndarray, None]:
    """(colour in [0, 1], no alpha) for the 16-bit, 32-bit integer and float modes."""
    mode = im.mode
    if mode.startswith("I;16"):
        return _scale16(np.asarray(im)), None
    if mode == "I":
        return _scale16(np.asarray(im)), None
    if mode == "F":
        data = np.asarray(im, dtype=np.float64)
        if not np.isfinite(data).all():
            raise InputError(f"{im.filename}: float image contains NaN or infinite values")
        scale = 1.0 if data.size == 0 or data.max() <= 1.0 else 255.0
        return np.clip(data / scale, 0.0, 1.0), None
    raise AssertionError(mode)


def _composite(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Float colour [H, W] or [H, W, 3] and alpha [H, W] in [0, 1] -> uint8 RGB on white."""
    if colour.ndim == 2:
        colour = np.repeat(colour[:, :, None], 3, axis=2)
    if alpha is not None:
        a = alpha[:, :, None]
        colour = colour * a + (1.0 - a)
    return np.clip(np.round(colour * 255.0), 0, 255).astype(np.uint8)


def _pixels(im) -> np.ndarray:
    """uint8 RGB pixels of an opened (not yet loaded) Pillow image."""
    mode = im.mode
    if mode in ("RGB", "RGBA", "LA", "L"):
        wide = _decode_16bit_colour(im)
        if wide is not None:
            if mode == "RGB":
                return _composite(wide, None)
            if mode == "RGBA":
                return _composite(wide[..., :3], wide[..., 3])
            if mode == "LA":
                return _composite(wide[..., 0], wide[..., 1])
            return _composite(wide, None)
    if mode.startswith("I;16") or mode in ("I", "F"):
        colour, alpha = _to_unit_float(im)
        return _composite(colour, alpha)
    if mode == "1":
        im = im.convert("L")
        mode = "L"
    if mode in ("P", "PA"):
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode == "RGBa":
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode == "La":
        im = im.convert("LA")
        mode = "LA"
    if mode == "L":
        g = np.asarray(im)
        return np.repeat(g[:, :, None], 3, axis=2).copy()
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode == "RGBX":
        return np.array(im.convert("RGB"), dtype=np.uint8)
    if mode in ("RGBA", "LA"):
        data = np.asarray(im).astype(np.float64) / 255.0
        if np.all(data[..., -1] == 1.0):  # opaque: keep the exact 8-bit values
            out = np.asarray(im)[..., :-1]
            return np.repeat(out, 3, axis=2).copy() if mode == "LA" else out.copy()
        colour = data[..., 0] if mode == "LA" else data[..., :3]
        return _composite(colour, data[..., -1])
    # CMYK, YCbCr, LAB, HSV and anything else Pillow can turn into RGB
    return np.array(im.convert("RGB"), dtype=np.uint8)


def _apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The EXIF orientation tag (1-8) applied to an [H, W, 3] array (same as ImageOps.exif_transpose)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(pixels)) if op else pixels


def load_image(
    path: str | os.PathLike,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    min_size: int = DEFAULT_MIN_SIZE,
) -> np.ndarray:
    """Read an image file as [H, W, 3] uint8 RGB (see the module docstring for conversions).

    Raises InputError naming the file when it is missing, unreadable, not an image, larger
    than ``max_pixels`` (None: no limit of ours; Pillow's own guard against decompression
    bombs, about 179 megapixels, still applies) or smaller than ``min_size`` on a side.
    """
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    path = Path(path)
    if not path.exists():
        raise InputError(f"image file not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if max_pixels is not None and width * height > max_pixels:
                    raise InputError(
                        f"{path}: image of {width}x{height} ({width * height / 1e6:.1f} megapixels) is larger "
                        f"than the limit of {max_pixels / 1e6:.1f} megapixels (max_pixels)"
                    )
                pixels = _pixels(im)  # before getexif(), which may load the file and drop its tiles
                try:
                    orientation = int(im.getexif().get(0x0112, 1) or 1)
                except Exception:
                    orientation = 1
    except InputError:
        raise
    except Image.DecompressionBombError as err:
        raise InputError(f"{path}: image is too large to open safely ({err})") from err
    except UnidentifiedImageError as err:
        raise InputError(f"{path}: not a readable image file (unknown or unsupported format)") from err
    except PermissionError as err:
        raise InputError(f"{path}: permission denied") from err
    except Exception as err:  # truncated or corrupt files, plugin errors
        raise InputError(f"{path}: cannot read image ({type(err).__name__}: {err})") from err

    pixels = _apply_orientation(pixels, orientation)
    h, w = pixels.shape[:2]
    if min(h, w) < min_size:
        raise InputError(f"{path}: image of {w}x{h} is too small (each side must be at least {min_size} pixels)")
    return pixels


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder`` (by extension, see IMAGE_EXTENSIONS), sorted by name.

    Hidden files are skipped and sub-folders are not searched. A missing folder, a path that
    is not a folder, or a folder without image files raise InputError.
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"image folder not found: {folder}")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder")
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: p.name,
    )
    if not files:
        raise InputError(f"no image files in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def default_images() -> list[tuple[str, np.ndarray]]:
    """(name, [H, W, 3] uint8) for the colour photographs shipped with scikit-image, offline."""
    import skimage.data

    out = []
    for name in DEFAULT_IMAGE_NAMES:
        image = np.ascontiguousarray(getattr(skimage.data, name)()[..., :3], dtype=np.uint8)
        out.append((name, image))
    return out


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Raise InputError unless ``image`` is an [H, W, 3] uint8 numpy array with H, W >= 1."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"{what} must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{what} must have shape [H, W, 3], got {list(image.shape)}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"{what} is empty: shape {list(image.shape)}")
    return image


def centre_crop(image: np.ndarray | torch.Tensor, size: int) -> np.ndarray | torch.Tensor:
    """The central (at most) ``size`` x ``size`` part of a numpy [H, W, C] image (a contiguous copy)
    or of a torch [..., H, W] tensor (a view)."""
    is_tensor = isinstance(image, torch.Tensor)
    h, w = image.shape[-2:] if is_tensor else image.shape[:2]
    ch, cw = min(h, size), min(w, size)
    top, left = (h - ch) // 2, (w - cw) // 2
    if is_tensor:
        return image[..., top : top + ch, left : left + cw]
    return np.ascontiguousarray(image[top : top + ch, left : left + cw])


def fallback_image(shape: tuple[int, ...]) -> np.ndarray:
    """The receiver's defined output when nothing decodable arrived: mid-grey of the known size."""
    return np.full(shape, 128, dtype=np.uint8)


def save_image(path: str | os.PathLike, image: np.ndarray, *, quality: int = 95) -> Path:
    """Write an [H, W, 3] uint8 image; the format follows the file name ending.

    PNG (and other lossless formats) store the pixels exactly; JPEG, WebP, AVIF and HEIF are
    written at ``quality`` (default 95). The parent folder is created. Returns the path.
    """
    from PIL import Image

    check_image(image)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise InputError(f"cannot tell the image format of {path}; use one of {', '.join(IMAGE_EXTENSIONS)}")
    _register_heif()
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if suffix in (".jpg", ".jpeg", ".webp", ".avif", ".heic", ".heif"):
        kwargs["quality"] = int(quality)
    try:
        Image.fromarray(np.ascontiguousarray(image)).save(path, **kwargs)
    except Exception as err:
        raise InputError(f"cannot write {path}: {type(err).__name__}: {err}") from err
    return path


def png_bytes(image: np.ndarray) -> bytes:
    """An [H, W, 3] uint8 image as lossless PNG bytes."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(check_image(image))).save(buffer, format="PNG")
    return buffer.getvalue()


def as_tensor(image: np.ndarray, device: str | torch.device | None = None) -> torch.Tensor:
    """[H, W, 3] uint8 -> float32 [1, 3, H, W] in [0, 1]."""
    check_image(image)
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0)
    return t.to(device=device, dtype=torch.float32).div_(255.0)


def from_tensor(tensor: torch.Tensor) -> np.ndarray:
    """float [1, 3, H, W] or [3, H, W] in [0, 1] -> [H, W, 3] uint8 (values clipped, then rounded).

    Non-finite values raise InputError rather than being silently mapped to some colour.
    """
    if not isinstance(tensor, torch.Tensor):
        raise InputError(f"expected a torch tensor, got {type(tensor).__name__}")
    t = tensor.detach()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InputError(f"expected a batch of one image, got batch size {t.shape[0]}; convert images one by one")
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise InputError(f"expected shape [1, 3, H, W] or [3, H, W], got {list(tensor.shape)}")
    if t.is_complex() or not t.is_floating_point():
        raise InputError(f"expected a real floating-point tensor, got {t.dtype}")
    if not torch.isfinite(t).all():
        raise InputError("tensor contains NaN or infinite values")
    t = t.float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return np.ascontiguousarray(t.permute(1, 2, 0).cpu().numpy())
