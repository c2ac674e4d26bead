"""Declared settings: one rule for a command-line flag and a config key, one-line messages naming the range."""

from __future__ import annotations

import argparse
from fractions import Fraction

import pytest

from semcom.errors import ConfigError
from semcom.options import CBR, CROP, SCHEME_OPTIONS, SEED, SNR_LIST, Integer, Listed, Name, Real, Switch


@pytest.mark.parametrize("setting, value, expected", [
    (SEED, 0, 0), (SEED, 2**32 - 1, 2**32 - 1), (CROP, 16, 16),
    (Real(0.0, 1.0, low_open=True), 1, 1.0), (CBR, "1/16", 0.0625), (CBR, 0.5, 0.5), (CBR, 1, 1.0),
    (SNR_LIST, 3, [3.0]), (SNR_LIST, [0, 2.5], [0.0, 2.5]), (Name(("a", "b")), "b", "b"), (Switch(), False, False),
])
def test_config_values_accepted(setting, value, expected):
    assert setting.check(value, "key") == expected


@pytest.mark.parametrize("setting, value, message", [
    (SEED, -1, "key must be an integer from 0 to 4294967295, got -1"),
    (SEED, 2**32, "key must be an integer from 0 to 4294967295, got 4294967296"),
    (SEED, 1.0, "key must be an integer"),
    (SEED, True, "key must be an integer"),
    (Integer(1, None), 0, "key must be an integer at least 1, got 0"),
    (Real(0.0, None, low_open=True), 0.0, "key must be a finite number above 0, got 0.0"),
    (Real(0.0, 1.0, high_open=True), 1.0, "key must be a finite number in [0, 1), got 1.0"),
    (Real(), float("nan"), "key must be a finite number, got nan"),
    (Real(), "3", "key must be a finite number, got '3'"),
    (CBR, "abc", "key must be a fraction in (0, 1] such as 1/16 or 0.0625, got 'abc'"),
    (CBR, 0, "key must be a fraction in (0, 1]"),
    (CBR, float("inf"), "key must be a fraction in (0, 1]"),
    (SNR_LIST, [], "key must be a list of one or more values, each a finite number from -50 to 100 dB, got []"),
    (SNR_LIST, [1.0, "x"], "got [1.0, 'x']"),
    (Listed(Real(), length=2), [1.0], "key must be a list of 2 values, each a finite number, got [1.0]"),
    (Name(), "", "key must be a non-empty string, got ''"),
    (Name(("a", "b")), "c", "key must be one of: a, b, got 'c'"),
    (Switch(), "yes", "key must be true or false, got 'yes'"),
])
def test_config_values_refused_in_one_line(setting, value, message):
    with pytest.raises(ConfigError) as info:
        setting.check(value, "key")
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("setting, text, expected", [
    (SEED, " 7 ", 7), (CBR, "1/16", 0.0625), (CBR, "0.25", 0.25), (SNR_LIST, "0,2.5, 4", [0.0, 2.5, 4.0]),
    (SNR_LIST, "-3", [-3.0]), (Listed(Integer(0, None)), "0 1 2", [0, 1, 2]), (Switch(), "no", False),
])
def test_flag_text_parsed(setting, text, expected):
    assert setting.arg()(text) == expected


@pytest.mark.parametrize("setting, text", [
    (SEED, "-1"), (SEED, "1.5"), (SEED, ""), (CBR, "1/0"), (CBR, "2"), (SNR_LIST, "nan"), (SNR_LIST, ","),
    (SNR_LIST, "1e9"), (Real(0.1, 6.0), "inf"), (Switch(), "maybe"),
])
def test_flag_text_refused_with_the_range(setting, text):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        setting.arg()(text)
    assert str(info.value) == f"must be {setting.accepted}, got {text!r}"


@pytest.mark.parametrize("value, expected", [
    ("1/48", Fraction(1, 48)), (" 0.0625 ", Fraction(1, 16)), (1 / 48, Fraction(1, 48)), (Fraction(3, 7), Fraction(3, 7)),
    (1, Fraction(1)),
])
def test_ratio_as_an_exact_fraction(value, expected):
    assert CBR.fraction(value, "cbr") == expected


@pytest.mark.parametrize("value", ["abc", "1/0", "3/2", 0, 1e-6, float("nan"), True, None])
def test_ratio_fraction_refused(value):
    with pytest.raises(ConfigError, match=r"^cbr must be a fraction in \(0, 1\]"):
        CBR.fraction(value, "cbr")


def test_argparse_names_the_flag(capsys):
    parser = argparse.ArgumentParser(prog="semcom x")
    parser.add_argument("--seed", type=SEED.arg())
    with pytest.raises(SystemExit):
        parser.parse_args(["--seed", "-1"])
    assert capsys.readouterr().err.splitlines()[-1] == (
        "semcom x: error: argument --seed: must be an integer from 0 to 4294967295, got '-1'")


def test_scheme_options_shared_by_flags_and_configs():
    from semcom.cli.evaluate import _GAI_OPTIONS

    for flag, _ in _GAI_OPTIONS:
        assert flag[2:].replace("-", "_") in SCHEME_OPTIONS
    for name in ("cbr", "mcs", "arq"):
        assert name in SCHEME_OPTIONS
