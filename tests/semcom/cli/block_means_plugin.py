"""A plugin scheme, registered from outside semcom: block means of the image over the 5G LDPC link."""

import numpy as np

from semcom.images import check_image, fallback_image
from semcom.link import arq
from semcom.link.digital import DigitalLink
from semcom.schemes import SCHEMES, Scheme, SchemeCard, SchemeResult


@SCHEMES.register("block-means", override=True)
class BlockMeans(Scheme):
    """The mean colour of each ``block`` x ``block`` tile, 8 bits per channel, sent over the digital link."""

    name = "block-means"

    def __init__(self, block: int = 8, channel: str = "awgn", seed: int = 0, cbr: float | None = None):
        self.block = block
        self.link = DigitalLink(channel, mcs=None, code="ldpc", seed=seed)

    def card(self) -> SchemeCard:
        return SchemeCard("plugin: block means over 5G LDPC")

    def transmit(self, image, snr_db, generator=None):
        image = check_image(image)
        b, (h, w) = self.block, image.shape[:2]
        tiles = image[: h // b * b, : w // b * b].reshape(h // b, b, w // b, b, 3).mean(axis=(1, 3))
        bits = np.unpackbits(np.round(tiles).astype(np.uint8).reshape(-1))
        delivery = arq.send(self.link, bits, snr_db, generator=generator)
        if delivery.ok:
            means = np.packbits(delivery.bits).reshape(h // b, w // b, 3)
            reconstruction = np.pad(np.kron(means, np.ones((b, b, 1), np.uint8)),
                                    ((0, h - h // b * b), (0, w - w // b * b), (0, 0)), mode="edge")
        else:
            reconstruction = fallback_image(image.shape)
        return SchemeResult(reconstruction, int(bits.size), delivery.cost.coded_bits, delivery.cost.channel_uses,
                            failed=not delivery.ok)
