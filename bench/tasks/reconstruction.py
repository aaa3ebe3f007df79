"""Image reconstruction from brain signals, scored with the MindEye / mind-vis metric table.

One unit = one subject (``scheme: within-subject``) and one seed. The submission's
``reconstructions:`` field names where the images come from (:mod:`bench.tasks.reconstruction_sources`
documents the folder layout and the generator contract):

- ``folder``: images on disk, ``<folder>/<test image id>.png`` or ``<folder>/<test image id>/<k>.png``;
- ``generator``: ``"package.module:function"``, called with the test brain embeddings;
- ``baseline: retrieval-nearest-train``: the training image nearest to the brain embedding;
- ``baseline: ground-truth`` / ``shuffled-ground-truth``: the sanity bounds of every metric.

Steps of a unit:

1. *(generator and retrieval-nearest-train only)* train the submission's brain encoder exactly as
   the retrieval task does: training data of the subject, a seeded validation split carved from it
   (``validation:``), image-model embeddings of the training images as targets, the recipe's loss;
   the checkpoint is chosen on validation only. The test split is not read before this is done.
2. read the test split: the subject's test items (THINGS-EEG2: the 80-repetition averages) and
   their ground-truth images; embed the test signals with the chosen checkpoint (L2-normalised).
3. produce the reconstructions and check them (missing / extra / unreadable / not RGB /
   inconsistent sizes / smaller than ``protocol.min_size``: a :class:`~bench.errors.DataError`
   naming the file, the test image id and the fix);
4. score them with :func:`bench.metrics.features.reconstruction_scores` (every metric of
   PROTOCOLS.md section 4 listed in ``protocol.metrics``), per image and overall.

Scoring conventions:

- all images are read as RGB, converted to float in [0, 1] and resized to 256 x 256 (bilinear,
  ``protocol.antialias``) with the metric suite's own :func:`~bench.metrics.reconstruction.resize_images`
  -- the first step of every metric, so doing it once here changes no number;
- **several samples per image** (S > 1): every sample set is scored against the ground truths and
  the per-image values are **averaged over the samples** (not best-of-S); the overall value is the
  mean over images. The Inception Score is a set-level score: it is computed once over all N x S
  reconstructions pooled (Inception-v3 logits at 299 px, ``protocol.is_splits`` seeded splits);
- seeded metrics (N-way trials, Inception Score splits) and the shuffled ground truth use the
  unit's seed, identical across submissions, so per-image values are paired. Folder and
  ground-truth sources do not depend on the seed otherwise: their seeds differ only in the seeded
  metrics (features are cached per process, so repeated seeds cost little);
- feature networks need local weights (``bench.metrics.features``). With
  ``protocol.missing_weights: skip`` a metric whose weights are absent is left out of the record's
  metrics and listed in ``info["missing_metrics"]`` with the reason (the file and where it was
  looked for); with ``error`` (the default of the real tasks) the unit fails with that message.
  ``protocol.extractors`` passes constructor parameters to an extractor (e.g. a smaller CLIP for
  tests); a task that changes them is a labelled variant, not the published recipe.
- per-image feature outputs are memoised in a :class:`FeatureMemo` object (keyed by the extractor, its
  weights file and the image's bytes; ``Reconstruction.features``, the process-wide :data:`FEATURES`
  by default), so the ground truth is featurised once per plan, not once per unit.

Record: ``metrics`` = ``pixcorr``, ``ssim``, ``alexnet2``, ``alexnet5``, ``inception``, ``clip``,
``effnet``, ``swav``, ``nway_top1``, ``inception_score`` (+ ``inception_score_std``), as listed in
``protocol.metrics``; encoder-trained sources add ``last_epoch/<metric>`` when
``selection.report_last_epoch``. ``per_item``: ``item_id`` (test image id), ``origin`` (file, or the
training/test image used by a baseline), ``n_samples``, and one column per per-image metric
(every metric except the Inception Score), for per-image paired comparisons
(:func:`bench.stats.items.compare_items`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from bench.config.schema import SubmissionSpec, split_names
from bench.errors import ConfigError, DataError, WeightsMissingError
from bench.metrics.features import ALL_METRICS, EXTRACTORS, FEATURE_METRICS, MINDEYE_TABLE
from bench.settings import Settings
from bench.tasks import TASK_KINDS
from bench.tasks.base import Protocol, Unit
from bench.tasks.pipeline import PipelineTaskKind, Scored, UnitContext
from bench.tasks.reconstruction_sources import Reconstructions
from bench.training.targets import l2_rows

TRAINED_SOURCES = ("generator", "retrieval-nearest-train")
FEATURE_CACHE_BYTES = 1 << 30          # per-process budget of memoised per-image feature outputs


class ReconstructionProtocol(Protocol):
    """Reconstruction protocol: which metrics, their settings, and the checks on submitted images."""

    metrics: list[str] = Field(default_factory=lambda: list(MINDEYE_TABLE),
                               description="metric names among bench.metrics.features.ALL_METRICS")
    missing_weights: Literal["error", "skip"] = "error"
    extractors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="constructor parameters per extractor key (labelled variants only)")
    antialias: bool = True
    n_way: int = Field(50, ge=2)
    top_k: int = Field(1, ge=1)
    trials: int | None = Field(1000, ge=1)
    is_splits: int = Field(10, ge=1)
    min_size: int = Field(64, ge=1, description="shortest side (px) a submitted reconstruction may have")

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = [m for m in value if m not in ALL_METRICS]
        if unknown or not value or len(set(value)) != len(value):
            raise ValueError(f"metrics must be distinct names among {list(ALL_METRICS)} (got {value})")
        return value

    @field_validator("extractors")
    @classmethod
    def _known_extractors(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        import inspect

        for key, params in value.items():
            if key not in EXTRACTORS:
                raise ValueError(f"unknown extractor '{key}' (use one of {sorted(EXTRACTORS)})")
            accepted = set()
            for klass in EXTRACTORS[key].__mro__:
                if "__init__" in vars(klass):
                    accepted |= {p for p in inspect.signature(klass.__init__).parameters
                                 if p not in ("self", "weights", "settings", "kwargs", "device")}
            bad = sorted(set(params) - accepted)
            if bad:
                raise ValueError(f"extractor '{key}' has no parameter(s) {bad} (accepted: {sorted(accepted)})")
        return value

    @model_validator(mode="after")
    def _top_k_le_n_way(self) -> "ReconstructionProtocol":
        if self.top_k > self.n_way:
            raise ValueError(f"top_k={self.top_k} exceeds n_way={self.n_way}")
        return self

    def extractor_keys(self) -> list[str]:
        """The feature extractors the metrics need (keys of ``EXTRACTORS``), in metric order."""
        keys: list[str] = []
        for m in self.metrics:
            key = (FEATURE_METRICS[m].extractor if m in FEATURE_METRICS else
                   "classifier" if m == "nway_top1" else "inception_v3" if m == "inception_score" else None)
            if key and key not in keys:
                keys.append(key)
        return keys


def _source_name(submission: SubmissionSpec) -> str:
    src = submission.reconstructions
    if src is None:
        return "none"
    return "folder" if src.folder is not None else "generator" if src.generator is not None else str(src.baseline)


# ------------------------------------------------------------------------------------ feature memo
class FeatureMemo:
    """Memoised per-image feature outputs (LRU, keyed by extractor, size and image bytes, at most
    ``budget`` bytes) and the loaded extractors, shared by every unit that is handed this object."""

    def __init__(self, budget: int = FEATURE_CACHE_BYTES) -> None:
        self.budget = int(budget)
        self.rows: "OrderedDict[tuple, dict[str, np.ndarray]]" = OrderedDict()
        self.nbytes = 0
        self.pool: dict[str, "MemoExtractor"] = {}

    def clear(self) -> None:
        """Forget memoised features and loaded extractors."""
        self.rows.clear()
        self.nbytes = 0
        self.pool.clear()

    def add(self, key: tuple, entry: dict[str, np.ndarray]) -> None:
        self.rows[key] = entry
        self.nbytes += sum(v.nbytes for v in entry.values())

    def evict(self) -> None:
        """Drop the least recently used rows until the budget holds (one row always stays)."""
        while self.nbytes > self.budget and len(self.rows) > 1:
            _, old = self.rows.popitem(last=False)
            self.nbytes -= sum(v.nbytes for v in old.values())


#: The process-wide memo the reconstruction task uses by default (features once per plan, not per unit).
FEATURES = FeatureMemo()


def clear_feature_cache() -> None:
    """Forget the process-wide memoised features and loaded extractors (tests; long-lived processes)."""
    FEATURES.clear()


class MemoExtractor:
    """A feature extractor whose per-image outputs are memoised by image content in ``memo`` (LRU).

    Exposes what :func:`~bench.metrics.features.reconstruction_scores` uses (``load``,
    ``weights_path``, ``extract``); the features themselves come from the wrapped extractor, so
    numbers are those of the metric suite. Rows are computed once per distinct image.
    """

    def __init__(self, inner: Any, ident: str, memo: FeatureMemo | None = None) -> None:
        self.inner = inner
        self.ident = ident
        self.memo = memo if memo is not None else FEATURES

    def load(self) -> "MemoExtractor":
        self.inner.load()
        return self

    def weights_path(self):
        return self.inner.weights_path()

    def extract(self, images: Any, *, size: int | None = None) -> dict[str, np.ndarray]:
        from bench.metrics.reconstruction import as_images

        memo = self.memo
        imgs = as_images(images, "images")
        keys = [(self.ident, size, hashlib.sha1(imgs[i].numpy().tobytes()).hexdigest()) for i in range(len(imgs))]
        todo: dict[tuple, int] = {}
        for i, k in enumerate(keys):
            if k in memo.rows:
                memo.rows.move_to_end(k)
            elif k not in todo:
                todo[k] = i
        if todo:
            out = self.inner.extract(imgs[list(todo.values())], size=size)
            for row, k in enumerate(todo):
                memo.add(k, {name: np.ascontiguousarray(v[row]) for name, v in out.items()})
        rows = [memo.rows[k] for k in keys]          # held before eviction can drop any of them
        memo.evict()
        return {name: np.stack([r[name] for r in rows]) for name in rows[0]}


def _extractor(key: str, protocol: ReconstructionProtocol, settings: Settings) -> Any:
    """The extractor ``key`` with the protocol's parameters (not loaded yet)."""
    kwargs: dict[str, Any] = dict(settings=settings, antialias=protocol.antialias)
    if key == "classifier":
        kwargs["batch_size"] = 8
    return EXTRACTORS[key](**kwargs, **protocol.extractors.get(key, {}))


