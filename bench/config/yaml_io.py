"""Safe YAML loading with ``extends:`` inheritance.

A variant file names its parent and lists only what it changes::

    extends: things-eeg2-retrieval-200      # a task name, or a path relative to this file
    name: things-eeg2-retrieval-200-atm-single-trial
    dataset: {train_repetitions: single}

Mappings merge recursively (child wins); lists and scalars are replaced whole. A mapping that
names a different plug-in (``name:`` differs, e.g. another image model) replaces the parent's block
whole, so parameters of the old plug-in never leak into the new one. Only
``yaml.safe_load`` is used: tags that would execute Python are refused with a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

from bench.errors import ConfigError


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML file into a mapping, with errors naming the file, line and fix."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("file not found", where=path, fix="check the path (relative to the working directory)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.constructor.ConstructorError as exc:
        raise ConfigError(f"unsafe or unknown YAML tag: {exc.problem} ({exc.problem_mark})", where=path,
                          fix="remove '!!python/...' and other custom tags: configs are plain data") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML{line}: {problem}", where=path,
                          fix="correct the YAML syntax (indentation, colons, quotes)") from exc
    if data is None:
        raise ConfigError("file is empty", where=path, fix="write the spec as a YAML mapping")
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, found {type(data).__name__}", where=path,
                          fix="write 'key: value' lines at the top level")
    return data


def deep_merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``parent`` updated by ``child``: mappings merge recursively (unless they name another plug-in),
    everything else is replaced."""
    out = dict(parent)
    for key, value in child.items():
        replaces_plugin = (isinstance(value, dict) and isinstance(out.get(key), dict) and "name" in value
                           and value["name"] != out[key].get("name"))
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not replaces_plugin:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_with_extends(path: Path, locate: Callable[[str, Path], Path],
                      _chain: tuple[Path, ...] = ()) -> tuple[dict[str, Any], list[Path]]:
    """Read ``path`` and resolve its ``extends:`` chain.

    Returns the merged mapping (without ``extends``) and the files it came from, root first.
    ``locate(ref, child_path)`` turns an ``extends`` value into a file path.
    """
    path = Path(path).resolve()
    if path in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, path))
        raise ConfigError(f"'extends' forms a cycle: {cycle}", where=path, field="extends",
                          fix="make the chain end at a file without 'extends'")
    data = read_yaml(path)
    ref = data.pop("extends", None)
    if ref is None:
        return data, [path]
    if not isinstance(ref, str):
        raise ConfigError("'extends' must be a single name or path", where=path, field="extends",
                          fix="write e.g. 'extends: things-eeg2-retrieval-200'")
    parent_path = locate(ref, path)
    parent, sources = load_with_extends(parent_path, locate, (*_chain, path))
    return deep_merge(parent, data), [*sources, path]
