import argparse
import json

import pytest

from semcom.benchmark import (
    Report,
    Stats,
    add_timing_arguments,
    compare,
    format_speedup,
    measure,
    positive_int,
    time_call,
)
from semcom.errors import ConfigError


class FakeClock:
    """A clock that only moves when a fake workload says how long it took; logs who ran."""

    def __init__(self):
        self.now = 0.0
        self.log: list[str] = []

    def __call__(self) -> float:
        return self.now

    def workload(self, name: str, durations: list[float]):
        times = iter(durations)

        def run():
            self.log.append(name)
            self.now += next(times)

        return run


def test_stats_median_quartiles_and_minimum():
    stats = Stats.of([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (stats.median, stats.minimum, stats.q1, stats.q3, stats.iqr) == (3.0, 1.0, 2.0, 4.0, 2.0)
    assert Stats.of([2.0, 4.0]).median == 3.0
    with pytest.raises(ConfigError, match="repeats"):
        Stats.of([])


def test_measure_discards_warmup_calls():
    clock = FakeClock()
    fn = clock.workload("f", [100.0, 100.0, 1.0, 3.0, 2.0])
    stats = measure(fn, repeats=3, warmup=2, clock=clock)
    assert stats.samples == (1.0, 3.0, 2.0)
    assert stats.median == 2.0
    assert clock.log == ["f"] * 5


def test_compare_interleaves_pairs_in_alternating_order():
    clock = FakeClock()
    ours = clock.workload("ours", [9.0, 1.0, 1.0, 2.0, 1.0])
    ref = clock.workload("ref", [9.0, 10.0, 12.0, 10.0, 30.0])
    c = compare(ours, ref, repeats=4, warmup=1, clock=clock)
    assert clock.log == ["ours", "ref", "ours", "ref", "ref", "ours", "ours", "ref", "ref", "ours"]
    assert c.ours.samples == (1.0, 1.0, 2.0, 1.0)
    assert c.reference.samples == (10.0, 12.0, 10.0, 30.0)
    assert c.speedup == pytest.approx(11.0 / 1.0)
    assert c.ratios.samples == (10.0, 12.0, 5.0, 30.0)
    assert (c.ratios.q1, c.ratios.median, c.ratios.q3) == (8.75, 11.0, 16.5)
    assert format_speedup(c) == "11.00x [8.75-16.50]"


def test_load_spike_hits_one_pair_not_the_ratio_of_medians():
    clock = FakeClock()
    ours = clock.workload("ours", [1.0, 1.0, 1.0, 50.0, 1.0, 1.0])
    ref = clock.workload("ref", [10.0, 10.0, 10.0, 500.0, 10.0, 10.0])
    c = compare(ours, ref, repeats=5, warmup=1, clock=clock)
    assert c.speedup == 10.0
    assert c.ratios.iqr == 0.0


def test_time_call_pauses_the_garbage_collector():
    import gc

    seen = []
    time_call(lambda: seen.append(gc.isenabled()))
    assert seen == [False] and gc.isenabled()


@pytest.mark.parametrize("repeats, warmup", [(0, 1), (3, -1), (1.5, 0)])
def test_bad_counts_are_refused(repeats, warmup):
    with pytest.raises(ConfigError):
        measure(lambda: None, repeats=repeats, warmup=warmup)
    with pytest.raises(ConfigError):
        compare(lambda: None, lambda: None, repeats=repeats, warmup=warmup)


def test_timing_arguments_are_validated(capsys):
    parser = argparse.ArgumentParser()
    add_timing_arguments(parser)
    args = parser.parse_args(["--repeats", "3", "--warmup", "0", "--threads", "1", "--json"])
    assert (args.repeats, args.warmup, args.threads, args.json) == (3, 0, 1, True)
    for bad in (["--repeats", "0"], ["--warmup", "-1"], ["--threads", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    assert "must be a positive integer, got 'x'" in capsys.readouterr().err
    with pytest.raises(argparse.ArgumentTypeError, match="got 0"):
        positive_int("0")


def test_report_prints_text_or_one_json_document(capsys):
    text = Report("bench", {"blocks": 4})
    text.start()
    text.add({"mcs": 0}, "row 0")
    text.finish()
    out = capsys.readouterr().out
    assert out.startswith("bench\ncpu: ") and "threads=" in out and "settings: blocks=4" in out
    assert out.rstrip().endswith("row 0")

    doc = Report("bench", {"blocks": 4}, as_json=True)
    doc.start()
    doc.add({"mcs": 0, "speedup": 12.5}, "row 0")
    doc.finish()
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["rows"] == [{"mcs": 0, "speedup": 12.5}]
    assert parsed["settings"] == {"blocks": 4}
    assert parsed["environment"]["threads"] >= 1 and "torch" in parsed["environment"]["versions"]