def memo_extractor(key: str, protocol: ReconstructionProtocol, settings: Settings,
                   memo: FeatureMemo | None = None) -> MemoExtractor:
    """A memoising extractor, shared within ``memo`` (default: :data:`FEATURES`) by (key, parameters,
    weights file, device)."""
    memo = memo if memo is not None else FEATURES
    ext = _extractor(key, protocol, settings)
    try:
        path = ext.weights_path()
        stat = path.stat()
        where = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except WeightsMissingError:
        return MemoExtractor(ext, f"{key}:missing", memo)          # load() raises the explanation
    ident = json.dumps([key, protocol.antialias, protocol.extractors.get(key, {}), where, settings.torch_device()],
                       sort_keys=True, default=str)
    if ident not in memo.pool:
        memo.pool[ident] = MemoExtractor(ext, ident, memo)
    return memo.pool[ident]


# ------------------------------------------------------------------------------------ scoring
def to_base_tensor(arrays: list[np.ndarray], antialias: bool = True):
    """(H, W, 3) uint8 / float [0, 1] arrays -> float32 tensor (N, 3, 256, 256), the metrics' first step."""
    import torch

    from bench.metrics.reconstruction import BASE_SIZE, resize_images

    out = torch.empty((len(arrays), 3, BASE_SIZE, BASE_SIZE), dtype=torch.float32)
    for i, a in enumerate(arrays):
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        out[i] = resize_images(t, (BASE_SIZE, BASE_SIZE), antialias=antialias)[0]
    return out


