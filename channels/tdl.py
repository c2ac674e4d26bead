"""OFDM over a 3GPP TR 38.901 tapped-delay-line (TDL) channel, with a pilot-based receiver.

The propagation model and the receiver front end come from Sionna (PyTorch-native,
``sionna.phy``): the TDL power-delay profiles, the frequency-domain OFDM channel, least-squares
channel estimation on Kronecker pilots and LMMSE equalisation. Sionna is imported when the first
:class:`TDLOFDMChannel` is built, so ``import channels`` stays light.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from numbers import Real
from typing import Iterator, Sequence

import torch

from channels.base import Channel, ChannelOutput, complex_noise
from channels.registry import CHANNELS
from semcore.errors import ConfigError

_TDL_MODELS = ("A", "B", "C", "D", "E")
_INTERPOLATIONS = ("nn", "lin", "lin_time_avg")
_DEVICE = "cpu"  # like the other channel models, this one runs on the CPU
_PILOT_SEED = 0x5EED  # fixed: the pilot sequence is known to the receiver, the same for every instance
_SEED_BOUND = 2**62


@contextmanager
def _sionna_seeded(seed: int) -> Iterator[None]:
    """Make Sionna's CPU random generator start from ``seed`` inside the block, then restore it.

    Sionna 2.x blocks draw from ``sionna.phy.config.torch_rng(device)``; only that generator's
    state is touched (Sionna's global seed and torch's default generator are left alone).
    Not safe against another thread drawing from Sionna's generator at the same time.
    """
    from sionna.phy import config

    rng = config.torch_rng(_DEVICE)
    saved = rng.get_state()
    rng.manual_seed(int(seed))
    try:
        yield
    finally:
        rng.set_state(saved)


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@CHANNELS.register("tdl")
class TDLOFDMChannel(Channel):
    """SISO OFDM over a 3GPP TDL channel, with LS channel estimation and LMMSE equalisation.

    Slot layout. The data symbols of each row fill OFDM slots (resource grids) of
    ``num_ofdm_symbols`` OFDM symbols by ``fft_size`` subcarriers. The OFDM symbols listed in
    ``pilot_ofdm_symbol_indices`` carry QPSK pilots on every effective subcarrier (Sionna's
    "kronecker" pattern); ``num_guard_carriers`` (left, right) and the DC subcarrier (if
    ``dc_null``) stay empty; every other resource element carries one data symbol, filled in
    time-frequency order (OFDM symbol by OFDM symbol, subcarrier by subcarrier). The data
    resource elements of the last slot left over are padded with zeros (nothing is sent there;
    they are dropped at the receiver). All slots of all rows are stacked along the batch
    dimension and go through the channel at once; each slot sees its own, independent TDL
    realisation (time-varying within the slot when ``max_speed`` > 0).

    Channel. Sionna's ``tr38901.TDL`` power-delay profile (normalised to unit total power, so
    the average channel gain is 1) is turned into a frequency response per resource element
    (``GenerateOFDMChannel``, no per-realisation normalisation, cyclic prefix assumed long
    enough: no inter-symbol or inter-carrier interference), applied by
    ``ApplyOFDMChannel``; complex Gaussian noise of variance ``no = 10**(-snr_db/10)`` is added
    to every resource element. Pilots and data have unit average energy, so Es/N0 per
    resource element matches the SNR convention of :mod:`channels.snr` and an SNR means the
    same here as on AWGN.

    Receiver. ``LSChannelEstimator`` (interpolation ``"nn"``, ``"lin"`` or ``"lin_time_avg"``)
    estimates the channel on the pilots and interpolates it over the grid; ``LMMSEEqualizer``
    returns unbiased symbol estimates and their effective noise variance (estimation error
    included).

    Channel uses. Every resource element of every slot used (data, pilots, padding, guards,
    DC) plus the cyclic prefix samples::

        channel_uses(n) = ceil(n / D) * num_ofdm_symbols * (fft_size + cyclic_prefix_length)

    where ``D = (num_ofdm_symbols - len(pilot_ofdm_symbol_indices)) * num_effective_subcarriers``
    is the number of data resource elements per slot.

    Seeding. Each call draws one integer from the call's ``torch.Generator`` (the channel's own,
    seeded by ``seed``, or the ``generator`` given to ``forward``); Sionna's CPU generator is
    set from it while the TDL realisations are drawn and restored afterwards. The noise is
    drawn from the call's generator directly. The same seed therefore gives the same outputs.

    Shapes: ``x`` [batch, n] complex64 in; ``symbols``, ``gain`` [batch, n] complex64,
    ``noise_var``, ``bias`` [batch, n] float32 (bias is all ones), ``snr_db`` [batch] out.

    >>> ch = TDLOFDMChannel(model="A", delay_spread=30e-9, seed=0)
    >>> out = ch(torch.ones(2, 1000, dtype=torch.complex64), snr_db=20.0)
    >>> out.symbols.shape, out.noise_var.dtype
    (torch.Size([2, 1000]), torch.float32)
    >>> out.channel_uses == ch.channel_uses(1000) == 2 * 14 * (72 + 6)
    True
    """

    name = "tdl"

    def __init__(
        self,
        model: str = "A",
        delay_spread: float = 100e-9,
        carrier_frequency: float = 3.5e9,
        min_speed: float = 0.0,
        max_speed: float | None = None,
        subcarrier_spacing: float = 30e3,
        fft_size: int = 72,
        num_ofdm_symbols: int = 14,
        cyclic_prefix_length: int = 6,
        pilot_ofdm_symbol_indices: Sequence[int] = (2, 11),
        num_guard_carriers: tuple[int, int] = (0, 0),
        dc_null: bool = False,
        interpolation: str = "lin",
        seed: int | None = None,
    ):
        super().__init__(seed)
        if not isinstance(model, str) or model.upper() not in _TDL_MODELS:
            raise ConfigError(f"model must be one of {', '.join(_TDL_MODELS)} (TDL-A..E), got {model!r}")
        model = model.upper()
        delay_spread = _check_positive("delay_spread (s)", delay_spread)
        if delay_spread > 10e-6:
            raise ConfigError(f"delay_spread is in seconds (e.g. 100e-9); {delay_spread!r} s is implausibly long")
        carrier_frequency = _check_positive("carrier_frequency (Hz)", carrier_frequency)
        subcarrier_spacing = _check_positive("subcarrier_spacing (Hz)", subcarrier_spacing)
        if isinstance(min_speed, bool) or not isinstance(min_speed, Real) or not 0 <= min_speed < math.inf:
            raise ConfigError(f"min_speed must be a finite number >= 0 (m/s), got {min_speed!r}")
        if max_speed is None:
            max_speed = min_speed
        if isinstance(max_speed, bool) or not isinstance(max_speed, Real) or not min_speed <= max_speed < math.inf:
            raise ConfigError(f"max_speed must be a finite number >= min_speed = {min_speed} (m/s), got {max_speed!r}")
        fft_size = _check_int("fft_size", fft_size, 1)
        num_ofdm_symbols = _check_int("num_ofdm_symbols", num_ofdm_symbols, 2)
        cyclic_prefix_length = _check_int("cyclic_prefix_length", cyclic_prefix_length, 0)
        if cyclic_prefix_length > fft_size:
            raise ConfigError(f"cyclic_prefix_length ({cyclic_prefix_length}) cannot exceed fft_size ({fft_size})")
        if isinstance(pilot_ofdm_symbol_indices, (str, bytes)) or not isinstance(pilot_ofdm_symbol_indices, Sequence):
            raise ConfigError(
                f"pilot_ofdm_symbol_indices must be a list of integers, got {pilot_ofdm_symbol_indices!r}"
            )
        pilots = list(pilot_ofdm_symbol_indices)
        if (
            not pilots
            or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < num_ofdm_symbols for i in pilots)
            or len(set(pilots)) != len(pilots)
        ):
            raise ConfigError(
                "pilot_ofdm_symbol_indices must be distinct integers in [0, num_ofdm_symbols = "
                f"{num_ofdm_symbols}), at least one, got {pilot_ofdm_symbol_indices!r}"
            )
        if len(pilots) >= num_ofdm_symbols:
            raise ConfigError("pilot_ofdm_symbol_indices leave no OFDM symbol for data")
        guards = tuple(num_guard_carriers) if isinstance(num_guard_carriers, Sequence) else ()
        if len(guards) != 2 or any(isinstance(g, bool) or not isinstance(g, int) or g < 0 for g in guards):
            raise ConfigError(f"num_guard_carriers must be two integers >= 0 (left, right), got {num_guard_carriers!r}")
        if not isinstance(dc_null, bool):
            raise ConfigError(f"dc_null must be True or False, got {dc_null!r}")
        if sum(guards) + int(dc_null) >= fft_size:
            raise ConfigError(f"guard carriers {guards} and DC null leave no subcarrier of fft_size = {fft_size}")
        if dc_null and (guards[0] > fft_size // 2 or guards[1] > fft_size - fft_size // 2 - 1):
            raise ConfigError(f"guard carriers {guards} cannot cover the DC subcarrier")
        if interpolation not in _INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")

        self.model = model
        self.delay_spread = delay_spread
        self.carrier_frequency = carrier_frequency
        self.min_speed = float(min_speed)
        self.max_speed = float(max_speed)
        self.subcarrier_spacing = subcarrier_spacing
        self.fft_size = fft_size
        self.num_ofdm_symbols = num_ofdm_symbols
        self.cyclic_prefix_length = cyclic_prefix_length
        self.pilot_ofdm_symbol_indices = tuple(sorted(pilots))
        self.num_guard_carriers = (int(guards[0]), int(guards[1]))
        self.dc_null = dc_null
        self.interpolation = interpolation
        try:
            self._build_sionna_blocks()
        except ValueError as err:  # a combination of settings Sionna rejects
            raise ConfigError(f"invalid OFDM/TDL settings: {err}") from err

    def _build_sionna_blocks(self) -> None:
        import numpy as np
        from sionna.phy.channel import ApplyOFDMChannel, GenerateOFDMChannel
        from sionna.phy.channel.tr38901 import TDL
        from sionna.phy.mimo import StreamManagement
        from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, ResourceGrid, ResourceGridMapper

        common = {"precision": "single", "device": _DEVICE}
        with _sionna_seeded(_PILOT_SEED):  # the Kronecker pilots are random QPSK drawn at construction
            self._rg = ResourceGrid(
                num_ofdm_symbols=self.num_ofdm_symbols,
                fft_size=self.fft_size,
                subcarrier_spacing=self.subcarrier_spacing,
                num_tx=1,
                num_streams_per_tx=1,
                cyclic_prefix_length=self.cyclic_prefix_length,
                num_guard_carriers=self.num_guard_carriers,
                dc_null=self.dc_null,
                pilot_pattern="kronecker",
                pilot_ofdm_symbol_indices=list(self.pilot_ofdm_symbol_indices),
                **common,
            )
        self._tdl = TDL(
            model=self.model,
            delay_spread=self.delay_spread,
            carrier_frequency=self.carrier_frequency,
            min_speed=self.min_speed,
            max_speed=self.max_speed,
            num_rx_ant=1,
            num_tx_ant=1,
            **common,
        )
        self._generate_channel = GenerateOFDMChannel(self._tdl, self._rg, normalize_channel=False, **common)
        self._apply_channel = ApplyOFDMChannel(**common)
        self._mapper = ResourceGridMapper(self._rg, **common)
        self._estimator = LSChannelEstimator(self._rg, interpolation_type=self.interpolation, **common)
        self._equalizer = LMMSEEqualizer(self._rg, StreamManagement(np.ones([1, 1], int), 1), **common)
        # Data resource elements among the effective subcarriers, in the mapper's order.
        mask = self._rg.pilot_pattern.mask.reshape(-1).cpu()
        self.register_buffer("_data_re", torch.nonzero(~mask.bool()).squeeze(-1), persistent=False)
        self.data_symbols_per_slot = int(self._rg.num_data_symbols)

    def num_slots(self, num_symbols: int) -> int:
        """OFDM slots needed for ``num_symbols`` data symbols."""
        return math.ceil(num_symbols / self.data_symbols_per_slot)

    def channel_uses(self, num_symbols: int) -> int:
        """ceil(n / D) * num_ofdm_symbols * (fft_size + cyclic_prefix_length), D = data REs per slot.

        Every resource element of every slot used counts (data, pilots, zero padding, guard and DC
        subcarriers), and so does each OFDM symbol's cyclic prefix.
        """
        return self.num_slots(num_symbols) * self.num_ofdm_symbols * (self.fft_size + self.cyclic_prefix_length)

    def _propagate(self, x, no, snr_db, gen) -> ChannelOutput:
        batch, n = x.shape
        per_slot = self.data_symbols_per_slot
        slots = self.num_slots(n)
        x = x.cpu()
        padded = torch.zeros(batch, slots * per_slot, dtype=torch.complex64)
        padded[:, :n] = x
        grid = self._mapper(padded.reshape(batch * slots, 1, 1, per_slot))  # [B*S, 1, 1, sym, fft]

        sionna_seed = int(torch.randint(0, _SEED_BOUND, (1,), generator=gen).item())
        with _sionna_seeded(sionna_seed):
            h_freq = self._generate_channel(batch * slots)  # [B*S, 1, 1, 1, 1, sym, fft]
        no_slot = no.cpu().repeat_interleave(slots)  # [B*S]
        y = self._apply_channel(grid, h_freq)  # [B*S, 1, 1, sym, fft]
        y = y + complex_noise(tuple(y.shape), no_slot, gen)

        h_hat, err_var = self._estimator(y, no_slot)  # [B*S, 1, 1, 1, 1, sym, eff_sc]
        x_hat, no_eff = self._equalizer(y, h_hat, err_var, no_slot)  # [B*S, 1, 1, D]
        gain = h_hat.reshape(batch * slots, -1)[:, self._data_re]  # [B*S, D]

        def rows(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, slots * per_slot)[:, :n].contiguous()

        return ChannelOutput(
            symbols=rows(x_hat).to(torch.complex64),
            noise_var=rows(no_eff).to(torch.float32),
            bias=torch.ones(batch, n),
            gain=rows(gain).to(torch.complex64),
            channel_uses=self.channel_uses(n),
            snr_db=snr_db,
        )
