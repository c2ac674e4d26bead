"""Name -> class registries, so that experiments pick stages by name and users add their own."""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from semcore.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories (usually classes) of one kind of stage.

    >>> CODECS = Registry("codec")
    >>> @CODECS.register("jpeg")
    ... class Jpeg: ...
    >>> CODECS.create("jpeg")  # doctest: +ELLIPSIS
    <...Jpeg object at ...>
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, *, override: bool = False) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers a factory under ``name``."""
        if not name or not isinstance(name, str):
            raise ConfigError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and not override and self._factories[name] is not factory:
                raise ConfigError(f"{self.kind} {name!r} is already registered; pass override=True to replace it")
            self._factories[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``; a ConfigError lists the known names otherwise."""
        try:
            return self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the stage registered under ``name`` with keyword options."""
        factory = self.get(name)
        try:
            return factory(**kwargs)
        except TypeError as err:
            raise ConfigError(f"bad options for {self.kind} {name!r}: {err}") from err

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
