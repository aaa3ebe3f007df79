"""Task and submission specs: safe YAML -> ``extends`` -> pydantic validation -> resolution -> content hash.

Resolution writes every default out (the task kind's protocol, the plug-ins' constructor defaults;
see :mod:`bench.config.resolve`), so a hash identifies the computation, not the YAML's wording.

>>> task = load_task("things-eeg2-retrieval-200")          # by name (tasks/ folder) or by path
>>> sub = load_submission("submissions/atm_dreamsim.yaml")
>>> task.hash, sub.hash                                     # stable content hashes of the resolved specs
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bench.config.hashing import content_hash
from bench.config.schema import (NON_SEMANTIC_FIELDS, ComponentSpec, DatasetSpec, RecipeSpec, SubmissionSpec,
                                 TaskSpec)
from bench.config.yaml_io import deep_merge, load_with_extends
from bench.errors import ConfigError

S = TypeVar("S", bound=BaseModel)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Loaded(Generic[S]):
    """A validated spec with where it came from and its content hash."""

    spec: S
    path: Path | None
    sources: tuple[Path, ...]

    @property
    def hash(self) -> str:
        return spec_hash(self.spec)

    @property
    def name(self) -> str:
        return self.spec.name  # type: ignore[attr-defined]

    def to_yaml(self) -> str:
        """The fully resolved spec as YAML (what MLflow stores and what reproduces the run)."""
        return yaml.safe_dump(self.spec.model_dump(mode="json"), sort_keys=False)


def spec_hash(spec: BaseModel) -> str:
    """Content hash of a spec *as resolved* (protocol and plug-in params with their defaults written out),
    ignoring fields and plug-in parameters that do not change what is computed (see ``resolve.py``)."""
    from bench.config.resolve import identity

    return content_hash(identity(spec, exclude=NON_SEMANTIC_FIELDS))


def search_dirs(kind: str) -> list[Path]:
    """Where task/submission names are looked up: $BENCH_<KIND>S_DIR, ./<kind>s, the project's <kind>s/."""
    env = os.environ.get(f"BENCH_{kind.upper()}S_DIR")
    dirs = [Path(env)] if env else []
    dirs += [Path.cwd() / f"{kind}s", PROJECT_ROOT / f"{kind}s"]
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def locate(ref: str | Path, kind: str, relative_to: Path | None = None) -> Path:
    """Turn a name or path into a YAML file path, or raise a ConfigError listing what exists."""
    ref_path = Path(ref)
    candidates = []
    if relative_to is not None:
        candidates += [relative_to.parent / ref_path, relative_to.parent / f"{ref}.yaml"]
    candidates += [ref_path, Path(f"{ref}.yaml")]
    candidates += [d / f"{ref}.yaml" for d in search_dirs(kind)]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    known = sorted({p.stem for d in search_dirs(kind) if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(f"no {kind} called '{ref}'", where=relative_to,
                      field="extends" if relative_to else None,
                      fix=f"use a file path or one of: {', '.join(known) or '(none found)'}; "
                          f"searched {', '.join(str(d) for d in search_dirs(kind))}")


def validation_error(exc: ValidationError, where: Path | str | None, model: type[BaseModel],
                     prefix: str = "") -> ConfigError:
    """Turn pydantic's error into one ConfigError naming the file, the field and the fix."""
    lines = []
    first_field = None
    for err in exc.errors():
        loc = prefix + ".".join(str(p) for p in err["loc"])
        first_field = first_field or loc
        kind = err["type"]
        if kind == "extra_forbidden":
            fix = f"remove '{loc}' or correct its spelling; allowed here: {', '.join(_allowed(model, err['loc']))}"
        elif kind == "missing":
            fix = f"add '{loc}'"
        else:
            fix = "see the field's description in bench/config/schema.py"
        lines.append(f"'{loc}': {err['msg']} (fix: {fix})")
    what = "invalid spec:\n    " + "\n    ".join(lines)
    return ConfigError(what, where=where, field=first_field,
                       fix="correct the field(s) above; `bench validate FILE` re-checks")


def _allowed(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names allowed at the parent of ``loc`` (for 'did you mean' style hints)."""
    current: Any = model
    for part in loc[:-1]:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        current = next((a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)
                        and issubclass(a, BaseModel)), ann)
    return sorted(getattr(current, "model_fields", {}))


def parse(model: type[S], data: dict[str, Any], where: Path | str | None) -> S:
    """Validate ``data`` against ``model`` with file-and-field error messages."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, where, model) from None


def _load(model: type[S], ref: str | Path, kind: str, overrides: dict[str, Any] | None) -> Loaded[S]:
    from bench.config.resolve import resolve_submission, resolve_task

    path = locate(ref, kind)
    data, sources = load_with_extends(path, lambda r, child: locate(r, kind, relative_to=child))
    if overrides:
        data = deep_merge(data, overrides)
    spec = parse(model, data, path)
    spec = resolve_task(spec, path) if isinstance(spec, TaskSpec) else resolve_submission(spec)
    return Loaded(spec, path, tuple(sources))


def load_task(ref: str | Path, overrides: dict[str, Any] | None = None) -> Loaded[TaskSpec]:
    """Load a task by name (``tasks/<name>.yaml``) or path, resolving ``extends``."""
    return _load(TaskSpec, ref, "task", overrides)


def load_submission(ref: str | Path, overrides: dict[str, Any] | None = None) -> Loaded[SubmissionSpec]:
    """Load a submission by name (``submissions/<name>.yaml``) or path, resolving ``extends``."""
    return _load(SubmissionSpec, ref, "submission", overrides)


def detect_kind(path: Path) -> str:
    """'task' or 'submission', from the file's fields (after ``extends``)."""
    from bench.config.yaml_io import read_yaml

    data = read_yaml(path)
    if "kind" in data or "dataset" in data:
        return "task"
    if "encoder" in data or "image_model" in data or "recipe" in data:
        return "submission"
    if "extends" in data:
        parent = data["extends"]
        for kind in ("task", "submission"):
            try:
                return detect_kind(locate(parent, kind, relative_to=Path(path)))
            except ConfigError:
                continue
    raise ConfigError("cannot tell whether this is a task or a submission", where=path,
                      fix="a task has 'kind' and 'dataset'; a submission has 'encoder', 'image_model', 'recipe'")


__all__ = ["ComponentSpec", "ConfigError", "DatasetSpec", "Loaded", "RecipeSpec", "SubmissionSpec", "TaskSpec",
           "content_hash", "detect_kind", "load_submission", "load_task", "locate", "parse", "spec_hash"]
