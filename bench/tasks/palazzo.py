"""What the ImageNet-EEG task kinds (classification, saliency) share: protocol, splits, data, training.

Both kinds train the Palazzo et al. 2020 siamese EEG/image model (:mod:`bench.training.joint`) on
the same rows; :class:`ImageNetEEGKind` holds the pipeline's first two steps for them:

- ``prepare``: the training and validation rows of the unit's subjects (``protocol.validation``:
  the split file's val part, or carved from training images, seeded) -- the test split is not read;
- ``train``: :func:`bench.training.joint.train_joint` (the epoch is chosen on validation only).

This module imports no torch.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np

from bench.config.schema import SubmissionSpec, split_names
from bench.errors import ConfigError
from bench.settings import Settings
from bench.tasks.base import Protocol, TaskKind, Unit
from bench.tasks.pipeline import PipelineTaskKind, UnitContext


class ImageNetEEGProtocol(Protocol):
    """Split options shared by the ImageNet-EEG tasks."""

    split_file: Literal["all", "single"] = "all"
    split_index: int = 0
    validation: Literal["published", "carved"] = "published"
    classifier_l2: list[float] = [1e-4, 1e-3, 1e-2, 1e-1]


def unit_subjects(task, unit: Unit) -> list[int]:
    """The subjects a unit trains and tests on."""
    return list(task.dataset.subjects) if task.scheme == "pooled" else [unit.subject]


def imagenet_splits(task) -> list[tuple[str, int]]:
    """``[("pooled", 0)]`` for the pooled scheme, else one ``sub-XX`` split per subject."""
    if task.scheme in ("pooled", "within-subject"):
        return split_names(task.scheme, task.dataset.subjects)
    raise ConfigError(f"scheme '{task.scheme}' is not supported by task kind '{task.kind}'", where=f"task '{task.name}'",
                      field="scheme", fix="use 'pooled' (Palazzo: all subjects, one model) or 'within-subject'")


def imagenet_fingerprint(kind: TaskKind, unit: Unit, settings: Settings, extra_variants: tuple[str, ...] = (),
                         fixations: bool = False) -> dict[str, str]:
    """Checksums of the EEG/split files, image sets (and fixations) and the image model's weights."""
    from bench.data.checksum import combine, files_sha256
    from bench.images import build_image_model
    ds = open_imagenet_eeg(kind.task, settings, kind.protocol)
    parts = [ds.checksum(0, "train")] + [ds.with_variant(v).checksum(0, "train") for v in extra_variants]
    parts += [ds.images(p).content_hash(settings.cache_dir) for p in ("train", "val", "test")]
    if fixations:
        parts.append(files_sha256(ds.fixation_files(), settings.cache_dir, root=ds.root))
    model = build_image_model(unit.submission.image_model.name, unit.submission.image_model.params, settings)
    return {"data_checksum": combine(parts), "weights_checksum": model.weights_checksum(),
            "image_model_id": model.model_id}


def validate_imagenet_submission(submission: SubmissionSpec) -> None:
    from bench.encoders import ENCODERS
    from bench.images import IMAGE_MODELS
    from bench.training.joint_spec import check_recipe

    ENCODERS.require(submission.encoder.name)
    IMAGE_MODELS.require(submission.image_model.name)
    check_recipe(submission)


def load_joint_data(ds: Any, subjects: Sequence[int], *, validation: str = "published", by: str = "image",
                    fraction: float = 0.1, seed: int = 0) -> Any:
    """Train/val rows of ``subjects`` (pooled) and their images (the test split is not read).

    validation: ``"published"`` (the split file's val part) or ``"carved"`` (a seeded ``fraction``
    of the training images or concepts, :func:`bench.data.splits.validation_split`).
    """
    from bench.data.splits import validation_split
    from bench.training.joint import JointData

    train = ds.load_subjects(list(subjects), "train")
    order = np.asarray(train.info["list_index"], dtype=np.int64)
    train_images = ds.images("train")
    if validation == "published":
        val = ds.load_subjects(list(subjects), "val")
        rows = {"train": train, "val": val}
        images = {"train": train_images, "val": ds.images("val")}
        list_index = {"train": order, "val": np.asarray(val.info["list_index"], dtype=np.int64)}
    elif validation == "carved":
        tr, va = validation_split(train.image_ids, train.concepts, by=by, fraction=fraction, seed=seed)
        rows = {"train": train.subset(tr), "val": train.subset(va)}
        images = {"train": train_images, "val": train_images}
        list_index = {"train": order[tr], "val": order[va]}
    else:
        raise ConfigError(f"unknown validation source '{validation}'", field="protocol.validation",
                          fix="use 'published' (the split file's val part) or 'carved' (from training data)")
    image_row = {p: images[p].index_of(rows[p].image_ids) for p in rows}
    labels = {p: ds.labels_of_images(images[p].ids) for p in images}
    return JointData(rows, images, image_row, list_index, labels, ds.n_classes, validation)


def open_imagenet_eeg(task: Any, settings: Any, protocol: Any, variant: str | None = None) -> Any:
    """The ImageNet-EEG dataset of ``task`` with the protocol's split options."""
    from bench.data import DATASETS
    from bench.data.locate import dataset_root

    from bench.data.base import LabelledDataset

    cls = DATASETS.get(task.dataset.name)
    if not issubclass(cls, LabelledDataset):
        raise ConfigError(f"dataset '{task.dataset.name}' is not ImageNet-EEG-like (no split by image with "
                          "train/val/test parts)", where=f"task '{task.name}'", field="dataset.name",
                          fix="use dataset 'imagenet-eeg'")
    return cls(dataset_root(task.dataset, settings), variant=variant or task.dataset.variant,
               cache_dir=settings.cache_dir, split_file=protocol.split_file, split_index=protocol.split_index)


class ImageNetEEGKind(PipelineTaskKind):
    """Base of the ImageNet-EEG task kinds: splits, submission check, and the prepare/train steps."""

    ProtocolModel = ImageNetEEGProtocol

    def splits(self) -> list[tuple[str, int]]:
        return imagenet_splits(self.task)

    def validate_submission(self, submission: SubmissionSpec) -> None:
        validate_imagenet_submission(submission)

    def prepare(self, ctx: UnitContext) -> Any:
        """The unit's dataset (or the control's, ``ctx.dataset``) and its train/val rows."""
        task = self.task
        ds = ctx.dataset if ctx.dataset is not None else open_imagenet_eeg(task, ctx.settings, self.protocol)
        with ctx.timed("load_train"):
            data = load_joint_data(ds, unit_subjects(task, ctx.unit), validation=self.protocol.validation,
                                   by=task.validation.by, fraction=task.validation.fraction, seed=ctx.unit.seed)
        ctx.info.update({"subjects": unit_subjects(task, ctx.unit), "n_train": len(data.rows["train"])})
        return ds, data

    def train(self, ctx: UnitContext, prepared: Any) -> Any:
        """The siamese model of the submission, its epoch chosen on validation only."""
        from bench.training.joint import train_joint

        _, data = prepared
        trained = train_joint(ctx.unit.submission, data, ctx.settings, seed=ctx.unit.seed,
                              selection_metric=self.task.selection.metric, on_epoch=ctx.on_epoch,
                              progress=ctx.progress)
        ctx.info.update({"image_encoder": trained.mode, "device": trained.device})
        return trained


__all__ = ["ImageNetEEGKind", "ImageNetEEGProtocol", "imagenet_fingerprint", "imagenet_splits", "load_joint_data",
           "open_imagenet_eeg", "unit_subjects", "validate_imagenet_submission"]
