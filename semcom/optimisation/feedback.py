"""Receivers' feedback, cached and filtered at the edge, turned into preference pairs.

A :class:`Judgement` says how well a candidate prompt carried an item's meaning, in [0, 1]: a
receiver's measured semantic similarity, or a person's rating where one is in the loop. Receivers
send them to the edge over their uplinks as 7-byte packets (item u32, candidate u16, score u8 in
1/255 steps; :func:`pack_judgements`); the edge's :class:`FeedbackCache` keeps them.

:func:`filter_feedback` keeps feedback out, in this order, each with its reason:

``duplicate``       a second judgement of the same rater on the same candidate (the first is kept);
``low-quality``     raters with fewer than ``min_items`` judgements, or whose scores barely vary
                    (standard deviation below ``min_spread``: a constant clicker says nothing);
``outlier-rater``   raters whose scores do not follow the others': Spearman correlation with the mean
                    of the other raters on the same candidates below ``min_correlation`` (the worst one
                    is dropped first and the correlations computed again without it, so that one
                    inverted rater does not drag honest ones down with it);
``disagreement``    candidates on which the remaining raters disagree (standard deviation above
                    ``max_spread``) or that fewer than ``min_raters`` raters judged.

:func:`preference_pairs` turns what is left into (chosen, rejected) pairs per item by the utility
``consensus score - price_per_bit x bits`` (the bits measured at the edge with the prompt codec), and
keeps a pair only when the gap is at least ``margin`` and at least ``pair_agreement`` of the raters who
judged both candidates rank them the same way.
"""

from __future__ import annotations

import struct
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from semcom.errors import ConfigError, InputError

REASONS = ("duplicate", "low-quality", "outlier-rater", "disagreement")
_PACKET = struct.Struct(">IHB")


@dataclass(frozen=True)
class Judgement:
    """Rater ``rater``'s score in [0, 1] of candidate ``candidate`` (an index) of item ``item`` (an index)."""

    rater: str
    item: int
    candidate: int
    score: float


def pack_judgements(judgements: Sequence[Judgement]) -> bytes:
    """One rater's judgements as uplink bytes: 7 bytes each (item u32, candidate u16, score u8)."""
    out = bytearray()
    for j in judgements:
        if not 0.0 <= j.score <= 1.0:
            raise InputError(f"a score is in [0, 1], got {j.score}")
        out += _PACKET.pack(j.item, j.candidate, int(round(255 * j.score)))
    return bytes(out)


def unpack_judgements(rater: str, data: bytes) -> list[Judgement]:
    if len(data) % _PACKET.size:
        raise InputError(f"feedback of {len(data)} bytes is not a whole number of {_PACKET.size}-byte judgements")
    return [Judgement(rater, item, cand, score / 255) for item, cand, score in _PACKET.iter_unpack(data)]


class FeedbackCache:
    """The edge's store of judgements as they arrive (bounded: the oldest go first beyond ``capacity``)."""

    def __init__(self, capacity: int = 100_000):
        if capacity < 1:
            raise ConfigError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.judgements: list[Judgement] = []
        self.bytes_received = 0

    def receive(self, rater: str, data: bytes) -> int:
        """Add a rater's packet; returns the number of judgements it held."""
        got = unpack_judgements(rater, data)
        self.judgements.extend(got)
        self.bytes_received += len(data)
        if len(self.judgements) > self.capacity:
            del self.judgements[: len(self.judgements) - self.capacity]
        return len(got)


@dataclass
class FilterReport:
    """What :func:`filter_feedback` kept, what it kept out and why."""

    kept: list[Judgement]
    dropped: dict[str, int]
    raters_dropped: dict[str, str]
    consensus: dict[tuple[int, int], float]
    total: int
    details: dict = field(default_factory=dict)

    @property
    def filtered_share(self) -> float:
        return sum(self.dropped.values()) / max(self.total, 1)

    def as_dict(self) -> dict:
        return {"total": self.total, "kept": len(self.kept), "filtered_share": self.filtered_share,
                "dropped": dict(self.dropped), "raters_dropped": dict(self.raters_dropped),
                "candidates": len(self.consensus), **self.details}


