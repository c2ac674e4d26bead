"""Task ``jscc``: fine-tune a shipped JSCC checkpoint to a new channel from images held on devices.

The base model is a shipped checkpoint (default ``jscc-awgn-cbr1-16``, trained on AWGN) whose
analog link is replaced by the new channel (default Rayleigh block fading with MMSE
equalisation, the channel of the shipped ``jscc-rayleigh-cbr1-16``). Each client holds its share of
the BSDS500 training photographs (an IID split by image) and trains on random crops with a
per-example SNR drawn uniformly from ``snr_range_db``, MSE loss (the recipe of
:mod:`semcom.jscc.train`). The metric is the mean PSNR (dB) over the ``eval_snr_db`` SNRs on
centre crops of BSDS500 validation photographs, with seeded channel noise
(:func:`semcom.jscc.train.evaluate_psnr`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import ConfigError
from semcom.federated.task import POOLED, TASKS, FederatedTask
from semcom.images import centre_crop
from semcom.jscc.data import CropSampler


@dataclass(frozen=True)
class JSCCSettings:
    """checkpoint: shipped name or folder; channel / channel_options: the new channel; crop: training
    crop side; snr_range_db: training SNRs; eval_snr_db: the metric's SNRs; val_crop: evaluation crop."""

    checkpoint: str = "jscc-awgn-cbr1-16"
    channel: str = "rayleigh"
    channel_options: dict = field(default_factory=lambda: {"equalizer": "mmse"})
    crop: int = 64
    snr_range_db: tuple[float, float] = (0.0, 20.0)
    eval_snr_db: tuple[float, ...] = (1.0, 10.0, 19.0)
    val_crop: int = 128

    def __post_init__(self) -> None:
        if self.crop < 16 or self.crop % 16 or self.val_crop < 16 or self.val_crop % 16:
            raise ConfigError(f"crop and val_crop must be multiples of 16, got {self.crop}, {self.val_crop}")
        low, high = self.snr_range_db
        if not low <= high:
            raise ConfigError(f"snr_range_db [{low}, {high}] is empty")
        if not self.eval_snr_db:
            raise ConfigError("eval_snr_db needs at least one SNR")


@TASKS.register("jscc")
class JSCCTask(FederatedTask):
    """Clients fine-tune the JSCC model to the new channel; the metric is PSNR on validation crops.

    clients: per client, its uint8 [3, H, W] images; val: validation images (centre-cropped here).
    """

    name = "jscc"
    metric = "psnr_db"
    higher_is_better = True

    def __init__(self, settings: JSCCSettings, clients: Sequence[Sequence[torch.Tensor]], val: Sequence[torch.Tensor]):
        if not clients or any(not c for c in clients):
            raise ConfigError("every client needs at least one image")
        if not val:
            raise ConfigError("the task needs validation images")
        self.settings = settings
        self.clients = [list(c) for c in clients]
        self.val = [centre_crop(im, settings.val_crop) for im in val]
        self._flops: dict[tuple, float] = {}

    @property
    def num_clients(self) -> int:
        return len(self.clients)

    def client_examples(self, client: int) -> int:
        return len(self.clients[client])

    def build_model(self) -> nn.Module:
        from semcom.jscc.checkpoint import load_checkpoint
        from semcom.link.analog import AnalogLink

        s = self.settings
        link = AnalogLink(s.channel, **dict(s.channel_options))
        return load_checkpoint(s.checkpoint, link=link).train()

    def sample_batch(self, client: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        images = [im for part in self.clients for im in part] if client == POOLED else self.clients[client]
        x = CropSampler(images, generator).batch(size, self.settings.crop)
        low, high = self.settings.snr_range_db
        return x, low + (high - low) * torch.rand(size, generator=generator)

    def loss(self, model: nn.Module, batch, generator: torch.Generator) -> torch.Tensor:
        x, snr = batch
        return F.mse_loss(model(x, snr, generator=generator).reconstruction, x)

    def forward_flops(self, model: nn.Module, batch) -> float:
        """FLOPs of the convolutions and matrix products of one forward pass (counted by torch once per shape)."""
        x, snr = batch
        key = tuple(x.shape)
        if key not in self._flops:
            from torch.utils.flop_counter import FlopCounterMode

            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(x, snr, generator=torch.Generator().manual_seed(0))
            self._flops[key] = float(counter.get_total_flops())
        return self._flops[key]

    def evaluate(self, model: nn.Module) -> float:
        from semcom.jscc.train import evaluate_psnr

        was = model.training
        scores = evaluate_psnr(model, self.val, self.settings.eval_snr_db, batch=8)
        model.train(was)
        return float(np.mean(list(scores.values())))

    def describe(self) -> dict:
        info = super().describe()
        s = self.settings
        info.update(checkpoint=s.checkpoint, channel=s.channel, channel_options=dict(s.channel_options), crop=s.crop,
                    val_images=len(self.val), val_crop=s.val_crop, eval_snr_db=list(s.eval_snr_db))
        return info


def make_jscc_task(settings: JSCCSettings, train_images: Sequence[torch.Tensor], val_images: Sequence[torch.Tensor],
                   clients: int, *, seed: int = 0) -> JSCCTask:
    """Deal the training images out to ``clients`` (IID by image) and build the task."""
    from semcom.federated.partition import partition

    parts = partition("iid", list(range(len(train_images))), clients, seed=seed)
    return JSCCTask(settings, [[train_images[j] for j in part] for part in parts], val_images)
