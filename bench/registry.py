"""Typed plug-in registries: one per kind (datasets, brain encoders, image models, task kinds, metrics).

A plug-in is one file in the kind's package that decorates its class or function::

    from bench.encoders import ENCODERS

    @ENCODERS.register("nice")
    class NICE(BrainEncoder): ...

Configs select plug-ins by that name. Three ways in, all resolved on first use of the name:

- **decorated in the kind's package**: the package's modules are *read* (``ast``, no import) for
  ``@<REGISTRY>.register("name", aliases=(...))`` decorators, giving lazy ``"module:Class"`` entries;
  a module is imported only when one of its names is looked up. So a new plug-in needs no central
  list, and discovery imports no heavy library (``bench validate`` never imports torch).
- **lazy placeholders**: ``REGISTRY.register_lazy("name", "package.module:Class")``.
- **entry points** (a plug-in in its own pip package): in its ``pyproject.toml``::

      [project.entry-points."brainvis_bench.encoders"]
      my-encoder = "my_package.encoder:MyEncoder"

  Groups: ``brainvis_bench.encoders``, ``brainvis_bench.image_models``, ``brainvis_bench.task_kinds``,
  ``brainvis_bench.metrics``, ``brainvis_bench.datasets``.

Plug-ins registered in a loop (not visible to the reader) are found by importing the whole package,
which happens only when a name is not found otherwise (and for :meth:`Registry.names`). Unknown
names list the known ones.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

from bench.errors import RegistryError

T = TypeVar("T")

ENTRY_POINT_PREFIX = "brainvis_bench."


class Registry(Generic[T]):
    """Name -> plug-in mapping for one kind, with lazy entries, aliases, collision errors and a base check.

    kind:    human name ("brain encoder"), used in messages.
    package: the package whose modules hold the built-in plug-ins.
    base:    the class every class plug-in must subclass (a class, or ``"module:Class"`` resolved
             on first use so the registry can be made without importing a heavy base).
    group:   the entry-point group of out-of-tree plug-ins (``brainvis_bench.<group>``), or None.
    symbol:  the variable the package binds this registry to (``"ENCODERS"``): only its decorators are
             read by the source scan (None: no source scan; plug-ins are found by importing the package).
    """

    def __init__(self, kind: str, package: str, base: type | str | None = None, *,
                 group: str | None = None, symbol: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._base = base
        self.group = group
        self.symbol = symbol
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._lazy: dict[str, str] = {}            # name -> "module:attr" (or "module")
        self._scanned = False
        self._discovered = False

    # ------------------------------------------------------------------ registering
    @property
    def base(self) -> type | None:
        if isinstance(self._base, str):
            self._base = load_target(self._base)
        return self._base  # type: ignore[return-value]

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (and ``aliases``)."""

        def decorate(obj: T) -> T:
            if isinstance(obj, type) and self._base is not None and not issubclass(obj, self.base):
                raise TypeError(f"{self.kind} '{name}' must subclass {self.base.__name__}")
            for key in (name, *aliases):
                existing = self._items.get(key) if key == name else self._aliases.get(key)
                if existing is not None and existing is not obj and existing != name:
                    raise RegistryError(f"{self.kind} name '{key}' is registered twice",
                                        fix="give the new plug-in another name")
            self._items[name] = obj
            self._lazy.pop(name, None)
            for alias in aliases:
                self._aliases[alias] = name
            return obj

        return decorate

    def register_lazy(self, name: str, target: str, *, aliases: tuple[str, ...] = ()) -> None:
        """Register ``"module:attr"`` under ``name`` without importing it (imported on first ``get``)."""
        if name in self._items or (name in self._lazy and self._lazy[name] != target):
            raise RegistryError(f"{self.kind} name '{name}' is registered twice",
                                fix="give the new plug-in another name")
        self._lazy[name] = target
        for alias in aliases:
            self._aliases.setdefault(alias, name)

    # ------------------------------------------------------------------ discovery
    def scan(self) -> None:
        """Lazy entries from the package's decorators (read, not imported) and from entry points."""
        if self._scanned or self._discovered:
            return
        self._scanned = True
        for module, names in (scan_package(self.package, self.symbol) if self.symbol else {}).items():
            for name, attr, aliases in names:
                if name not in self._items and name not in self._lazy:
                    self.register_lazy(name, f"{module}:{attr}", aliases=aliases)
        if self.group:
            for name, value in entry_points(ENTRY_POINT_PREFIX + self.group).items():
                if name not in self._items and name not in self._lazy:
                    self.register_lazy(name, value)

    def discover(self) -> None:
        """Import every module of the kind's package once, so every decorator (also those in loops) runs."""
        self.scan()
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{self.package}."):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            importlib.import_module(info.name)

    def _resolve(self, name: str) -> T:
        target = self._lazy[name]
        obj = load_target(target)
        if name not in self._items:                # an entry point to an undecorated object
            self.register(name)(obj)
        self._lazy.pop(name, None)
        return self._items[name]

    # ------------------------------------------------------------------ lookup
    def key(self, name: str) -> str | None:
        """The canonical name of ``name`` (aliases resolved), or None when unknown; imports nothing."""
        self.scan()
        key = self._aliases.get(name, name)
        if key in self._items or key in self._lazy:
            return key
        return None

    def target(self, name: str) -> str | None:
        """``"module:attr"`` of a not-yet-imported plug-in (None once imported or unknown)."""
        key = self.key(name)
        return self._lazy.get(key) if key else None

    def loaded(self, name: str) -> T | None:
        """The plug-in object if it is already imported (no import happens here)."""
        key = self.key(name)
        return self._items.get(key) if key else None

    def require(self, name: str) -> str:
        """The canonical name of ``name``, or a RegistryError listing the known names; imports no plug-in
        that is known (what planning code such as ``bench validate`` uses instead of :meth:`get`)."""
        key = self.key(name)
        if key is None:
            self.discover()
            key = self.key(name)
        if key is None:
            raise RegistryError(f"unknown {self.kind} '{name}'", fix=f"use one of: {', '.join(self.names())}")
        return key

    def get(self, name: str) -> T:
        """The plug-in called ``name``; a RegistryError listing the known names otherwise."""
        key = self.key(name)
        if key is None:
            self.discover()
            key = self._aliases.get(name, name)
        if key in self._items:
            return self._items[key]
        if key in self._lazy:
            return self._resolve(key)
        raise RegistryError(f"unknown {self.kind} '{name}'", fix=f"use one of: {', '.join(self.names())}")

    def names(self) -> list[str]:
        """Every registered name (imports the package: use :meth:`key` for a cheap membership test)."""
        self.discover()
        return sorted({*self._items, *self._lazy})

    def __contains__(self, name: str) -> bool:
        if self.key(name) is not None:
            return True
        self.discover()
        return self.key(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self.get(n)) for n in self.names()]


