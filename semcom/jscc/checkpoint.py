"""JSCC checkpoints: safetensors weights + a JSON model card, and the registry of shipped models.

A checkpoint is a folder::

    <dir>/model.safetensors   the weights (float16 by default; loaded back as float32)
    <dir>/config.json         the model card: format, name, JSCCConfig, training run, metrics

Shipped checkpoints live in ``semcom/jscc/checkpoints/<name>/``; the environment variable
``SEMCOM_JSCC_CHECKPOINTS`` points at another folder holding ``<name>/`` sub-folders.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch
from torch import nn

from semcom.errors import ConfigError, WeightsNotFoundError
from semcom.jscc.model import JSCCConfig, JSCCModel, count_parameters
from semcom.link.analog import AnalogLink
from semcom.options import CBR

FORMAT = "semcom-jscc-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "config.json"
CHECKPOINT_ROOT = Path(__file__).resolve().parent / "checkpoints"
ENV_DIR = "SEMCOM_JSCC_CHECKPOINTS"


@dataclass(frozen=True)
class ShippedCheckpoint:
    """A named model that ships with semcom (or that the train command produces)."""

    name: str
    description: str
    train_command: str


_TRAIN = (
    "OMP_WAIT_POLICY=PASSIVE semcom train jscc --data $SEMCOM_DATA/bsds500/train --val $SEMCOM_DATA/bsds500/val"
)
_CK = "semcom/jscc/checkpoints"
SHIPPED: dict[str, ShippedCheckpoint] = {
    c.name: c
    for c in (
        ShippedCheckpoint(
            "jscc-awgn-cbr1-16",
            "SNR-adaptive deep JSCC, AWGN, CBR 1/16, trained on BSDS500 train at 0-20 dB",
            f"{_TRAIN} --cbr 1/16 --channel awgn --minutes 70 --batch 8 --crop 128 --crop-final 256 --lr 2e-3 "
            f"--out {_CK}/jscc-awgn-cbr1-16   (or: experiments/train_jscc.sh awgn16)",
        ),
        ShippedCheckpoint(
            "jscc-awgn-cbr1-48",
            "SNR-adaptive deep JSCC, AWGN, CBR 1/48, fine-tuned from jscc-awgn-cbr1-16 "
            "(new bottleneck convs and linear patch path)",
            f"{_TRAIN} --cbr 1/48 --channel awgn --init {_CK}/jscc-awgn-cbr1-16 --minutes 15 --crop-final 256 "
            f"--lr 1e-3 --warmup 50 --out {_CK}/jscc-awgn-cbr1-48   (or: experiments/train_jscc.sh awgn48)",
        ),
        ShippedCheckpoint(
            "jscc-rayleigh-cbr1-16",
            "SNR-adaptive deep JSCC, Rayleigh block fading (block 64, perfect CSI, MMSE equaliser), CBR 1/16, "
            "fine-tuned from jscc-awgn-cbr1-16",
            f"{_TRAIN} --cbr 1/16 --channel rayleigh --channel-option equalizer=mmse --init {_CK}/jscc-awgn-cbr1-16 "
            f"--minutes 15 --crop-final 256 --lr 1e-3 --warmup 50 --out {_CK}/jscc-rayleigh-cbr1-16   "
            "(or: experiments/train_jscc.sh rayleigh16)",
        ),
        ShippedCheckpoint(
            "jscc-awgn-cbr1-16-large",
            "SNR-adaptive deep JSCC with window attention at 1/16 and a deeper decoder (8.2 M parameters), "
            "AWGN, CBR 1/16, trained on BSDS500 train at 0-20 dB with mixed and off-grid crop sizes",
            "experiments/train_jscc.sh trunk (a resumable 900-minute run), then experiments/train_jscc.sh cooldown 75, "
            "then experiments/train_jscc.sh reanneal 100, then experiments/train_jscc.sh anneal reanneal2 reanneal "
            "100 1e-4 --stop-at-step 36669, then experiments/train_jscc.sh anneal psnr reanneal2 112 2e-4 --loss psnr, "
            "then experiments/train_jscc.sh refine refine 115 1.5e-4 --loss psnr --seed 11, "
            "then experiments/train_jscc.sh refine refine2 112 1e-4 --loss psnr --seed 12",
        ),
        ShippedCheckpoint(
            "jscc-rayleigh-symbol-cbr1-16",
            "SNR-adaptive deep JSCC, per-symbol Rayleigh fading (a new coefficient every symbol, perfect CSI, "
            "MMSE equaliser), CBR 1/16, fine-tuned from jscc-awgn-cbr1-16",
            f"{_TRAIN} --cbr 1/16 --channel rayleigh --channel-option block_length=1 --channel-option equalizer=mmse "
            f"--init {_CK}/jscc-awgn-cbr1-16 --minutes 30 --crop-final 256 --lr 1e-3 --warmup 50 --odd-frac 0.1 "
            f"--ema 0.995 --out {_CK}/jscc-rayleigh-symbol-cbr1-16   (or: experiments/train_jscc.sh rayleigh16symbol)",
        ),
    )
}


def checkpoint_names() -> list[str]:
    """Names of the registered (shipped) JSCC checkpoints."""
    return sorted(SHIPPED)


def channel_settings(channel: str, options: dict | None = None) -> dict:
    """A channel's options with its defaults filled in (``rayleigh`` -> block_length 64, csi, ...)."""
    from channels import CHANNELS

    settings = {}
    try:
        factory = CHANNELS.get(channel)
    except ConfigError:
        return dict(options or {})
    for name, param in inspect.signature(factory).parameters.items():
        if name != "seed" and param.default is not inspect.Parameter.empty:
            settings[name] = param.default
    settings.update(options or {})
    return settings


