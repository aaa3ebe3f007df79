"""Search spaces for ``bench tune``: which submission fields vary, over which ranges, and how.

A space file names submission fields by their dotted path (the same path as in the submission
YAML) and gives each a distribution::

    # submissions/spaces/atm.yaml
    description: AlignVis-style ranges for ATM-S
    metric: val_top1                  # default: the task's selection metric (always a validation metric)
    pruner: {name: median, n_startup_trials: 5, n_warmup_steps: 3}
    sampler: {name: tpe, n_startup_trials: 10}
    baseline: true                    # a new study's first trial runs the submission's own values
    params:
      recipe.optimizer.lr:        {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
      recipe.optimizer.weight_decay: {type: float, low: 0.0, high: 0.1}
      recipe.batch_size:          {type: categorical, choices: [64, 128, 256]}
      recipe.epochs:              {type: int, low: 20, high: 80, step: 10}
      encoder.params.dropout:     {type: float, low: 0.1, high: 0.5}

``val_loss`` depends on the batch size (the number of in-batch negatives), the temperature, the loss
and the image embeddings, so a space that tunes any of those must use ``metric: val_top1``
(checked). Write floats with a dot (``1.0e-5``): YAML 1.1 reads ``1e-5`` as a string. Paths are checked
against the submission schema (``bench/config/schema.py``) and, under ``encoder.params``, against
the parameters the encoder accepts; every bound and choice is checked by building the submission
with it, so a bad space fails before the first trial, naming the file, the field and the fix.

>>> space = load_space("submissions/spaces/atm.yaml")
>>> space.check_against(load_submission("submissions/atm_dreamsim.yaml").spec, where=...)
>>> overrides = space.to_overrides({"recipe.optimizer.lr": 3e-4})   # nested dict for load_submission
"""

from __future__ import annotations

import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bench.errors import ConfigError

#: Submission fields a search never changes: identity and free labels.
FIXED_FIELDS = ("name", "description", "authors", "tasks", "tags")

#: Fields that change what ``val_loss`` measures (number of negatives, temperature, loss, targets):
#: trials that differ in them can only be compared on ``val_top1``.
LOSS_SCALE_PREFIXES = ("recipe.batch_size", "recipe.temperature.", "recipe.loss", "recipe.mse_weight",
                       "recipe.exclude_false_negatives", "recipe.normalise", "image_model.")

_MISSING = object()

Scalar = Union[bool, int, float, str, None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatParam(_Strict):
    """A float in [low, high]; ``log`` samples on a log scale (low > 0); ``step`` discretises (not with log)."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "FloatParam":
        _check_range(self.low, self.high, self.log, self.step)
        return self

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            return False
        return self.step is None or math.isclose((value - self.low) / self.step,
                                                 round((value - self.low) / self.step), abs_tol=1e-9)

    def examples(self) -> list[Any]:
        return [self.low, self.high]


class IntParam(_Strict):
    """An int in [low, high] with ``step`` (default 1); ``log`` samples on a log scale (step 1, low >= 1)."""

    type: Literal["int"]
    low: int
    high: int
    step: int = Field(1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> "IntParam":
        _check_range(self.low, self.high, self.log, None if self.step == 1 else self.step)
        return self

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high
                and (value - self.low) % self.step == 0)

    def examples(self) -> list[Any]:
        return [self.low, self.high]


class CategoricalParam(_Strict):
    """One of ``choices`` (scalars: numbers, strings, booleans, null)."""

    type: Literal["categorical"]
    choices: list[Scalar] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "CategoricalParam":
        if len({repr(c) for c in self.choices}) != len(self.choices):
            raise ValueError(f"duplicate choices in {self.choices}")
        return self

    def suggest(self, trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))

    def contains(self, value: Any) -> bool:
        return any(c == value and isinstance(c, bool) == isinstance(value, bool) for c in self.choices)

    def examples(self) -> list[Any]:
        return list(self.choices)


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("low and high must be finite numbers")
    if low >= high:
        raise ValueError(f"low ({low}) must be smaller than high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0 (got {low})")
    if log and step is not None:
        raise ValueError("'log: true' and 'step' cannot be combined (Optuna samples one or the other)")


Param = Annotated[Union[FloatParam, IntParam, CategoricalParam], Field(discriminator="type")]


class PrunerSpec(_Strict):
    """The pruner that stops unpromising trials from their per-epoch validation metric.

    name:             median (stop when worse than the median of finished trials at that epoch),
                      percentile (worse than ``percentile``), or none.
    n_startup_trials: finished trials needed before anything is pruned.
    n_warmup_steps:   epochs a trial always runs before it may be pruned.
    interval_steps:   check every this many epochs.
    percentile:       for ``percentile``: the percentile (0-100) a trial must beat.
    """

    name: Literal["median", "percentile", "none"] = "median"
    n_startup_trials: int = Field(5, ge=0)
    n_warmup_steps: int = Field(0, ge=0)
    interval_steps: int = Field(1, ge=1)
    percentile: float = Field(25.0, gt=0, lt=100)

    def build(self):
        import optuna

        if self.name == "none":
            return optuna.pruners.NopPruner()
        kw = dict(n_startup_trials=self.n_startup_trials, n_warmup_steps=self.n_warmup_steps,
                  interval_steps=self.interval_steps)
        if self.name == "median":
            return optuna.pruners.MedianPruner(**kw)
        return optuna.pruners.PercentilePruner(self.percentile, **kw)


class SamplerSpec(_Strict):
    """How trials' values are chosen: TPE (default) or uniform random; always seeded (``bench tune --seed``)."""

    name: Literal["tpe", "random"] = "tpe"
    n_startup_trials: int = Field(10, ge=0, description="TPE: random trials before the model is used")
    multivariate: bool = False

    def build(self, seed: int):
        import optuna

        if self.name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials,
                                          multivariate=self.multivariate)


