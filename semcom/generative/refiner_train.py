"""Training of the side-information refiner on BSDS500 train (``semcom train refiner``).

Data: every training image is shrunk to ``1/scale`` of its size (Lanczos), coded with the
thumbnail codec at several bit budgets (``bpps``, bits per thumbnail pixel, so a budget means
the same quality on every image size; at 1/8 scale Kodak's 96 x 64 thumbnail at 0.3 bpp is
1,843 bits), decoded and upsampled bicubically, exactly as the receiver does it
(:class:`~semcom.generative.side_info.ThumbnailSideInfo`). Pairs (upsampled, original) are cut
into aligned random crops with random flips and transposes.

Recipe: L1 loss (a PSNR objective: L1 converges faster than MSE on residual image models),
Adam with linear warm-up and cosine decay, gradient-norm clipping; the schedule follows the
larger of step and time progress (:mod:`semcom.training`), so a time budget anneals fully.
``--resume`` continues from the saved state (weights, optimiser, step, elapsed time, RNG
states); the shipped checkpoint's card records the total steps and time.

Selection and reporting: PSNR on BSDS500 val (full images) against bicubic upsampling of the same
decoded thumbnails; Kodak only in ``experiments/bench_refiner.py``.
"""

from __future__ import annotations

import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from semcom.errors import ConfigError, InputError
from semcom.files import atomic_path
from semcom.generative.refiner import Refiner, RefinerConfig, refiner_macs_per_pixel
from semcom.generative.refiner_checkpoint import save_refiner
from semcom.generative.side_info import ThumbnailSideInfo
from semcom.jscc.data import list_images, load_image
from semcom.training import (
    Schedule,
    TrainingLog,
    load_training_state,
    rng_state,
    run_steps,
    set_rng_state,
)

STATE_FILE = "state.pt"
LOG_FILE = "train_log.csv"


@dataclass
class RefinerTrainOptions:
    """Everything a refiner training run needs; ``semcom train refiner`` maps its flags onto these."""

    data: str
    out: str
    val: str | None = None
    scale: int = 8
    codec: str = "avif"
    bpps: tuple[float, ...] = (0.1, 0.2, 0.3, 0.45, 0.7, 1.2)
    val_bpp: float = 0.3
    widths: tuple[int, int, int] = RefinerConfig.widths
    blocks: tuple[int, int, int] = RefinerConfig.blocks
    steps: int | None = None
    minutes: float | None = None
    batch: int = 16
    crop: int = 96
    lr: float = 5e-4
    min_lr_frac: float = 0.02
    warmup: int = 200
    grad_clip: float = 1.0
    val_every: int = 250
    val_images: int = 25
    ckpt_every: int = 100
    log_every: int = 25
    state_dir: str | None = None
    resume: bool = False
    seed: int = 0
    threads: int | None = 2
    max_train_images: int | None = None
    stop_at_step: int | None = None
    progress: bool = True
    command: str | None = None
    schedule: Schedule = field(init=False, repr=False)

    def __post_init__(self):
        self.schedule = Schedule(self.steps, self.minutes, self.lr, self.min_lr_frac, self.warmup)
        if self.scale < 2:
            raise ConfigError(f"thumbnail scale must be >= 2, got {self.scale}")
        if not self.bpps or min(self.bpps) <= 0:
            raise ConfigError(f"bits per thumbnail pixel must be > 0, got {self.bpps}")
        if self.batch < 1 or self.crop < 16 or self.crop % 16:
            raise ConfigError(f"batch must be >= 1 and crop a multiple of 16, got {self.batch}, {self.crop}")

    def resolved_state_dir(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir)
        return Path("results") / "refiner" / Path(self.out).resolve().name

    def card(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("progress", "resume", "state_dir", "schedule")}


