"""The edge's feedback filter on crafted raters: duplicates, constant and inverted raters, disagreement."""

from __future__ import annotations

import pytest

from semcom.errors import InputError
from semcom.optimisation.feedback import (FeedbackCache, Judgement, filter_feedback, pack_judgements,
                                          preference_pairs, simulate_judgements, unpack_judgements)

# item 0: candidate 0 says it all, 1 half, 2 nothing; item 1 likewise; item 2: raters split on candidate 0
TRUTH = {(0, 0): 0.95, (0, 1): 0.55, (0, 2): 0.10, (1, 0): 0.90, (1, 1): 0.50, (1, 2): 0.15,
         (2, 0): 0.70, (2, 1): 0.40, (2, 2): 0.20}


def crafted() -> list[Judgement]:
    js = []
    for rater, offset in (("a", 0.0), ("b", 0.03), ("c", -0.03)):
        for (item, cand), t in TRUTH.items():
            score = t + offset
            if (item, cand) == (2, 0):  # the honest raters disagree on this one
                score = {"a": 0.95, "b": 0.30, "c": 0.60}[rater]
            js.append(Judgement(rater, item, cand, score))
    js += [Judgement("inv", item, cand, 1.0 - t) for (item, cand), t in TRUTH.items()]
    js += [Judgement("lazy", item, cand, 0.8) for (item, cand) in TRUTH]
    js += [Judgement("a", 0, 0, 0.95)] * 2  # the same judgement sent again
    return js


def test_filter_keeps_out_what_it_should_and_says_why():
    report = filter_feedback(crafted(), min_items=5, min_correlation=0.3, max_spread=0.2)
    assert report.raters_dropped == {"lazy": "low-quality", "inv": "outlier-rater"}
    assert report.dropped == {"duplicate": 2, "low-quality": 9, "outlier-rater": 9, "disagreement": 3}
    assert report.total == 3 * 9 + 9 + 9 + 2
    assert (2, 0) not in report.consensus and len(report.consensus) == 8
    assert report.consensus[(0, 0)] == pytest.approx(0.95)
    assert {j.rater for j in report.kept} == {"a", "b", "c"}
    assert report.filtered_share == pytest.approx(23 / 47)


def test_pairs_follow_utility_with_the_price_of_bits():
    report = filter_feedback(crafted(), max_spread=0.2)
    bits = {key: 100 for key in TRUTH}
    bits[(0, 1)] = 20  # candidate 1 of item 0 is far cheaper
    pairs, left_out = preference_pairs(report, bits, price_per_bit=0.01, margin=0.05)
    by_item = {(p.item, p.chosen, p.rejected) for p in pairs}
    # item 0: utility 0.95-1.0 = -0.05, 0.55-0.2 = 0.35, 0.10-1.0 = -0.9: the cheap half-meaning prompt wins
    assert (0, 1, 0) in by_item and (0, 1, 2) in by_item and (0, 0, 2) in by_item
    assert (1, 0, 1) in by_item and (1, 1, 2) in by_item
    assert all(p.agreement == 1.0 for p in pairs)
    assert not any(p.item == 2 and 0 in (p.chosen, p.rejected) for p in pairs)
    assert left_out["pair_disagreement"] == 0


def test_pair_left_out_when_raters_rank_it_differently():
    js = [Judgement(r, 0, c, s) for r, scores in {"a": (0.9, 0.5), "b": (0.9, 0.55), "c": (0.45, 0.6)}.items()
          for c, s in enumerate(scores)]
    js += [Judgement(r, 1, c, s) for r in "abc" for c, s in enumerate((0.9, 0.2))]
    js += [Judgement(r, 2, c, s) for r in "abc" for c, s in enumerate((0.8, 0.1))]
    report = filter_feedback(js, min_items=2, max_spread=0.3, min_correlation=-1.0)
    pairs, left_out = preference_pairs(report, {k: 50 for k in report.consensus}, price_per_bit=0.0,
                                       pair_agreement=0.7)
    assert [(p.item, p.chosen) for p in pairs] == [(1, 0), (2, 0)]
    assert left_out["pair_disagreement"] == 1


def test_packets_round_trip_and_simulated_raters():
    js = [Judgement("r", 7, 3, 0.5), Judgement("r", 70000, 1, 1.0)]
    data = pack_judgements(js)
    assert len(data) == 14
    back = unpack_judgements("r", data)
    assert [(j.item, j.candidate) for j in back] == [(7, 3), (70000, 1)]
    assert abs(back[0].score - 0.5) <= 0.5 / 255
    with pytest.raises(InputError):
        unpack_judgements("r", data[:-1])
    cache = FeedbackCache(capacity=3)
    cache.receive("r", data + data)
    assert len(cache.judgements) == 3 and cache.bytes_received == 28
    sim = simulate_judgements(TRUTH, {"h": "honest", "d": "duplicating", "i": "inverted", "k": "constant"}, seed=1)
    assert len(sim["d"]) == 3 * len(TRUTH) and all(j.score == 0.8 for j in sim["k"])
    report = filter_feedback([j for js in sim.values() for j in js])
    assert report.raters_dropped == {"k": "low-quality", "i": "outlier-rater"}
    assert report.dropped["duplicate"] == 2 * len(TRUTH)
