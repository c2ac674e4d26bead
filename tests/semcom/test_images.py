import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from semcom.errors import InputError
from semcom.images import (
    DEFAULT_IMAGE_NAMES,
    as_tensor,
    centre_crop,
    default_images,
    fallback_image,
    from_tensor,
    list_images,
    load_image,
    save_image,
)


def _rgb(h=16, w=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG (grey, RGB or RGBA) written by hand, since Pillow cannot write 16-bit colour."""
    h, w, c = arr.shape
    colour_type = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _to8(v):
    return np.round(v.astype(np.float64) * 255 / 65535).astype(np.uint8)


def test_rgb_png_round_trip(tmp_path):
    img = _rgb()
    path = save_image(tmp_path / "a.png", img)
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (16, 24, 3)
    np.testing.assert_array_equal(out, img)


def test_grayscale_is_replicated(tmp_path):
    g = np.random.default_rng(1).integers(0, 256, (10, 12), dtype=np.uint8)
    Image.fromarray(g).save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (10, 12, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)


def test_bilevel_image(tmp_path):
    g = (np.arange(100).reshape(10, 10) % 2).astype(bool)
    Image.fromarray(g).save(tmp_path / "b.png")
    out = load_image(tmp_path / "b.png")
    np.testing.assert_array_equal(out[..., 0], np.where(g, 255, 0))


def test_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., :3] = (10, 100, 200)
    rgba[0, :, 3] = 255  # opaque row: colour kept
    rgba[1, :, 3] = 0  # transparent row: white
    rgba[2, :, 3] = 128  # half
    Image.fromarray(rgba).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(out[0], np.tile([10, 100, 200], (8, 1)))
    np.testing.assert_array_equal(out[1], 255)
    a = 128 / 255
    expected = np.round(np.array([10, 100, 200]) * a + 255 * (1 - a))
    np.testing.assert_array_equal(out[2, 0], expected)


def test_la_composited_on_white(tmp_path):
    la = np.zeros((8, 8, 2), dtype=np.uint8)
    la[..., 0] = 40
    la[:4, :, 1] = 255
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = load_image(tmp_path / "la.png")
    np.testing.assert_array_equal(out[:4], 40)
    np.testing.assert_array_equal(out[4:], 255)


def test_palette_with_and_without_transparency(tmp_path):
    img = _rgb(8, 8)
    p = Image.fromarray(img).quantize(colors=16)
    p.save(tmp_path / "p.png")
    out = load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out, np.asarray(p.convert("RGB")))

    p.info["transparency"] = int(np.asarray(p)[0, 0])
    p.save(tmp_path / "pt.png", transparency=int(np.asarray(p)[0, 0]))
    out = load_image(tmp_path / "pt.png")
    index = np.asarray(p)
    assert (out[index == index[0, 0]] == 255).all()  # transparent palette entry -> white


def test_16bit_grayscale_scaled_with_rounding(tmp_path):
    v = np.array([[0, 128, 129, 257, 1007, 32768, 65280, 65535]] * 8, dtype=np.uint16)
    (tmp_path / "g16.png").write_bytes(_png16(v[..., None]))
    out = load_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[..., 0], _to8(v))
    np.testing.assert_array_equal(out[..., 2], _to8(v))


def test_16bit_rgb_and_rgba_use_both_bytes(tmp_path):
    rng = np.random.default_rng(3)
    v = rng.integers(0, 65536, (9, 11, 3)).astype(np.uint16)
    v[0, 0] = (1007, 2007, 383)  # truncation to the high byte would give (3, 7, 1), rounding (4, 8, 1)
    (tmp_path / "c16.png").write_bytes(_png16(v))
    out = load_image(tmp_path / "c16.png")
    np.testing.assert_array_equal(out, _to8(v))
    assert tuple(out[0, 0]) == (4, 8, 1)

    alpha = np.full((9, 11, 1), 65535, dtype=np.uint16)
    alpha[1:] = 0
    (tmp_path / "a16.png").write_bytes(_png16(np.concatenate([v, alpha], axis=2)))
    out = load_image(tmp_path / "a16.png")
    np.testing.assert_array_equal(out[0], _to8(v[0]))
    np.testing.assert_array_equal(out[1:], 255)


def test_cmyk_converted(tmp_path):
    cmyk = np.zeros((8, 8, 4), dtype=np.uint8)
    cmyk[:4, :, 0] = 255  # pure cyan
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    out = load_image(tmp_path / "c.tif")
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[0, 0], (0, 255, 255))
    np.testing.assert_array_equal(out[7, 7], (255, 255, 255))


def test_exif_orientation_applied(tmp_path):
    img = _rgb(10, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    Image.fromarray(img).save(tmp_path / "o.png", exif=exif)
    out = load_image(tmp_path / "o.png")
    np.testing.assert_array_equal(out, np.rot90(img, -1))


def test_unreadable_files_raise_input_error(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    with pytest.raises(InputError, match="notes.png"):
        load_image(bad)
    with pytest.raises(InputError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="folder"):
        load_image(tmp_path)
    good = tmp_path / "t.png"
    Image.fromarray(_rgb(64, 64)).save(good)
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="trunc.png"):
        load_image(tmp_path / "trunc.png")


def test_size_limits(tmp_path):
    Image.fromarray(_rgb(20, 20)).save(tmp_path / "m.png")
    with pytest.raises(InputError, match="larger than"):
        load_image(tmp_path / "m.png", max_pixels=100)
    assert load_image(tmp_path / "m.png", max_pixels=None).shape == (20, 20, 3)
    Image.fromarray(_rgb(4, 30)).save(tmp_path / "s.png")
    with pytest.raises(InputError, match="too small"):
        load_image(tmp_path / "s.png")
    assert load_image(tmp_path / "s.png", min_size=1).shape == (4, 30, 3)


def test_list_images(tmp_path):
    for name in ("b.png", "a.JPG", "c.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    with pytest.raises(InputError, match="not found"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image files"):
        list_images(tmp_path / "empty")
    with pytest.raises(InputError, match="not a folder"):
        list_images(tmp_path / "b.png")


def test_default_images():
    images = default_images()
    assert [n for n, _ in images] == list(DEFAULT_IMAGE_NAMES)
    for _, img in images:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 256


def test_save_image_checks(tmp_path):
    with pytest.raises(InputError):
        save_image(tmp_path / "x.png", np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(InputError):
        save_image(tmp_path / "x.png", np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(InputError, match="format"):
        save_image(tmp_path / "x.xyz", _rgb())
    path = save_image(tmp_path / "deep" / "x.jpg", _rgb(32, 32))
    assert load_image(path).shape == (32, 32, 3)


def test_tensor_round_trip():
    img = _rgb(5, 7)
    t = as_tensor(img)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    np.testing.assert_array_equal(from_tensor(t), img)
    np.testing.assert_array_equal(from_tensor(t[0]), img)
    clipped = from_tensor(torch.full((1, 3, 2, 2), 1.7))
    assert (clipped == 255).all()


def test_from_tensor_errors():
    with pytest.raises(InputError, match="batch"):
        from_tensor(torch.zeros(2, 3, 4, 4))
    with pytest.raises(InputError):
        from_tensor(torch.zeros(1, 1, 4, 4))
    with pytest.raises(InputError, match="NaN"):
        from_tensor(torch.full((3, 2, 2), float("nan")))
    with pytest.raises(InputError):
        from_tensor(np.zeros((3, 2, 2)))
    with pytest.raises(InputError):
        as_tensor(np.zeros((2, 2, 3), dtype=np.float32))


@pytest.mark.parametrize("suffix", [".avif", ".heic", ".webp"])
def test_modern_formats_load(tmp_path, suffix):
    img = np.full((32, 48, 3), 120, dtype=np.uint8)
    img[:, :24] = (200, 40, 30)
    path = save_image(tmp_path / f"m{suffix}", img, quality=95)  # pillow (AVIF) and pillow-heif are dependencies
    out = load_image(path)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - img).mean() < 4


def test_centre_crop_of_arrays_and_tensors():
    image = np.arange(6 * 9 * 3, dtype=np.uint8).reshape(6, 9, 3)
    crop = centre_crop(image[:, ::-1], 4)
    assert crop.shape == (4, 4, 3) and crop.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(crop, image[1:5, ::-1][:, 2:6])
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    assert torch.equal(centre_crop(tensor, 4), tensor[:, 1:5, 2:6])
    assert centre_crop(tensor[None], 100).shape == (1, 3, 6, 9)  # a side shorter than size stays whole
    assert centre_crop(image, 100).shape == image.shape


def test_fallback_image_is_mid_grey():
    grey = fallback_image((5, 7, 3))
    assert grey.shape == (5, 7, 3) and grey.dtype == np.uint8 and np.all(grey == 128)