class SearchSpace(_Strict):
    """A search-space file: the distributions per dotted submission path, plus metric, pruner and sampler."""

    description: str = ""
    metric: Literal["val_loss", "val_top1"] | None = Field(
        None, description="objective (validation only); default: the task's selection.metric")
    pruner: PrunerSpec = PrunerSpec()
    sampler: SamplerSpec = SamplerSpec()
    baseline: bool = Field(True, description="a new study's first trial runs the submission's own values "
                                             "(those that lie inside the space), so the search starts from them")
    params: dict[str, Param] = Field(min_length=1)

    # ---- use --------------------------------------------------------------------------------
    def suggest(self, trial) -> dict[str, Any]:
        """Ask ``trial`` (an ``optuna.Trial``) for one value per path."""
        return {path: dist.suggest(trial, path) for path, dist in self.params.items()}

    @staticmethod
    def to_overrides(values: dict[str, Any]) -> dict[str, Any]:
        """``{"recipe.optimizer.lr": 1e-4}`` -> ``{"recipe": {"optimizer": {"lr": 1e-4}}}`` (nested overrides)."""
        out: dict[str, Any] = {}
        for path, value in values.items():
            node = out
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return out

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def baseline_values(self, submission) -> dict[str, Any]:
        """The submission's own value of every path that has one inside the space (for the baseline trial)."""
        data = submission.model_dump(mode="json")
        out: dict[str, Any] = {}
        for path, dist in self.params.items():
            node: Any = data
            for part in path.split("."):
                if not isinstance(node, dict) or part not in node:
                    node = _MISSING
                    break
                node = node[part]
            if node is not _MISSING and dist.contains(node):
                out[path] = node
        return out

    def loss_scale_paths(self) -> list[str]:
        """Paths that change the scale of the training/validation loss (so ``val_loss`` cannot compare trials)."""
        return [p for p in self.params if p == "image_model" or p.startswith(LOSS_SCALE_PREFIXES)]

    # ---- checks -----------------------------------------------------------------------------
    def check_paths(self, where: Path | str | None = None) -> None:
        """Every path names a tunable field of the submission schema (``encoder.params.*`` is free-form)."""
        from bench.config.schema import SubmissionSpec

        paths = sorted(self.params)
        for a in paths:
            for b in paths:
                if b.startswith(a + "."):
                    raise ConfigError(f"'{a}' and '{b}' overlap: one is inside the other", where=where,
                                      field=f"params.{b}", fix=f"tune either '{a}' or the fields inside it")
        for path in paths:
            _check_path(path, SubmissionSpec, where)

    def check_against(self, submission, where: Path | str | None = None) -> None:
        """Build ``submission`` with every bound / choice of every path, so type and range errors
        (and unknown ``encoder.params``) surface now rather than in a trial.

        ``submission`` is a :class:`~bench.config.schema.SubmissionSpec`.
        """
        from bench.config.schema import SubmissionSpec
        from bench.config.yaml_io import deep_merge

        self.check_paths(where)
        base = submission.model_dump(mode="json")
        encoder_names = {submission.encoder.name}
        if "encoder.name" in self.params:
            encoder_names = {str(c) for c in self.params["encoder.name"].examples()}
        for path, dist in self.params.items():
            for value in dist.examples():
                data = deep_merge(base, self.to_overrides({path: value}))
                try:
                    SubmissionSpec.model_validate(data)
                except ValidationError as exc:
                    msg = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
                    raise ConfigError(f"the value {value!r} of '{path}' does not make a valid submission "
                                      f"'{submission.name}': {msg}", where=where, field=f"params.{path}",
                                      fix="change the range or choices to values the field accepts "
                                          "(see bench/config/schema.py)") from None
            if path.startswith("encoder.params."):
                _check_encoder_param(path.split(".", 2)[2], encoder_names, where, path)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    for a in args:
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _is_free_mapping(annotation: Any) -> bool:
    """``dict[...]`` or ``dict[...] | None``: a free-form mapping whose keys the schema does not fix."""
    if typing.get_origin(annotation) is dict or annotation is dict:
        return True
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return any(_is_free_mapping(a) for a in typing.get_args(annotation))
    return False