def score_reconstructions(gt, recs: Reconstructions, protocol: ReconstructionProtocol, settings: Settings,
                          seed: int, memo: FeatureMemo | None = None) -> dict[str, Any]:
    """Score ``recs`` against ``gt`` ((N, 3, 256, 256) tensor) with the protocol's metrics; features
    are memoised in ``memo`` (default: the process-wide :data:`FEATURES`).

    Returns ``{"metrics": {name: float}, "per_image": {name: (N,) array, mean over samples},
    "missing": {name: reason}, "weights": {extractor key: path}}``.
    """
    from bench.metrics.features import IS_SIZE, reconstruction_scores
    from bench.metrics.reconstruction import inception_score

    per_image_metrics = tuple(m for m in protocol.metrics if m != "inception_score")
    keys = protocol.extractor_keys()
    exts = {k: memo_extractor(k, protocol, settings, memo) for k in keys}
    missing: dict[str, str] = {}
    weights: dict[str, str] = {}
    samples: dict[str, list[np.ndarray]] = {}
    want_is = "inception_score" in protocol.metrics
    if want_is:
        try:
            exts["inception_v3"].load()
        except WeightsMissingError as exc:
            if protocol.missing_weights == "error":
                raise
            missing["inception_score"] = str(exc)
            want_is = False
    is_logits = []
    for s in range(recs.n_samples):
        rec = to_base_tensor(recs.sample_arrays(s), protocol.antialias)
        if per_image_metrics:
            out = reconstruction_scores(gt, rec, metrics=per_image_metrics, settings=settings, extractors=exts,
                                        missing=protocol.missing_weights, antialias=protocol.antialias,
                                        n_way=protocol.n_way, top_k=protocol.top_k, trials=protocol.trials,
                                        seed=seed, is_splits=protocol.is_splits)
            missing.update(out["missing"])
            weights.update(out["weights"])
            for m, values in out["per_image"].items():
                samples.setdefault(m, []).append(np.asarray(values, dtype=np.float64))
        if want_is:
            is_logits.append(exts["inception_v3"].extract(rec, size=IS_SIZE)["logits"])
        del rec
    per_image = {m: np.mean(np.stack(v), axis=0) for m, v in samples.items()}
    metrics = {m: float(per_image[m].mean()) for m in protocol.metrics if m in per_image}
    if want_is:
        logits = np.concatenate(is_logits)
        if len(logits) < protocol.is_splits:
            raise DataError(f"the Inception Score needs at least is_splits={protocol.is_splits} reconstructions; "
                            f"this unit has {len(logits)}", where="protocol.is_splits",
                            fix="lower protocol.is_splits for this (small) test set")
        metrics["inception_score"], metrics["inception_score_std"] = inception_score(
            logits, splits=protocol.is_splits, seed=seed, from_logits=True)
        weights["inception_v3"] = str(exts["inception_v3"].weights_path())
    return {"metrics": metrics, "per_image": per_image, "missing": missing, "weights": weights}


