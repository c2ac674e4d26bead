"""Classical separation: image codec -> digital link (5G LDPC + QAM), and the separation bound."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from channels import Channel
from semcom.errors import CodecError, ConfigError
from semcom.images import check_image, fallback_image
from semcom.link import arq
from semcom.link.digital import DigitalLink
from semcom.link.mcs import MCS
from semcom.schemes.base import SCHEMES, Scheme, SchemeCard, SchemeResult
from semcom.source.bound import separation_bound
from semcom.source.codecs import get_codec
from semcom.source.rate_control import fit_to_budget
from semcom.options import channel_use_budget


def channel_budget(image: np.ndarray, cbr: float) -> int:
    """Complex channel uses allowed for ``image`` [H, W, 3]: floor(CBR x H x W x 3)."""
    return channel_use_budget(image.shape[0], image.shape[1], cbr)


@SCHEMES.register("separation")
class SeparationScheme(Scheme):
    """Codec at the highest quality whose stream fits the channel budget at the link's MCS.

    codec:   registered image codec name (``heif``, ``avif``, ``webp``, ``jpeg``).
    cbr:     channel bandwidth ratio: channel uses / (H x W x 3) for the first transmission.
    mcs:     fixed MCS (index or :class:`MCS`); None adapts to the SNR: the highest MCS whose
             BLER is at most 10% at ``snr_db - snr_margin_db``. An image spans tens of code blocks
             and is lost if any one is, so the margin (0.5 dB, where the 5G LDPC waterfall is
             already one to two decades lower) keeps whole-image failures rare.
    arq:     retransmission rounds for failed code blocks (1 by default, as 5G retransmits lost
             blocks; 0 disables). Retransmissions stay within the budget: the codec's stream is fitted
             to leave room for ``reserve_blocks`` code blocks, and a block is resent only while it
             fits in what is left, so no image spends more than floor(CBR x H x W x 3) channel uses.
    reserve_blocks: code blocks of the budget kept for retransmissions (1 by default when ``arq``
             is on; 0 fills the budget with the stream).
    If any block is still lost, the stream is undecodable: the receiver shows the mid-grey
    fallback and the result is marked failed.
    """

    name = "separation"

    def __init__(
        self,
        codec: str = "heif",
        cbr: float = 1 / 16,
        channel: Channel | str = "awgn",
        mcs: MCS | int | None = None,
        arq: int = 1,
        reserve_blocks: int | None = None,
        snr_margin_db: float = 0.5,
        seed: int | None = 0,
        **channel_options,
    ):
        if not isinstance(arq, int) or arq < 0:
            raise ConfigError(f"arq must be a non-negative number of rounds, got {arq!r}")
        if reserve_blocks is None:
            reserve_blocks = 1 if arq else 0
        if isinstance(reserve_blocks, bool) or not isinstance(reserve_blocks, int) or reserve_blocks < 0:
            raise ConfigError(f"reserve_blocks must be a non-negative number of code blocks, got {reserve_blocks!r}")
        self.codec = get_codec(codec)
        self.cbr = cbr
        self.arq = arq
        self.reserve_blocks = reserve_blocks
        self.snr_margin_db = snr_margin_db
        self.link = DigitalLink(channel, mcs=mcs, code="ldpc", snr_margin_db=snr_margin_db, seed=seed,
                                **channel_options)

    def describe(self) -> dict[str, Any]:
        return {"scheme": self.name, "codec": self.codec.name, "cbr": self.cbr, "arq": self.arq,
                "reserve_blocks": self.reserve_blocks, "snr_margin_db": self.snr_margin_db,
                "channel": self.link.channel_name, "mcs": None if self.link.mcs is None else str(self.link.mcs)}

    def card(self) -> SchemeCard:
        return SchemeCard(f"no learned model: {self.codec.name} codec + 5G LDPC", {"codec": self.codec.name})

    def transmit(self, image: np.ndarray, snr_db: float, generator: torch.Generator | None = None) -> SchemeResult:
        image = check_image(image)
        budget = channel_budget(image, self.cbr)
        max_bits = self.link.max_payload_bits(budget, snr_db)
        if self.reserve_blocks and max_bits:  # leave room to resend the largest block(s) within the budget
            full = self.link.plan(max_bits, snr_db)
            block_uses = -(-full.channel_uses // full.num_blocks)
            max_bits = self.link.max_payload_bits(max(0, budget - self.reserve_blocks * block_uses), snr_db)
        fit = fit_to_budget(self.codec, image, max_bits, decode=False)
        plan = self.link.plan(max(max_bits, 1), snr_db)
        details: dict[str, Any] = {"codec": self.codec.name, "budget_channel_uses": budget, "max_bits": max_bits,
                                   "mcs": str(plan.mcs), "below_threshold": plan.below_threshold}
        if not fit.fits:
            details["reason"] = "no codec quality fits the channel budget"
            return SchemeResult(fallback_image(image.shape), 0, 0, 0, failed=True, details=details)

        payload = np.unpackbits(np.frombuffer(fit.data, dtype=np.uint8))
        delivery = arq.send(self.link, payload, snr_db, rounds=self.arq, generator=generator, selective=True,
                            max_channel_uses=budget)
        ok = delivery.block_ok
        details.update(quality=fit.quality, blocks=int(ok.size), blocks_lost=int((~ok).sum()),
                       arq_rounds=delivery.retransmissions)
        failed = not delivery.ok
        reconstruction = None
        if not failed:
            try:
                reconstruction = self.codec.decode(np.packbits(delivery.bits).tobytes()[: len(fit.data)], image.shape)
            except CodecError as err:
                details["reason"] = f"codec could not decode the received stream: {err}"
                failed = True
        else:
            details["reason"] = f"{details['blocks_lost']} of {ok.size} code blocks lost"
        if failed:
            reconstruction = fallback_image(image.shape)
        return SchemeResult(reconstruction, fit.bits, delivery.cost.coded_bits, delivery.cost.channel_uses,
                            failed=failed, details=details)


@SCHEMES.register("bound")
class SeparationBound(Scheme):
    """The best codec at the capacity budget R = CBR x H x W x 3 x log2(1 + SNR) bits.

    AWGN uses the Shannon capacity; ``rayleigh`` uses the ergodic capacity E[log2(1 + |h|^2 SNR)]
    (CSI at the receiver only). No real link is simulated: it is the limit practical schemes
    are held against.
    """

    name = "bound"

    def __init__(self, cbr: float = 1 / 16, channel: str = "awgn", codecs: tuple[str, ...] | None = None):
        if channel not in ("awgn", "rayleigh"):
            raise ConfigError(f"the separation bound is defined here for awgn and rayleigh, not {channel!r}")
        self.cbr = cbr
        self.channel = channel
        self.codecs = codecs

    def describe(self) -> dict[str, Any]:
        return {"scheme": self.name, "cbr": self.cbr, "channel": self.channel,
                "capacity": "ergodic" if self.channel == "rayleigh" else "shannon"}

    def card(self) -> SchemeCard:
        return SchemeCard("limit: best codec at capacity")

    def model_label(self, result: SchemeResult) -> str:
        return f"limit: best codec at capacity ({result.details.get('codec') or 'none fits'})"

    def transmit(self, image: np.ndarray, snr_db: float, generator: torch.Generator | None = None) -> SchemeResult:
        image = check_image(image)
        kwargs = {} if self.codecs is None else {"codecs": self.codecs}
        bound = separation_bound(image, self.cbr, snr_db, channel=self.channel, **kwargs)
        return SchemeResult(
            bound.reconstruction, bound.bits, 0, channel_budget(image, self.cbr), failed=bound.codec is None,
            details={"codec": bound.codec, "budget_bits": bound.budget_bits, "per_codec": bound.per_codec},
        )
