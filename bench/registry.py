"""Typed plug-in registries: one per kind (datasets, brain encoders, image models, task kinds, metrics).

A plug-in is one file in the kind's package that decorates its class or function::

    from bench.encoders import ENCODERS

    @ENCODERS.register("nice")
    class NICE(BrainEncoder): ...

Configs select plug-ins by that name. On the first lookup a registry imports every module of its
package (so a new plug-in needs no central list); plug-in modules import heavy libraries lazily,
inside functions, so discovery stays cheap. Unknown names list the known ones.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, Iterator, TypeVar

from bench.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> plug-in mapping for one kind, with aliases, collision errors and an optional base check."""

    def __init__(self, kind: str, package: str, base: type | None = None) -> None:
        self.kind = kind
        self.package = package
        self.base = base
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = False

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (and ``aliases``)."""

        def decorate(obj: T) -> T:
            if self.base is not None and isinstance(obj, type) and not issubclass(obj, self.base):
                raise TypeError(f"{self.kind} '{name}' must subclass {self.base.__name__}")
            for key in (name, *aliases):
                existing = self._items.get(key) if key == name else self._aliases.get(key)
                if existing is not None and existing is not obj and existing != name:
                    raise RegistryError(f"{self.kind} name '{key}' is registered twice",
                                        fix="give the new plug-in another name")
            self._items[name] = obj
            for alias in aliases:
                self._aliases[alias] = name
            return obj

        return decorate

    def discover(self) -> None:
        """Import every module of the kind's package once, so decorators run."""
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{self.package}."):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            importlib.import_module(info.name)

    def get(self, name: str) -> T:
        """The plug-in called ``name``; a RegistryError listing the known names otherwise."""
        self.discover()
        key = self._aliases.get(name, name)
        if key not in self._items:
            raise RegistryError(f"unknown {self.kind} '{name}'",
                                fix=f"use one of: {', '.join(self.names())}")
        return self._items[key]

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self.discover()
        return self._aliases.get(name, name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]