# ---------------------------------------------------------------------- helpers (no imports of plug-ins)
def load_target(target: str) -> Any:
    """Import ``"package.module:attr"`` (or a bare module) and return the attribute (or module)."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def module_source(module: str) -> tuple[Path | None, str | None]:
    """(file, source text) of ``module`` without importing it (parent packages are imported)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None, None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None, None
    path = Path(spec.origin)
    try:
        return path, path.read_text(encoding="utf-8")
    except OSError:
        return path, None


def _module_files(package: str) -> Iterator[tuple[str, Path]]:
    """(module name, file) of every public module under ``package``, subpackages included; no imports."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return
    for info in pkgutil.iter_modules(list(spec.submodule_search_locations)):
        if info.name.startswith("_"):
            continue
        base = Path(info.module_finder.path) / info.name  # type: ignore[union-attr]
        if info.ispkg:
            yield from _walk_dir(f"{package}.{info.name}", base)
        else:
            yield f"{package}.{info.name}", base.with_suffix(".py")


def _walk_dir(package: str, folder: Path) -> Iterator[tuple[str, Path]]:
    for info in pkgutil.iter_modules([str(folder)]):
        if info.name.startswith("_"):
            continue
        if info.ispkg:
            yield from _walk_dir(f"{package}.{info.name}", folder / info.name)
        else:
            yield f"{package}.{info.name}", folder / f"{info.name}.py"


def scan_package(package: str, symbol: str) -> dict[str, list[tuple[str, str, tuple[str, ...]]]]:
    """Module -> [(registered name, class/function name, aliases)] for ``@<symbol>.register("name")``.

    Reads the package's source files with ``ast`` (nothing is imported); only literal names count.
    """
    out: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for module, path in _module_files(package):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if f"{symbol}.register(" not in text:
            continue
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError:
            continue
        found = [(n, node.name, a) for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))
                 for n, a in _decorator_names(node, symbol)]
        if found:
            out[module] = found
    return out


def _decorator_names(node: ast.ClassDef | ast.FunctionDef, symbol: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    for dec in node.decorator_list:
        if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "register"
                and isinstance(dec.func.value, ast.Name) and dec.func.value.id == symbol
                and dec.args and isinstance(dec.args[0], ast.Constant) and isinstance(dec.args[0].value, str)):
            continue
        aliases: tuple[str, ...] = ()
        for kw in dec.keywords:
            if kw.arg == "aliases":
                try:
                    aliases = tuple(ast.literal_eval(kw.value))
                except ValueError:
                    aliases = ()
        yield dec.args[0].value, aliases


def entry_points(group: str) -> dict[str, str]:
    """Name -> ``"module:attr"`` of the installed entry points of ``group`` (nothing is imported)."""
    from importlib.metadata import entry_points as _eps

    return {ep.name: ep.value.replace(" ", "") for ep in _eps(group=group)}


__all__ = ["ENTRY_POINT_PREFIX", "Registry", "entry_points", "load_target", "module_source", "scan_package"]
