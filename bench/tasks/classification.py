"""40-class ImageNet-EEG classification (Palazzo et al. 2020 TPAMI), always with block-design controls.

One unit = one seed and either all the task's subjects pooled (``scheme: pooled``, the paper's
protocol: split ``"pooled"``, subject 0) or one subject (``scheme: within-subject``, split
``"sub-XX"``):

1. load the training and validation rows (``protocol.validation``: the split file's val part,
   or carved from training images, seeded); the test split is not read yet;
2. train the siamese EEG/image model (:mod:`bench.tasks.joint`): the submission's brain encoder,
   its image model (``frozen`` cached features + learned projection, or a fine-tuned timm
   backbone, as ``recipe.image_encoder`` declares), the recipe's loss (Palazzo: triplet without
   margin on the dot-product compatibility); the epoch is chosen on validation only;
3. fit softmax classifiers on the joint embeddings of EEG rows and of images (L2 on validation);
4. read the test split; report ``eeg_top1`` (pooled, and ``eeg_top1/sub-XX`` per subject) and
   ``image_top1`` (the test images), for the chosen and the last epoch (``last_epoch/...``);
5. run the controls of :mod:`bench.tasks.controls` (``control/...`` metrics, ``info["confound_flag"]``).

Per-item outcomes (``per_item``): one row per test EEG item: ``item_id`` (``sub-XX/<wnid>/<stem>``),
``subject``, ``label``, ``eeg_pred``, ``eeg_correct`` (0/1).
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np

from bench.config.schema import SubmissionSpec, split_names
from bench.errors import ConfigError
from bench.settings import Settings
from bench.tasks import TASK_KINDS
from bench.tasks.base import Protocol, TaskKind, Unit, UnitOutput
from bench.tasks.controls import ControlsSpec


class ImageNetEEGProtocol(Protocol):
    """Split options shared by the ImageNet-EEG tasks."""

    split_file: Literal["all", "single"] = "all"
    split_index: int = 0
    validation: Literal["published", "carved"] = "published"
    classifier_l2: list[float] = [1e-4, 1e-3, 1e-2, 1e-1]


class ClassificationProtocol(ImageNetEEGProtocol):
    """Classification protocol: the split options and the controls."""

    controls: ControlsSpec = ControlsSpec()


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
    from bench.tasks.palazzo import open_imagenet_eeg

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
    from bench.tasks.palazzo import check_recipe

    ENCODERS.require(submission.encoder.name)
    IMAGE_MODELS.require(submission.image_model.name)
    check_recipe(submission)


def _top1(pred: np.ndarray, true: np.ndarray) -> float:
    return float((np.asarray(pred) == np.asarray(true)).mean()) if len(true) else float("nan")


@TASK_KINDS.register("classification")
class Classification(TaskKind):
    """ImageNet-EEG 40-class classification with controls; see the module docstring."""

    name = "classification"
    ProtocolModel = ClassificationProtocol

    def splits(self) -> list[tuple[str, int]]:
        return imagenet_splits(self.task)

    def fingerprint(self, unit: Unit, settings: Settings) -> dict[str, str]:
        c = self.protocol.controls
        extra = (c.high_gamma_variant,) if c.enabled and c.high_gamma != "off" else ()
        extra += (c.probe_variant,) if c.needs_probe_file() else ()
        return imagenet_fingerprint(self, unit, settings, extra)

    def validate_submission(self, submission: SubmissionSpec) -> None:
        validate_imagenet_submission(submission)

    def chance(self, n_classes: int | None = None) -> dict[str, float]:
        return {"eeg_top1": 1 / n_classes, "image_top1": 1 / n_classes} if n_classes else {}

    # ---- the pipeline on one band file ---------------------------------------------------------
    def _pipeline(self, ds, unit: Unit, settings: Settings, progress: bool, on_epoch=None,
                  validation_only: bool = False, timings: dict | None = None):
        from bench.tasks.palazzo import fit_classifiers, load_joint_data, train_joint

        timings = timings if timings is not None else {}
        task, sub = self.task, unit.submission
        t = time.perf_counter()
        data = load_joint_data(ds, unit_subjects(task, unit), validation=self.protocol.validation,
                               by=task.validation.by, fraction=task.validation.fraction, seed=unit.seed)
        timings["load_train"] = time.perf_counter() - t
        t = time.perf_counter()
        trained = train_joint(sub, data, settings, seed=unit.seed, selection_metric=task.selection.metric,
                              on_epoch=on_epoch, progress=progress)
        timings["train"] = time.perf_counter() - t
        if validation_only:
            return data, trained, None, None
        t = time.perf_counter()
        test = ds.load_subjects(unit_subjects(task, unit), "test")
        test_images = ds.images("test")
        image_labels = ds.labels_of_images(test_images.ids)
        results = {}
        for label, which in (("", "best"), ("last_epoch/", "last")):
            trained.use(which)
            clf = fit_classifiers(trained, data, settings, self.protocol.classifier_l2)
            eeg_pred = clf.eeg.predict(trained.eeg_embedding(test.signals, test.subjects))
            img_pred = clf.image.predict(trained.image_joint(test_images, settings))
            results[label] = (eeg_pred, img_pred, clf)
        trained.use("best")
        timings["evaluate"] = time.perf_counter() - t
        return data, trained, test, (test_images, image_labels, results)

    # ---- run -----------------------------------------------------------------------------------
    def run(self, unit: Unit, settings: Settings, progress: bool = True, *, validation_only: bool = False,
            on_epoch=None) -> UnitOutput:
        from bench.tasks.controls import confound_verdict, controls_method
        from bench.tasks.palazzo import open_imagenet_eeg

        task, controls = self.task, self.protocol.controls
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        ds = open_imagenet_eeg(task, settings, self.protocol)
        data, trained, test, evaluation = self._pipeline(ds, unit, settings, progress, on_epoch, validation_only,
                                                         timings)
        result = trained.result
        info = {"n_train": len(data.rows["train"]), "n_val": len(data.rows["val"]), "subjects": unit_subjects(task, unit),
                "n_classes": data.n_classes, "image_encoder": trained.mode, "device": trained.device,
                "last_epoch": result.last_epoch, "stopped_early": result.stopped_early,
                "validation": self.protocol.validation, "variant": ds.variant, "split_file": ds.split_file,
                "split_index": ds.split_index}
        if validation_only:
            best = result.chosen_epoch - 1
            metrics = {k: float(v[best]) for k, v in result.curves.items() if k.startswith("val_") and len(v) > best}
            return UnitOutput(metrics=metrics, per_item={}, curves=result.curves, chosen_epoch=result.chosen_epoch,
                              timings=timings, info=info)
        test_images, image_labels, results = evaluation
        metrics: dict[str, float] = {}
        for label, (eeg_pred, img_pred, clf) in results.items():
            metrics[f"{label}eeg_top1"] = _top1(eeg_pred, test.concepts)
            metrics[f"{label}image_top1"] = _top1(img_pred, image_labels)
            for s in sorted(set(int(x) for x in test.subjects)):
                m = test.subjects == s
                metrics[f"{label}eeg_top1/sub-{s:02d}"] = _top1(eeg_pred[m], test.concepts[m])
        eeg_pred, img_pred, clf = results[""]
        per_item = {"item_id": [f"sub-{int(s):02d}/{i}" for s, i in zip(test.subjects, test.image_ids)],
                    "subject": [int(s) for s in test.subjects], "label": [int(c) for c in test.concepts],
                    "eeg_pred": [int(p) for p in eeg_pred],
                    "eeg_correct": [int(p == c) for p, c in zip(eeg_pred, test.concepts)]}

        if controls.enabled:
            t = time.perf_counter()
            metrics.update(self._controls(ds, data, test, eeg_pred, unit, settings, progress, metrics["eeg_top1"]))
            verdict = confound_verdict(metrics, metrics["eeg_top1"], controls.alpha, controls.explain_fraction)
            metrics["control/confound_flag"] = float(verdict.flag)
            info.update({"confound_flag": verdict.flag, "confound_reasons": verdict.reasons,
                         "above_chance": verdict.above_chance, "design_blocked": verdict.blocked,
                         "confound_rule": controls_method(controls)["rule"]})
            timings["controls"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        info.update({"n_test": len(test), "n_test_images": len(test_images), "chance": self.chance(data.n_classes),
                     "classifier_l2": {"eeg": clf.eeg.chosen_l2, "image": clf.image.chosen_l2},
                     "image_per_item": {"item_id": list(test_images.ids), "label": image_labels.tolist(),
                                        "pred": [int(p) for p in img_pred]}})
        return UnitOutput(metrics=metrics, per_item=per_item, curves=result.curves, chosen_epoch=result.chosen_epoch,
                          timings=timings, info=info)

    def _controls(self, ds, data, test, eeg_pred, unit: Unit, settings: Settings, progress: bool,
                  eeg_top1: float) -> dict[str, float]:
        from bench.data.imagenet_eeg import SFREQ
        from bench.tasks.controls import rows_by_order, run_controls

        c = self.protocol.controls
        parts = {"train": data.rows["train"], "val": data.rows["val"], "test": test}
        order = {"train": data.list_index["train"], "val": data.list_index["val"],
                 "test": np.asarray(test.info["list_index"], dtype=np.int64)}
        high_gamma = high_gamma_top1 = None
        if c.high_gamma != "off":
            hg = ds.with_variant(c.high_gamma_variant)
            if hg.variant == ds.variant:
                high_gamma_top1 = (eeg_top1, len(test))
            elif c.high_gamma == "pipeline":
                _, _, hg_test, (_, _, hg_results) = self._pipeline(hg, unit, settings, progress)
                pred = hg_results[""][0]
                high_gamma_top1 = (_top1(pred, hg_test.concepts), len(hg_test))
            else:
                if self.protocol.validation == "carved":
                    raise ConfigError("the band-power high-gamma control needs protocol.validation: published "
                                      "(its rows must be the model's rows)", field="protocol.controls.high_gamma",
                                      fix="use high_gamma: pipeline, or validation: published")
                high_gamma = {p: hg.load_subjects(unit_subjects(self.task, unit), p).signals
                              for p in ("train", "val", "test")}
        probe_signals = None
        if c.needs_probe_file():   # the raw recording: a band-pass would hide the slow block offsets
            probe = ds.with_variant(c.probe_variant)
            probe_signals = ({p: d.signals for p, d in parts.items()} if probe.variant == ds.variant
                             else rows_by_order(probe, unit_subjects(self.task, unit), order))
        return run_controls(c, labels={p: d.concepts for p, d in parts.items()},
                            subjects={p: d.subjects for p, d in parts.items()}, order=order,
                            n_classes=data.n_classes, eeg_pred=eeg_pred, seed=unit.seed, probe_signals=probe_signals,
                            sfreq=SFREQ, high_gamma=high_gamma, high_gamma_top1=high_gamma_top1)


__all__ = ["Classification", "ClassificationProtocol", "ImageNetEEGProtocol", "imagenet_fingerprint",
           "imagenet_splits", "unit_subjects", "validate_imagenet_submission"]
