"""Simulated wireless channels: AWGN, Rayleigh block fading, OFDM over 3GPP TDL.

All follow one SNR convention (:mod:`channels.snr`) and the :class:`channels.base.Channel` contract.
"""

from channels.base import Channel, ChannelOutput
from channels.registry import CHANNELS
from channels import awgn, rayleigh, tdl  # noqa: F401  (register the models)
from channels.awgn import AWGNChannel
from channels.rayleigh import RayleighBlockFading
from channels.tdl import TDLOFDMChannel


def make_channel(name: str, **options) -> Channel:
    """Build a registered channel model by name (``awgn``, ``rayleigh``, ``tdl``, or a user's own)."""
    return CHANNELS.create(name, **options)


__all__ = ["Channel", "ChannelOutput", "CHANNELS", "AWGNChannel", "RayleighBlockFading", "TDLOFDMChannel", "make_channel"]