def _check_path(path: str, root: type[BaseModel], where: Path | str | None) -> None:
    parts = path.split(".")
    field = f"params.{path}"
    if any(not p for p in parts):
        raise ConfigError(f"'{path}' is not a dotted path", where=where, field=field,
                          fix="write e.g. 'recipe.optimizer.lr' (no empty segments)")
    if parts[0] in FIXED_FIELDS:
        raise ConfigError(f"'{parts[0]}' cannot be tuned (identity and labels stay fixed)", where=where,
                          field=field, fix="tune fields of 'encoder', 'image_model' or 'recipe'")
    model: type[BaseModel] = root
    for i, part in enumerate(parts):
        fields = model.model_fields
        if part not in fields:
            done = ".".join(parts[:i]) or "the submission"
            allowed = sorted(set(fields) - (set(FIXED_FIELDS) if i == 0 else set()))
            raise ConfigError(f"'{path}' does not exist: '{part}' is not a field of {done}", where=where,
                              field=field, fix=f"use one of: {', '.join(allowed)} (under {done}; see "
                                               "bench/config/schema.py)")
        annotation = fields[part].annotation
        last = i == len(parts) - 1
        sub = _model_of(annotation)
        if _is_free_mapping(annotation):
            if last or len(parts) != i + 2:
                raise ConfigError(f"'{path}' must name one key inside '{'.'.join(parts[:i + 1])}'", where=where,
                                  field=field, fix=f"write e.g. '{'.'.join(parts[:i + 1])}.dropout'")
            return
        if sub is not None and not last:
            model = sub
            continue
        if sub is not None and last:
            raise ConfigError(f"'{path}' is a whole block, not a value", where=where, field=field,
                              fix=f"tune its fields instead: {', '.join(f'{path}.{f}' for f in sub.model_fields)}")
        if not last:
            raise ConfigError(f"'{path}' does not exist: '{'.'.join(parts[:i + 1])}' is a value, not a block",
                              where=where, field=field, fix=f"use '{'.'.join(parts[:i + 1])}' itself")
        return


def _check_encoder_param(name: str, encoder_names: set[str], where, path: str) -> None:
    try:
        from bench.encoders import ENCODERS, accepted_params
    except ImportError:  # encoders not importable: the trial will say it
        return
    for enc in sorted(encoder_names):
        try:
            cls = ENCODERS.get(enc)
        except Exception:
            continue  # an unknown encoder name is reported by the submission's own validation
        accepted = accepted_params(cls)
        if name not in accepted:
            raise ConfigError(f"encoder '{enc}' has no parameter '{name}'", where=where, field=f"params.{path}",
                              fix=f"use one of: {', '.join(accepted) or '(none)'}")


def load_space(path: Path | str) -> SearchSpace:
    """Read and validate a search-space YAML file (safe YAML; errors name the file and field)."""
    from bench.config import validation_error
    from bench.config.yaml_io import read_yaml

    path = Path(path)
    data = read_yaml(path)
    try:
        space = SearchSpace.model_validate(data)
    except ValidationError as exc:
        err = validation_error(exc, path, SearchSpace)
        raise ConfigError(err.what.replace("bench/config/schema.py", "bench/tuning/space.py"), where=path,
                          field=err.field, fix="correct the field(s) above; distributions are {type: float|int, "
                                               "low, high, log?, step?} or {type: categorical, choices: [...]}"
                          ) from None
    space.check_paths(path)
    return space


__all__ = ["CategoricalParam", "FloatParam", "IntParam", "PrunerSpec", "SamplerSpec", "SearchSpace", "load_space"]
