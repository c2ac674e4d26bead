"""Task ``prompt_lm``: adapt the prompt codec's language model to captions of topics it never saw.

The setting: a knowledge base whose prompt codec (Kneser-Ney n-gram + LSTM word model,
:mod:`semcom.semantic.neural_codec`) was built from Flickr8k captions of some topics only; devices
hold captions of the other, *held-out* topics (their own photos' captions), and the service adapts
the LSTM to them without the captions leaving the devices. The n-gram part stays as it is.

Topics (:data:`TOPIC_WORDS`): an image belongs to the topic whose key words its five captions use
most (``other`` when none). Of the held-out topics' images, a hash rule puts ``test_share`` aside
as the evaluation set; the rest are the devices' data, split by a partitioner
(:mod:`semcom.federated.partition`), one image's captions staying on one device.

The metric is the prompt codec's code length per held-out caption: ``-log2`` of the mixture
``m * p_ngram + (1 - m) * p_lstm`` summed over the caption's words and end symbol, plus the
spelling of words outside the vocabulary (ideal bits, no header; :meth:`PromptLMTask.evaluate`).
:func:`prompt_bits` codes captions with the real codec (header included).

Local training is a sampled softmax: the batch's words and ``negatives`` words drawn uniformly from
the rest of the vocabulary are scored, the negatives' share of the normaliser scaled up by the
sampling ratio (the base LSTM itself is trained with
:func:`semcom.semantic.neural_lm.train_prompt_lm`, which also scores every corpus word).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom.errors import ConfigError, InputError
from semcom.federated.partition import partition
from semcom.federated.task import POOLED, TASKS, FederatedTask
from semcom.semantic.neural_lm import EOS_ID, UNK_ID, PromptLM, _batch_tensors
from semcom.semantic.text_codec import EOS, UNK, TextCodec
from semcom.semantic.tokens import corpus_tokens, detokenize

#: Key words of each topic (an image's topic: the one its captions name most often).
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "dogs": ("dog", "dogs", "puppy", "puppies"),
    "water": ("water", "beach", "ocean", "pool", "swim", "swimming", "surf", "surfer", "surfing", "wave", "waves",
              "lake", "river", "splash", "splashing", "boat", "sea", "shore", "swimmer"),
    "snow": ("snow", "snowy", "ski", "skier", "skiing", "skis", "snowboard", "snowboarder", "snowboarding", "sled",
             "sledding", "ice"),
    "wheels": ("bike", "bicycle", "biker", "bikes", "motorcycle", "motorbike", "cyclist", "bmx", "skateboard",
               "skateboarder", "skateboarding", "skater", "scooter", "rollerblades", "rollerblading"),
    "ball_sports": ("soccer", "football", "basketball", "baseball", "rugby", "tennis", "volleyball", "hockey",
                    "player", "players", "team", "jersey", "uniform", "uniforms", "game", "field"),
    "mountains": ("climb", "climbing", "climber", "climbs", "rock", "rocks", "mountain", "mountains", "hiking",
                  "hiker", "hikers", "cliff", "hill", "hillside", "trail"),
    "city": ("street", "city", "building", "buildings", "crowd", "sidewalk", "market", "store", "shop", "road"),
}
OTHER = "other"


def image_topic(captions: Sequence[Sequence[str]]) -> str:
    """The topic whose key words the (tokenised) captions of one image use most; ties: first in
    :data:`TOPIC_WORDS`; ``other`` when none."""
    counts = Counter(t for toks in captions for t in toks)
    best, hits = OTHER, 0
    for topic, words in TOPIC_WORDS.items():
        n = sum(counts[w] for w in words)
        if n > hits:
            best, hits = topic, n
    return best


def _hash_fraction(image: str, salt: str) -> float:
    return int.from_bytes(hashlib.sha256((salt + image).encode()).digest()[:4], "big") / 2**32


@dataclass
class CaptionSplit:
    """Flickr8k captions by role: ``base`` (topics the base KB is built from), ``devices`` (held-out
    topics, devices' data) and ``test`` (held-out topics, evaluation); each a list of (image, caption)."""

    base: list[tuple[str, str]]
    devices: list[tuple[str, str]]
    test: list[tuple[str, str]]
    topics: dict[str, str]  # image -> topic
    held_out: tuple[str, ...]

    def summary(self) -> dict:
        count = Counter(self.topics.values())
        return {"held_out_topics": list(self.held_out), "images_per_topic": dict(sorted(count.items())),
                "base_captions": len(self.base), "device_captions": len(self.devices), "test_captions": len(self.test)}


def split_captions(pairs: Sequence[tuple[str, str]], held_out: Sequence[str], test_share: float = 0.2) -> CaptionSplit:
    """Split (image, caption) pairs into base / devices / test by topic (see the module doc)."""
    unknown = [t for t in held_out if t not in TOPIC_WORDS and t != OTHER]
    if unknown or not held_out:
        raise ConfigError(f"held-out topics must be among {', '.join([*TOPIC_WORDS, OTHER])}; got {list(held_out)}")
    if not 0 < test_share < 1:
        raise ConfigError(f"test_share must be in (0, 1), got {test_share}")
    by_image: dict[str, list[str]] = {}
    for img, cap in pairs:
        by_image.setdefault(img, []).append(cap)
    topics = {img: image_topic([corpus_tokens(c) for c in caps]) for img, caps in by_image.items()}
    base, devices, test = [], [], []
    for img, caps in by_image.items():
        if topics[img] not in held_out:
            base.extend((img, c) for c in caps)
        elif _hash_fraction(img, "fl-test") < test_share:
            test.extend((img, c) for c in caps)
        else:
            devices.extend((img, c) for c in caps)
    if not base or not devices or not test:
        raise InputError(f"the split by topics {list(held_out)} left a part empty "
                         f"(base {len(base)}, devices {len(devices)}, test {len(test)} captions)")
    return CaptionSplit(base, devices, test, topics, tuple(held_out))


# ---------------------------------------------------------------------------------------------
# the base knowledge base (n-gram + LSTM) built from the base topics only
# ---------------------------------------------------------------------------------------------


@dataclass
class PromptLMBase:
    """A prompt codec's parts as the task needs them.

    words:       LSTM vocabulary (ids of ``vectors``); ``vectors`` (V, dim) projected word vectors.
    log_general: (V,) log general-English frequency; ``counts`` (V,) base-corpus counts.
    hidden:      LSTM width; ``state``: the trained LSTM's state dict.
    ngram:       the n-gram codec (same words); ``ngram_weight``: its mixture share m.
    mean, axes, scale: the vector projection (kept to save the adapted model as a checkpoint).
    """

    words: list[str]
    vectors: np.ndarray
    log_general: np.ndarray
    counts: np.ndarray
    hidden: int
    state: dict
    ngram: TextCodec
    ngram_weight: float
    mean: np.ndarray
    axes: np.ndarray
    scale: float
    card: dict = field(default_factory=dict)

    def model(self) -> PromptLM:
        """A fresh LSTM with the base weights (dropout off)."""
        lm = PromptLM(torch.tensor(self.vectors, dtype=torch.float32), torch.tensor(self.log_general, dtype=torch.float32),
                      torch.tensor(self.counts, dtype=torch.float32), hidden=self.hidden, dropout=0.0)
        state = dict(self.state)
        for name in ("residual_vectors", "residual_bias"):
            state.setdefault(name, getattr(lm, name).detach())
        lm.load_state_dict(state)
        return lm.eval()

    @classmethod
    def load(cls, folder: str | Path, sentence_model: str | None = None) -> "PromptLMBase":
        """From a prompt-LM checkpoint folder (word vectors recomputed with MiniLM, cached)."""
        from semcom.semantic.neural_codec import _word_vectors
        from semcom.semantic.neural_lm import load_prompt_lm

        ck = load_prompt_lm(folder)
        vectors = _word_vectors(ck, sentence_model, None)
        return cls(ck.words, vectors, ck.log_general, ck.counts, int(ck.card["hidden"]), ck.state,
                   TextCodec.from_bytes(ck.ngram_blob), float(ck.card.get("mixture", {}).get("ngram_weight", 0.4)),
                   ck.mean, ck.axes, ck.scale, ck.card)

    def save(self, folder: str | Path, model: PromptLM, card: dict) -> Path:
        """Write ``model`` with this base's vocabulary, vectors and n-gram as a prompt-LM checkpoint."""
        from semcom.semantic.neural_lm import save_prompt_lm

        card = {**card, "mixture": {"ngram_weight": self.ngram_weight, "cache_weight": 0.0}}
        return save_prompt_lm(folder, model, words=self.words, mean=self.mean, axes=self.axes, scale=self.scale,
                              ngram_blob=self.ngram.to_bytes(), card=card)


def build_base(captions: Sequence[tuple[str, str]], *, hidden: int = 128, epochs: float = 1.0, batch: int = 64,
               negatives: int = 2000, lr: float = 2e-3, general_words: int = 60000, dim: int = 192,
               ngram_weight: float = 0.4, seed: int = 0,
               embed: Callable[[Sequence[str]], np.ndarray] | None = None,
               general: dict[str, float] | None = None, log: Callable[[str], None] = print) -> PromptLMBase:
    """Build a prompt codec's knowledge base from (image, caption) pairs, as ``semcom train prompt-lm``
    does (vocabulary = corpus words + general English words, MiniLM vectors on ``dim`` principal axes,
    Kneser-Ney trigram, LSTM), with the mixture share fixed at ``ngram_weight`` (the shipped model's).

    embed:   words -> raw vectors (default: MiniLM, cached on disk); general: {word: frequency}
             (default: ``wordfreq``'s ``general_words`` most frequent words).
    """
    from semcom.semantic.corpus import default_cache_dir
    from semcom.semantic.neural_lm import (PromptLMTraining, cached_word_vectors, general_english_words,
                                           principal_axes, project_vectors, prompt_lm_vocabulary, train_prompt_lm)

    if general is None:
        import wordfreq

        general = general_english_words(general_words)
        frequency = lambda w: wordfreq.word_frequency(w, "en")  # noqa: E731
    else:
        frequency = lambda w: general.get(w, 0.0)  # noqa: E731
    tokens = [corpus_tokens(c) for _, c in captions]
    words = prompt_lm_vocabulary(tokens, general)
    raw = embed(words) if embed is not None else cached_word_vectors(words, None, default_cache_dir())
    mean, axes, scale = principal_axes(raw[2:], min(dim, raw.shape[1]))
    vectors = project_vectors(raw, mean, axes, scale)
    ngram = TextCodec.from_corpus([c for _, c in captions], order=3,
                                  general_words={w: max(1, int(f * 1e9)) for w, f in general.items()})
    wid = {w: i for i, w in enumerate(words)}
    general_freq = np.array([0.0, 0.0] + [max(frequency(w), 1e-9) for w in words[2:]])
    ids = [(img, [wid[t] for t in toks]) for (img, _), toks in zip(captions, tokens)]
    settings = PromptLMTraining(hidden=hidden, epochs=epochs, batch=batch, lr=lr, negatives=negatives, seed=seed,
                                log_every=max(1, int(epochs * len(ids) / batch) // 5))
    model = train_prompt_lm(ids, vectors, general_freq, settings, log=log)
    with torch.no_grad():  # checkpoints store float16 weights: train on what ships
        for p in model.parameters():
            p.copy_(p.half().float())
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if v.numel()}
    return PromptLMBase(words, vectors, model.log_general.numpy().astype(np.float64), model.counts.numpy(),
                        hidden, state, ngram, ngram_weight, mean, axes, scale,
                        {"base_captions": len(captions), "training": vars(settings)})


def ensure_base(folder: str | Path, split: CaptionSplit, log: Callable[[str], None] = print, **settings) -> PromptLMBase:
    """The base knowledge base in ``folder``: loaded when a checkpoint is there, else built from the
    split's base captions (:func:`build_base` with ``settings``) and saved there first."""
    from semcom.semantic.neural_lm import LM_CARD

    folder = Path(folder)
    if not (folder / LM_CARD).is_file():
        log(f"building the base prompt codec from {len(split.base)} captions of the topics other than "
            f"{', '.join(split.held_out)} into {folder}")
        base = build_base(split.base, log=log, **settings)
        base.save(folder, base.model(), {"name": folder.name, "description": "prompt codec LM without the topics "
                                         + ", ".join(split.held_out), "held_out_topics": list(split.held_out),
                                         **base.card})
    return PromptLMBase.load(folder)


# ---------------------------------------------------------------------------------------------
# the task
# ---------------------------------------------------------------------------------------------


@TASKS.register("prompt_lm")
class PromptLMTask(FederatedTask):
    """Clients adapt the base LSTM to their captions; the metric is ideal prompt bits per test caption.

    base:     the knowledge base (:class:`PromptLMBase`).
    clients:  per client, its (image, caption) pairs.
    test:     held-out (image, caption) pairs of the same topics (the metric's data).
    negatives: words sampled per training step for the sampled softmax.
    """

    name = "prompt_lm"
    metric = "bits_per_caption"
    higher_is_better = False

    def __init__(self, base: PromptLMBase, clients: Sequence[Sequence[tuple[str, str]]],
                 test: Sequence[tuple[str, str]], *, negatives: int = 2000):
        if not clients or any(not c for c in clients):
            raise ConfigError("every client needs at least one caption")
        if not test:
            raise ConfigError("the task needs held-out test captions")
        self.base = base
        self._wid = {w: i for i, w in enumerate(base.words)}
        self.clients = [[self._ids(c) for _, c in part] for part in clients]
        self.test_captions = [detokenize(corpus_tokens(c)) for _, c in test]
        self.negatives = int(negatives)
        self._words = np.arange(2, len(base.words))
        self._eval = None

    def _ids(self, caption: str) -> list[int]:
        return [self._wid.get(t, UNK_ID) for t in corpus_tokens(caption)]

    @property
    def num_clients(self) -> int:
        return len(self.clients)

    def client_examples(self, client: int) -> int:
        return len(self.clients[client])

    def build_model(self) -> nn.Module:
        return self.base.model().train()

    def sample_batch(self, client: int, size: int, generator: torch.Generator) -> list[list[int]]:
        pool = [c for part in self.clients for c in part] if client == POOLED else self.clients[client]
        picks = torch.randint(len(pool), (size,), generator=generator).tolist()
        return [pool[i] for i in picks]

    def _batch_words(self, batch: list[list[int]]) -> list[int]:
        return sorted({i for ids in batch for i in ids if i >= 2})

    def _candidates(self, batch: list[list[int]], generator: torch.Generator) -> tuple[torch.Tensor, int, int]:
        """Scored words: the end symbol, the batch's words, ``negatives`` of the other words drawn
        uniformly; returns (ids, negatives drawn, other words they stand for)."""
        words = self._batch_words(batch)
        rest = np.setdiff1d(self._words, words, assume_unique=True)
        n_neg = min(self.negatives, len(rest))
        neg = rest[torch.randperm(len(rest), generator=generator)[:n_neg].numpy()]
        idx = torch.cat([torch.tensor([EOS_ID] + words, dtype=torch.long), torch.from_numpy(neg).long()])
        return idx, n_neg, len(rest)

    def loss(self, model: nn.Module, batch: list[list[int]], generator: torch.Generator) -> torch.Tensor:
        """Sampled softmax: cross-entropy over the candidates, the negatives' logits raised by
        ``log(others / negatives)`` so that they stand for every word not scored."""
        idx, n_neg, others = self._candidates(batch, generator)
        local = torch.full((model.vocab_size,), -100, dtype=torch.long)
        local[idx] = torch.arange(len(idx))
        inp, tgt = _batch_tensors([("", ids) for ids in batch])
        tgt_local = torch.where(tgt >= 0, local[tgt.clamp(min=0)], tgt)
        h, _ = model.states(inp)
        logits = model.scores(h, idx, model.counts[idx].unsqueeze(0))
        if n_neg:
            logits = torch.cat([logits[..., :-n_neg], logits[..., -n_neg:] + math.log(others / n_neg)], -1)
        return F.cross_entropy(logits.reshape(-1, len(idx)), tgt_local.reshape(-1), ignore_index=-100)

    def forward_flops(self, model: nn.Module, batch: list[list[int]]) -> float:
        """Per position: input projection, LSTM gates, query and the scores of the candidate words."""
        tokens = sum(len(ids) + 1 for ids in batch)
        k = 1 + len(self._batch_words(batch)) + min(self.negatives, model.vocab_size - 2)
        h, d = model.hidden_size, model.dim
        return float(tokens * (2 * d * h + 2 * 4 * h * 2 * h + 2 * h * d + 2 * d * k))

    # -------------------------------------------------------------------------------- metric
    def _eval_tables(self):
        """Per test caption: LSTM ids, the n-gram probability of each true symbol, spelling bits (fixed)."""
        if self._eval is None:
            ngram = self.base.ngram
            ids, kn, spell = [], [], []
            for text in self.test_captions:
                toks = corpus_tokens(text)
                history, probs, bits = [], [], 0.0
                for tok in toks + [None]:
                    sym = EOS if tok is None else ngram._word_id.get(tok, UNK)
                    freqs = TextCodec._word_freqs(ngram, history)
                    probs.append(int(freqs[sym]) / int(freqs.sum()))
                    if sym == UNK:
                        bits += ngram.spelling_bits(tok)
                    history.append(sym)
                ids.append([self._wid.get(t, UNK_ID) for t in toks])
                kn.append(np.array(probs))
                spell.append(bits)
            self._eval = (ids, kn, np.array(spell))
        return self._eval

    @torch.no_grad()
    def caption_bits(self, model: nn.Module, batch: int = 16) -> np.ndarray:
        """Ideal code length (bits, no header) of every test caption under the mixture with ``model``."""
        ids, kn, spell = self._eval_tables()
        m = self.base.ngram_weight
        out = np.zeros(len(ids))
        was = model.training
        model.eval()
        for s in range(0, len(ids), batch):
            inp, tgt = _batch_tensors([("", c) for c in ids[s : s + batch]])
            logp = F.log_softmax(model(inp).double(), -1)
            p_lm = logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1).exp()
            for b in range(len(ids[s : s + batch])):
                n = len(ids[s + b]) + 1
                lm = p_lm[b, :n].numpy()
                lm = np.where(tgt[b, :n].numpy() == UNK_ID, 0.0, lm)  # escapes are priced by the n-gram part
                out[s + b] = -np.log2(m * kn[s + b] + (1 - m) * lm).sum() + spell[s + b]
        model.train(was)
        return out

    def evaluate(self, model: nn.Module) -> float:
        return float(self.caption_bits(model).mean())

    def describe(self) -> dict:
        info = super().describe()
        info.update(vocabulary=len(self.base.words), hidden=self.base.hidden, test_captions=len(self.test_captions),
                    ngram_weight=self.base.ngram_weight)
        return info


def make_prompt_lm_task(split: CaptionSplit, base: PromptLMBase, clients: int, *, partition_name: str = "topic",
                        alpha: float = 0.5, seed: int = 0, test_captions: int | None = None,
                        negatives: int = 2000) -> PromptLMTask:
    """Spread the devices' captions (by image) over ``clients`` and build the task."""
    images = list(dict.fromkeys(img for img, _ in split.devices))
    labels = [split.topics[img] for img in images]
    options = {"seed": seed, **({"alpha": alpha} if partition_name == "dirichlet" else {})}
    parts = partition(partition_name, labels, clients, **options)
    by_image: dict[str, list[tuple[str, str]]] = {}
    for img, cap in split.devices:
        by_image.setdefault(img, []).append((img, cap))
    per_client = [[pair for j in part for pair in by_image[images[j]]] for part in parts]
    test = split.test
    if test_captions is not None and test_captions < len(test):
        test = test[:: max(1, len(test) // test_captions)][:test_captions]
    return PromptLMTask(base, per_client, test, negatives=negatives)


def prompt_bits(base: PromptLMBase, model: PromptLM, captions: Sequence[str], folder: str | Path) -> np.ndarray:
    """Bits of every caption coded by the real neural codec (header included) with ``model``; the
    model is saved as a checkpoint in ``folder`` first (the codec is built from it, as a KB entry is)."""
    from semcom.semantic.neural_codec import codec_from_checkpoint
    from semcom.semantic.neural_lm import load_prompt_lm

    base.save(folder, model, {"name": Path(folder).name})
    codec = codec_from_checkpoint(load_prompt_lm(folder), base.vectors)
    return np.array([codec.encode(c).num_bits for c in captions], dtype=np.int64)


@dataclass
class Publication:
    """What :func:`publish_codec` committed: the version receivers must hold (``previous``), the new
    ``version`` and the signed ``update`` between them; ``base_update`` (EMPTY -> previous, the sequence
    before) when the store was new and the base codec went in first, else None."""

    previous: str
    version: str
    update: bytes
    base_update: bytes | None = None


def publish_codec(kb, base: PromptLMBase, model: PromptLM, folder: str | Path, signer, *, sequence: int,
                  message: str = "prompt codec adapted by federated training", details: dict | None = None) -> Publication:
    """Commit ``model`` as the prompt codec of a new version of ``kb`` and sign the update to it.

    A store without a version first gets the base codec, signed as an update from the empty store
    with ``sequence``; the adapted version's update then takes ``sequence + 1``. The model is saved as
    a checkpoint in ``folder`` and entered with :func:`~semcom.semantic.knowledge.put_codec`;
    :func:`knowledge_base.apply_update` with the matching verifier brings a receiver holding the
    previous version to the new one.
    """
    from knowledge_base import make_update
    from semcom.semantic.knowledge import put_codec
    from semcom.semantic.neural_codec import codec_from_checkpoint
    from semcom.semantic.neural_lm import load_prompt_lm

    folder = Path(folder)
    base_update = None
    if kb.head is None:
        base.save(folder / "base", base.model(), {"name": "base"})
        put_codec(kb, codec_from_checkpoint(load_prompt_lm(folder / "base"), base.vectors),
                  details={"source": "base prompt codec"})
        base_update = make_update(kb, None, kb.commit("base prompt codec"), sequence, signer)
        sequence += 1
    previous = kb.head
    base.save(folder / "adapted", model, {"name": "adapted"})
    put_codec(kb, codec_from_checkpoint(load_prompt_lm(folder / "adapted"), base.vectors), details=dict(details or {}))
    version = kb.commit(message)
    return Publication(previous, version, make_update(kb, previous, version, sequence, signer), base_update)
