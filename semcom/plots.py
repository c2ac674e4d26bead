"""Figures of a run's results: PSNR against SNR and against bits, and reconstructions side by side.

Rows are summary rows (:func:`semcom.runner.summarise`) or Table 4 rows (:func:`semcom.table4.table_rows`):
``scheme``, ``snr_db``, ``psnr`` and, when known, ``psnr_ci95`` (drawn as error bars), ``fallback`` (the row
used a stand-in for missing weights: said in the legend) and the bits of an image. Published figures are
drawn hollow and labelled with where they come from. Every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from semcom.files import atomic_path

#: legend note of a row whose reconstructions come from a stand-in for missing weights
FALLBACK_NOTE = "fallback reconstruction, not the real model"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    _pyplot().close(fig)
    return path


def scheme_label(scheme: str, rows: Sequence[dict]) -> str:
    """A scheme's legend entry: its name, and a note when its rows used a fallback."""
    return f"{scheme} ({FALLBACK_NOTE})" if any(r.get("fallback") for r in rows) else scheme


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(names))}


def plot_psnr_vs_snr(rows: Sequence[dict], path: str | Path, title: str = "",
                     published: Sequence[dict] = (), published_label: str = "published") -> Path:
    """PSNR (mean, with its 95 % confidence interval) against SNR, one line per scheme; ``published`` rows are
    hollow squares (joined by a dashed line when a scheme has several) labelled ``<scheme>: <published_label>``."""
    plt = _pyplot()
    colour = _colours([*(r["scheme"] for r in rows), *(r["scheme"] for r in published)])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for scheme in dict.fromkeys(r["scheme"] for r in rows):
        pts = sorted((r for r in rows if r["scheme"] == scheme), key=lambda r: r["snr_db"])
        errors = [r.get("psnr_ci95") or 0.0 for r in pts]
        ax.errorbar([r["snr_db"] for r in pts], [r["psnr"] for r in pts], yerr=errors, fmt="o-", capsize=3,
                    color=colour[scheme], label=scheme_label(scheme, pts))
    for scheme in dict.fromkeys(r["scheme"] for r in published):
        pts = sorted((r for r in published if r["scheme"] == scheme), key=lambda r: r["snr_db"])
        ax.plot([r["snr_db"] for r in pts], [r["psnr"] for r in pts], "s--", mfc="none", lw=0.8,
                color=colour[scheme], label=f"{scheme}: {published_label}")
    ax.set_xlabel("SNR, Es/N0 (dB)")
    ax.set_ylabel("PSNR (dB), mean and 95 % CI")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_psnr_vs_bits(rows: Sequence[dict], path: str | Path, title: str = "",
                      published: Sequence[dict] = (), published_label: str = "published") -> Path:
    """PSNR against bits per image (log scale), one line per scheme. A row with ``capacity_bits_analog`` (analog
    symbols) is placed at the bits its channel uses carry at capacity, and its legend says so."""
    plt = _pyplot()
    colour = _colours([*(r["scheme"] for r in rows), *(r["scheme"] for r in published)])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for scheme in dict.fromkeys(r["scheme"] for r in rows):
        pts = [r for r in rows if r["scheme"] == scheme]
        analog = pts[0].get("capacity_bits_analog") is not None
        xs = [r["capacity_bits_analog"] / r["images"] if analog else r["bits_per_image"] for r in pts]
        label = scheme_label(scheme, pts) + (" (bits at capacity, analog)" if analog else "")
        errors = [r.get("psnr_ci95") or 0.0 for r in pts]
        ax.errorbar([max(x, 1.0) for x in xs], [r["psnr"] for r in pts], yerr=errors, fmt="o-", capsize=3,
                    color=colour[scheme], label=label)
    for r in published:
        ax.plot(r["bits_per_image"], r["psnr"], "s", mfc="none", color=colour[r["scheme"]],
                label=f"{r['scheme']}: {published_label}")
    ax.set_xscale("log")
    ax.set_xlabel("downlink bits per image")
    ax.set_ylabel("PSNR (dB), mean and 95 % CI")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_side_by_side(originals: Sequence[tuple[str, np.ndarray]], columns: Sequence[tuple[str, dict]],
                      path: str | Path, title: str = "") -> Path:
    """One row per image: the original, then each scheme's reconstruction of it.

    originals: (image name, [H, W, 3] uint8) pairs; columns: (column title, {image name: [H, W, 3] uint8});
    a missing reconstruction leaves its cell empty.
    """
    plt = _pyplot()
    rows, cols = len(originals), 1 + len(columns)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows + (0.4 if title else 0)), squeeze=False)
    for i, (name, image) in enumerate(originals):
        cells = [("original", image)] + [(heading, images.get(name)) for heading, images in columns]
        for j, (heading, picture) in enumerate(cells):
            ax = axes[i][j]
            ax.axis("off")
            if picture is not None:
                ax.imshow(picture)
            if i == 0:
                ax.set_title(heading, fontsize=8)
        axes[i][0].text(-0.05, 0.5, name, rotation=90, transform=axes[i][0].transAxes, ha="right", va="center",
                        fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_ber(curves: dict[str, Sequence], path: str | Path, title: str = "") -> Path:
    """Bit error rate against SNR (log scale), one line per ``label -> [BerPoint, ...]``
    (:func:`semcom.link.ber.simulate_ber`), with the closed form dashed where one exists. A point with no
    error is drawn at its bound 1/N, as a hollow marker."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for i, (label, points) in enumerate(curves.items()):
        colour = f"C{i % 10}"
        snrs = [p.snr_db for p in points]
        ax.semilogy(snrs, [p.ber if p.bit_errors else 1.0 / p.bits for p in points], "-", color=colour,
                    label=label)
        for p in points:
            ax.semilogy(p.snr_db, p.ber if p.bit_errors else 1.0 / p.bits, "o", color=colour,
                        mfc=colour if p.bit_errors else "none")
        if all(p.ber_theory is not None for p in points):
            ax.semilogy(snrs, [p.ber_theory for p in points], "--", color=colour, alpha=0.7,
                        label=f"{label}, closed form")
    ax.set_xlabel("SNR, Es/N0 (dB)")
    ax.set_ylabel("bit error rate (hollow: no error, at 1/N)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(path))
