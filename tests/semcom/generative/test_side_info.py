"""Thumbnail and edge-map side information: budgets, the per-image choice of scale, what a receiver accepts."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from semcom.errors import ConfigError
from semcom.generative.side_info import EdgeSideInfo, ThumbnailSideInfo
from semcom.metrics import psnr
from semcom.schemes import make_scheme

IMAGE = data.astronaut()[::2, ::2][:160, :240].copy()  # 160 x 240


def _received(side: ThumbnailSideInfo, image: np.ndarray) -> np.ndarray:
    enc = side.encode(image)
    return side.decode(enc.data, image.shape[:2])


def test_several_scales_send_the_best_decoding_one_within_the_budget():
    scales = (4, 8, 16)
    singles = {s: ThumbnailSideInfo(max_bits=1200, codec="avif", scale=s) for s in scales}
    best = ThumbnailSideInfo(max_bits=1200, codec="avif", scale=[16, 4, 8])
    assert best.scales == (4, 8, 16) and best.describe()["scale"] == "1/4, 1/8, 1/16"
    assert best.thumb_shapes(160, 240) == [(40, 60), (20, 30), (10, 15)]
    enc = best.encode(IMAGE)
    assert enc.data is not None and enc.bits == 8 * len(enc.data) <= 1200
    chosen = psnr(IMAGE, best.decode(enc.data, IMAGE.shape[:2]))
    each = {s: psnr(IMAGE, _received(side, IMAGE)) for s, side in singles.items() if side.encode(IMAGE).data}
    assert len(each) >= 2 and chosen == pytest.approx(max(each.values()))
    assert enc.thumb_shape == singles[max(each, key=each.get)].thumb_shape(160, 240)


def test_the_receiver_accepts_only_the_sizes_the_scales_give():
    side = ThumbnailSideInfo(max_bits=4000, codec="avif", scale=[8, 16])
    other = ThumbnailSideInfo(max_bits=4000, codec="avif", scale=4).encode(IMAGE)
    assert side.decode(other.data, IMAGE.shape[:2]) is None  # a 40 x 60 stream for scales 1/8, 1/16
    assert side.decode(other.data, IMAGE.shape[:2], other.thumb_shape) is not None  # told the size: accepted
    assert side.decode(b"\x00garbage", IMAGE.shape[:2]) is None


def test_nothing_fits_is_not_sent():
    enc = ThumbnailSideInfo(max_bits=16, codec="avif", scale=[8, 16]).encode(IMAGE)
    assert enc.data is None and enc.bits == 0  # nothing sent, nothing counted


@pytest.mark.parametrize("scale", [[], [0], [8, True], 2.5])
def test_bad_scales_are_config_errors(scale):
    with pytest.raises(ConfigError, match="thumbnail scale"):
        ThumbnailSideInfo(scale=scale)


def test_edge_map_of_another_size_is_refused():
    side = EdgeSideInfo(scale=4, max_bits=100000)
    enc = EdgeSideInfo(scale=2, max_bits=100000).encode(IMAGE)
    assert side.map_shape(160, 240) == (40, 60)
    assert side.decode(enc.data, IMAGE.shape[:2]) is None
    assert EdgeSideInfo(scale=2).decode(enc.data, IMAGE.shape[:2]).shape == IMAGE.shape


def test_a_scheme_takes_a_list_of_thumbnail_scales():
    scheme = make_scheme("gai", captioner="tiny-vit-gpt2", generator="fallback", side_info="thumbnail",
                         side_codec="avif", thumb_scale=[8, 16], side_bits=1200, similarity=False)
    assert scheme.describe()["side_info"]["scale"] == "1/8, 1/16"
