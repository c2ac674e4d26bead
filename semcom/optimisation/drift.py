"""Drift detection on what the receivers already measure (PSNR per image, prompt bits, similarity).

Two sequential change detectors for a shift in the mean of a stream, both one-sided (``direction``
``"down"`` watches for a fall, as of PSNR or similarity; ``"up"`` for a rise, as of prompt bits):

:class:`PageHinkley`
    ``m_t = sum_{i<=t} s (x_i - mean_i) - delta`` with ``s = -1`` for ``down`` (``+1`` for ``up``) and
    ``mean_i`` the running mean; alarm when ``m_t - min_{i<=t} m_i > threshold``. ``delta`` is the
    magnitude of change that is tolerated, ``threshold`` trades delay against false alarms.
:class:`Cusum`
    Page's CUSUM on standardised samples: the reference mean and deviation come from the first
    ``burn_in`` samples; ``S_t = max(0, S_{t-1} + s (x_t - mu0) / sigma0 - k)``; alarm when
    ``S_t > h``. With ``k = 0.5`` and ``h = 5`` on independent Gaussian samples the mean run
    length between false alarms is about 930 samples (Siegmund's approximation,
    :func:`cusum_run_length`), and a shift of one deviation is found after about 10 samples.

:class:`WindowedDetector` feeds a detector the mean of each non-overlapping window of ``window``
samples (a windowed metric: the per-image spread of PSNR is large, the mean of a few images much
less so); its alarm index is that of the last sample of the window that raised it.
:func:`run_detector` and :func:`detector_report` measure detection delay and false alarms on a
stream with a known change point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol, Sequence

from semcom.errors import ConfigError, InputError

DIRECTIONS = ("down", "up")


def _sign(direction: str) -> float:
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return -1.0 if direction == "down" else 1.0


def _finite(x: float) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise InputError(f"a monitored metric must be a finite number, got {x!r}")
    return float(x)


class Detector(Protocol):
    """A sequential change detector: ``update(x) -> True`` when it raises an alarm."""

    def update(self, x: float) -> bool: ...

    def reset(self) -> None: ...

    def clear(self) -> None: ...

    @property
    def statistic(self) -> float: ...


class PageHinkley:
    """Page-Hinkley test (see the module doc).

    delta:       tolerated change of the mean, in the metric's units.
    threshold:   alarm level of ``m_t - min m``.
    min_samples: no alarm before this many samples (the running mean settles first).
    """

    def __init__(self, delta: float = 0.1, threshold: float = 5.0, direction: str = "down", min_samples: int = 10):
        if not delta >= 0 or not threshold > 0 or min_samples < 1:
            raise ConfigError(f"Page-Hinkley needs delta >= 0, threshold > 0, min_samples >= 1; got "
                              f"{delta}, {threshold}, {min_samples}")
        self.delta, self.threshold, self.min_samples = float(delta), float(threshold), int(min_samples)
        self.direction, self._s = direction, _sign(direction)
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next samples set a new baseline."""
        self.n, self.mean, self.cum, self.low = 0, 0.0, 0.0, 0.0

    def clear(self) -> None:
        """Zero the statistic after an alarm, keeping the running mean."""
        self.cum = self.low = 0.0

    @property
    def statistic(self) -> float:
        return self.cum - self.low

    def update(self, x: float) -> bool:
        x = _finite(x)
        self.n += 1
        self.mean += (x - self.mean) / self.n
        self.cum += self._s * (x - self.mean) - self.delta
        self.low = min(self.low, self.cum)
        return self.n >= self.min_samples and self.statistic > self.threshold


