"""Name registries: how a string in a spec becomes an object.

A YAML spec names things (`optimizer: adamw`, `activation: gelu`); Python callers may instead pass a
dict (`{"name": "adamw", "betas": [0.9, 0.95]}`) or the object itself. One small class resolves all
three forms, so every kind (optimizers, schedulers, activations, losses, metrics, sources, models)
extends the same way: `@REGISTRY.register("name")`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from trainwise.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to factories of one kind.

    >>> acts = Registry("activation")
    >>> @acts.register("double")
    ... def double(x): return 2 * x
    >>> acts.get("double")(3)
    6
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def add(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return add

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Callable[..., T]:
        key = name.lower().replace("-", "_") if isinstance(name, str) else name
        if key not in self._entries:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "pick one of the names listed"
            raise SpecError(
                f"unknown {self.kind} {name!r}",
                f"one of {', '.join(self.names())}",
                hint,
            )
        return self._entries[key]

    def build(self, ref: str | dict[str, Any] | Any, /, **context: Any) -> Any:
        """Resolve a name, a `{"name": ..., **kwargs}` dict, or pass an object through."""
        if isinstance(ref, str):
            return self.get(ref)(**context)
        if isinstance(ref, dict):
            options = dict(ref)
            name = options.pop("name", None)
            if not isinstance(name, str):
                raise SpecError(
                    f"{self.kind} given as a dict without a 'name'",
                    f"{{'name': one of {', '.join(self.names())}, ...options}}",
                    "add the 'name' key",
                )
            return self.get(name)(**context, **options)
        return ref
