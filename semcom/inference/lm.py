"""Caption language models trained here: GPT-2 architecture (``transformers.GPT2LMHeadModel``), word-level.

Two sizes share one tokenizer (the most frequent words of the Flickr8k training captions, plus
``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``): ``small`` (~60k parameters, the device model / draft) and
``large`` (~1M parameters, the edge/cloud model / target). Captions are split by image with
:func:`~semcom.semantic.corpus.flickr8k_split` (5 % of images held out, a hash rule, so the split is
deterministic); the card of a checkpoint records the config, steps and the held-out loss.

A checkpoint is a folder: ``model.safetensors`` (float16 weights, loaded as float32) and ``card.json``
(config, vocabulary, training facts). The shipped ones live in ``semcom/inference/checkpoints/``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from semcom.errors import ConfigError, InputError, WeightsNotFoundError
from semcom.extras import require

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
MAX_TOKENS = 40  # positions: <bos> + words + <eos>
VOCAB_WORDS = 1500

#: GPT-2 shapes of the shipped sizes (n_embd, n_layer, n_head); parameters ~60k and ~1M with 1504 tokens.
SIZES = {
    "small": dict(n_embd=24, n_layer=2, n_head=2),
    "large": dict(n_embd=128, n_layer=4, n_head=4),
}


def caption_words(text: str) -> list[str]:
    """Lower-cased words of a caption (punctuation dropped; a final period is not a word)."""
    if not isinstance(text, str):
        raise InputError(f"a caption must be a str, got {type(text).__name__}")
    out = []
    for tok in text.lower().replace(".", " ").replace(",", " ").split():
        tok = tok.strip("\"'!?;:()")
        if tok:
            out.append(tok)
    return out


class WordTokenizer:
    """Word-level tokenizer: ids 0..3 are the specials, then the vocabulary words."""

    def __init__(self, words: Sequence[str]):
        self.words = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, captions: Sequence[str], size: int = VOCAB_WORDS) -> "WordTokenizer":
        counts: dict[str, int] = {}
        for c in captions:
            for w in caption_words(c):
                counts[w] = counts.get(w, 0) + 1
        ranked = sorted(counts, key=lambda w: (-counts[w], w))[:size]
        return cls(ranked)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str, bos: bool = True, eos: bool = False) -> list[int]:
        ids = [self.index.get(w, UNK) for w in caption_words(text)][: MAX_TOKENS - 2]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.words[i] for i in ids if i not in (PAD, BOS, EOS))

    @property
    def id_bits(self) -> int:
        """Bits of one token id on the link."""
        return max(1, math.ceil(math.log2(len(self))))


def gpt2_config(size: str, vocab_size: int):
    transformers = require("transformers", "the caption LMs")

    if size not in SIZES:
        raise ConfigError(f"unknown model size {size!r}; known: {', '.join(SIZES)}")
    return transformers.GPT2Config(vocab_size=vocab_size, n_positions=MAX_TOKENS, bos_token_id=BOS, eos_token_id=EOS,
                      pad_token_id=PAD, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      attn_implementation="eager", **SIZES[size])


def new_model(size: str, vocab_size: int, seed: int = 0):
    transformers = require("transformers", "the caption LMs")

    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(gpt2_config(size, vocab_size))
    model.eval()
    return model


def num_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())  # tied input/output embedding counted once


@dataclass
class CaptionLM:
    """A loaded checkpoint: the model, its tokenizer and its card."""

    model: object
    tokenizer: WordTokenizer
    card: dict
    name: str

    @property
    def size(self) -> str:
        return self.card["size"]


def _pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    x = torch.full((len(rows), width), PAD, dtype=torch.long)
    for k, r in enumerate(rows):
        x[k, : len(r)] = torch.tensor(r)
    labels = x.clone()
    labels[x == PAD] = -100
    return x, labels


@torch.no_grad()
def held_out_loss(model, ids: list[list[int]], batch: int = 256) -> float:
    """Mean next-token cross-entropy (nats per token) over ``ids`` (each ``<bos> words <eos>``)."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(ids), batch):
        x, labels = _pad(ids[i:i + batch])
        logits = model(input_ids=x, attention_mask=(x != PAD).long()).logits[:, :-1]
        target = labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                 ignore_index=-100, reduction="sum")
        total += float(loss)
        count += int((target != -100).sum())
    return total / max(count, 1)


STATE_FILE = "train_state.pt"
LOG_FILE = "train_log.csv"
#: the settings that fix a run's schedule; a resumed run keeps them.
SCHEDULE_KEYS = ("size", "minutes", "steps", "batch", "lr", "seed")


def default_state_dir(out: str | os.PathLike) -> Path:
    """Where a run writing checkpoint folder ``out`` keeps its resume state: ``results/caption-lm/<name of out>``."""
    return Path("results") / "caption-lm" / Path(out).resolve().name