class Cusum:
    """Page's one-sided CUSUM on standardised samples (see the module doc).

    k:        allowance, in reference deviations (0.5: tuned to a shift of one deviation).
    h:        alarm level, in reference deviations.
    burn_in:  samples that set the reference mean and deviation (no alarm before).
    """

    def __init__(self, k: float = 0.5, h: float = 5.0, direction: str = "down", burn_in: int = 20):
        if not k >= 0 or not h > 0 or burn_in < 2:
            raise ConfigError(f"CUSUM needs k >= 0, h > 0, burn_in >= 2; got {k}, {h}, {burn_in}")
        self.k, self.h, self.burn_in = float(k), float(h), int(burn_in)
        self.direction, self._s = direction, _sign(direction)
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next ``burn_in`` samples set a new reference."""
        self.n, self.s, self._ref = 0, 0.0, []
        self.mu0 = self.sigma0 = None

    def clear(self) -> None:
        """Zero the statistic after an alarm, keeping the reference."""
        self.s = 0.0

    @property
    def statistic(self) -> float:
        return self.s

    def update(self, x: float) -> bool:
        x = _finite(x)
        self.n += 1
        if self.mu0 is None:
            self._ref.append(x)
            if len(self._ref) == self.burn_in:
                mu = sum(self._ref) / len(self._ref)
                var = sum((v - mu) ** 2 for v in self._ref) / (len(self._ref) - 1)
                self.mu0, self.sigma0 = mu, max(math.sqrt(var), 1e-9)
            return False
        self.s = max(0.0, self.s + self._s * (x - self.mu0) / self.sigma0 - self.k)
        return self.s > self.h


def cusum_run_length(k: float, h: float, shift: float = 0.0) -> float:
    """Siegmund's approximation of CUSUM's mean run length for a shift of ``shift`` deviations.

    ``shift = 0``: the mean number of samples between false alarms on stationary Gaussian traffic.
    """
    b = h + 1.166
    d = shift - k
    if abs(d) < 1e-12:
        return b * b
    return (math.exp(-2 * d * b) + 2 * d * b - 1) / (2 * d * d)


class WindowedDetector:
    """A detector fed the mean of each non-overlapping window of ``window`` samples."""

    def __init__(self, detector: Detector, window: int = 1):
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f"window must be a positive integer, got {window!r}")
        self.detector, self.window = detector, window
        self._buf: list[float] = []

    def reset(self) -> None:
        self.detector.reset()
        self._buf = []

    def clear(self) -> None:
        self.detector.clear()
        self._buf = []

    @property
    def statistic(self) -> float:
        return self.detector.statistic

    def update(self, x: float) -> bool:
        self._buf.append(_finite(x))
        if len(self._buf) < self.window:
            return False
        mean = sum(self._buf) / len(self._buf)
        self._buf = []
        return self.detector.update(mean)


DETECTORS: dict[str, Callable[..., Detector]] = {"page_hinkley": PageHinkley, "cusum": Cusum}


def make_detector(name: str, window: int = 1, **options) -> WindowedDetector:
    """A detector by name (``page_hinkley``, ``cusum``) with its options, fed windows of ``window`` samples."""
    if name not in DETECTORS:
        raise ConfigError(f"unknown drift detector {name!r}; known: {', '.join(DETECTORS)}")
    try:
        return WindowedDetector(DETECTORS[name](**options), window)
    except TypeError as err:
        raise ConfigError(f"drift detector {name!r}: {err}") from None


def run_detector(detector, stream: Iterable[float], restart: bool = True) -> list[int]:
    """Indices of the samples at which ``detector`` raised alarms; after each its statistic is cleared
    (its reference kept) when ``restart``, else the run stops at the first."""
    alarms = []
    for i, x in enumerate(stream):
        if detector.update(x):
            alarms.append(i)
            if restart:
                detector.clear()
            else:
                break
    return alarms


@dataclass(frozen=True)
class DetectionReport:
    """Alarms on a stream whose change happens at sample ``change``.

    false_alarms: alarms before the change; delay: samples from the change to the first alarm at or
    after it (None: missed); stationary_samples: samples before the change.
    """

    alarms: tuple[int, ...]
    change: int
    false_alarms: int
    delay: int | None
    stationary_samples: int

    @property
    def false_alarm_rate(self) -> float:
        """False alarms per 1000 stationary samples."""
        return 1000.0 * self.false_alarms / max(self.stationary_samples, 1)


def detector_report(detector, stream: Sequence[float], change: int) -> DetectionReport:
    """Run ``detector`` over ``stream`` (cleared after every alarm) and score it against ``change``."""
    if not 0 <= change <= len(stream):
        raise InputError(f"change point {change} is outside the stream of {len(stream)} samples")
    alarms = run_detector(detector, stream)
    after = [a for a in alarms if a >= change]
    return DetectionReport(tuple(alarms), change, sum(a < change for a in alarms),
                           after[0] - change if after else None, change)
