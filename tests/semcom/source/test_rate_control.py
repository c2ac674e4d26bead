import numpy as np
import pytest
import skimage.data

from semcom.errors import InputError
from semcom.metrics import psnr
from semcom.source.codecs import CODECS, ImageCodec
from semcom.source.rate_control import RateControlResult, fit_to_budget


@pytest.fixture(scope="module")
def image():
    return np.ascontiguousarray(skimage.data.chelsea()[60:156, 150:278])  # 96 x 128


def _available(name):
    if not CODECS.get(name).available():
        pytest.skip(f"{name} is not available here")
    return CODECS.create(name)


@pytest.mark.parametrize("name", ["jpeg", "webp", "avif", "heif"])
def test_never_exceeds_budget_and_is_highest(name, image):
    codec = _available(name)
    pixels = image.shape[0] * image.shape[1]
    qmin, qmax = codec.quality_range
    for bpp in (0.15, 0.3, 0.6, 1.2, 2.5):
        budget = int(bpp * pixels)
        r = fit_to_budget(codec, image, budget)
        assert isinstance(r, RateControlResult) and r.codec == name and r.max_bits == budget
        if not r.fits:
            assert r.data is None and r.min_bits > budget
            continue
        assert r.bits == 8 * len(r.data) <= budget
        assert qmin <= r.quality <= qmax
        assert r.reconstruction.shape == image.shape
        assert r.psnr == pytest.approx(psnr(image, r.reconstruction))
        assert r.encodes >= 1
        if r.quality < qmax:  # the next quality up does not fit (the codecs are monotone here)
            assert 8 * len(codec.encode(image, r.quality + 1)) > budget


def test_many_budgets_jpeg(image):
    pixels = image.shape[0] * image.shape[1]
    previous = -1
    for budget in np.linspace(0.05 * pixels, 3 * pixels, 25).astype(int):
        r = fit_to_budget("jpeg", image, int(budget), decode=False)
        if r.fits:
            assert r.bits <= budget
            assert r.quality >= previous  # more budget never lowers the quality
            previous = r.quality
        assert r.reconstruction is None and r.psnr is None


@pytest.mark.parametrize("budget", [0, 8, 100])
def test_no_fit_is_a_defined_outcome(budget, image):
    r = fit_to_budget("heif", image, budget)
    assert r.fits is False
    assert r.data is None and r.quality is None and r.bits == 0
    assert r.reconstruction is None and r.psnr is None
    assert r.min_bits == 8 * len(CODECS.create("heif").encode(image, 0)) > budget


def test_large_budget_takes_highest_quality(image):
    r = fit_to_budget("jpeg", image, 10**9, decode=False)
    assert r.fits and r.quality == 100


def test_budget_validation(image):
    for bad in (-1, "100", None, float("nan"), True):
        with pytest.raises(InputError):
            fit_to_budget("jpeg", image, bad)
    assert fit_to_budget("jpeg", image, 40000.9, decode=False).max_bits == 40000
    with pytest.raises(InputError):
        fit_to_budget("jpeg", image.astype(np.float32), 1000)


class _TableCodec(ImageCodec):
    """A fake codec whose stream sizes come from a table (not monotone), counting encodes."""

    name = "table"

    def __init__(self, sizes):
        self.sizes = list(sizes)
        self.quality_range = (0, len(self.sizes) - 1)
        self.calls = []

    @property
    def settings(self):
        return {"sizes": tuple(self.sizes)}  # the table is this codec's behaviour

    def _encode(self, image, quality):
        self.calls.append(quality)
        return bytes(self.sizes[quality])

    def _decode(self, data, expected):
        return np.zeros(tuple(expected) + (3,), dtype=np.uint8)


def test_non_monotone_codec_never_exceeds_budget(image):
    rng = np.random.default_rng(0)
    for trial in range(30):
        sizes = np.sort(rng.integers(1, 500, 60)).tolist()
        for _ in range(10):  # local inversions
            i = int(rng.integers(0, 59))
            sizes[i], sizes[i + 1] = sizes[i + 1], sizes[i]
        codec = _TableCodec(sizes)
        budget = int(rng.integers(0, 4500))
        r = fit_to_budget(codec, image, budget, decode=trial % 2 == 0)
        assert len(codec.calls) == len(set(codec.calls)) == r.encodes  # cached, no repeats
        if r.fits:
            assert r.bits <= budget and 8 * sizes[r.quality] == r.bits
        else:
            assert 8 * sizes[0] > budget


def test_monotone_table_finds_exact_answer(image):
    sizes = [int(10 * 1.05**q) for q in range(200)]
    for budget_bytes in (10, 57, 300, 1000, 12345, 10**6):
        codec = _TableCodec(sizes)
        r = fit_to_budget(codec, image, 8 * budget_bytes, decode=False)
        fitting = [q for q, s in enumerate(sizes) if s <= budget_bytes]
        assert r.quality == max(fitting)
        assert r.encodes <= 12


def test_repeated_searches_reuse_recent_encodes(image):
    sizes = [int(10 * 1.07**q) for q in range(120)]
    first = _TableCodec(sizes)
    a = fit_to_budget(first, image, 8 * 700, decode=False)
    again = _TableCodec(sizes)  # same codec and settings, e.g. the bound after the separation scheme
    b = fit_to_budget(again, image, 8 * 700, decode=False)
    assert (a.quality, a.bits) == (b.quality, b.bits)
    assert first.calls and not again.calls
