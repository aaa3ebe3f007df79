"""Full validation of task and submission files: schema, ``extends``, kind protocol, plug-in names and
parameters, headline metric.

Planning code: plug-ins are checked by name and by their constructor signature read from source
(:mod:`bench.config.resolve`), never imported, so ``bench validate`` does not import torch.
"""

from __future__ import annotations

from pathlib import Path

from bench.config import Loaded, detect_kind, load_submission, load_task
from bench.errors import ConfigError, RegistryError


def validate_file(path: Path | str) -> Loaded:
    """Load and check one task or submission file; raise ConfigError naming file, field and fix."""
    path = Path(path)
    kind = detect_kind(path)
    if kind == "task":
        loaded = load_task(path)
        _check_task(loaded)
        return loaded
    loaded = load_submission(path)
    _check_submission(loaded)
    return loaded


def _registry_check(require, name: str, where: Path | None, field: str) -> None:
    try:
        require(name)
    except RegistryError as exc:
        raise ConfigError(exc.what, where=where, field=field, fix=exc.fix) from None


def _check_task(loaded: Loaded) -> None:
    from bench.data import DATASETS
    from bench.tasks import TASK_KINDS, task_kind

    spec = loaded.spec
    _registry_check(TASK_KINDS.require, spec.kind, loaded.path, "kind")
    _registry_check(DATASETS.require, spec.dataset.name, loaded.path, "dataset.name")
    variants = DATASETS.get(spec.dataset.name).variants
    if spec.dataset.variant is not None and spec.dataset.variant not in variants:
        raise ConfigError(f"unknown variant '{spec.dataset.variant}' of {spec.dataset.name}", where=loaded.path,
                          field="dataset.variant", fix=f"use one of {list(variants)}")
    try:
        task_kind(spec)
    except ConfigError as exc:
        raise ConfigError(exc.what, where=loaded.path, field=exc.field, fix=exc.fix) from None


def _check_submission(loaded: Loaded) -> None:
    from bench.encoders import ENCODERS
    from bench.images import IMAGE_MODELS
    from bench.tasks import task_kind

    spec = loaded.spec
    _registry_check(ENCODERS.require, spec.encoder.name, loaded.path, "encoder.name")
    _registry_check(IMAGE_MODELS.require, spec.image_model.name, loaded.path, "image_model.name")
    for which in ("encoder", "image_model"):
        _check_params(loaded, which)
    for i, name in enumerate(spec.tasks):
        try:
            task = load_task(name)
        except ConfigError as exc:
            raise ConfigError(exc.what, where=loaded.path, field=f"tasks[{i}]", fix=exc.fix) from None
        _check_task(task)
        try:
            task_kind(task.spec).validate_submission(spec)
        except (ConfigError, RegistryError) as exc:
            raise ConfigError(exc.what, where=loaded.path, field=getattr(exc, "field", None) or f"tasks[{i}]",
                              fix=exc.fix) from None


def _check_params(loaded: Loaded, which: str) -> None:
    """Every ``<which>.params`` name is a constructor parameter of the plug-in (and not a signal one)."""
    from bench.config.resolve import component_signature
    from bench.encoders import SIGNAL_PARAMS

    comp = getattr(loaded.spec, which)
    sig = component_signature(comp.name, which)
    if sig is None:
        return
    for key in sig.unknown(comp.params):
        if which == "encoder" and key in SIGNAL_PARAMS:
            raise ConfigError(f"'{key}' is taken from the data, not set by hand", where=loaded.path,
                              field=f"encoder.params.{key}", fix=f"remove encoder.params.{key}")
        raise ConfigError(f"unknown parameter '{key}' for {which.replace('_', ' ')} '{comp.name}'",
                          where=loaded.path, field=f"{which}.params.{key}",
                          fix=f"use one of: {', '.join(sig.defaults) or '(none)'}")
