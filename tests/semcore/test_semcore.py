"""semcore: the shared errors and registry, and the names semcom gives them."""

from __future__ import annotations

import pytest

import semcom.errors
import semcom.registry
from channels import make_channel
from semcore.errors import CodecError, ConfigError, InputError, SemcomError, UnsafeFileError, WeightsNotFoundError
from semcore.registry import Registry


def test_semcom_names_are_the_semcore_classes():
    assert semcom.errors.ConfigError is ConfigError
    assert semcom.errors.UnsafeFileError is UnsafeFileError
    assert semcom.registry.Registry is Registry


def test_semcom_error_catches_what_channels_raise():
    with pytest.raises(semcom.errors.ConfigError):
        make_channel("no-such-channel")


def test_error_kinds():
    for kind in (ConfigError, InputError, CodecError, WeightsNotFoundError):
        assert issubclass(kind, SemcomError)
    assert issubclass(UnsafeFileError, InputError)
    assert issubclass(WeightsNotFoundError, FileNotFoundError)


def test_registry_names_creates_and_refuses():
    stages = Registry("stage")

    @stages.register("double")
    class Double:
        def __init__(self, factor: int = 2):
            self.factor = factor

    assert stages.names() == ["double"] and "double" in stages
    assert stages.create("double", factor=3).factor == 3
    with pytest.raises(ConfigError, match="unknown stage 'triple'; known: double"):
        stages.get("triple")
    with pytest.raises(ConfigError, match="bad options for stage 'double'"):
        stages.create("double", size=1)
    with pytest.raises(ConfigError, match="already registered"):
        stages.register("double")(object)
