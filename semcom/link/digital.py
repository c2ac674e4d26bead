"""Digital link: bytes -> CRC segments -> 5G LDPC/Polar -> QAM -> channel -> demapper -> decoder -> CRC -> bytes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.fec.polar import Polar5GDecoder, Polar5GEncoder

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
POLAR_CRC_BITS = 11  # Sionna's 5G polar encoder appends CRC11 itself
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
        blocks = np.zeros((len(ranges), block_len), dtype=np.float32)
        for i, (start, stop) in enumerate(ranges):
            blocks[i, : stop - start] = bits[start:stop]

        received, ok, coded, uses, iters = [], [], 0, 0, []
        for first in range(0, len(ranges), _CHUNK_BLOCKS):
            chunk = torch.from_numpy(blocks[first : first + _CHUNK_BLOCKS])
            out_bits, out_ok, chunk_coded, chunk_uses, it = self._send_blocks(chunk, mcs, code, snr_db, generator)
            received.append(out_bits)
            ok.append(out_ok)
            coded += chunk_coded
            uses += chunk_uses
            iters.append(it)
        decoded = torch.cat(received).numpy().astype(np.uint8)
        iterations = np.concatenate(iters)
        block_ok = torch.cat(ok).numpy().astype(bool)
        raw = np.zeros(bits.size, dtype=np.uint8)
        for i, (start, stop) in enumerate(ranges):
            raw[start:stop] = decoded[i, : stop - start]
        out = raw.copy()
        for i, (start, stop) in enumerate(ranges):
            if not block_ok[i]:
                out[start:stop] = 0
        return Transmission(
            bits=out, raw_bits=raw, block_ok=block_ok, block_ranges=ranges, payload_bits=int(bits.size),
            coded_bits=coded, channel_uses=uses, mcs=mcs, code=code, snr_db=float(snr_db),
            below_threshold=below, decoder_iterations=iterations,
        )

    def plan(self, num_bits: int, snr_db: float) -> LinkPlan:
        """What sending ``num_bits`` at ``snr_db`` would cost, without sending anything."""
        check_snr_db(snr_db)
        if num_bits < 1:
            raise InputError("payload is empty: nothing to send")
        mcs, below = self._choose_mcs(float(snr_db))
        code = self.resolve_code(num_bits, mcs)
        ranges = self.segment(num_bits, mcs, code)
        k = ranges[0][1] - ranges[0][0]
        n = self.codeword_length(k + (POLAR_CRC_BITS if code == "polar" else CRC_BITS), mcs, code)
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
        return min(int(POLAR_MAX_CODED_BITS * mcs.code_rate), 1013) - POLAR_CRC_BITS

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

    def _coders(self, code: str, k: int, n: int, bps: int) -> tuple:
        key = (code, k, n, bps)
        if key not in self._blocks:
            mapper, demapper = SquareQAMMapper(bps), SquareQAMDemapper(bps)
            if code == "polar":
                enc = Polar5GEncoder(k, n, channel_type="uplink")
                dec = Polar5GDecoder(enc, dec_type="SCL", list_size=8, return_crc_status=True)
                crc = None
            else:
                crc = (CRCEncoder(CRC_POLY), CRCDecoder(CRCEncoder(CRC_POLY)))
                if code == "ldpc":
                    enc = CompiledLDPC5GEncoder(k + CRC_BITS, n, num_bits_per_symbol=bps)
                    dec = EarlyStoppingLDPC5GDecoder(enc, num_iter=self.num_iter)
                else:
                    enc = dec = None
            self._blocks[key] = (crc, enc, dec, mapper, demapper)
        return self._blocks[key]

    def _send_blocks(self, blocks: torch.Tensor, mcs: MCS, code: str, snr_db: float, generator):
        """blocks: [num_blocks, k] float 0/1 -> (decoded [num_blocks, k], ok [num_blocks], coded, uses,
        iterations [num_blocks])."""
        k = blocks.shape[1]
        info = k + (POLAR_CRC_BITS if code == "polar" else CRC_BITS)
        n = self.codeword_length(info, mcs, code)
        crc, enc, dec, mapper, demapper = self._coders(code, k, n, mcs.bits_per_symbol)
        if code == "polar":
            codewords = enc(blocks)
        else:
            with_crc = crc[0](blocks)
            codewords = enc(with_crc) if enc is not None else with_crc
            if codewords.shape[1] < n:  # uncoded: pad to whole symbols
                codewords = torch.nn.functional.pad(codewords, (0, n - codewords.shape[1]))
        symbols = mapper(codewords)
        received = self.channel(symbols, snr_db, generator=generator)
        y, no = received.unbiased()
        llr = demapper(y, no)
        iterations = np.zeros(blocks.shape[0], dtype=np.int64)
        if code == "polar":
            decoded, ok = dec(llr)
            ok = ok.reshape(-1).bool()
        else:
            if code == "ldpc":
                hard = dec(llr)
                iterations = dec.last_iterations.numpy()
            else:
                hard = (llr[:, : info] > 0).float()
            decoded, ok = crc[1](hard)
            ok = ok.reshape(-1).bool()
        return decoded[:, :k], ok, codewords.numel(), received.channel_uses * blocks.shape[0], iterations