def pick_checkpoint(
    channel: str = "awgn", cbr: str | float | Fraction | None = None, channel_options: dict | None = None
) -> str:
    """The shipped checkpoint for ``channel`` (with ``channel_options``) at ``cbr`` (None: 1/16).

    Among the ones trained on that channel at that CBR, the one whose channel settings (defaults filled
    in) agree on the most options, e.g. ``block_length=1`` picks the per-symbol Rayleigh model; with none
    trained on that channel, the AWGN one at that CBR (a model run on a channel it was not trained for,
    which :class:`semcom.schemes.jscc.JSCCScheme` labels as such). ConfigError naming the shipped
    checkpoints when none is trained for that CBR."""
    wanted = Fraction(1, 16) if cbr is None else CBR.fraction(cbr, "cbr")
    trained = {}
    for name in checkpoint_names():
        config = read_card(name)["config"]
        trained[name] = (config.get("channel", "awgn"), Fraction(str(config["cbr"])), config.get("channel_options", {}))
    for want_channel in (channel, "awgn"):
        want = channel_settings(want_channel, channel_options if want_channel == channel else {})
        candidates = [
            (sum(have.get(k) == v for k, v in want.items()), name)
            for name, (on, at, options) in trained.items()
            if on == want_channel and at == wanted
            for have in [channel_settings(on, options)]
        ]
        if candidates:
            return max(sorted(candidates, key=lambda c: c[1]), key=lambda c: c[0])[1]  # ties: first by name
    listed = ", ".join(f"{name} ({on}, CBR {at})" for name, (on, at, _) in trained.items())
    raise ConfigError(f"no shipped JSCC checkpoint is trained for CBR {wanted}; shipped: {listed}; train one with "
                      f"'semcom train jscc --cbr {wanted} --out DIR' and pass --model DIR")