# ------------------------------------------------------------------------------------ the task kind
@TASK_KINDS.register("reconstruction")
class Reconstruction(PipelineTaskKind):
    """Score a submission's image reconstructions; see the module docstring."""

    name = "reconstruction"
    ProtocolModel = ReconstructionProtocol
    features: FeatureMemo = FEATURES
    """The feature memo units of this kind share (replace it on an instance to isolate a run)."""

    # ---- plan --------------------------------------------------------------------------------
    def splits(self) -> list[tuple[str, int]]:
        if self.task.scheme != "within-subject":
            raise ConfigError(f"scheme '{self.task.scheme}' is not supported by task kind 'reconstruction'",
                              where=f"task '{self.task.name}'", field="scheme",
                              fix="use 'within-subject' (one unit per subject and seed)")
        return split_names(self.task.scheme, self.task.dataset.subjects)

    def validate_submission(self, submission: SubmissionSpec) -> None:
        src = submission.reconstructions
        where = f"submission '{submission.name}'"
        if src is None:
            raise ConfigError(f"task '{self.task.name}' scores image reconstructions, but the submission declares none",
                              where=where, field="reconstructions",
                              fix="add 'reconstructions: {folder: DIR}', '{generator: \"pkg.module:function\"}' or "
                                  "'{baseline: retrieval-nearest-train}' (see bench/tasks/reconstruction_sources.py)")
        if src.folder is not None:
            from bench.tasks.reconstruction_sources import folder_path

            folder_path(src.folder, 1)
        if src.generator is not None:
            import importlib.util

            module = src.generator.partition(":")[0]
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise ConfigError(f"generator module '{module}' cannot be found", where=where,
                                  field="reconstructions.generator",
                                  fix="install its package or add its folder to PYTHONPATH")
        if _source_name(submission) in TRAINED_SOURCES:
            from bench.encoders import ENCODERS
            from bench.images import IMAGE_MODELS

            ENCODERS.require(submission.encoder.name)
            IMAGE_MODELS.require(submission.image_model.name)

    def chance(self) -> dict[str, float]:
        from bench.metrics import METRICS

        out = {}
        for m in self.protocol.metrics:
            info = METRICS.get(m)
            if info.chance is not None:
                out[m] = info.chance if m != "nway_top1" else self.protocol.top_k / self.protocol.n_way
        return out

    def fingerprint(self, unit: Unit, settings: Settings) -> dict[str, str]:
        from bench.data.checksum import combine, file_sha256, files_sha256
        from bench.data.locate import open_dataset
        from bench.tasks.reconstruction_sources import folder_files, folder_path, generator_origin

        ds = open_dataset(self.task.dataset, settings)
        src = unit.submission.reconstructions
        source = _source_name(unit.submission)
        parts = [ds.checksum(unit.subject, "test"), ds.images("test").content_hash(settings.cache_dir)]
        weights = []
        out: dict[str, str] = {}
        if source in TRAINED_SOURCES:
            from bench.images import build_image_model

            parts += [ds.checksum(unit.subject, "train"), ds.images("train").content_hash(settings.cache_dir)]
            model = build_image_model(unit.submission.image_model.name, unit.submission.image_model.params, settings)
            weights.append(model.weights_checksum())
            out["image_model_id"] = model.model_id
        if src is not None and src.folder is not None:
            root = folder_path(src.folder, unit.subject)
            if not root.is_dir():
                raise DataError("reconstruction folder not found", where=root,
                                fix="create it (one <test image id>.png per test image) or correct "
                                    "reconstructions.folder (relative to the working directory)")
            parts.append(files_sha256(folder_files(root), settings.cache_dir, root=root))
        if src is not None and src.generator is not None:
            origin = generator_origin(src.generator)
            parts.append(f"generator:{file_sha256(origin, settings.cache_dir) if origin else 'unknown'}")
        for key in self.protocol.extractor_keys():
            try:
                path = _extractor(key, self.protocol, settings).weights_path()
                weights.append(f"{key}:{file_sha256(path, settings.cache_dir)}")
            except WeightsMissingError:
                weights.append(f"{key}:absent")
        out.update(data_checksum=combine(parts), weights_checksum=combine(weights))
        return out

    # ---- the unit's steps (bench.tasks.pipeline runs them in order) ---------------------------
    def prepare(self, ctx: UnitContext) -> "ReconstructionData":
        """Check the source; for trained sources, the subject's training rows and image targets."""
        from bench.data.locate import open_dataset

        unit = ctx.unit
        source = _source_name(unit.submission)
        if source == "none":
            self.validate_submission(unit.submission)
        if ctx.validation_only and source not in TRAINED_SOURCES:
            raise ConfigError(f"reconstruction source '{source}' trains nothing, so there is nothing to validate",
                              where=f"submission '{unit.submission.name}'", field="reconstructions",
                              fix="tune only submissions with a generator or the retrieval-nearest-train baseline")
        task = self.task
        ds = open_dataset(task.dataset, ctx.settings)
        load_kw = dict(channels=task.dataset.channels, time_window=task.dataset.time_window)
        ctx.info["source"] = source
        data = ReconstructionData(ds, load_kw, source)
        if source in TRAINED_SOURCES:
            self._prepare_training(ctx, data)
        return data

    def _prepare_training(self, ctx: UnitContext, data: "ReconstructionData") -> None:
        """Training rows, validation split and image targets, as the retrieval task builds them."""
        from bench.data.splits import validation_split
        from bench.images import build_image_model, embed_image_set
        from bench.training.targets import check_embed_dim, normalise_targets, training_sets

        task, unit, settings = self.task, ctx.unit, ctx.settings
        sub, recipe = unit.submission, unit.submission.recipe
        with ctx.timed("load_train"):
            train = data.ds.load(unit.subject, "train", repetitions=task.dataset.train_repetitions, **data.load_kw)
        tr_idx, va_idx = validation_split(train.image_ids, train.concepts, by=task.validation.by,
                                          fraction=task.validation.fraction, seed=unit.seed)
        with ctx.timed("embed_train_images"):
            image_model = build_image_model(sub.image_model.name, sub.image_model.params, settings)
            data.train_images = data.ds.images("train")
            train_emb = embed_image_set(image_model, data.train_images, settings, progress=ctx.progress)
        row_image = data.train_images.index_of(train.image_ids)
        data.centre, _ = normalise_targets(train_emb[np.unique(row_image[tr_idx])], recipe.normalise)
        data.targets = l2_rows(train_emb - data.centre)
        check_embed_dim(recipe, data.targets.shape[1], sub.name)
        data.sets = training_sets(train, row_image, data.targets, tr_idx, va_idx)
        data.shape = train.shape
        ctx.info.update({"n_train": int(len(tr_idx)), "n_val": int(len(va_idx)), "device": settings.torch_device(),
                         "train_data_checksum": train.checksum, "image_model_id": image_model.model_id})

    def train(self, ctx: UnitContext, prepared: "ReconstructionData"):
        """Train the submission's encoder as the retrieval task does (validation-only selection)."""
        from bench.training.encoder import train_encoder

        if prepared.source not in TRAINED_SOURCES:
            return None
        unit = ctx.unit
        train_set, val_set = prepared.sets
        prepared.sets = ()
        trained = train_encoder(unit.submission, prepared.shape, [unit.subject], train_set, val_set, seed=unit.seed,
                                device=ctx.settings.torch_device(), selection_metric=self.task.selection.metric,
                                on_epoch=ctx.on_epoch, progress=ctx.progress)
        ctx.info["n_parameters"] = trained.n_parameters
        return trained

    def load_test(self, ctx: UnitContext, prepared: "ReconstructionData", trained) -> "ReconstructionTest":
        from bench.tasks.reconstruction_sources import read_rgb

        with ctx.timed("load_test"):
            test = prepared.ds.load(ctx.unit.subject, "test", repetitions="average", **prepared.load_kw)
            ids = [str(i) for i in test.image_ids]
            if len(set(ids)) != len(ids):
                raise DataError(f"subject {ctx.unit.subject}'s test split shows some images more than once; a "
                                "reconstruction is scored per test image", where=f"task '{self.task.name}'",
                                field="dataset", fix="use test_repetitions: average (one item per test image)")
            test_images = prepared.ds.images("test")
            gt_paths = [test_images.paths[i] for i in test_images.index_of(ids)]
            gt = to_base_tensor([read_rgb(p, i, convert=True) for p, i in zip(gt_paths, ids)],
                                self.protocol.antialias)
        return ReconstructionTest(test, ids, gt_paths, gt)

    def checkpoints(self, ctx: UnitContext, trained) -> list[tuple[str, str | None]]:
        """The chosen epoch; the last one too when reported and different (else its metrics are copied)."""
        if trained is None:
            return [("", None)]
        result = trained.result
        if self.task.selection.report_last_epoch and result.last_epoch != result.chosen_epoch:
            return [("", "best"), ("last_epoch/", "last")]
        return [("", "best")]

    def score(self, ctx: UnitContext, prepared: "ReconstructionData", trained, test: "ReconstructionTest",
              label: str) -> Scored:
        unit, ids = ctx.unit, test.ids
        with ctx.timed("reconstruct"):
            if trained is None:
                recs = self._fixed_source(unit, ids, test.gt_paths)
            else:
                brain = l2_rows(trained.embed(test.data.signals, test.data.subjects))
                recs = self._trained_source(unit, ids, brain, prepared)
        with ctx.timed("score"):
            scored = score_reconstructions(test.gt, recs, self.protocol, ctx.settings, unit.seed, self.features)
        per_item: dict[str, list] = {}
        if label == "":
            per_item = {"item_id": ids, "origin": list(recs.origin), "n_samples": [recs.n_samples] * len(ids)}
            per_item.update({m: [float(x) for x in v] for m, v in scored["per_image"].items()})
            ctx.info.update(n_samples=recs.n_samples, reconstruction_size=list(recs.size) if recs.size else None,
                            **recs.info)
        return Scored(scored["metrics"], per_item, scored)

    def finish(self, ctx: UnitContext, prepared: "ReconstructionData", trained, test: "ReconstructionTest",
               scored: dict[str, Scored], metrics: dict[str, float]) -> None:
        first = scored[""].extra
        if trained is not None and self.task.selection.report_last_epoch and len(scored) == 1:
            metrics.update({f"last_epoch/{k}": v for k, v in first["metrics"].items()})  # last epoch = chosen
        ctx.info.update(n_test=len(test.ids), metrics_scored=sorted(first["metrics"]),
                        missing_metrics=first["missing"], metric_weights=first["weights"], chance=self.chance(),
                        seed_use=("training, validation split and seeded metrics" if trained is not None else
                                  "seeded metrics only (N-way trials, IS splits" +
                                  (", the derangement)" if prepared.source == "shuffled-ground-truth" else ")")))
        if first["missing"]:
            ctx.info["note"] = (f"metrics {sorted(first['missing'])} were not scored: their feature weights are "
                                "absent (protocol.missing_weights: skip); see missing_metrics for the files and "
                                "where they were looked for")

    # ---- sources -----------------------------------------------------------------------------
    def _fixed_source(self, unit: Unit, ids: list[str], gt_paths: list) -> Reconstructions:
        """Folder and ground-truth sources (no training)."""
        from bench.tasks import reconstruction_sources as rs

        src = unit.submission.reconstructions
        assert src is not None
        if src.folder is not None:
            return rs.scan_folder(rs.folder_path(src.folder, unit.subject), ids, self.protocol.min_size)
        if src.baseline == "ground-truth":
            return rs.from_paths(ids, gt_paths, list(ids), "ground-truth")
        perm = rs.derangement(len(ids), unit.seed)
        return rs.from_paths(ids, [gt_paths[k] for k in perm], [ids[k] for k in perm], "shuffled-ground-truth")

    def _trained_source(self, unit: Unit, ids: list[str], brain: np.ndarray,
                        data: "ReconstructionData") -> Reconstructions:
        """Generator and retrieval-nearest-train sources, from the test brain embeddings."""
        from bench.tasks import reconstruction_sources as rs

        src = unit.submission.reconstructions
        assert src is not None
        train_images = data.train_images
        if src.baseline == "retrieval-nearest-train":
            rows = rs.nearest_train(brain, data.targets)
            return rs.from_paths(ids, [train_images.paths[r] for r in rows], [train_images.ids[r] for r in rows],
                                 "retrieval-nearest-train")
        fn = rs.resolve_generator(src.generator)
        context = {"train_image_embeddings": data.targets, "train_image_ids": list(train_images.ids),
                   "train_image_paths": list(train_images.paths), "centre": data.centre,
                   "subject": unit.subject, "seed": unit.seed, "image_size": self.protocol.min_size}
        out = rs.call_generator(fn, brain, ids, context, dict(src.params))
        return rs.from_generator_output(out, ids, self.protocol.min_size, src.generator)


@dataclass
class ReconstructionData:
    """What ``prepare`` read: the dataset and the source; for trained sources the training sets,
    the training images and their normalised embeddings (the generator's context)."""

    ds: Any
    load_kw: dict
    source: str
    train_images: Any = None
    targets: Any = None
    centre: Any = None
    shape: dict = field(default_factory=dict)
    sets: tuple = ()


@dataclass
class ReconstructionTest:
    """The test split: brain data, test image ids, ground-truth paths and the (N, 3, 256, 256) tensor."""

    data: Any
    ids: list[str]
    gt_paths: list
    gt: Any


__all__ = ["FEATURES", "FEATURE_CACHE_BYTES", "FeatureMemo", "MemoExtractor", "Reconstruction",
           "ReconstructionProtocol", "clear_feature_cache", "memo_extractor", "score_reconstructions",
           "to_base_tensor"]
