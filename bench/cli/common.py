"""Options shared by several commands, described once (MNE style) and turned into Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import typer

from bench.settings import Settings, load_settings

TrackingUri = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: sqlite:///./mlflow.db)")
DataRoot = typer.Option(None, "--data-root", help="folder holding one sub-folder per real dataset")
CacheDir = typer.Option(None, "--cache-dir", help="embedding cache and simulated data")
WeightsDir = typer.Option(None, "--weights-dir", help="local model weights")
Device = typer.Option(None, "--device", help="cpu, cuda or auto")
Snapshot = typer.Option(None, "--snapshot", help="read records from a results snapshot JSON instead of MLflow")


def make_settings(tracking_uri: Optional[str] = None, data_root: Optional[Path] = None,
                  cache_dir: Optional[Path] = None, weights_dir: Optional[Path] = None,
                  device: Optional[str] = None) -> Settings:
    return load_settings(tracking_uri=tracking_uri, data_root=data_root, cache_dir=cache_dir,
                         weights_dir=weights_dir, device=device)


def load_records(settings: Settings, snapshot: Optional[Path], task: Optional[str] = None):
    """Records from a snapshot file or the MLflow store, optionally for one task."""
    if snapshot is not None:
        from bench.records.snapshot import import_snapshot

        records = import_snapshot(snapshot)
        return [r for r in records if task is None or r.task == task]
    from bench.records.mlflow_store import RecordStore

    return RecordStore(settings.tracking_uri, create=False).records(task=task)


MULTI_VALUE_OPTIONS = ("--subjects", "--seeds", "--task")


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """Let ``--subjects 1 2 --seeds 0 1`` mean ``--subjects 1 --subjects 2 --seeds 0 --seeds 1``.

    Extra values are digits for --subjects/--seeds and names (not YAML paths) for --task.
    """
    out: list[str] = []
    current: str | None = None
    count = 0
    for token in argv:
        if token in MULTI_VALUE_OPTIONS:
            current, count = token, 0
            out.append(token)
            continue
        if current is not None and not token.startswith("-"):
            is_value = token.isdigit() if current != "--task" else not token.endswith((".yaml", ".yml"))
            if count == 0:
                out.append(token)
                count += 1
                continue
            if is_value:
                out += [current, token]
                continue
        current = None
        out.append(token)
    return out


# ---- help output ---------------------------------------------------------------------------------

def tidy_help() -> None:
    """Plain usage lines and help columns for every command (typer >= 0.20 prints ``{files}...``,
    ``<list[Path]>`` and ``<bool>``): arguments read ``FILES...``, flags show no type, repeatable
    options show their element type. Called once when the app is assembled; checked by tests/cli.
    """
    from typing import get_args

    from typer.core import TyperArgument, TyperOption

    if getattr(TyperArgument, "_bench_tidy", False):
        return
    original = TyperArgument.display_type_rich

    def usage_name(self) -> str:
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def argument_type(self, ctx) -> str | None:
        return original(self, ctx) if self.type_descriptor.is_choice else None

    def option_type(self, ctx) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag:
            return None
        desc = self.type_descriptor
        if desc.is_list and not desc.is_choice:
            return f"<{self._bare_type(get_args(desc.annotation)[0])}>"
        return original(self, ctx)

    TyperArgument.display_name_raw = property(lambda self: self.metavar or self.name.upper())
    TyperArgument._usage_display_name = usage_name
    TyperArgument.display_type_rich = argument_type
    TyperOption.display_type_rich = option_type
    TyperArgument._bench_tidy = True


# ---- files of the wrong kind, task inference -----------------------------------------------------

def check_submission_refs(refs: Sequence[Path | str], command: str = "evaluate") -> None:
    """Raise a ConfigError when a file given as a submission is a task file (``bench validate`` tells them apart)."""
    from bench.config import detect_kind, locate
    from bench.errors import ConfigError

    for ref in refs:
        path = Path(ref)
        if not path.is_file():  # a name: a task's name is recognised too
            try:
                locate(str(ref), "submission")
                continue
            except ConfigError:
                try:
                    path = locate(str(ref), "task")
                except ConfigError:
                    continue  # load_submission reports the unknown name (and lists the known ones)
        try:
            kind = detect_kind(path)
        except ConfigError:
            continue  # neither kind: load_submission reports the schema problems
        if kind == "task":
            name = _task_name(path)
            users = _submissions_naming(name)
            example = f"; submissions naming it: {', '.join(users)}" if users else ""
            usage = (f"bench evaluate <submission> --task {name}" if command == "evaluate"
                     else f"bench compare <submission> <submission> --task {name}")
            raise ConfigError(f"this is a task file, not a submission (task '{name}')", where=path,
                              fix=f"run `{usage}`{example}; `bench list submissions` lists them")


def _task_name(path: Path) -> str:
    from bench.config import load_task
    from bench.errors import BenchError

    try:
        return load_task(path).name
    except BenchError:
        return path.stem


def _submissions_naming(task: str) -> list[str]:
    """Submissions in the search folders whose ``tasks:`` include ``task`` (for a worked example)."""
    from bench.config import load_submission, search_dirs
    from bench.errors import BenchError

    found: dict[str, None] = {}
    for folder in search_dirs("submission"):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                if task in load_submission(path).spec.tasks:
                    found[path.stem] = None
            except BenchError:
                continue
    return list(found)


def infer_task(submissions: Sequence) -> str:
    """The one task every submission names (``tasks:``), or a ConfigError asking for ``--task``."""
    from bench.errors import ConfigError

    common = [t for t in submissions[0].spec.tasks if all(t in s.spec.tasks for s in submissions[1:])]
    if len(common) == 1:
        return common[0]
    listed = ", ".join(common) if common else "none"
    raise ConfigError(f"cannot infer the task: the submissions have {len(common)} tasks in common ({listed})",
                      field="--task", fix="name it: --task <task> (`bench list tasks` lists them)")


# ---- after a run ---------------------------------------------------------------------------------

def redact_uri(uri: str) -> str:
    """``uri`` without a password (``postgresql://user:***@host/db``)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, so ``json.dumps(allow_nan=False)`` accepts it."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return strict_json(value.item())  # numpy scalars
    return value
