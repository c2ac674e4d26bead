"""Settings declared once: each option's type and accepted range, for a command-line flag and a config key.

A :class:`Setting` checks a value read from a config file (:meth:`Setting.check`) and parses the
text of a command-line flag (:meth:`Setting.arg` is the argparse ``type=``). Both refuse with one
line that names the option (argparse adds the flag's name) and what it accepts::

    >>> SEED.check(-1, "seed")
    Traceback (most recent call last):
    ...
    semcore.errors.ConfigError: seed must be an integer from 0 to 4294967295, got -1
    >>> SNR_LIST.arg()("0,2.5")
    [0.0, 2.5]
"""

from __future__ import annotations

import argparse
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from semcom.errors import ConfigError


class Setting(ABC):
    """The type and accepted range of one option."""

    @property
    @abstractmethod
    def accepted(self) -> str:
        """What the option accepts, as it reads after 'must be' (e.g. 'an integer from 0 to 9')."""

    @abstractmethod
    def _from_value(self, value: Any) -> Any:
        """The checked value of a config entry, or None if it is not accepted."""

    @abstractmethod
    def _from_text(self, text: str) -> Any:
        """The checked value of a flag's text, or None if it is not accepted."""

    def check(self, value: Any, name: str) -> Any:
        """``value`` (from a config file) as the option's type; ConfigError naming ``name`` otherwise."""
        checked = self._from_value(value)
        if checked is None:
            raise ConfigError(f"{name} must be {self.accepted}, got {value!r}")
        return checked

    def arg(self) -> Callable[[str], Any]:
        """The argparse ``type=`` of the option (argparse names the flag in its error)."""

        def convert(text: str) -> Any:
            checked = self._from_text(text)
            if checked is None:
                raise argparse.ArgumentTypeError(f"must be {self.accepted}, got {text!r}")
            return checked

        convert.__name__ = type(self).__name__.lower()
        return convert


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _range_text(minimum, maximum, low_open: bool = False, high_open: bool = False) -> str:
    low, high = _number(minimum) if minimum is not None else None, _number(maximum) if maximum is not None else None
    if low is not None and high is not None:
        if low_open or high_open:
            return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        return f"from {low} to {high}"
    if low is not None:
        return f"{'above' if low_open else 'at least'} {low}"
    if high is not None:
        return f"{'below' if high_open else 'at most'} {high}"
    return ""


