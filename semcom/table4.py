"""The white paper's Table 4, measured: traditional vs semantic vs generative communication on one link.

Rows (one per scheme and SNR):

* ``traditional``: ``separation`` (image codec, default HEIF, + 5G LDPC / QAM at the CBR's budget);
* ``semantic``:    ``jscc`` (the shipped deep JSCC checkpoint, analog symbols: no digital bits; the
  bits its channel uses would carry at capacity are reported, labelled as such);
* ``generative``:  ``gai`` (caption -> prompt -> text codec -> polar-coded link -> generator);
* ``bound``:       the separation bound (best codec at capacity), the limit the others are held against.

:func:`table4_config` turns the command's options into an experiment config, :func:`run_table4` runs it
with :func:`semcom.runner.run_experiment` (resumable, one JSON line per item) and writes the report:
``table.md``, ``table.csv``, ``table.json`` and the plots ``psnr_vs_bits.png`` and ``psnr_vs_snr.png``.
The paper's three published rows are printed next to ours, always labelled as published.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from semcom.errors import ConfigError
from semcom.files import atomic_path, exclusive, jsonable, output_folder, write_text
from semcom.provenance import provenance
from semcom.runner import DEFAULT_CAPTIONS, RunResult, load_plugins, run_experiment, scheme_parameters, validate_config
from semcom.schemes import SCHEMES

PUBLISHED_LABEL = "published (white paper Table 4, 300 images 1024x1024)"
PUBLISHED_IMAGES = 300
#: The white paper's Table 4 (AWGN, SNR 0 dB): published figures, not results of this project.
PUBLISHED = (
    {"scheme": "traditional", "description": "traditional communication integrated with generative AI",
     "bits_total": 1.28e5, "psnr": 28.05},
    {"scheme": "semantic", "description": "semantic communication (deep-learning image semantic coding)",
     "bits_total": 5.99e4, "psnr": 28.25},
    {"scheme": "generative", "description": "generative-AI-driven semantic communication",
     "bits_total": 3.03e4, "psnr": 28.64},
)

#: Table 4 row -> scheme; ``--schemes`` takes either name (a scheme name means its first row).
SCHEME_ROWS = {"traditional": "separation", "semantic": "jscc", "generative": "gai", "generative+side": "gai",
               "bound": "bound"}
_ALIASES = {**{v: k for k, v in reversed(SCHEME_ROWS.items())}, **{k: k for k in SCHEME_ROWS}}
#: The generative+side row: a 100-bit prompt and an AVIF thumbnail at 1/8 of the image size within 1,900
#: bits, so at most 2,000 bits per image in all.
SIDE_ROW = {"prompt_bits": 100, "side_info": "thumbnail", "side_codec": "avif", "thumb_scale": 8, "side_bits": 1900}


def parse_schemes(text: str | list[str] | None) -> list[tuple[str, str]]:
    """'traditional,gai,my-scheme' -> [(row label, scheme name), ...]: Table 4 rows in Table 4 order (by row or
    scheme name), then any other registered scheme (a plugin's) under its own name."""
    if text is None:
        return list(SCHEME_ROWS.items())
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    if not parts:
        raise ConfigError("--schemes is empty")
    rows, others = [], []
    for part in parts:
        if part in _ALIASES:
            rows.append(_ALIASES[part])
        elif part in SCHEMES:
            others.append(part)
        else:
            raise ConfigError(f"unknown Table 4 scheme {part!r}; known: {', '.join(SCHEME_ROWS)} "
                              f"(or {', '.join(SCHEME_ROWS.values())}), or a registered scheme: "
                              f"{', '.join(SCHEMES.names())}")
    return [(r, SCHEME_ROWS[r]) for r in SCHEME_ROWS if r in rows] + [(o, o) for o in dict.fromkeys(others)]


def table4_config(snr_db=(0.0,), channel: str = "awgn", cbr: float = 1 / 16, images: str | None = None,
                  limit: int | None = None, crop: int | None = None, schemes=None, seed: int = 0,
                  captions: str | None = None, captioner: str | None = None, generator: str | None = None,
                  generator_model: str | None = None, codec: str = "heif", jscc_model: str = "jscc-awgn-cbr1-16",
                  plugins=(), device: str | None = None, dtype: str | None = None) -> dict:
    """The resolved experiment config of a Table 4 run."""
    load_plugins(list(plugins))  # they may register the schemes named in ``schemes``
    entries = []
    for row, name in parse_schemes(schemes):
        entry: dict[str, Any] = {"name": name, "label": row}
        if name == "separation":
            entry.update(codec=codec, cbr=cbr)
        elif name == "jscc":
            entry.update(model=jscc_model, cbr=cbr)
        elif name == "bound":
            entry.update(cbr=cbr)
        elif name == "gai":
            if row == "generative+side":
                entry.update(SIDE_ROW)
            if captions is None and captioner in (None, "reference"):
                if images is None:
                    captions = str(DEFAULT_CAPTIONS)  # hand-written captions of the embedded photographs
                elif (Path(images) / "captions.json").is_file():
                    captions = str(Path(images) / "captions.json")  # a folder's own reference captions
            if captions is not None:
                entry["captions"] = str(Path(captions).expanduser().resolve())
            if captioner is not None:
                entry["captioner"] = captioner
            if generator is not None:
                entry["generator"] = generator
            if generator_model is not None:
                entry["generator_model"] = generator_model
            entry.update({k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None})
        elif "cbr" in scheme_parameters(SCHEMES.get(name)):
            entry.update(cbr=cbr)  # another registered scheme gets the shared CBR when it takes one
        entries.append(entry)
    raw = {"name": "table4", "seed": seed, "snr_db": list(snr_db), "channel": {"name": channel},
           "images": {"folder": str(Path(images).expanduser().resolve()) if images else "embedded",
                      **({"limit": limit} if limit is not None else {}),
                      **({"crop": crop} if crop is not None else {})},
           "schemes": entries}
    return validate_config(raw, base=Path.cwd(), plugins=list(plugins), source="table4")


def config_digest(config: dict) -> str:
    return hashlib.sha256(json.dumps(jsonable(config), sort_keys=True).encode()).hexdigest()[:12]


def run_table4(config: dict, out: str | os.PathLike = "results/table4", progress: bool = True,
               option: str = "output folder", **executor) -> dict:
    """Run (or resume) a Table 4 config; the item results live in ``out/runs/<config digest>``, the report
    in ``out``. Returns the report (what ``table.json`` holds) with the Markdown table under ``"markdown"``.
    ``executor``: ``executor``, ``workers``, ``address`` of :func:`semcom.runner.run_experiment`.

    ``out`` is locked for the run: a second Table 4 run into it is refused at once (ConfigError naming
    ``option``)."""
    out = output_folder(out, option)
    with exclusive(out, option):
        start = time.perf_counter()
        result = run_experiment(config, out / "runs" / config_digest(config), progress=progress, **executor)
        seconds = time.perf_counter() - start
        return write_report(result, config, out, seconds)


# ------------------------------------------------------------------------------------------ report


def _fmt(value, spec: str = ".2f", missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return format(value, spec)


def _wall(row: dict) -> float:
    return float(row.get("item_seconds") or 0.0) + float(row.get("build_seconds") or 0.0)


def table_rows(summary: list[dict]) -> list[dict]:
    """The report's rows: ours, then the published ones (labelled), as flat dicts (also the CSV)."""
    rows = []
    for s in summary:
        analog = s.get("capacity_bits_total") is not None  # analog symbols: bits only at capacity
        rows.append({
            "source": "measured (this run)", "scheme": s["scheme"], "scheme_name": s["scheme_name"],
            "snr_db": s["snr_db"], "images": s["images"],
            "downlink_bits": None if analog else s["bits_total"],
            "bits_per_image": None if analog else s["bits_per_image"],
            "capacity_bits_analog": s.get("capacity_bits_total") if analog else None,
            "channel_uses": s["channel_uses_total"], "channel_uses_per_image": s["channel_uses_per_image"],
            "psnr": s["psnr"], "ssim": s["ssim"], "ms_ssim": s["ms_ssim"],
            "prompt_bits_per_image": s.get("prompt_bits"), "side_bits_per_image": s.get("side_info_bits"),
            "semantic_similarity": s.get("caption_similarity", s.get("semantic_similarity")),
            "prompt_exact": s.get("prompt_exact"), "failures": s["failures"],
            "model": s["model"], "build_seconds": s.get("build_seconds"), "item_seconds": s.get("item_seconds"),
        })
    for p in PUBLISHED:
        rows.append({"source": PUBLISHED_LABEL, "scheme": p["scheme"], "scheme_name": p["description"],
                     "snr_db": 0.0, "images": PUBLISHED_IMAGES, "downlink_bits": p["bits_total"],
                     "bits_per_image": p["bits_total"] / PUBLISHED_IMAGES, "capacity_bits_analog": None,
                     "prompt_bits_per_image": None, "side_bits_per_image": None,
                     "channel_uses": None, "channel_uses_per_image": None, "psnr": p["psnr"], "ssim": None,
                     "ms_ssim": None, "semantic_similarity": None, "prompt_exact": None, "failures": None,
                     "model": "as published",
                     "build_seconds": None, "item_seconds": None})
    return rows


def markdown(rows: list[dict], config: dict, seconds: float | None = None, title: str = "Table 4") -> str:
    images = config["images"]
    where = "embedded scikit-image photographs" if images["folder"] == "embedded" else images["folder"]
    extra = "".join(f", {k} {images[k]}" for k in ("limit", "crop") if images.get(k))
    cbrs = sorted({e["options"].get("cbr") for e in config["schemes"] if e["options"].get("cbr") is not None})
    head = (f"{title} on {where}{extra}; channel {config['channel']['name']}, "
            f"SNR {', '.join(f'{s:g}' for s in config['snr_db'])} dB"
            + (f", CBR {', '.join(f'{c:.5g}' for c in cbrs)}" if cbrs else "") + f", seed {config['seed']}.")
    lines = [head, "",
             "| source | scheme | SNR (dB) | images | downlink bits (set) | bits / image | channel uses / image "
             "| PSNR (dB) | SSIM | MS-SSIM | semantic similarity | failures | model | wall time (s) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        if r["capacity_bits_analog"] is not None:
            bits = f"0 digital (analog); {r['capacity_bits_analog']:.3g} at capacity"
            per = f"{r['capacity_bits_analog'] / r['images']:.3g} at capacity"
        else:
            bits = _fmt(r["downlink_bits"], ".3g")
            per = _fmt(r["bits_per_image"], ".4g")
            if r["side_bits_per_image"] is not None:
                per += f" (prompt {_fmt(r['prompt_bits_per_image'], '.4g')} + side {_fmt(r['side_bits_per_image'], '.4g')})"
        wall = "-" if r["item_seconds"] is None else (
            f"{_wall(r):.1f}" + (f" (load {r['build_seconds']:.1f})" if r["build_seconds"] is not None else ""))
        lines.append(f"| {r['source']} | {r['scheme']} ({r['scheme_name']}) | {r['snr_db']:g} | {r['images']} | "
                     f"{bits} | {per} | {_fmt(r['channel_uses_per_image'], '.4g')} | {_fmt(r['psnr'])} | "
                     f"{_fmt(r['ssim'], '.4f')} | {_fmt(r['ms_ssim'], '.4f')} | "
                     f"{_fmt(r['semantic_similarity'], '.3f')} | {_fmt(r['failures'], 'd')} | {r['model']} | {wall} |")
    lines += ["", "Wall time = this run's model loading (load) + the time spent on each item (items finished by an "
              "earlier, resumed run count with their own time). The JSCC row sends analog symbols: it carries no "
              "digital bits; 'at capacity' is the number of bits its channel uses would carry at the channel's "
              "capacity. Semantic similarity: MiniLM cosine of the received prompt and the whole caption (below 1 when "
              "a bit budget cut the caption, even if every bit arrived). Published rows are the white paper's own "
              "figures, not measured here."]
    if seconds is not None:
        lines.append(f"Total wall time of this run: {seconds:.1f} s.")
    return "\n".join(lines) + "\n"


def write_report(result: RunResult, config: dict, out: str | os.PathLike, seconds: float | None = None) -> dict:
    """Write table.md, table.csv, table.json and the plots into ``out``, each file atomically."""
    out = output_folder(out, "output folder")
    rows = table_rows(result.summary)
    text = markdown(rows, config, seconds)
    write_text(out / "table.md", text)
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "table.csv", table.getvalue())
    report = {"config": config, "seed": config["seed"], "meta": provenance(config["seed"]),
              "results_folder": str(result.out), "rows": rows, "summary": result.summary,
              "published": {"label": PUBLISHED_LABEL, "rows": list(PUBLISHED)},
              "wall_seconds": {r["scheme"]: round(_wall(r), 3) for r in rows if r["item_seconds"] is not None},
              "total_seconds": None if seconds is None else round(seconds, 3),
              "computed_items": result.computed, "resumed_items": result.skipped}
    write_text(out / "table.json", json.dumps(jsonable(report), indent=1) + "\n")
    plot(rows, out)
    report["markdown"] = text
    return report


def plot(rows: list[dict], out: Path) -> list[Path]:
    """psnr_vs_bits.png (bits per image, log scale) and psnr_vs_snr.png, published points hollow."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ours = [r for r in rows if r["source"] != PUBLISHED_LABEL]
    published = [r for r in rows if r["source"] == PUBLISHED_LABEL]
    paths = []
    names = list(dict.fromkeys([*(r["scheme"] for r in ours), *(r["scheme"] for r in published)]))
    colour = {name: f"C{i % 10}" for i, name in enumerate(names)}
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for scheme in dict.fromkeys(r["scheme"] for r in ours):
        pts = [r for r in ours if r["scheme"] == scheme]
        xs = [(r["capacity_bits_analog"] / r["images"]) if r["capacity_bits_analog"] is not None
              else r["bits_per_image"] for r in pts]
        label = scheme + (" (bits at capacity, analog)" if pts[0]["capacity_bits_analog"] is not None else "")
        ax.plot([max(x, 1.0) for x in xs], [r["psnr"] for r in pts], "o-", color=colour[scheme], label=label)
    for r in published:
        ax.plot(r["bits_per_image"], r["psnr"], "s", mfc="none", color=colour[r["scheme"]],
                label=f"{r['scheme']}: published (Table 4)")
    ax.set_xscale("log")
    ax.set_xlabel("downlink bits per image")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("PSNR vs bits (published points: white paper Table 4)", fontsize=9)
    fig.tight_layout()
    paths.append(out / "psnr_vs_bits.png")
    with atomic_path(paths[-1]) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for scheme in dict.fromkeys(r["scheme"] for r in ours):
        pts = sorted((r for r in ours if r["scheme"] == scheme), key=lambda r: r["snr_db"])
        ax.plot([r["snr_db"] for r in pts], [r["psnr"] for r in pts], "o-", color=colour[scheme], label=scheme)
    for r in published:
        ax.plot(r["snr_db"], r["psnr"], "s", mfc="none", color=colour[r["scheme"]],
                label=f"{r['scheme']}: published (Table 4)")
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "psnr_vs_snr.png")
    with atomic_path(paths[-1]) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return paths