def load_training_state(path: Path) -> dict:
    """A resume state written by :func:`train_caption_lm` (tensors and plain values only: ``weights_only``)."""
    import pickle

    from semcom.errors import UnsafeFileError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UnsafeFileError(f"refusing to load {path}: it holds more than tensors and plain values "
                              "(resume only from states this program wrote)") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise InputError(f"{path} is not a readable training state: {err}") from None
    keys = ("model", "optimizer", "step", "epoch", "batch_in_epoch", "epoch_rng", "elapsed_s", "schedule", "words")
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise InputError(f"{path} is not a caption LM training state")
    return state


def train_caption_lm(size: str | None = None, *, out: str | os.PathLike, minutes: float | None = None,
                     steps: int | None = None, data_dir=None, seed: int | None = None, batch: int | None = None,
                     lr: float | None = None, eval_captions: int = 2000, resume: bool = False,
                     state_dir: str | os.PathLike | None = None, save_every: int = 200,
                     stop_at_step: int | None = None, log=print) -> dict:
    """Train a ``size`` model for ``steps`` steps and/or about ``minutes`` of training time (default 2
    minutes; the cosine learning rate follows the larger fraction done) and write the checkpoint folder ``out``.

    The resume state (float32 weights, optimiser, step, position in the epoch's shuffled order and the
    order's random state, training time so far, the schedule) is written atomically to ``state_dir``
    (default :func:`default_state_dir`) every ``save_every`` steps, at the end, and when SIGINT/SIGTERM
    stops the run. ``resume=True`` continues from it with the saved schedule -- the same batches in the
    same order at the same learning rates, so a run stopped and resumed by steps ends with the weights of
    one that never stopped. ``stop_at_step``: pause there (state saved). The loss, averaged over 50 steps,
    and the learning rate are logged to ``train_log.csv`` beside the state (each step once across resumes).
    The loop, schedule and signal handling are :mod:`semcom.training`'s. Returns a summary dict
    (``signal`` is set when a signal stopped the run)."""
    from semcom.files import atomic_path
    from semcom.semantic.corpus import flickr8k_split
    from semcom.training import Schedule, TrainingLog, run_steps

    state_dir = Path(state_dir) if state_dir is not None else default_state_dir(out)
    state_path = state_dir / STATE_FILE
    given = {"size": size, "minutes": minutes, "steps": steps, "batch": batch, "lr": lr, "seed": seed}
    state = None
    if resume:
        if not state_path.is_file():
            raise InputError(f"--resume: no training state at {state_path} (use the same --out / --state-dir)")
        state = load_training_state(state_path)
        schedule = dict(state["schedule"])
        for key, value in given.items():
            if value is not None and value != schedule[key]:
                raise ConfigError(f"{key} {value!r} differs from the run being resumed ({schedule[key]!r}); "
                                  "a resumed run continues its own schedule")
    else:
        if state_path.exists():
            raise ConfigError(f"{state_dir} holds the state of an earlier run ({STATE_FILE}); continue it with "
                              "--resume, or pass another --state-dir (or remove that one) to start over")
        if size is None:
            raise ConfigError("give the model size (small or large)")
        schedule = {"size": size, "minutes": minutes, "steps": steps, "batch": 64 if batch is None else batch,
                    "lr": 3e-3 if lr is None else lr, "seed": 0 if seed is None else seed}
        if steps is None and minutes is None:
            schedule["minutes"] = 2.0
    size, minutes, steps = schedule["size"], schedule["minutes"], schedule["steps"]
    batch, lr, seed = schedule["batch"], schedule["lr"], schedule["seed"]
    if size not in SIZES:
        raise ConfigError(f"unknown model size {size!r}; known: {', '.join(SIZES)}")
    if (minutes is not None and not minutes > 0) or (steps is not None and steps < 1) or batch < 1 or not lr > 0:
        raise ConfigError(f"minutes and lr must be positive, steps and batch at least 1; got {minutes}, {lr}, {steps}, {batch}")
    train, held = flickr8k_split(data_dir)
    tok = WordTokenizer.build(train)
    if state is not None and list(state["words"]) != tok.words:
        raise ConfigError("the training captions differ from those of the run being resumed (another --data?)")
    train_ids = [tok.encode(c, eos=True) for c in train]
    held_ids = [tok.encode(c, eos=True) for c in held[:eval_captions]]
    if len(train_ids) < batch:
        raise ConfigError(f"{len(train_ids)} training captions cannot fill a batch of {batch}")
    model = new_model(size, len(tok), seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    step, epoch, pos, before = 0, 0, 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, epoch, pos, before = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"]), float(state["elapsed_s"])
        gen.set_state(state["epoch_rng"])
    epoch_rng = gen.get_state()
    order = torch.randperm(len(train_ids), generator=gen).tolist()
    per_epoch = len(train_ids) // batch
    state_dir.mkdir(parents=True, exist_ok=True)

    def save_state(done: int, elapsed: float, log_bytes: int) -> None:
        payload = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": done, "epoch": epoch,
                   "batch_in_epoch": pos, "epoch_rng": epoch_rng, "elapsed_s": elapsed, "schedule": schedule,
                   "words": tok.words, "log_bytes": log_bytes}
        with atomic_path(state_path) as tmp:
            torch.save(payload, tmp)

    def train_step(p: float) -> tuple[dict[str, float], list]:
        nonlocal epoch, pos, epoch_rng, order
        if pos >= per_epoch:  # the next epoch: a new order, whose random state a resume restores
            epoch, pos = epoch + 1, 0
            epoch_rng = gen.get_state()
            order = torch.randperm(len(train_ids), generator=gen).tolist()
        x, labels = _pad([train_ids[j] for j in order[pos * batch:(pos + 1) * batch]])
        loss = model(input_ids=x, attention_mask=(x != PAD).long(), labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        pos += 1
        return {"loss": loss.item()}, [epoch]

    model.train()
    train_log = TrainingLog(state_dir / LOG_FILE, ["step", "elapsed_s", "lr", "epoch", "loss"], state)
    done = run_steps(Schedule(steps, minutes, lr, min_lr_frac=0.1, warmup=1), opt, train_step, step=step,
                     elapsed_s=before, log=train_log, averages={"loss": ".4f"}, save=save_state, log_every=50,
                     ckpt_every=save_every, stop_at_step=stop_at_step)
    step, elapsed, finished = done.step, done.elapsed_s, not done.interrupted
    save_state(step, elapsed, train_log.size())
    train_log.close()
    model.eval()
    card = {"size": size, "config": {k: v for k, v in SIZES[size].items()}, "vocab_size": len(tok),
            "n_positions": MAX_TOKENS, "parameters": num_parameters(model), "steps": step, "epochs": epoch + 1,
            "batch": batch, "lr": lr, "seed": seed, "minutes": minutes, "schedule_steps": steps,
            "training_s": round(elapsed, 1), "finished": finished,
            "train_captions": len(train), "held_out_captions": len(held_ids),
            "split": "flickr8k_split(holdout=0.05): images by SHA-256 of the id", "words": tok.words[len(SPECIALS):]}
    folder = save_caption_lm(out, model, tok, card)
    card["held_out_loss"] = held_out_loss(load_caption_lm(folder).model, held_ids)
    _write_card(folder, card)
    log(f"{size}: {card['parameters']} parameters, {step} steps{'' if finished else ' (paused; --resume goes on)'}, "
        f"held-out loss {card['held_out_loss']:.3f} nats/token")
    return {"checkpoint": str(folder), "state": str(state_path), "steps": step, "finished": finished,
            "held_out_loss": card["held_out_loss"], "signal": done.signal}


def _write_card(folder: Path, card: dict) -> None:
    from semcom.files import write_text

    write_text(folder / "card.json", json.dumps(card, indent=1) + "\n")


def save_caption_lm(out: str | os.PathLike, model, tok: WordTokenizer, card: dict) -> Path:
    from safetensors.torch import save_file

    from semcom.files import atomic_path

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
               if k != "lm_head.weight"}  # tied to transformer.wte.weight
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(tensors, str(tmp))
    _write_card(folder, card)
    return folder


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A shipped checkpoint name (``small``, ``large``) or a checkpoint folder."""
    path = Path(name_or_path)
    if not path.is_dir():
        path = CHECKPOINTS / f"caption-lm-{name_or_path}"
    if not (path / "model.safetensors").is_file() or not (path / "card.json").is_file():
        raise WeightsNotFoundError(f"no caption LM checkpoint at {name_or_path!r} (train one with `semcom train caption-lm`)")
    return path


_LOADED: dict[Path, CaptionLM] = {}


def load_caption_lm(name_or_path: str | os.PathLike) -> CaptionLM:
    from safetensors.torch import load_file

    path = resolve(name_or_path).resolve()
    if path in _LOADED and _LOADED[path].card.get("_mtime") == (path / "model.safetensors").stat().st_mtime:
        return _LOADED[path]
    card = json.loads((path / "card.json").read_text(encoding="utf-8"))
    tok = WordTokenizer(card["words"])
    model = new_model(card["size"], len(tok))
    state = {k: v.to(torch.float32) for k, v in load_file(str(path / "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if m != "lm_head.weight"]:
        raise WeightsNotFoundError(f"checkpoint {path} does not match a {card['size']} caption LM")
    model.tie_weights()
    model.eval()
    card["_mtime"] = (path / "model.safetensors").stat().st_mtime
    lm = CaptionLM(model, tok, card, path.name)
    _LOADED[path] = lm
    return lm
