"""Digital link: bytes -> CRC segments -> 5G LDPC/Polar -> scrambling -> QAM -> channel -> demapper ->
descrambling -> decoder -> CRC -> bytes.

Codewords are scrambled with the 5G NR PUSCH/PDSCH Gold sequence (TS 38.211 6.3.1.1, Sionna's
``TB5GScrambler``) before QAM mapping, and the LLRs descrambled by sign, as 5G NR does: without it
a payload of equal bits (all zeros, say) maps every codeword onto one constellation point, whose
energy differs from the average, and fails at SNRs where random-looking payloads pass.

Error detection per code block: LDPC and uncoded blocks carry a CRC24A. Polar blocks carry an outer
CRC16 and, inside the 5G uplink polar code, a CRC11 that the SCL list decoder (list size 8) uses
to pick its path. Choosing among L paths with an r-bit CRC spends log2(L) of its bits, so the
CRC11 alone passes about L * 2**-11 (0.4%) of failed blocks with wrong bits; the 27 CRC bits in
all leave L * 2**-27 = 2**-24, the residual rate of LDPC with CRC24A
(``experiments/undetected_errors.py`` measures them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.fec.polar import Polar5GDecoder, Polar5GEncoder
from sionna.phy.fec.scrambling import TB5GScrambler

from channels import Channel, make_channel
from channels.snr import check_snr_db
from semcom.errors import ConfigError, InputError
from semcom.link.demapping import SquareQAMDemapper, SquareQAMMapper
from semcom.link.ldpc import CompiledLDPC5GEncoder, EarlyStoppingLDPC5GDecoder
from semcom.link.mcs import MCS, MCS_TABLE, get_mcs, select_mcs

CODES = ("ldpc", "polar", "none", "auto")
LDPC_MAX_BLOCK_BITS = 2048  # information bits per LDPC code block, CRC included
POLAR_MAX_CODED_BITS = 1088  # longest 5G polar codeword without segmentation
CRC_POLY, CRC_BITS = "CRC24A", 24  # per-block CRC for LDPC and uncoded blocks
POLAR_LIST_SIZE = 8  # SCL list size of the polar decoder
POLAR_INNER_CRC_BITS = 11  # CRC11 that Sionna's 5G uplink polar encoder appends (list selection)
POLAR_OUTER_CRC_POLY, POLAR_OUTER_CRC_BITS = "CRC16", 16  # checked after list decoding
POLAR_MAX_INFO_BITS = 1013  # longest input of the 5G polar encoder without segmentation
POLAR_MIN_INFO_BITS = 20  # shortest uplink input that gets the CRC11 (shorter gets CRC6)
MAX_PAYLOAD_BITS = 2**26  # 8 MiB per call
_CHUNK_BLOCKS = 256  # code blocks processed per batch


@dataclass
class Transmission:
    """Result of sending one payload over the digital link.

    bits:          [num_bits] uint8, received payload bits; bits of failed blocks are zeroed (erased).
    raw_bits:      [num_bits] uint8, decoder decisions before the CRC verdict (for error-rate
                   measurement only: failed blocks are not to be trusted).
    block_ok:      [num_blocks] bool, CRC verdict per code block.
    block_ranges:  (start, stop) payload bit range of each block.
    payload_bits:  information bits sent (the payload, no CRC/padding).
    coded_bits:    bits on air after channel coding (CRC, padding and parity included).
    channel_uses:  complex channel uses, pilots and other channel overhead included.
    mcs:           modulation and coding scheme used; ``code``: the channel code used.
    below_threshold: link adaptation found no MCS that meets the BLER target at this SNR.
    decoder_iterations: [num_blocks] int, belief-propagation iterations each LDPC block took
                   (0 for polar and uncoded blocks).
    """

    bits: np.ndarray
    raw_bits: np.ndarray
    block_ok: np.ndarray
    block_ranges: list[tuple[int, int]]
    payload_bits: int
    coded_bits: int
    channel_uses: int
    mcs: MCS
    code: str
    snr_db: float
    below_threshold: bool = False
    decoder_iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def ok(self) -> bool:
        return bool(self.block_ok.all())

    @property
    def num_blocks(self) -> int:
        return int(self.block_ok.size)

    @property
    def data(self) -> bytes:
        """Received payload as bytes (failed blocks erased to zero bits; check :attr:`ok`)."""
        return np.packbits(self.bits).tobytes()[: math.ceil(self.payload_bits / 8)]


@dataclass
class BlockBatch:
    """Code blocks sent one payload row each (:meth:`DigitalLink.send_blocks`).

    decoded:      [num_blocks, k] uint8 decoder decisions (not to be trusted where ``ok`` is False).
    ok:           [num_blocks] bool, final CRC verdict per block.
    list_crc_ok:  [num_blocks] bool, polar only: the CRC11 verdict the list decoder chose its path
                  with, before the outer CRC16 check (None for the other codes).
    coded_bits, channel_uses: what the batch cost (all CRC and padding bits are coded bits).
    mcs, code, below_threshold: as in :class:`Transmission`; ``iterations``: [num_blocks] LDPC
                  iterations per block (0 for the other codes).
    """

    decoded: np.ndarray
    ok: np.ndarray
    list_crc_ok: np.ndarray | None
    coded_bits: int
    channel_uses: int
    mcs: MCS
    code: str
    below_threshold: bool = False
    iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(frozen=True)
class LinkPlan:
    """The cost of a payload before it is sent: MCS, code, blocks, coded bits, channel uses."""

    mcs: MCS
    code: str
    num_blocks: int
    coded_bits: int
    channel_uses: int
    below_threshold: bool


def bytes_to_bits(payload: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(payload, dtype=np.uint8))


class DigitalLink:
    """Sends bits or bytes over a channel with 5G channel coding and QAM.

    channel:  a :class:`channels.Channel` or a registered name (``awgn``, ``rayleigh``, ``tdl``).
    mcs:      fixed :class:`MCS` (or table index); None adapts to the SNR with the stored BLER tables.
    code:     ``ldpc``, ``polar`` (short payloads), ``none`` (uncoded, CRC kept), or ``auto``
              (polar when the payload fits one polar block, else LDPC).
    num_iter: maximum LDPC belief-propagation iterations (early stopping ends most sooner).
    snr_margin_db: link adaptation picks the MCS for ``snr_db - snr_margin_db`` (a back-off).

    >>> link = DigitalLink("awgn", mcs=0, seed=1)
    >>> link.transmit(b"hello", snr_db=10.0).data
    b'hello'
    """

    def __init__(
        self,
        channel: Channel | str = "awgn",
        mcs: MCS | int | None = None,
        code: str = "auto",
        target_bler: float = 0.1,
        num_iter: int = 20,
        snr_margin_db: float = 0.0,
        seed: int | None = None,
        **channel_options,
    ):
        if code not in CODES:
            raise ConfigError(f"unknown channel code {code!r}; known: {', '.join(CODES)}")
        if isinstance(channel, str):
            self.channel_name = channel
            channel = make_channel(channel, seed=seed, **channel_options)
        else:
            self.channel_name = channel.name
        self.channel = channel
        if isinstance(mcs, int):
            mcs = get_mcs(mcs)
        self.mcs = mcs
        self.code = code
        self.target_bler = target_bler
        self.num_iter = num_iter
        self.snr_margin_db = snr_margin_db
        self._blocks: dict[tuple, tuple] = {}

    # ----------------------------------------------------------------------------------- public
    def transmit(self, payload: bytes, snr_db: float, generator: torch.Generator | None = None) -> Transmission:
        """Send ``payload`` bytes at Es/N0 = ``snr_db``; see :class:`Transmission`."""
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise InputError(f"payload must be bytes, got {type(payload).__name__}")
        return self.transmit_bits(bytes_to_bits(bytes(payload)), snr_db, generator)

    def transmit_bits(
        self, bits: np.ndarray | torch.Tensor, snr_db: float, generator: torch.Generator | None = None
    ) -> Transmission:
        """Send a [num_bits] array of 0/1 values at Es/N0 = ``snr_db``."""
        bits = self._check_bits(bits)
        check_snr_db(snr_db)
        mcs, below = self._choose_mcs(float(snr_db))
        code = self.resolve_code(bits.size, mcs)
        ranges = self.segment(bits.size, mcs, code)
        block_len = ranges[0][1] - ranges[0][0]
        blocks = np.zeros((len(ranges), block_len), dtype=np.uint8)
        for i, (start, stop) in enumerate(ranges):
            blocks[i, : stop - start] = bits[start:stop]
        batch = self._send_batch(blocks, mcs, code, float(snr_db), generator, below)
        raw = np.zeros(bits.size, dtype=np.uint8)
        for i, (start, stop) in enumerate(ranges):
            raw[start:stop] = batch.decoded[i, : stop - start]
        out = raw.copy()
        for i, (start, stop) in enumerate(ranges):
            if not batch.ok[i]:
                out[start:stop] = 0
        return Transmission(
            bits=out, raw_bits=raw, block_ok=batch.ok, block_ranges=ranges, payload_bits=int(bits.size),
            coded_bits=batch.coded_bits, channel_uses=batch.channel_uses, mcs=mcs, code=code, snr_db=float(snr_db),
            below_threshold=below, decoder_iterations=batch.iterations,
        )

    def send_blocks(
        self, blocks: np.ndarray | torch.Tensor, snr_db: float, generator: torch.Generator | None = None
    ) -> BlockBatch:
        """Send each row of a [num_blocks, k] 0/1 array as its own code block (for error-rate studies).

        The MCS and the code are chosen as for a k-bit payload; k must fit in one block.
        """
        blocks = self._check_blocks(blocks)
        check_snr_db(snr_db)
        mcs, below = self._choose_mcs(float(snr_db))
        k = blocks.shape[1]
        code = self.resolve_code(k, mcs)
        if len(self.segment(k, mcs, code)) != 1:
            raise InputError(f"{k} bits do not fit in one {code} block at {mcs}")
        return self._send_batch(blocks, mcs, code, float(snr_db), generator, below)

    def plan(self, num_bits: int, snr_db: float) -> LinkPlan:
        """What sending ``num_bits`` at ``snr_db`` would cost, without sending anything."""
        check_snr_db(snr_db)
        if num_bits < 1:
            raise InputError("payload is empty: nothing to send")
        mcs, below = self._choose_mcs(float(snr_db))
        code = self.resolve_code(num_bits, mcs)
        ranges = self.segment(num_bits, mcs, code)
        k = ranges[0][1] - ranges[0][0]
        n = self.codeword_length(self.block_info_bits(k, code), mcs, code)
        uses = self.channel.channel_uses(n // mcs.bits_per_symbol) * len(ranges)
        return LinkPlan(mcs, code, len(ranges), n * len(ranges), uses, below)

    def max_payload_bits(self, channel_uses: int, snr_db: float) -> int:
        """Payload bits that fit in ``channel_uses`` at ``snr_db`` (0 if none), by bisection on :meth:`plan`."""
        mcs, _ = self._choose_mcs(float(snr_db))
        low, high = 0, max(1, int(channel_uses * mcs.spectral_efficiency) + 1)
        while low < high:  # cost grows with payload size: largest size that fits
            mid = (low + high + 1) // 2
            if self.plan(mid, snr_db).channel_uses <= channel_uses:
                low = mid
            else:
                high = mid - 1
        return low

    def resolve_code(self, num_bits: int, mcs: MCS) -> str:
        """The code used for a payload of ``num_bits`` (resolves ``auto``)."""
        if self.code != "auto":
            return self.code
        return "polar" if num_bits <= self._polar_max_payload(mcs) else "ldpc"

    def segment(self, num_bits: int, mcs: MCS, code: str) -> list[tuple[int, int]]:
        """Split ``num_bits`` payload bits into equal code blocks: (start, stop) per block."""
        if code == "polar":
            max_payload = self._polar_max_payload(mcs)
            if max_payload < 1:
                raise ConfigError(f"{mcs} cannot carry a polar block within {POLAR_MAX_CODED_BITS} coded bits")
        else:
            max_payload = LDPC_MAX_BLOCK_BITS - CRC_BITS
        num_blocks = math.ceil(num_bits / max_payload)
        per_block = math.ceil(num_bits / num_blocks)
        return [(i * per_block, min((i + 1) * per_block, num_bits)) for i in range(num_blocks)]

    @staticmethod
    def block_info_bits(k: int, code: str) -> int:
        """Bits a block of ``k`` payload bits feeds the channel code: its CRCs (and, for a polar
        block shorter than the encoder's minimum, zero padding) included; all of them are sent."""
        if code == "polar":
            return max(k + POLAR_OUTER_CRC_BITS, POLAR_MIN_INFO_BITS) + POLAR_INNER_CRC_BITS
        return k + CRC_BITS

    def codeword_length(self, info_bits: int, mcs: MCS, code: str) -> int:
        """Coded bits per block for ``info_bits`` (CRC included), a multiple of the bits per symbol."""
        if code == "none":
            n = info_bits
        else:
            n = math.ceil(info_bits / mcs.code_rate)
        return mcs.bits_per_symbol * math.ceil(n / mcs.bits_per_symbol)

    # ---------------------------------------------------------------------------------- helpers
    def _choose_mcs(self, snr_db: float) -> tuple[MCS, bool]:
        if self.mcs is not None:
            return self.mcs, False
        chosen = select_mcs(snr_db - self.snr_margin_db, self.channel_name, self.target_bler)
        return (MCS_TABLE[0], True) if chosen is None else (chosen, False)

    @staticmethod
    def _polar_max_payload(mcs: MCS) -> int:
        """Largest payload of one polar block: its codeword, rounded up to whole symbols, fits the limit."""
        n_max = mcs.bits_per_symbol * (POLAR_MAX_CODED_BITS // mcs.bits_per_symbol)
        fits = math.floor(n_max * mcs.code_rate) - POLAR_INNER_CRC_BITS
        return min(fits, POLAR_MAX_INFO_BITS) - POLAR_OUTER_CRC_BITS

    @staticmethod
    def _check_bits(bits: np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(bits, torch.Tensor):
            bits = bits.detach().cpu().numpy()
        if not isinstance(bits, np.ndarray):
            raise InputError(f"bits must be a numpy array or tensor of 0/1, got {type(bits).__name__}")
        if bits.ndim != 1:
            raise InputError(f"bits must be one-dimensional [num_bits], got shape {bits.shape}")
        if bits.size == 0:
            raise InputError("payload is empty: nothing to send")
        if bits.size > MAX_PAYLOAD_BITS:
            raise InputError(f"payload of {bits.size} bits exceeds the maximum of {MAX_PAYLOAD_BITS} bits per call")
        if not np.isin(bits, (0, 1)).all():
            raise InputError("bits must contain only 0 and 1")
        return bits.astype(np.uint8)

    @staticmethod
    def _check_blocks(blocks: np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(blocks, torch.Tensor):
            blocks = blocks.detach().cpu().numpy()
        if not isinstance(blocks, np.ndarray) or blocks.ndim != 2 or 0 in blocks.shape:
            raise InputError("blocks must be a non-empty [num_blocks, k] array of 0/1")
        if not np.isin(blocks, (0, 1)).all():
            raise InputError("blocks must contain only 0 and 1")
        return blocks.astype(np.uint8)

    def _coders(self, code: str, k: int, n: int, bps: int) -> tuple:
        key = (code, k, n, bps)
        if key not in self._blocks:
            mapper, demapper = SquareQAMMapper(bps), SquareQAMDemapper(bps)
            if code == "polar":
                crc = (CRCEncoder(POLAR_OUTER_CRC_POLY), CRCDecoder(CRCEncoder(POLAR_OUTER_CRC_POLY)))
                enc = Polar5GEncoder(self.block_info_bits(k, code) - POLAR_INNER_CRC_BITS, n, channel_type="uplink")
                dec = Polar5GDecoder(enc, dec_type="SCL", list_size=POLAR_LIST_SIZE, return_crc_status=True)
            else:
                crc = (CRCEncoder(CRC_POLY), CRCDecoder(CRCEncoder(CRC_POLY)))
                if code == "ldpc":
                    enc = CompiledLDPC5GEncoder(k + CRC_BITS, n, num_bits_per_symbol=bps)
                    dec = EarlyStoppingLDPC5GDecoder(enc, num_iter=self.num_iter)
                else:
                    enc = dec = None
            sequence = TB5GScrambler(n_rnti=1, n_id=1, binary=True, precision="single", device="cpu")(
                torch.zeros(1, n)
            )[0]
            self._blocks[key] = (crc, enc, dec, mapper, demapper, sequence, 1.0 - 2.0 * sequence)
        return self._blocks[key]

    def _send_batch(
        self, blocks: np.ndarray, mcs: MCS, code: str, snr_db: float, generator, below: bool
    ) -> BlockBatch:
        """blocks: [num_blocks, k] uint8, sent in chunks of at most ``_CHUNK_BLOCKS`` code blocks."""
        decoded, ok, list_ok, coded, uses, iters = [], [], [], 0, 0, []
        for first in range(0, blocks.shape[0], _CHUNK_BLOCKS):
            chunk = torch.from_numpy(blocks[first : first + _CHUNK_BLOCKS].astype(np.float32))
            out_bits, out_ok, out_list_ok, chunk_coded, chunk_uses, it = self._send_blocks(
                chunk, mcs, code, snr_db, generator
            )
            decoded.append(out_bits)
            ok.append(out_ok)
            list_ok.append(out_list_ok)
            coded += chunk_coded
            uses += chunk_uses
            iters.append(it)
        return BlockBatch(
            decoded=torch.cat(decoded).numpy().astype(np.uint8),
            ok=torch.cat(ok).numpy().astype(bool),
            list_crc_ok=torch.cat(list_ok).numpy().astype(bool) if code == "polar" else None,
            coded_bits=coded, channel_uses=uses, mcs=mcs, code=code, below_threshold=below,
            iterations=np.concatenate(iters),
        )

    def _send_blocks(self, blocks: torch.Tensor, mcs: MCS, code: str, snr_db: float, generator):
        """blocks: [num_blocks, k] float 0/1 -> (decoded [num_blocks, k], ok [num_blocks],
        list-decoder CRC verdict [num_blocks] (polar) or None, coded bits, channel uses,
        LDPC iterations [num_blocks] (0 for the other codes))."""
        k = blocks.shape[1]
        info = self.block_info_bits(k, code)
        n = self.codeword_length(info, mcs, code)
        crc, enc, dec, mapper, demapper, scrambling, llr_signs = self._coders(code, k, n, mcs.bits_per_symbol)
        if code == "polar":
            padded = torch.nn.functional.pad(blocks, (0, enc.k - POLAR_OUTER_CRC_BITS - k))
            codewords = enc(crc[0](padded))
        else:
            with_crc = crc[0](blocks)
            codewords = enc(with_crc) if enc is not None else with_crc
            if codewords.shape[1] < n:  # uncoded: pad to whole symbols
                codewords = torch.nn.functional.pad(codewords, (0, n - codewords.shape[1]))
        symbols = mapper((codewords - scrambling).abs())  # XOR with the scrambling sequence
        received = self.channel(symbols, snr_db, generator=generator)
        y, no = received.unbiased()
        llr = demapper(y, no) * llr_signs  # descrambled: a scrambled 1 flips its bit's LLR
        iterations, list_ok = np.zeros(blocks.shape[0], dtype=np.int64), None
        if code == "polar":
            with_crc, list_ok = dec(llr)
            list_ok = list_ok.reshape(-1).bool()
            decoded, ok = crc[1](with_crc)
            ok = ok.reshape(-1).bool() & list_ok
        else:
            if code == "ldpc":
                hard = dec(llr)
                iterations = dec.last_iterations.numpy()
            else:
                hard = (llr[:, : info] > 0).float()
            decoded, ok = crc[1](hard)
            ok = ok.reshape(-1).bool()
        return decoded[:, :k], ok, list_ok, codewords.numel(), received.channel_uses * blocks.shape[0], iterations
