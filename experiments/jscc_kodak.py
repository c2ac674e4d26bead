"""Learned JSCC against HEIF + 5G LDPC, the separation bound and the published curves, on the same links.

    python experiments/jscc_kodak.py [--images data:kodak] [--parts awgn16,crossover,cbr48,rayleigh]
        [--model NAME_OR_DIR] [--snr-db -6:20:2] [--limit N] [--out results/jscc_kodak] [--executor process]

Parts (each through the one evaluation engine, :func:`semcom.run_config`; items are kept under
``--out``, the codecs apart from each model and weights, and a second call resumes or reuses them):

* ``awgn16``: AWGN, CBR 1/16, the SNR grid ``--snr-db`` (default -6 to 20 dB in 2 dB steps): the JSCC
  model, HEIF + LDPC with link adaptation (``separation``) and the separation bound, in one plot
  with the published Kodak curves (``awgn16.png``).
* ``crossover``: the SNRs where JSCC and HEIF + LDPC cross, measured: each grid interval where the
  sign of the PSNR difference changes is bisected with both schemes run at its midpoint until it is
  ``--resolution`` dB wide.
* ``cbr48``: AWGN, CBR 1/48, at 1/4/7/10/13 dB: JSCC, HEIF + LDPC and the bound; the published
  SwinJSCC figure at 10 dB beside them.
* ``rayleigh``: per-symbol Rayleigh fading (a new coefficient every symbol, perfect CSI, MMSE) at
  CBR 1/16, 1/4/7/10/13 dB: the per-symbol model and the block-fading model run on it, beside the
  published WITT and Deep JSCC curves.

Kodak is for reporting: models are selected on BSDS500 val. Prints markdown tables; writes
``summary.json`` (with provenance) and the plots under ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from semcom.api import run_config
from semcom.files import jsonable
from semcom.jscc import published
from semcom.jscc.checkpoint import pick_checkpoint, resolve_checkpoint
from semcom.options import SNR_LIST
from semcom.plots import plot_psnr_vs_snr
from semcom.provenance import provenance

PARTS = ("awgn16", "crossover", "cbr48", "rayleigh")
JSCC, HEIF, BOUND = "JSCC", "HEIF + LDPC", "separation bound"


def snr_grid(text: str) -> list[float]:
    """``0:20:1`` (start:stop:step, stop included) or a comma-separated list."""
    if ":" in text:
        start, stop, step = (float(v) for v in text.split(":"))
        count = int(round((stop - start) / step)) + 1
        return [round(start + i * step, 4) for i in range(count)]
    return [float(v) for v in SNR_LIST.arg()(text)]


def model_tag(model: str) -> str:
    """A model's name and the start of its weights' SHA-256: results of other weights never mix."""
    weights = resolve_checkpoint(model) / "model.safetensors"
    return f"{Path(model).name}-{hashlib.sha256(weights.read_bytes()).hexdigest()[:8]}"


def evaluate(args, name: str, snrs: list[float], entries: list[dict], channel: dict) -> list[dict]:
    """One run of the evaluation engine, kept (and resumed) in ``--out/name``."""
    config = {"name": name, "seed": args.seed, "snr_db": snrs, "channel": channel,
              "images": {"folder": args.images, "limit": args.limit}, "schemes": entries}
    out = Path(args.out) / name
    return run_config(config, out=out, progress=not args.quiet, executor=args.executor, workers=args.workers).summary


def compare(args, name: str, snrs: list[float], model: str, cbr: str, codecs: bool = True) -> list[dict]:
    """The JSCC model (kept per model and weights) and, with ``codecs``, HEIF + LDPC and the bound (kept apart,
    so a new model reuses them) at ``cbr`` over AWGN."""
    awgn = {"name": "awgn"}
    rows = evaluate(args, f"{name}_{model_tag(model)}", snrs,
                    [{"name": "jscc", "label": JSCC, "cbr": cbr, "model": model}], awgn)
    if codecs:
        rows += evaluate(args, f"{name}_codecs", snrs,
                         [{"name": "separation", "label": HEIF, "codec": "heif", "cbr": cbr},
                          {"name": "bound", "label": BOUND, "cbr": cbr}], awgn)
    return rows


def table(rows: list[dict], title: str) -> str:
    labels = list(dict.fromkeys(r["scheme"] for r in rows))
    snrs = sorted({float(r["snr_db"]) for r in rows})
    by = {(r["scheme"], float(r["snr_db"])): r for r in rows}
    lines = [f"### {title}", "", "| SNR (dB) | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for snr in snrs:
        cells = []
        for label in labels:
            r = by.get((label, snr))
            cells.append("-" if r is None else f"{r['psnr']:.2f} ({r['channel_uses_per_image']:.0f} uses"
                         + (f", {r['failures']} failed" if r.get("failures") else "") + ")")
        lines.append(f"| {snr:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def crossings(rows: list[dict]) -> list[tuple[float, float]]:
    """Grid intervals [a, b] where JSCC minus HEIF + LDPC changes sign."""
    diff = {float(r["snr_db"]): r["psnr"] for r in rows if r["scheme"] == JSCC}
    sep = {float(r["snr_db"]): r["psnr"] for r in rows if r["scheme"] == HEIF}
    snrs = sorted(set(diff) & set(sep))
    d = [diff[s] - sep[s] for s in snrs]
    return [(a, b) for a, b, da, db in zip(snrs, snrs[1:], d, d[1:]) if (da > 0) != (db > 0)]


def bisect_crossing(args, interval: tuple[float, float], sign_low: bool, model: str) -> dict:
    """Bisect [a, b] (JSCC ahead at a iff ``sign_low``) down to ``--resolution`` dB, measuring both schemes."""
    a, b = interval
    probes = []
    while b - a > args.resolution + 1e-9:
        mid = round((a + b) / 2, 4)
        rows = compare(args, f"crossover_{mid:g}dB", [mid], model, "1/16", codecs=False)
        rows += evaluate(args, f"crossover_{mid:g}dB_codecs", [mid],
                         [{"name": "separation", "label": HEIF, "codec": "heif", "cbr": "1/16"}], {"name": "awgn"})
        jscc = next(r["psnr"] for r in rows if r["scheme"] == JSCC)
        sep = next(r["psnr"] for r in rows if r["scheme"] == HEIF)
        probes.append({"snr_db": mid, "jscc_psnr": jscc, "heif_ldpc_psnr": sep})
        if (jscc > sep) == sign_low:
            a = mid
        else:
            b = mid
    return {"between_db": [a, b], "crossing_db": round((a + b) / 2, 4), "jscc_ahead_below": sign_low,
            "probes": probes}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default="data:kodak", help="image folder (default data:kodak)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated parts (default {','.join(PARTS)})")
    parser.add_argument("--model", default=None, help="AWGN CBR 1/16 JSCC model (default: the shipped one)")
    parser.add_argument("--model-48", default=None, help="CBR 1/48 JSCC model (default: the shipped one)")
    parser.add_argument("--snr-db", default="-6:20:2", help="SNR grid of awgn16, start:stop:step or a list (default -6:20:2)")
    parser.add_argument("--resolution", type=float, default=0.25, help="crossover bracket width, dB (default 0.25)")
    parser.add_argument("--limit", type=int, default=None, help="first N images only (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of noise and sampling (default 0)")
    parser.add_argument("--out", default="results/jscc_kodak", help="results folder (default results/jscc_kodak)")
    parser.add_argument("--executor", default="local", help="local, process or ray (default local)")
    parser.add_argument("--workers", type=int, default=None, help="workers of the process/ray executor (default: cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"provenance": provenance(), "published_source": published.SOURCE, "args": vars(args)}
    anchors = published.ANCHOR_SNRS_DB

    model = args.model or pick_checkpoint("awgn", "1/16")
    model_48 = args.model_48 or pick_checkpoint("awgn", "1/48")
    summary["models"] = {"awgn16": model_tag(model), "cbr48": model_tag(model_48)}
    if "awgn16" in parts or "crossover" in parts:
        rows = compare(args, "awgn16", snr_grid(args.snr_db), model, "1/16")
        summary["awgn16"] = rows
        print(table(rows, "Kodak, AWGN, CBR 1/16: PSNR (dB) and channel uses per image"))
        marks = published.published_rows(published.AWGN_CBR_1_16) + [
            {"scheme": "BPG + 5G LDPC", "snr_db": s, "psnr": p} for s, p in published.BPG_LDPC_CBR_1_16]
        plot = plot_psnr_vs_snr(rows, out / "awgn16.png", "Kodak, AWGN, CBR 1/16", published=marks)
        print(f"\nplot: {plot}")
        if "crossover" in parts:
            found = []
            jscc_ahead = {float(r["snr_db"]): r["psnr"] for r in rows if r["scheme"] == JSCC}
            heif = {float(r["snr_db"]): r["psnr"] for r in rows if r["scheme"] == HEIF}
            for a, b in crossings(rows):
                found.append(bisect_crossing(args, (a, b), jscc_ahead[a] > heif[a], model))
            summary["crossover"] = found
            print("\n### JSCC vs HEIF + LDPC crossings (AWGN, CBR 1/16)\n")
            for c in found:
                lo, hi = c["between_db"]
                side = "JSCC ahead below" if c["jscc_ahead_below"] else "HEIF + LDPC ahead below"
                print(f"- between {lo:g} and {hi:g} dB (about {c['crossing_db']:g} dB); {side}")
            if not found:
                lead = "JSCC" if all(jscc_ahead[s] > heif[s] for s in heif) else "HEIF + LDPC"
                print(f"- none on the grid: {lead} is ahead at every SNR of it")

    if "cbr48" in parts:
        rows = compare(args, "cbr48", list(anchors), model_48, "1/48")
        summary["cbr48"] = rows
        print("\n" + table(rows, "Kodak, AWGN, CBR 1/48"))
        swin = published.AWGN_10DB_BY_CBR["SwinJSCC"]["1/48"]
        print(f"\npublished: SwinJSCC {swin} dB at 10 dB, CBR 1/48; Deep JSCC ≈27.4 dB at CBR 0.021 (not measured here)")
        plot_psnr_vs_snr(rows, out / "cbr48.png", "Kodak, AWGN, CBR 1/48",
                         published=[{"scheme": "SwinJSCC", "snr_db": 10.0, "psnr": swin}])

    if "rayleigh" in parts:
        channel = {"name": "rayleigh", "block_length": 1, "equalizer": "mmse"}
        entries = [{"name": "jscc", "label": "JSCC per-symbol model", "model": "jscc-rayleigh-symbol-cbr1-16"},
                   {"name": "jscc", "label": "JSCC block-fading model", "model": "jscc-rayleigh-cbr1-16"}]
        rows = evaluate(args, "rayleigh", list(anchors), entries, channel)
        summary["rayleigh"] = rows
        print("\n" + table(rows, "Kodak, per-symbol Rayleigh fading (perfect CSI, MMSE), CBR 1/16"))
        plot_psnr_vs_snr(rows, out / "rayleigh.png", "Kodak, per-symbol Rayleigh, CBR 1/16",
                         published=published.published_rows(published.RAYLEIGH_SYMBOL_CBR_1_16))

    (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=1))
    print(f"\nsummary: {out / 'summary.json'}  (published figures: {published.SOURCE})", file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
