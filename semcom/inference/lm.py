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
import time
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


def _batches(ids: list[list[int]], batch: int, gen: torch.Generator):
    order = torch.randperm(len(ids), generator=gen).tolist()
    for i in range(0, len(order) - batch + 1, batch):
        rows = [ids[j] for j in order[i:i + batch]]
        yield _pad(rows)


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


def train_caption_lm(size: str, *, minutes: float, out: str | os.PathLike, data_dir=None, seed: int = 0,
                     batch: int = 64, lr: float = 3e-3, eval_captions: int = 2000, log=print) -> Path:
    """Train a ``size`` model for about ``minutes`` of wall time and write the checkpoint folder ``out``."""
    from semcom.semantic.corpus import flickr8k_split

    if minutes <= 0:
        raise ConfigError(f"minutes must be positive, got {minutes}")
    train, held = flickr8k_split(data_dir)
    tok = WordTokenizer.build(train)
    train_ids = [tok.encode(c, eos=True) for c in train]
    held_ids = [tok.encode(c, eos=True) for c in held[:eval_captions]]
    model = new_model(size, len(tok), seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    start, steps, epoch = time.monotonic(), 0, 0
    budget = 60.0 * minutes
    model.train()
    while time.monotonic() - start < budget:
        epoch += 1
        for x, labels in _batches(train_ids, batch, gen):
            frac = min(1.0, (time.monotonic() - start) / budget)
            for g in opt.param_groups:
                g["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            loss = model(input_ids=x, attention_mask=(x != PAD).long(), labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if steps % 200 == 0:
                log(f"step {steps}  loss {float(loss):.3f}  {time.monotonic() - start:.0f}s")
            if time.monotonic() - start >= budget:
                break
    model.eval()
    card = {"size": size, "config": {k: v for k, v in SIZES[size].items()}, "vocab_size": len(tok),
            "n_positions": MAX_TOKENS, "parameters": num_parameters(model), "steps": steps, "epochs": epoch,
            "batch": batch, "lr": lr, "seed": seed, "minutes": minutes,
            "train_captions": len(train), "held_out_captions": len(held_ids),
            "split": "flickr8k_split(holdout=0.05): images by SHA-256 of the id", "words": tok.words[len(SPECIALS):]}
    folder = save_caption_lm(out, model, tok, card)
    card["held_out_loss"] = held_out_loss(load_caption_lm(folder).model, held_ids)
    _write_card(folder, card)
    log(f"{size}: {card['parameters']} parameters, {steps} steps, held-out loss {card['held_out_loss']:.3f} nats/token")
    return folder


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
