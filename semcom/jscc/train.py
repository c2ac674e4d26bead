"""Training of SNR-adaptive deep JSCC models on a CPU (or whatever device torch gives).

Recipe: random crops with horizontal flips from a folder decoded into memory once (one size,
or mixed sizes drawn per step with the pixels per batch kept constant, and a share of steps at
sizes that are not multiples of 16, so the decoder learns the symbols the channel-use budget
drops); per-sample SNR uniform in [snr_min, snr_max] dB; MSE loss, or (``loss="psnr"``) the mean
per-crop PSNR, the figure that is reported; Adam with linear warm-up and
a cosine decay; gradient-norm clipping; an exponential moving average of the weights (``ema``),
which is what is validated and shipped; optionally larger crops (with a proportionally smaller
batch) for the last part of the run. The schedule follows *progress*, the larger of
``step / steps`` and ``elapsed / minutes``, so a run with a time budget anneals fully and stops
cleanly when the budget is spent, writing its checkpoint.

Outputs
-------
``--out DIR``        the small checkpoint (``model.safetensors`` float16 + ``config.json``), rewritten
                     every ``ckpt_every`` steps and at the end; metrics on the validation set go in
                     the card.
``--state-dir DIR``  resume state (float32 weights, optimiser, schedule, step, elapsed time, RNG
                     states) and the CSV log; default ``results/jscc/<out name>/`` (git-ignored).
                     ``--resume`` continues from it after an interruption (SIGINT/SIGTERM save it;
                     after a kill it continues from the last saved state). Files are replaced
                     atomically, and the log is cut back to the rows of the saved state on resume,
                     so a resumed run logs each step once.

Commands that produced the shipped checkpoints: ``experiments/train_jscc.sh`` (run from the
repository root with ``OMP_WAIT_POLICY=PASSIVE``; spinning OpenMP threads waste most of a shared
CPU). The first, from scratch::

    semcom train jscc --data $D/bsds500/train --val $D/bsds500/val --cbr 1/16 --channel awgn \
        --minutes 70 --batch 8 --crop 128 --crop-final 256 --final-frac 0.25 --lr 2e-3 --warmup 200 \
        --seed 0 --out semcom/jscc/checkpoints/jscc-awgn-cbr1-16 --state-dir /tmp/jscc_state/jscc-awgn-cbr1-16

The CBR 1/48 and Rayleigh models are fine-tuned from it for 15 minutes with ``--init`` (only
the bottleneck convs and the linear patch path are re-initialised for 1/48; nothing for
Rayleigh), ``--lr 1e-3 --warmup 50``.
"""

from __future__ import annotations

import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from semcom import training
from semcom.devices import check_device, check_dtype
from semcom.errors import ConfigError, InputError
from semcom.files import atomic_path
from semcom.jscc.checkpoint import load_checkpoint, save_checkpoint
from semcom.images import centre_crop
from semcom.jscc.data import CropSampler, load_images, to_float
from semcom.jscc.model import JSCCConfig, JSCCModel, count_parameters, psnr

STATE_FILE = "state.pt"
LOG_FILE = "train_log.csv"
LOSSES = ("mse", "psnr")


