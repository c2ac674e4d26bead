"""A test double scheme that takes a set time per item, so that a signal sent mid-run lands mid-run."""

import time

import numpy as np

from semcom.images import check_image
from semcom.schemes import SCHEMES, Scheme, SchemeCard, SchemeResult


@SCHEMES.register("paced", override=True)
class Paced(Scheme):
    """Waits ``seconds``, then 'receives' the image unchanged: 24 bits per pixel, nothing on air."""

    name = "paced"

    def __init__(self, seconds: float = 0.5, channel: str = "awgn", seed: int = 0):
        self.seconds = seconds

    def card(self) -> SchemeCard:
        return SchemeCard("test double: paced copy")

    def transmit(self, image, snr_db, generator=None):
        image = check_image(image)
        time.sleep(self.seconds)
        return SchemeResult(np.array(image), 24 * image.shape[0] * image.shape[1], 0, 0)