def filter_feedback(judgements: Iterable[Judgement], *, min_items: int = 5, min_spread: float = 0.02,
                    min_correlation: float = 0.3, max_spread: float = 0.25, min_raters: int = 2) -> FilterReport:
    """Keep out duplicates, low-quality and outlier raters, and candidates the raters disagree on (module doc)."""
    from scipy.stats import spearmanr

    items = list(judgements)
    dropped = Counter({reason: 0 for reason in REASONS})
    seen, unique = set(), []
    for j in items:
        key = (j.rater, j.item, j.candidate)
        if key in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(key)
            unique.append(j)
    by_rater: dict[str, list[Judgement]] = defaultdict(list)
    for j in unique:
        by_rater[j.rater].append(j)
    raters_dropped: dict[str, str] = {}
    for rater, js in by_rater.items():
        scores = np.array([j.score for j in js])
        if len(js) < min_items or float(scores.std()) < min_spread:
            raters_dropped[rater] = "low-quality"
    correlations: dict[str, float] = {}
    while True:  # drop the rater who follows the others least, then look again without them
        scores_of: dict[tuple[int, int], dict[str, float]] = defaultdict(dict)
        for j in unique:
            if j.rater not in raters_dropped:
                scores_of[(j.item, j.candidate)][j.rater] = j.score
        correlations = {}
        for rater, js in by_rater.items():
            if rater in raters_dropped:
                continue
            mine, others = [], []
            for j in js:
                rest = [s for r, s in scores_of[(j.item, j.candidate)].items() if r != rater]
                if rest:
                    mine.append(j.score)
                    others.append(float(np.mean(rest)))
            if len(mine) >= 3 and np.std(mine) > 0 and np.std(others) > 0:
                correlations[rater] = float(spearmanr(mine, others).statistic)
        worst = min(correlations, key=correlations.get, default=None)
        if worst is None or correlations[worst] >= min_correlation:
            break
        raters_dropped[worst] = "outlier-rater"
    for j in unique:
        if j.rater in raters_dropped:
            dropped[raters_dropped[j.rater]] += 1
    grouped: dict[tuple[int, int], list[Judgement]] = defaultdict(list)
    for j in unique:
        if j.rater not in raters_dropped:
            grouped[(j.item, j.candidate)].append(j)
    kept, consensus = [], {}
    for key, js in grouped.items():
        scores = np.array([j.score for j in js])
        if len(js) < min_raters or float(scores.std()) > max_spread:
            dropped["disagreement"] += len(js)
            continue
        kept.extend(js)
        consensus[key] = float(scores.mean())
    return FilterReport(kept, dict(dropped), raters_dropped, consensus, len(items),
                        {"rater_correlations": correlations})


@dataclass(frozen=True)
class PreferencePair:
    item: int
    chosen: int
    rejected: int
    gap: float
    agreement: float


def preference_pairs(report: FilterReport, bits: Mapping[tuple[int, int], int], *, price_per_bit: float = 0.004,
                     margin: float = 0.05, pair_agreement: float = 0.7) -> tuple[list[PreferencePair], dict]:
    """(chosen, rejected) candidate pairs per item from the filtered feedback, and counts of the pairs kept out."""
    if price_per_bit < 0 or margin < 0 or not 0 <= pair_agreement <= 1:
        raise ConfigError("price_per_bit and margin must be >= 0 and pair_agreement in [0, 1]")
    per_rater: dict[tuple[int, int], dict[str, float]] = defaultdict(dict)
    for j in report.kept:
        per_rater[(j.item, j.candidate)][j.rater] = j.score
    utility = {key: score - price_per_bit * bits[key] for key, score in report.consensus.items()}
    by_item: dict[int, list[int]] = defaultdict(list)
    for item, cand in utility:
        by_item[item].append(cand)
    pairs, left_out = [], Counter(small_gap=0, pair_disagreement=0)
    for item, cands in sorted(by_item.items()):
        ranked = sorted(cands, key=lambda c: -utility[(item, c)])
        for a in range(len(ranked)):
            for b in range(a + 1, len(ranked)):
                hi, lo = ranked[a], ranked[b]
                gap = utility[(item, hi)] - utility[(item, lo)]
                if gap < margin:
                    left_out["small_gap"] += 1
                    continue
                both = per_rater[(item, hi)].keys() & per_rater[(item, lo)].keys()
                cost = price_per_bit * (bits[(item, hi)] - bits[(item, lo)])
                votes = [per_rater[(item, hi)][r] - per_rater[(item, lo)][r] > cost for r in both]
                share = float(np.mean(votes)) if votes else 0.0
                if share < pair_agreement:
                    left_out["pair_disagreement"] += 1
                    continue
                pairs.append(PreferencePair(item, hi, lo, gap, share))
    return pairs, dict(left_out)


# ------------------------------------------------------------------------------------- receivers

RATER_KINDS = ("honest", "noisy", "inverted", "constant", "random", "duplicating")


def simulate_judgements(truth: Mapping[tuple[int, int], float], raters: Mapping[str, str], *,
                        noise: float = 0.05, coverage: float = 1.0, seed: int = 0) -> dict[str, list[Judgement]]:
    """Judgements of simulated receivers on candidates whose measured meaning score is ``truth``.

    Kinds: ``honest`` (truth + N(0, noise)), ``noisy`` (noise x 4), ``inverted`` (1 - truth), ``constant``
    (0.8 whatever the candidate), ``random`` (uniform), ``duplicating`` (honest, each judgement sent 3 times).
    Each rater judges a ``coverage`` share of the candidates. Scores are clipped to [0, 1].
    """
    rng = np.random.default_rng(seed)
    keys = sorted(truth)
    out = {}
    for rater, kind in raters.items():
        if kind not in RATER_KINDS:
            raise ConfigError(f"unknown rater kind {kind!r}; known: {', '.join(RATER_KINDS)}")
        chosen = [k for k in keys if rng.random() < coverage]
        js = []
        for item, cand in chosen:
            t = truth[(item, cand)]
            score = {"honest": t + noise * rng.standard_normal(), "duplicating": t + noise * rng.standard_normal(),
                     "noisy": t + 4 * noise * rng.standard_normal(), "inverted": 1.0 - t, "constant": 0.8,
                     "random": rng.random()}[kind]
            j = Judgement(rater, item, cand, float(np.clip(score, 0.0, 1.0)))
            js.extend([j] * (3 if kind == "duplicating" else 1))
        out[rater] = js
    return out
