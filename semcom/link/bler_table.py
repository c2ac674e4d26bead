"""Simulating the BLER tables that link adaptation reads (``semcom link bler-table``)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import semcom
from semcom.files import write_text
from semcom.link.digital import LDPC_MAX_BLOCK_BITS, CRC_BITS, DigitalLink
from semcom.link.mcs import MCS_TABLE, BlerTable
from semcom.options import BLER_BLOCKS, BLER_STEP_DB, SEED

SNR_GRID_DB = (-6.0, 36.0)


def generate_bler_table(
    channel: str, blocks: int = 200, step_db: float = 0.5, seed: int = 0, progress: bool = False
) -> BlerTable:
    """BLER of every MCS on ``channel`` over an SNR grid, with full-size LDPC code blocks.

    Each MCS is simulated from 1 dB below its Shannon limit upward until ``blocks`` blocks pass
    without error; below that start the BLER is recorded as 1 and above the stop as 0. A point
    is first probed with ``blocks // 10`` blocks and recorded as 1 if every one of them fails.
    """
    BLER_BLOCKS.check(blocks, "blocks")
    BLER_STEP_DB.check(step_db, "step_db")
    SEED.check(seed, "seed")
    grid = np.arange(SNR_GRID_DB[0], SNR_GRID_DB[1] + 1e-9, step_db)
    bler = np.ones((len(MCS_TABLE), grid.size))
    payload_bits = LDPC_MAX_BLOCK_BITS - CRC_BITS
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    start_time = time.time()
    bar = tqdm(MCS_TABLE, desc=f"BLER {channel}", disable=not progress, file=sys.stderr)
    for mcs in bar:
        link = DigitalLink(channel, mcs=mcs, code="ldpc", seed=seed)
        shannon_db = 10 * math.log10(2**mcs.spectral_efficiency - 1)
        for j, snr in enumerate(grid):
            if snr < shannon_db - 1.0:
                continue
            probe = max(1, blocks // 10)
            payload = rng.integers(0, 2, probe * payload_bits, dtype=np.uint8)
            failed = ~link.transmit_bits(payload, float(snr), generator=gen).block_ok
            if failed.all():
                continue
            payload = rng.integers(0, 2, (blocks - probe) * payload_bits, dtype=np.uint8)
            failed = np.concatenate([failed, ~link.transmit_bits(payload, float(snr), generator=gen).block_ok])
            bler[mcs.index, j] = float(failed.mean())
            bar.set_postfix(snr=f"{snr:.1f}", bler=f"{bler[mcs.index, j]:.3f}")
            if bler[mcs.index, j] == 0.0:
                bler[mcs.index, j:] = 0.0
                break
    meta = {
        "blocks_per_point": blocks,
        "block_payload_bits": payload_bits,
        "seed": seed,
        "semcom_version": semcom.__version__,
        "seconds": round(time.time() - start_time, 1),
        "command": f"semcom link bler-table --channel {channel} --blocks {blocks} --step-db {step_db} --seed {seed}",
        "mcs": [{"index": m.index, "modulation": m.modulation, "code_rate": m.code_rate} for m in MCS_TABLE],
    }
    return BlerTable(channel, grid, bler, meta)


def write_bler_table(table: BlerTable, path: str | Path) -> Path:
    """Write ``table`` as JSON to ``path`` (atomically: an interrupted write leaves no partial table)."""
    payload = {"channel": table.channel, "snr_db": table.snr_db.round(3).tolist(),
               "bler": table.bler.round(5).tolist(), "meta": table.meta}
    return write_text(path, json.dumps(payload, indent=1) + "\n")
