"""Refiner checkpoints: ``model.safetensors`` (float16) + ``config.json`` (architecture, training, metrics).

The shipped checkpoint ``refiner-avif-x8`` lives in ``semcom/generative/checkpoints``; a folder
path loads any other. A missing checkpoint raises :class:`~semcom.errors.WeightsNotFoundError`
naming where it looked and the command that trains it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

import torch

from semcom.errors import ConfigError, WeightsNotFoundError
from semcom.files import atomic_path
from semcom.generative.refiner import Refiner, RefinerConfig

FORMAT = "semcom-refiner-checkpoint"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "config.json"
CHECKPOINT_ROOT = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_REFINER = "refiner-avif-x8"
TRAIN_COMMAND = (
    "semcom train refiner --data $SEMCOM_DATA/bsds500/train --val $SEMCOM_DATA/bsds500/val "
    f"--minutes 70 --batch 16 --crop 96 --lr 5e-4 --warmup 200 --out semcom/generative/checkpoints/{DEFAULT_REFINER}"
)


def resolve_refiner(name_or_path: str | os.PathLike) -> Path:
    """The folder of a shipped refiner name or of a checkpoint path."""
    candidates = [Path(name_or_path), CHECKPOINT_ROOT / str(name_or_path)]
    for folder in candidates:
        if (folder / CARD_FILE).is_file() and (folder / WEIGHTS_FILE).is_file():
            return folder
    raise WeightsNotFoundError(
        f"refiner checkpoint {str(name_or_path)!r} not found (looked in {', '.join(str(c) for c in candidates)}); "
        f"train one with: {TRAIN_COMMAND}"
    )


def save_refiner(model: Refiner, directory: str | os.PathLike, *, training: dict | None = None,
                 metrics: dict | None = None) -> Path:
    """Write ``model.safetensors`` (float16) + ``config.json`` atomically into ``directory``."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    card = {
        "format": FORMAT,
        "name": out.name,
        "architecture": "semcom.generative.refiner.Refiner",
        "config": model.config.to_dict(),
        "weights": WEIGHTS_FILE,
        "dtype": "float16",
        "parameters": sum(p.numel() for p in model.parameters()),
        "input": "bicubic upsampling of the decoded thumbnail side information, [B, 3, H, W] in [0, 1]",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "training": training or {},
        "metrics": metrics or {},
    }
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(weights, str(tmp), metadata={"format": FORMAT})
    with atomic_path(out / CARD_FILE) as tmp:
        Path(tmp).write_text(json.dumps(card, indent=2) + "\n")
    return out


def read_refiner_card(name_or_path: str | os.PathLike) -> dict:
    folder = resolve_refiner(name_or_path)
    try:
        card = json.loads((folder / CARD_FILE).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read the refiner card {folder / CARD_FILE}: {err}") from err
    if card.get("format") != FORMAT:
        raise ConfigError(f"{folder / CARD_FILE} is not a {FORMAT} card")
    return card


def load_refiner(name_or_path: str | os.PathLike = DEFAULT_REFINER) -> Refiner:
    """A refiner (float32, eval mode) from a shipped name or a checkpoint folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = resolve_refiner(name_or_path)
    card = read_refiner_card(folder)
    model = Refiner(RefinerConfig.from_dict(card["config"]))
    try:
        state = load_file(str(folder / card.get("weights", WEIGHTS_FILE)))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except (OSError, SafetensorError, RuntimeError) as err:
        raise WeightsNotFoundError(f"cannot read the refiner weights of {folder}: {err}") from err
    return model.eval()
