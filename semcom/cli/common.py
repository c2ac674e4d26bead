"""Argument parsing helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import math
from fractions import Fraction


def snr_list(text: str) -> list[float]:
    """'0,2,4' -> [0.0, 2.0, 4.0]; rejects NaN and infinities."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"SNR list must be comma-separated numbers in dB, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("SNR list is empty")
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"SNR values must be finite, got {text!r}")
    return values


def fraction(text: str) -> float:
    """'1/16' or '0.0625' -> 0.0625 (must lie in (0, 1])."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a fraction such as 1/16 or 0.5, got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text!r}")
    return value
