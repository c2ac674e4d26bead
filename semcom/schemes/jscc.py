"""Learned deep JSCC over the analog link, as an end-to-end scheme."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from semcom.errors import ConfigError
from semcom.images import as_tensor, check_image, from_tensor
from semcom.jscc.checkpoint import (
    CHECKPOINT_ROOT as SHIPPED_CHECKPOINTS,
    channel_settings,
    load_checkpoint,
    pick_checkpoint,
    read_card,
)
from semcom.link.analog import AnalogLink
from semcom.options import CBR
from semcom.schemes.base import SCHEMES, Scheme, SchemeCard, SchemeResult
from semcom.source.bound import channel_capacity


#: channel options that belong to the receiver, not to the channel: a JSCC receiver uses the model's own
#: unless told otherwise.
RECEIVER_OPTIONS = ("equalizer",)


def _trained_on(trained: str, trained_options: dict, channel: str, options: dict) -> str:
    """The trained channel as a label: its name, plus the settings that differ from the link's
    (``rayleigh block_length=64`` for a block-fading model run on per-symbol fading)."""
    if trained != channel:
        return trained
    have, want = channel_settings(trained, trained_options), channel_settings(channel, options)
    differ = [f"{k}={have[k]}" for k in sorted(have) if k in want and have[k] != want[k]]
    return " ".join([trained, *differ])


@SCHEMES.register("jscc")
class JSCCScheme(Scheme):
    """A trained deep JSCC model (shipped name or checkpoint folder) sending the image as analog symbols.

    ``model`` None: the shipped checkpoint trained for ``channel`` at ``cbr`` (default 1/16), else the AWGN one at
    that CBR (:func:`~semcom.jscc.checkpoint.pick_checkpoint`). A model run on a channel other than the one it was
    trained on says so in its label (and warns). The CBR is the model's own (it is fixed by its bottleneck);
    ``cbr``, when given, must match it. ``bits`` is 0: nothing digital is sent. ``metrics["capacity_bits"]``
    reports, labelled as such, the bits those channel uses would carry at the channel's capacity.
    """

    name = "jscc"

    def __init__(
        self,
        model: str | None = None,
        channel: str = "awgn",
        cbr: float | None = None,
        seed: int | None = 0,
        **channel_options,
    ):
        if model is None:
            model = pick_checkpoint(channel, cbr, channel_options)
        self.model_name = model
        self.channel = channel
        trained = read_card(model)["config"]
        if trained.get("channel", "awgn") == channel:  # the receiver equalises as the model was trained to
            channel_options = {**{k: v for k, v in trained.get("channel_options", {}).items() if k in RECEIVER_OPTIONS},
                               **channel_options}
        link = AnalogLink(channel, seed=seed, **channel_options)
        self.model = load_checkpoint(model, link=link, seed=seed)
        model_cbr = CBR.check(self.model.config.cbr, "cbr")
        if cbr is not None and abs(cbr - model_cbr) > 1e-9:
            raise ConfigError(f"model {model!r} is trained for CBR {model_cbr:.5f}, not {cbr:.5f}; pick a model "
                              f"trained for that CBR")
        self.cbr = model_cbr
        self.trained_channel = _trained_on(self.model.config.channel, self.model.config.channel_options,
                                           channel, channel_options)
        if self.trained_channel != channel:
            warnings.warn(f"JSCC model {model!r} was trained on {self.trained_channel}, not on {channel}: its "
                          f"rows are labelled so", stacklevel=2)

    def describe(self) -> dict[str, Any]:
        return {"scheme": self.name, "model": self.model_name, "cbr": self.cbr, "channel": self.channel,
                "trained_channel": self.trained_channel}

    def card(self) -> SchemeCard:
        shipped = (SHIPPED_CHECKPOINTS / self.model_name).is_dir()
        mismatch = f" (trained on {self.trained_channel})" if self.trained_channel != self.channel else ""
        return SchemeCard(f"{'shipped checkpoint' if shipped else 'checkpoint'} {self.model_name}{mismatch}",
                          {"model": str(self.model_name)})

    @torch.no_grad()
    def transmit(self, image: np.ndarray, snr_db: float, generator: torch.Generator | None = None) -> SchemeResult:
        image = check_image(image)
        out = self.model(as_tensor(image), snr_db, generator=generator)
        uses = int(out.channel_uses) if not torch.is_tensor(out.channel_uses) else int(out.channel_uses.flatten()[0])
        capacity = channel_capacity(snr_db, self.channel if self.channel in ("awgn", "rayleigh") else "awgn")
        return SchemeResult(
            reconstruction=from_tensor(out.reconstruction),
            bits=0,
            coded_bits=0,
            channel_uses=uses,
            metrics={"capacity_bits": uses * capacity},
            details={"model": self.model_name},
        )
