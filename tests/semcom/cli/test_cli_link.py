import json
import re

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


def test_link_ber_table_shows_error_counts_and_a_bound_when_nothing_failed(capsys):
    assert main(["link", "ber", "--code", "none", "--snr-db", "0,30", "--bits", "2000", "--no-progress"]) == 0
    out = capsys.readouterr().out
    zero_row = next(line for line in out.splitlines() if line.strip().startswith("30.00"))
    bits = int(re.search(r" 0/(\d+) ", zero_row).group(1))  # "0/N": no bit error in N bits
    assert f"< {1 / bits:.3e}" in zero_row
    assert "'< 1/N': no error among the N bits" in out
    first = next(line for line in out.splitlines() if line.strip().startswith("0.00"))
    errors, counted = first.split()[2].split("/")
    assert int(errors) > 0 and float(first.split()[1]) == pytest.approx(int(errors) / int(counted), rel=1e-3)


def test_link_ber_shows_progress(capsys):
    assert main(["link", "ber", "--code", "none", "--snr-db", "0", "--bits", "2000"]) == 0
    assert "BER" in capsys.readouterr().err  # the progress bar, on stderr


def test_link_ber_plot(tmp_path, capsys):
    plot = tmp_path / "ber.png"
    assert main(["link", "ber", "--code", "none", "--snr-db", "0,30", "--bits", "2000", "--no-progress",
                 "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG" and f"wrote {plot}" in capsys.readouterr().out
