"""Modulation-and-coding schemes and link adaptation from simulated BLER tables.

The table follows the shape of 3GPP TS 38.214 Table 5.1.3.1-2 (QPSK up to 256-QAM), restricted
to code rates the 5G LDPC code supports without repetition (R >= 1/5).
BLER tables live in ``semcom/data/bler_<channel>.json``; ``semcom link bler-table`` simulates new
ones with the digital link itself, and a folder named by ``$SEMCOM_BLER_TABLES`` that holds
``bler_<channel>.json`` takes precedence over the shipped table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from semcom.errors import ConfigError

#: environment variable naming a folder of BLER tables read before the shipped ones.
BLER_TABLES_ENV = "SEMCOM_BLER_TABLES"
SHIPPED_TABLES = Path(__file__).resolve().parent.parent / "data"

MODULATIONS: dict[str, int] = {"qpsk": 2, "16qam": 4, "64qam": 6, "256qam": 8}


@dataclass(frozen=True)
class MCS:
    """One modulation-and-coding scheme: ``bits_per_symbol`` coded bits per QAM symbol at ``code_rate``."""

    index: int
    modulation: str
    code_rate: float

    @property
    def bits_per_symbol(self) -> int:
        return MODULATIONS[self.modulation]

    @property
    def spectral_efficiency(self) -> float:
        """Information bits per complex channel use."""
        return self.bits_per_symbol * self.code_rate

    def __str__(self) -> str:
        return f"MCS{self.index} ({self.modulation}, R={self.code_rate:.3f})"


_RATES_X1024 = [
    ("qpsk", 205), ("qpsk", 308), ("qpsk", 449), ("qpsk", 602),
    ("16qam", 378), ("16qam", 490), ("16qam", 616),
    ("64qam", 466), ("64qam", 567), ("64qam", 666), ("64qam", 772), ("64qam", 873),
    ("256qam", 711), ("256qam", 797), ("256qam", 885), ("256qam", 948),
]
MCS_TABLE: tuple[MCS, ...] = tuple(MCS(i, mod, r / 1024) for i, (mod, r) in enumerate(_RATES_X1024))


def modulation_bits(modulation: str) -> int:
    """Bits per symbol of a modulation name; ConfigError for unknown names."""
    try:
        return MODULATIONS[modulation]
    except KeyError:
        raise ConfigError(f"unknown modulation {modulation!r}; known: {', '.join(MODULATIONS)}") from None


def get_mcs(index: int) -> MCS:
    if not isinstance(index, int) or not 0 <= index < len(MCS_TABLE):
        raise ConfigError(f"MCS index must be an integer in 0..{len(MCS_TABLE) - 1}, got {index!r}")
    return MCS_TABLE[index]


@dataclass(frozen=True)
class BlerTable:
    """Simulated BLER per MCS on one channel: ``bler[i]`` at ``snr_db`` for MCS index i."""

    channel: str
    snr_db: np.ndarray  # [num_snr]
    bler: np.ndarray  # [num_mcs, num_snr]
    meta: dict

    def bler_at(self, mcs: MCS, snr_db: float) -> float:
        """BLER of ``mcs`` at ``snr_db``, interpolated in log domain; clamps outside the grid."""
        curve = np.clip(self.bler[mcs.index], 1e-6, 1.0)
        return float(np.exp(np.interp(snr_db, self.snr_db, np.log(curve))))

    def threshold_db(self, mcs: MCS, target: float = 0.1) -> float:
        """Lowest SNR on the grid at which the BLER of ``mcs`` is at or below ``target`` (inf if none)."""
        ok = np.flatnonzero(self.bler[mcs.index] <= target)
        return float(self.snr_db[ok[0]]) if ok.size else float("inf")


def bler_table_path(channel: str) -> Path:
    """Where the BLER table of ``channel`` is read: ``$SEMCOM_BLER_TABLES/bler_<channel>.json`` if that
    file exists, else the shipped ``semcom/data/bler_<channel>.json``."""
    name = f"bler_{channel}.json"
    folder = os.environ.get(BLER_TABLES_ENV)
    if folder and (Path(folder).expanduser() / name).is_file():
        return Path(folder).expanduser() / name
    return SHIPPED_TABLES / name


def load_bler_table(channel: str) -> BlerTable:
    """The BLER table of a channel (``awgn``, ``rayleigh``, ``tdl``); see :func:`bler_table_path`."""
    path = bler_table_path(channel)
    if not path.is_file():
        raise ConfigError(
            f"no BLER table for channel {channel!r} at {path}; simulate one with "
            f"`semcom link bler-table --channel {channel} --out {path}`"
        )
    return read_bler_table(path, channel)


@lru_cache(maxsize=None)
def read_bler_table(path: Path, channel: str) -> BlerTable:
    """The BLER table in the JSON file ``path``; ConfigError naming the file if it is empty or malformed.

    A table has an increasing, finite ``snr_db`` grid of at least two points and one ``bler`` row of
    values in [0, 1] per MCS of :data:`MCS_TABLE`.
    """
    def bad(what: str) -> ConfigError:
        return ConfigError(f"BLER table {path} is unusable: {what}; simulate it again with "
                           f"`semcom link bler-table --channel {channel} --out {path}`")

    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise bad(f"not a readable JSON file ({err})") from None
    if not isinstance(raw, dict) or "snr_db" not in raw or "bler" not in raw:
        raise bad("it needs the keys 'snr_db' and 'bler'")
    try:
        snr = np.asarray(raw["snr_db"], dtype=float)
        bler = np.asarray(raw["bler"], dtype=float)
    except (TypeError, ValueError):
        raise bad("snr_db and bler must hold numbers") from None
    if snr.ndim != 1 or snr.size < 2 or not np.isfinite(snr).all() or not (np.diff(snr) > 0).all():
        raise bad(f"snr_db must be an increasing list of at least 2 finite values, got {snr.size} values")
    if bler.shape != (len(MCS_TABLE), snr.size):
        raise bad(f"bler must have one row per MCS ({len(MCS_TABLE)}) and one column per SNR ({snr.size}), "
                  f"got shape {list(bler.shape)}")
    if not (np.isfinite(bler).all() and (bler >= 0).all() and (bler <= 1).all()):
        raise bad("bler values must lie in [0, 1]")
    meta = raw.get("meta", {})
    return BlerTable(channel, snr, bler, meta if isinstance(meta, dict) else {})


def select_mcs(snr_db: float, channel: str = "awgn", target_bler: float = 0.1) -> MCS | None:
    """Link adaptation: the highest-rate MCS whose BLER at ``snr_db`` is below ``target_bler``.

    Returns None when no MCS meets the target (the SNR is below the lowest threshold).
    """
    if not 0 < target_bler < 1:
        raise ConfigError(f"target BLER must be in (0, 1), got {target_bler}")
    table = load_bler_table(channel)
    feasible = [m for m in MCS_TABLE if table.bler_at(m, snr_db) <= target_bler]
    return max(feasible, key=lambda m: m.spectral_efficiency) if feasible else None
