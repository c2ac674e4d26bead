import json

import pytest

from semcom.cli import main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "semcom" in capsys.readouterr().out
    assert main([]) == 0
    assert "link" in capsys.readouterr().out


def test_link_ber_json(capsys):
    code = main(["link", "ber", "--channel", "awgn", "--modulation", "qpsk", "--code", "none",
                 "--snr-db", "0,4", "--bits", "20000", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["snr_db"] for r in result["results"]] == [0.0, 4.0]
    for r in result["results"]:
        assert r["ber"] == pytest.approx(r["ber_theory"], rel=0.25)
        assert 0 <= r["bler"] <= 1


def test_link_ber_coded_has_no_theory(capsys):
    assert main(["link", "ber", "--code", "polar", "--rate", "1/2", "--snr-db", "6", "--bits", "2000", "--json"]) == 0
    (r,) = json.loads(capsys.readouterr().out)["results"]
    assert r["ber_theory"] is None and r["ber"] < 0.01


@pytest.mark.parametrize(
    "argv,match",
    [
        (["link", "ber", "--snr-db", "nan"], "finite"),
        (["link", "ber", "--modulation", "8psk"], "invalid choice"),
        (["link", "ber", "--channel", "wifi"], "invalid choice"),
        (["link", "ber", "--code", "turbo"], "invalid choice"),
        (["link", "ber", "--rate", "3/2"], "must be a fraction in (0, 1]"),
    ],
)
def test_bad_arguments_are_named(argv, match, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert match in capsys.readouterr().err


def test_demo_runs(capsys):
    assert main(["demo", "--snr-db", "10", "--channels", "awgn", "--bytes", "300", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["results"]
    assert row["delivered"] and row["channel_uses"] > 0