@dataclass
class TrainOptions:
    """Everything a training run needs; ``semcom train jscc`` maps its flags onto these fields."""

    data: str
    out: str
    val: str | None = None
    cbr: str = "1/16"
    channel: str = "awgn"
    channel_options: dict = field(default_factory=dict)
    widths: tuple[int, ...] = JSCCConfig.widths
    blocks: tuple[int, ...] = JSCCConfig.blocks
    linear_skip: bool = True
    attn_blocks: int = 0
    decoder_blocks: tuple[int, ...] | None = None
    steps: int | None = None
    minutes: float | None = None
    batch: int = 8
    crop: int = 128
    crop_final: int | None = None
    final_frac: float = 0.25
    crops: tuple[int, ...] | None = None
    odd_frac: float = 0.0
    ema: float = 0.0
    lr: float = 2e-3
    min_lr_frac: float = 0.02
    decay_frac: float = 1.0
    warmup: int = 200
    grad_clip: float = 1.0
    loss: str = "mse"
    snr_min: float = 0.0
    snr_max: float = 20.0
    val_every: int = 250
    val_images: int = 32
    val_crop: int = 256
    val_snrs: tuple[float, ...] = (1.0, 10.0, 19.0)
    final_eval_snrs: tuple[float, ...] = (1.0, 4.0, 7.0, 10.0, 13.0)
    final_eval: bool = True
    ckpt_every: int = 500
    log_every: int = 25
    state_dir: str | None = None
    resume: bool = False
    init: str | None = None
    seed: int = 0
    device: str = "cpu"
    amp: str | None = None
    threads: int | None = 2
    max_train_images: int | None = None
    stop_at_step: int | None = None
    progress: bool = True
    command: str | None = None
    schedule: training.Schedule = field(init=False, repr=False)

    def __post_init__(self):
        self.schedule = training.Schedule(
            self.steps, self.minutes, self.lr, self.min_lr_frac, self.warmup, self.decay_frac
        )
        if self.batch < 1 or self.crop < 16 or self.crop % 16:
            raise ConfigError(f"batch must be >= 1 and crop a multiple of 16 (>= 16), got {self.batch}, {self.crop}")
        if self.crop_final is not None and (self.crop_final < 16 or self.crop_final % 16):
            raise ConfigError(f"crop-final must be a multiple of 16, got {self.crop_final}")
        if not 0 <= self.final_frac <= 1:
            raise ConfigError(f"final-frac must be in [0, 1], got {self.final_frac}")
        if self.crops is not None:
            self.crops = tuple(int(c) for c in self.crops)
            if not self.crops or any(c < 16 or c % 16 for c in self.crops):
                raise ConfigError(f"crops must be multiples of 16 (>= 16), got {self.crops}")
        if not 0 <= self.odd_frac <= 1:
            raise ConfigError(f"odd-frac must be in [0, 1], got {self.odd_frac}")
        if self.amp not in (None, "bfloat16", "float16"):
            raise ConfigError(f"amp must be bfloat16 or float16 (or none), got {self.amp!r}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be a decay in [0, 1) (0: no EMA), got {self.ema}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not self.snr_min <= self.snr_max:
            raise ConfigError(f"snr range [{self.snr_min}, {self.snr_max}] is empty")

    def model_config(self) -> JSCCConfig:
        return JSCCConfig(
            widths=tuple(self.widths),
            blocks=tuple(self.blocks),
            linear_skip=self.linear_skip,
            attn_blocks=self.attn_blocks,
            decoder_blocks=None if self.decoder_blocks is None else tuple(self.decoder_blocks),
            cbr=self.cbr,
            channel=self.channel,
            channel_options=dict(self.channel_options),
            snr_range_db=(self.snr_min, self.snr_max),
        )

    def resolved_state_dir(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir)
        return Path("results") / "jscc" / Path(self.out).resolve().name


# --- schedule -------------------------------------------------------------------------------


def crop_and_batch(opts: TrainOptions, p: float, generator: torch.Generator | None = None) -> tuple[int, int]:
    """Crop size and batch size at progress p; pixels per batch stay those of ``batch x crop^2``.

    The final phase (``crop_final``) uses its crop; otherwise, with ``crops``, each step draws one
    of them uniformly (mixed crop sizes), else ``crop``.
    """
    if opts.crop_final and p >= 1.0 - opts.final_frac:
        c = opts.crop_final
    elif opts.crops:
        c = opts.crops[int(torch.randint(len(opts.crops), (1,), generator=generator))]
    else:
        return opts.crop, opts.batch
    return c, max(1, round(opts.batch * opts.crop**2 / c**2))


def odd_size(crop: int, generator: torch.Generator) -> tuple[int, int]:
    """A random height and width in [crop - 15, crop]: image sizes that are not multiples of 16."""
    h, w = (crop - torch.randint(16, (2,), generator=generator)).tolist()
    return int(h), int(w)


def reconstruction_loss(rec: torch.Tensor, x: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Training loss of reconstructions ``rec`` of ``x``, both [B, 3, H, W] in [0, 1].

    ``mse``: the batch MSE. ``psnr``: each crop's MSE weighted by the batch mean over its own
    (weights held constant), so the gradient is that of minus the mean per-crop PSNR, scaled to
    the batch MSE's size (its value is the batch MSE): crops at low SNR or of hard images no
    longer outweigh the rest as they do under MSE, and the objective is the mean PSNR that is
    reported.
    """
    per_crop = (rec - x).square().flatten(1).mean(1)
    if kind == "mse":
        return per_crop.mean()
    weights = per_crop.detach().mean() / per_crop.detach().clamp_min(1e-10)
    return (weights * per_crop).mean()


# --- evaluation -----------------------------------------------------------------------------


@torch.no_grad()
def evaluate_psnr(
    model: JSCCModel,
    images: list[torch.Tensor],
    snrs: tuple[float, ...] | list[float],
    seed: int = 1234,
    batch: int = 8,
) -> dict[float, float]:
    """Mean PSNR (dB) over ``images`` (uint8 or float [3, H, W]) at each SNR, with seeded noise.

    Images of equal size are batched; the noise of each SNR comes from its own seeded generator,
    so the figures are reproducible and comparable between checkpoints.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    groups: dict[tuple[int, int], list[torch.Tensor]] = {}
    for im in images:
        groups.setdefault(tuple(im.shape[1:]), []).append(im)
    results = {}
    for snr in snrs:
        gen = torch.Generator(device).manual_seed(seed + int(round(10 * snr)))
        total, count = 0.0, 0
        for group in groups.values():
            for i in range(0, len(group), batch):
                x = torch.stack(group[i : i + batch]).to(device)
                x = to_float(x) if x.dtype == torch.uint8 else x.float()
                x = x.contiguous(memory_format=torch.channels_last)
                rec = model(x, float(snr), generator=gen).reconstruction
                total += float(psnr(rec, x).sum())
                count += x.shape[0]
        results[float(snr)] = total / max(count, 1)
    model.train(was_training)
    return results


# --- state ----------------------------------------------------------------------------------


_GENERATORS = ("sampler", "noise")


def load_training_state(path: Path) -> dict:
    """A JSCC resume state (see :func:`semcom.training.load_training_state`)."""
    return training.load_training_state(path, generators=_GENERATORS)


def _init_from(model: JSCCModel, name_or_path: str) -> list[str]:
    """Copy every weight whose shape matches from a checkpoint; returns the names left fresh."""
    src = load_checkpoint(name_or_path).state_dict()
    own = model.state_dict()
    fresh = []
    for k, v in own.items():
        if k in src and src[k].shape == v.shape:
            own[k] = src[k].to(v.dtype)
        else:
            fresh.append(k)
    model.load_state_dict(own)
    return fresh


def train(opts: TrainOptions) -> dict:
    """Run (or resume) a training run; returns a summary dict (steps, elapsed, metrics, paths)."""
    device = torch.device(check_device(opts.device))
    amp_dtype = None if opts.amp is None else check_dtype(opts.amp, device.type)
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    torch.set_float32_matmul_precision("high")
    torch.manual_seed(opts.seed)
    random.seed(opts.seed)
    np.random.seed(opts.seed)
    out_dir, state_dir = Path(opts.out), opts.resolved_state_dir()
    state_dir.mkdir(parents=True, exist_ok=True)
    state_path, log_path = state_dir / STATE_FILE, state_dir / LOG_FILE

    train_images = load_images(opts.data, opts.max_train_images)
    val_images = []
    if opts.val:
        val_images = [centre_crop(im, opts.val_crop) for im in load_images(opts.val, opts.val_images)]
    sampler_gen = torch.Generator().manual_seed(opts.seed)
    noise_gen = torch.Generator(device).manual_seed(opts.seed + 1)
    sampler = CropSampler(train_images, sampler_gen, device=device)

    state = None
    if opts.resume:
        if not state_path.is_file():
            raise InputError(f"--resume: no training state at {state_path} (use the same --out / --state-dir)")
        state = load_training_state(state_path)
        config = JSCCConfig.from_dict(state["config"])
    else:
        config = opts.model_config()
    model = JSCCModel(config, seed=opts.seed)
    fresh = []
    if state is not None:
        model.load_state_dict(state["model"])  # onto the CPU model; moved to the device below
    elif opts.init:
        fresh = _init_from(model, opts.init)
    model = model.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=opts.lr)
    # float16 autocast needs loss scaling; bfloat16 has float32's range and needs none
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    ema = None
    if opts.ema:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(opts.ema), use_buffers=True)
        if state is not None and "ema" in state:
            ema.load_state_dict(state["ema"])
    shipped = model if ema is None else ema.module  # the weights that are validated and saved
    step, elapsed_before, best = 0, 0.0, {}
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed_before = int(state["step"]), float(state["elapsed_s"])
        training.set_rng_state(state["rng"], {"sampler": sampler_gen, "noise": noise_gen})
        best = state.get("last_val", {})

    val_cols = [f"val_psnr_{s:g}dB" for s in opts.val_snrs]
    log = training.TrainingLog(log_path, ["step", "elapsed_s", "lr", "crop", "batch", "loss", "train_psnr", *val_cols],
                               state)

    def card_training(done_steps, elapsed):
        info = {k: v for k, v in asdict(opts).items() if k not in ("progress", "resume", "state_dir")}
        info.update(steps_done=done_steps, elapsed_s=round(elapsed, 1), init_fresh_weights=fresh or None)
        return info

    def save_all(done, elapsed, log_bytes):
        save_checkpoint(shipped, out_dir, training=card_training(done, elapsed), metrics={"val_crops": best})
        payload = {
            "model": model.state_dict(),
            "ema": None if ema is None else ema.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": done,
            "elapsed_s": elapsed,
            "rng": training.rng_state({"sampler": sampler_gen, "noise": noise_gen}),
            "config": config.to_dict(),
            "options": asdict(opts),
            "last_val": best,
            "log_bytes": log_bytes,  # the log rows of the steps done so far; a resume cuts the log back to them
        }
        with atomic_path(state_path) as tmp:
            torch.save(payload, tmp)

    def train_step(p):
        crop, batch = crop_and_batch(opts, p, sampler_gen)
        height = width = crop
        if opts.odd_frac and float(torch.rand(1, generator=sampler_gen)) < opts.odd_frac:
            height, width = odd_size(crop, sampler_gen)
        x = sampler.batch(batch, height, width).contiguous(memory_format=torch.channels_last)
        snr = opts.snr_min + (opts.snr_max - opts.snr_min) * torch.rand(batch, generator=noise_gen, device=device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            rec = model(x, snr, generator=noise_gen).reconstruction
        loss = reconstruction_loss(rec.float(), x, opts.loss)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if opts.grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if ema is not None:
            ema.update_parameters(model)
        return {"loss": loss.item(), "psnr": float(psnr(rec.detach(), x).mean())}, [crop, batch]

    def validate():
        nonlocal best
        best = evaluate_psnr(shipped, val_images, opts.val_snrs)
        return [f"{best[float(s)]:.3f}" for s in opts.val_snrs]

    print(
        f"jscc train: {count_parameters(model) / 1e6:.2f} M parameters, CBR {config.cbr} "
        f"(C = {config.bottleneck}), channel {config.channel} {config.channel_options or ''}, "
        f"{len(train_images)} training images, step {step}, checkpoint -> {out_dir}, state -> {state_dir}",
        file=sys.stderr,
    )
    done = training.run_steps(
        opts.schedule, optimizer, train_step, step=step, elapsed_s=elapsed_before, log=log,
        averages={"loss": ".6f", "psnr": ".3f"}, save=save_all, validate=validate if val_images else None,
        val_every=opts.val_every, log_every=opts.log_every, ckpt_every=opts.ckpt_every,
        stop_at_step=opts.stop_at_step, progress=opts.progress,
    )
    step, elapsed, interrupted = done.step, done.elapsed_s, done.interrupted
    loop_log_bytes = log.size()  # without the closing row, which a resume writes again
    if val_images:
        validate()
        log.write([step, f"{elapsed:.1f}", "", "", "", "", "", *[f"{best[float(s)]:.3f}" for s in opts.val_snrs]])
    log.close()
    save_all(step, elapsed, loop_log_bytes)
    metrics = {"val_crops": best}
    if opts.final_eval and opts.val and not interrupted:
        full = evaluate_psnr(shipped, load_images(opts.val), opts.final_eval_snrs, batch=4)
        metrics["val_full_images"] = {"folder": str(opts.val), "psnr_db": full}
        save_checkpoint(shipped, out_dir, training=card_training(step, elapsed), metrics=metrics)
    summary = {
        "steps": step,
        "elapsed_s": elapsed,
        "interrupted": interrupted,
        "metrics": metrics,
        "checkpoint": str(out_dir),
        "state": str(state_path),
        "log": str(log_path),
        "signal": done.signal,
    }
    print(f"jscc train: {'interrupted' if interrupted else 'done'} at step {step}; metrics {metrics}", file=sys.stderr)
    return summary