def side_info_pair(image: torch.Tensor, scale: int, bpp: float, codec: str) -> tuple[torch.Tensor, int] | None:
    """(upsampled decoded thumbnail [3, H, W] uint8, its bits) for one uint8 [3, H, W] image, or None
    when not even the codec's lowest quality fits ``bpp * thumbnail pixels`` bits."""
    hwc = image.permute(1, 2, 0).numpy()
    h, w = hwc.shape[:2]
    th, tw = ThumbnailSideInfo(scale=scale).thumb_shape(h, w)
    side = ThumbnailSideInfo(max_bits=max(1, int(bpp * th * tw)), codec=codec, scale=scale)
    enc = side.encode(hwc)
    if enc.data is None:
        return None
    up = side.decode(enc.data, (h, w), enc.thumb_shape)
    return torch.from_numpy(np.array(up, dtype=np.uint8)).permute(2, 0, 1).contiguous(), enc.bits


class PairSampler:
    """Aligned random crops of (upsampled, original) pairs with random flips and transposes."""

    def __init__(self, pairs: list[tuple[torch.Tensor, torch.Tensor]], generator: torch.Generator):
        if not pairs:
            raise InputError("no training pairs (no thumbnail fitted its budget)")
        self.pairs, self.generator = pairs, generator
        self.min_side = min(min(hr.shape[1:]) for _, hr in pairs)

    def batch(self, batch: int, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(upsampled, original), each [batch, 3, crop, crop] float32 in [0, 1]."""
        if crop > self.min_side:
            raise InputError(f"crop {crop} exceeds the smallest training image side {self.min_side}")
        g = self.generator
        ups = torch.empty(batch, 3, crop, crop, dtype=torch.uint8)
        hrs = torch.empty_like(ups)
        for i in range(batch):
            up, hr = self.pairs[int(torch.randint(len(self.pairs), (1,), generator=g))]
            top = int(torch.randint(hr.shape[1] - crop + 1, (1,), generator=g))
            left = int(torch.randint(hr.shape[2] - crop + 1, (1,), generator=g))
            a = up[:, top : top + crop, left : left + crop]
            b = hr[:, top : top + crop, left : left + crop]
            flip_h, flip_v, swap = torch.rand(3, generator=g).lt(0.5).tolist()
            if flip_h:
                a, b = a.flip(-1), b.flip(-1)
            if flip_v:
                a, b = a.flip(-2), b.flip(-2)
            if swap:
                a, b = a.transpose(-1, -2), b.transpose(-1, -2)
            ups[i], hrs[i] = a, b
        return ups.float().div_(255.0), hrs.float().div_(255.0)


def build_pairs(images: list[torch.Tensor], scale: int, bpps, codec: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    pairs = []
    for image in images:
        for bpp in bpps:
            made = side_info_pair(image, scale, bpp, codec)
            if made is not None:
                pairs.append((made[0], image))
    return pairs


@torch.no_grad()
def evaluate(model: Refiner, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Mean PSNR (dB) over whole images of the refiner and of the bicubic upsampling it starts from."""
    was_training = model.training
    model.eval()
    refined, bicubic = [], []
    for up, hr in pairs:
        x, y = up.float().div(255.0)[None], hr.float().div(255.0)[None]
        out = (model(x) * 255.0).round() / 255.0
        refined.append(_psnr(out, y))
        bicubic.append(_psnr(x, y))
    model.train(was_training)
    return {"refiner_psnr": float(np.mean(refined)), "bicubic_psnr": float(np.mean(bicubic))}


def _psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = float(F.mse_loss(x, y))
    return 10.0 * np.log10(1.0 / max(mse, 1e-12))


def train_refiner(opts: RefinerTrainOptions) -> dict:
    """Run (or resume) a refiner training run; returns a summary (steps, elapsed, metrics, paths)."""
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    torch.manual_seed(opts.seed)
    random.seed(opts.seed)
    np.random.seed(opts.seed)
    out_dir, state_dir = Path(opts.out), opts.resolved_state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    state_path, log_path = state_dir / STATE_FILE, state_dir / LOG_FILE

    state = None
    if opts.resume:
        if not state_path.is_file():
            raise InputError(f"--resume: no training state at {state_path} (use the same --out / --state-dir)")
        state = load_training_state(state_path, generators=("sampler",))
        config = RefinerConfig.from_dict(state["config"])
    else:
        config = RefinerConfig(tuple(opts.widths), tuple(opts.blocks))

    files = list_images(opts.data)[: opts.max_train_images]
    print(f"refiner train: coding {len(files)} x {len(opts.bpps)} thumbnails ({opts.codec}, 1/{opts.scale})",
          file=sys.stderr)
    pairs = build_pairs([load_image(p) for p in files], opts.scale, opts.bpps, opts.codec)
    val_pairs = []
    if opts.val:
        val_files = list_images(opts.val)[: opts.val_images]
        val_pairs = build_pairs([load_image(p) for p in val_files], opts.scale, (opts.val_bpp,), opts.codec)
    sampler_gen = torch.Generator().manual_seed(opts.seed)
    sampler = PairSampler(pairs, sampler_gen)

    model = Refiner(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
    step, elapsed_before, last_val = 0, 0.0, {}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed_before = int(state["step"]), float(state["elapsed_s"])
        set_rng_state(state["rng"], {"sampler": sampler_gen})
        last_val = state.get("last_val", {})
    model.train()

    log = TrainingLog(log_path, ["step", "elapsed_s", "lr", "loss", "val_refiner_psnr", "val_bicubic_psnr"], state)

    def save_all(done: int, elapsed: float, log_bytes: int) -> None:
        training = {**opts.card(), "steps_done": done, "elapsed_s": round(elapsed, 1),
                    "macs_per_pixel": refiner_macs_per_pixel(config)}
        save_refiner(model, out_dir, training=training, metrics={"bsds500_val": last_val})
        payload = {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": done,
            "elapsed_s": elapsed, "rng": rng_state({"sampler": sampler_gen}), "config": config.to_dict(),
            "options": opts.card(), "last_val": last_val, "log_bytes": log_bytes,
        }
        with atomic_path(state_path) as tmp:
            torch.save(payload, tmp)

    def train_step(progress: float) -> tuple[dict[str, float], list]:
        x, y = sampler.batch(opts.batch, opts.crop)
        loss = F.l1_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if opts.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        optimizer.step()
        return {"loss": loss.item()}, []

    def validate() -> list[str]:
        nonlocal last_val
        last_val = evaluate(model, val_pairs)
        return [f"{last_val['refiner_psnr']:.3f}", f"{last_val['bicubic_psnr']:.3f}"]

    print(f"refiner train: {sum(p.numel() for p in model.parameters()) / 1e6:.3f} M parameters, "
          f"{refiner_macs_per_pixel(config) / 1e3:.1f} kMAC/pixel, {len(pairs)} pairs, step {step}, "
          f"checkpoint -> {out_dir}, state -> {state_dir}", file=sys.stderr)
    done = run_steps(opts.schedule, optimizer, train_step, step=step, elapsed_s=elapsed_before, log=log,
                     averages={"loss": ".6f"}, save=save_all, validate=validate if val_pairs else None,
                     val_every=opts.val_every, log_every=opts.log_every, ckpt_every=opts.ckpt_every,
                     stop_at_step=opts.stop_at_step, progress=opts.progress)
    step, elapsed, interrupted = done.step, done.elapsed_s, done.interrupted
    log_bytes = log.size()
    if val_pairs:
        last_val = evaluate(model, val_pairs)
    log.close()
    save_all(step, elapsed, log_bytes)
    print(f"refiner train: {'interrupted' if interrupted else 'done'} at step {step}; BSDS500 val {last_val}",
          file=sys.stderr)
    return {"steps": step, "elapsed_s": elapsed, "interrupted": interrupted, "metrics": last_val,
            "checkpoint": str(out_dir), "state": str(state_path), "log": str(log_path), "signal": done.signal}