@dataclass(frozen=True)
class Integer(Setting):
    """A whole number in [minimum, maximum] (either bound may be None)."""

    minimum: int | None = None
    maximum: int | None = None

    @property
    def accepted(self) -> str:
        return f"an integer {_range_text(self.minimum, self.maximum)}".rstrip()

    def _in_range(self, value: int) -> int | None:
        if self.minimum is not None and value < self.minimum:
            return None
        if self.maximum is not None and value > self.maximum:
            return None
        return value

    def _from_value(self, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return self._in_range(value)

    def _from_text(self, text: str) -> int | None:
        try:
            return self._in_range(int(text.strip()))
        except ValueError:
            return None


@dataclass(frozen=True)
class Real(Setting):
    """A finite number between ``minimum`` and ``maximum``; ``low_open``/``high_open`` exclude a bound."""

    minimum: float | None = None
    maximum: float | None = None
    low_open: bool = False
    high_open: bool = False
    unit: str = ""

    @property
    def accepted(self) -> str:
        span = _range_text(self.minimum, self.maximum, self.low_open, self.high_open)
        return f"a finite number {span}{' ' + self.unit if self.unit and span else ''}".rstrip()

    def _in_range(self, value: float) -> float | None:
        if not math.isfinite(value):
            return None
        if self.minimum is not None and (value < self.minimum or (self.low_open and value == self.minimum)):
            return None
        if self.maximum is not None and (value > self.maximum or (self.high_open and value == self.maximum)):
            return None
        return value

    def _from_value(self, value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return self._in_range(float(value))

    def _from_text(self, text: str) -> float | None:
        try:
            return self._in_range(float(text.strip()))
        except ValueError:
            return None


@dataclass(frozen=True)
class Ratio(Setting):
    """A ratio in (0, 1], written as a fraction ('1/16') or a number ('0.0625').

    :meth:`check` and :meth:`arg` give it as a float, :meth:`fraction` as an exact Fraction.
    """

    @property
    def accepted(self) -> str:
        return "a fraction in (0, 1] such as 1/16 or 0.0625"

    @staticmethod
    def _written(value: Any) -> Fraction | None:
        """The fraction that a text or a number writes exactly, or None."""
        if isinstance(value, str):
            try:
                return Fraction(value.strip())
            except (ValueError, ZeroDivisionError):
                return None
        if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) or not math.isfinite(value):
            return None
        return Fraction(value)

    def _from_value(self, value: Any) -> float | None:
        ratio = self._written(value)
        return float(ratio) if ratio is not None and 0 < ratio <= 1 else None

    def _from_text(self, text: str) -> float | None:
        return self._from_value(text)

    def fraction(self, value: Any, name: str) -> Fraction:
        """``value`` as an exact Fraction; a number becomes the nearest fraction with a denominator
        up to 10000 (1 / 48 as a float is Fraction(1, 48)). ConfigError naming ``name`` otherwise."""
        ratio = self._written(value)
        if ratio is not None and not isinstance(value, str):
            ratio = ratio.limit_denominator(10_000)
        if ratio is None or not 0 < ratio <= 1:
            raise ConfigError(f"{name} must be {self.accepted}, got {value!r}")
        return ratio


@dataclass(frozen=True)
class Listed(Setting):
    """A non-empty list of ``item`` values: comma-separated on the command line, a list (or one value) in a config."""

    item: Setting
    length: int | None = None

    @property
    def accepted(self) -> str:
        return f"a list of {self.length or 'one or more'} values, each {self.item.accepted}"

    def _checked(self, values: list) -> list | None:
        if not values or (self.length is not None and len(values) != self.length) or None in values:
            return None
        return values

    def _from_value(self, value: Any) -> list | None:
        values = value if isinstance(value, list) else [value]
        return self._checked([self.item._from_value(v) for v in values])

    def _from_text(self, text: str) -> list | None:
        parts = [p for p in text.replace(" ", ",").split(",") if p]
        return self._checked([self.item._from_text(p) for p in parts])


@dataclass(frozen=True)
class Name(Setting):
    """A non-empty string; with ``choices`` (a tuple, or :class:`RegisteredNames`), one of them."""

    choices: tuple[str, ...] | RegisteredNames | None = None

    @property
    def accepted(self) -> str:
        return f"one of: {', '.join(self.choices)}" if self.choices else "a non-empty string"

    def _from_value(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return None
        return value if self.choices is None or value in self.choices else None

    def _from_text(self, text: str) -> str | None:
        return self._from_value(text)


@dataclass(frozen=True)
class Switch(Setting):
    """A yes/no setting: true or false in a config, ``true``/``false`` (or 1/0, yes/no) as text."""

    @property
    def accepted(self) -> str:
        return "true or false"

    def _from_value(self, value: Any) -> bool | None:
        return value if isinstance(value, bool) else None

    def _from_text(self, text: str) -> bool | None:
        return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(text.strip().lower())


class RegisteredNames:
    """The names in a registry, read when first needed: argparse ``choices`` (with a ``metavar``) that import
    the registry's package only when a command is parsed, not when ``semcom --help`` is printed.

    ``module`` holds ``attribute``: a :class:`semcore.registry.Registry` (its names) or a mapping (its keys),
    e.g. ``("channels", "CHANNELS")``; a help text with ``%(choices)s`` lists the names.
    """

    def __init__(self, module: str, attribute: str):
        self.module, self.attribute = module, attribute

    def names(self) -> list[str]:
        import importlib

        found = getattr(importlib.import_module(self.module), self.attribute)
        return list(found.names() if hasattr(found, "names") else found)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __iter__(self):
        return iter(self.names())


#: the registered channel models, for a ``--channel`` flag
CHANNEL_NAMES = RegisteredNames("channels", "CHANNELS")
#: the modulations of the digital link, for a ``--modulation`` flag
MODULATION_NAMES = RegisteredNames("semcom.link.mcs", "MODULATIONS")


#: where the shared data folder is found when an option does not name it (semcom.files.default_data_dir)
DATA_HELP = "$SEMCOM_DATA, else ../shared/data from the current folder, else from the source checkout"

#: seeds of torch, numpy and Python generators (numpy's legacy seed is a 32-bit integer).
SEED = Integer(0, 2**32 - 1)
#: Es/N0 per complex symbol in dB; beyond this range noise variances under- or overflow.
SNR_DB = Real(-50.0, 100.0, unit="dB")
SNR_LIST = Listed(SNR_DB)
CBR = Ratio()


def channel_use_budget(height: int, width: int, cbr) -> int:
    """Complex channel uses an H x W RGB image may spend at a CBR: ``floor(CBR x H x W x 3)``, exactly."""
    ratio = CBR.fraction(cbr, "CBR")
    if not 0 < ratio <= 1:
        raise ConfigError(f"CBR must be in (0, 1], got {ratio}")
    return (ratio * int(height) * int(width) * 3).__floor__()


LIMIT = Integer(1, None)
WORKERS = Integer(1, 1024)
#: centre crop side in pixels (codecs and models need at least 16).
CROP = Integer(16, 16384)
MCS_INDEX = Integer(0, 15)
#: code blocks per SNR point of a BLER table: a probe of a tenth of them, then the rest.
BLER_BLOCKS = Integer(10, 1_000_000)
#: SNR grid step of a BLER table in dB: at least two points on the grid, at most 421.
BLER_STEP_DB = Real(0.1, 6.0, unit="dB")
ARQ = Integer(0, 16)
STEPS = Integer(1, 1000)

#: Scheme options shared by the command line (``semcom transmit/eval``) and experiment configs
#: (``[[schemes]]`` keys): their types and ranges. Names (codecs, models, modes) are checked by the
#: registries and the scheme when it is built, before anything runs; so are a plugin's own options.
SCHEME_OPTIONS: dict[str, Setting] = {
    "cbr": CBR,
    "mcs": MCS_INDEX,
    "arq": ARQ,
    "codec": Name(),
    "model": Name(),
    "snr_margin_db": Real(0.0, 20.0, unit="dB"),
    "captioner": Name(),
    "captions": Name(),
    "captioner_model": Name(),
    "keywords": Name(),
    "prompt_mode": Name(),
    "prompt_bits": Integer(0, 1_000_000),
    "text_codec": Name(),
    "corpus": Name(),
    "kb": Name(),
    "kb_version": Name(),
    "keyword_packet": Switch(),
    "keyword_bits": Integer(1, 1_000_000),
    "side_info": Name(),
    "side_bits": Integer(1, 10_000_000),
    "thumb_size": Integer(1, 4096),
    "thumb_scale": Listed(Integer(1, 256)),
    "edges": Switch(),
    "edge_scale": Integer(1, 256),
    "edge_bits": Integer(1, 10_000_000),
    "controlnet_model": Name(),
    "side_codec": Name(),
    "generator": Name(),
    "generator_model": Name(),
    "steps": STEPS,
    "guidance": Real(0.0, 100.0),
    "scheduler": Name(),
    "strength": Real(0.0, 1.0, low_open=True),
    "resolution": Integer(8, 16384),
    "strict": Switch(),
    "device": Name(),
    "dtype": Name(),
    "code": Name(),
    "similarity": Switch(),
}
