"""Source coding of the separation baseline: image codecs, rate control and the separation bound."""

from semcom.source.bound import (
    BoundResult,
    capacity_bits,
    channel_capacity,
    ergodic_rayleigh_capacity,
    separation_bound,
)
from semcom.source.codecs import CODECS, ImageCodec, available_codecs, get_codec
from semcom.source.rate_control import RateControlResult, fit_to_budget

__all__ = [
    "CODECS",
    "BoundResult",
    "ImageCodec",
    "RateControlResult",
    "available_codecs",
    "capacity_bits",
    "channel_capacity",
    "ergodic_rayleigh_capacity",
    "fit_to_budget",
    "get_codec",
    "separation_bound",
]