def _search_dirs(name: str) -> list[Path]:
    dirs = []
    if os.environ.get(ENV_DIR):
        dirs.append(Path(os.environ[ENV_DIR]) / name)
    dirs.append(CHECKPOINT_ROOT / name)
    return dirs


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """The folder of a checkpoint given by registered name, folder, or path to its weights file."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file() and path.name == WEIGHTS_FILE:
        path = path.parent
    if path.is_dir() and (path / WEIGHTS_FILE).is_file():
        return path
    looked = [path] if (os.sep in text or path.exists() or text.endswith(".safetensors")) else []
    if text in SHIPPED or not looked:
        looked += _search_dirs(text)
        for d in looked:
            if (d / WEIGHTS_FILE).is_file() and (d / CARD_FILE).is_file():
                return d
    where = ", ".join(str(d / WEIGHTS_FILE) for d in looked)
    if text in SHIPPED:
        how = f"produce it with: {SHIPPED[text].train_command}"
    else:
        known = ", ".join(checkpoint_names())
        how = (
            f"it is not a registered name (known: {known}); train one with "
            f"'semcom train jscc --out DIR' and pass that DIR"
        )
    raise WeightsNotFoundError(f"JSCC checkpoint {text!r} not found (looked for {where}); {how}")


def save_checkpoint(
    model: JSCCModel,
    directory: str | os.PathLike,
    *,
    name: str | None = None,
    dtype: torch.dtype = torch.float16,
    training: dict | None = None,
    metrics: dict | None = None,
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` into ``directory`` (created); returns the folder."""
    from safetensors.torch import save_file

    if not isinstance(model, JSCCModel):
        raise ConfigError(f"save_checkpoint expects a JSCCModel, got {type(model).__name__}")
    if dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ConfigError(f"checkpoint dtype must be float16, bfloat16 or float32, got {dtype}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in _weights(model).items()}
    card = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": name or out.name,
        "architecture": "semcom.jscc.JSCCModel",
        "config": model.config.to_dict(),
        "weights": WEIGHTS_FILE,
        "dtype": str(dtype).replace("torch.", ""),
        "parameters": count_parameters(model),
        "channel_uses": "at most floor(CBR * H * W * 3) per H x W image, pilots included: the most of the "
        "ceil(H/16) * ceil(W/16) * C/2 encoder symbols (C = 1536 * CBR) that fit; the rest are not sent",
        "snr_convention": "Es/N0 per complex channel symbol (dB), unit average symbol energy",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "training": training or {},
        "metrics": metrics or {},
    }
    tmp_w, tmp_c = out / (WEIGHTS_FILE + ".tmp"), out / (CARD_FILE + ".tmp")
    save_file(state, str(tmp_w), metadata={"format": FORMAT, "name": card["name"]})
    tmp_c.write_text(json.dumps(card, indent=2) + "\n")
    for tmp in (tmp_w, tmp_c):
        tmp.chmod(0o644)
    os.replace(tmp_w, out / WEIGHTS_FILE)
    os.replace(tmp_c, out / CARD_FILE)
    return out


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    # The link (channel) holds no trainable state; only encoder/decoder weights are stored.
    return {k: v for k, v in model.state_dict().items() if not k.startswith("link.")}


def read_card(name_or_path: str | os.PathLike) -> dict:
    """The JSON model card of a checkpoint."""
    folder = resolve_checkpoint(name_or_path)
    try:
        card = json.loads((folder / CARD_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read the model card {folder / CARD_FILE}: {err}") from err
    if card.get("format") != FORMAT:
        raise ConfigError(f"{folder / CARD_FILE} is not a {FORMAT} model card")
    return card


def load_checkpoint(
    name_or_path: str | os.PathLike,
    *,
    link: AnalogLink | None = None,
    seed: int | None = None,
) -> JSCCModel:
    """Load a JSCC model (float32, eval mode) from a registered name or a checkpoint folder.

    ``link`` replaces the channel the model was trained for (e.g. to test an AWGN model on fading);
    ``seed`` seeds the channel's own noise generator otherwise.
    Raises :class:`WeightsNotFoundError` (with the command that produces it) when it is missing.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = resolve_checkpoint(name_or_path)
    card = read_card(folder)
    config = JSCCConfig.from_dict(card["config"])
    model = JSCCModel(config, link=link, seed=seed)
    try:
        state = load_file(str(folder / card.get("weights", WEIGHTS_FILE)))
    except (OSError, SafetensorError) as err:
        raise WeightsNotFoundError(f"cannot read the weights of {folder}: {err}") from err
    expected = _weights(model)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    bad = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or bad:
        raise ConfigError(
            f"weights in {folder} do not match its config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shape {bad[:5]}"
        )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    return model.eval()
