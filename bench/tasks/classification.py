"""40-class ImageNet-EEG classification (Palazzo et al. 2020 TPAMI), always with block-design controls.

One unit = one seed and either all the task's subjects pooled (``scheme: pooled``, the paper's
protocol: split ``"pooled"``, subject 0) or one subject (``scheme: within-subject``, split
``"sub-XX"``):

1. load the training and validation rows (``protocol.validation``: the split file's val part,
   or carved from training images, seeded); the test split is not read yet;
2. train the siamese EEG/image model (:mod:`bench.training.joint`): the submission's brain encoder,
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

from typing import Any

import numpy as np

from bench.errors import ConfigError
from bench.settings import Settings
from bench.tasks import TASK_KINDS
from bench.tasks.base import Unit
from bench.tasks.controls import ControlsSpec
from bench.tasks.palazzo import ImageNetEEGKind, ImageNetEEGProtocol, imagenet_fingerprint, unit_subjects
from bench.tasks.pipeline import BEST_AND_LAST, Scored, UnitContext


class ClassificationProtocol(ImageNetEEGProtocol):
    """Classification protocol: the split options and the controls."""

    controls: ControlsSpec = ControlsSpec()


def _top1(pred: np.ndarray, true: np.ndarray) -> float:
    return float((np.asarray(pred) == np.asarray(true)).mean()) if len(true) else float("nan")


@TASK_KINDS.register("classification")
class Classification(ImageNetEEGKind):
    """ImageNet-EEG 40-class classification with controls; see the module docstring."""

    name = "classification"
    ProtocolModel = ClassificationProtocol

    def fingerprint(self, unit: Unit, settings: Settings) -> dict[str, str]:
        c = self.protocol.controls
        extra = (c.high_gamma_variant,) if c.enabled and c.high_gamma != "off" else ()
        extra += (c.probe_variant,) if c.needs_probe_file() else ()
        return imagenet_fingerprint(self, unit, settings, extra)

    def chance(self, n_classes: int | None = None) -> dict[str, float]:
        return {"eeg_top1": 1 / n_classes, "image_top1": 1 / n_classes} if n_classes else {}

    # ---- the unit's steps (train: ImageNetEEGKind; the order: bench.tasks.pipeline) ---------------
    def prepare(self, ctx: UnitContext) -> Any:
        ds, data = super().prepare(ctx)
        ctx.info.update({"n_val": len(data.rows["val"]), "n_classes": data.n_classes,
                         "validation": self.protocol.validation, "variant": ds.variant,
                         "split_file": ds.split_file, "split_index": ds.split_index})
        return ds, data

    def load_test(self, ctx: UnitContext, prepared: Any, trained: Any) -> Any:
        ds, _ = prepared
        with ctx.timed("evaluate"):
            test = ds.load_subjects(unit_subjects(self.task, ctx.unit), "test")
            test_images = ds.images("test")
            return test, test_images, ds.labels_of_images(test_images.ids)

    def checkpoints(self, ctx: UnitContext, trained: Any) -> list[tuple[str, str | None]]:
        """Chosen and last epoch; a nested run (the high-gamma control) needs the chosen one only."""
        return [("", "best")] if ctx.nested else list(BEST_AND_LAST)

    def score(self, ctx: UnitContext, prepared: Any, trained: Any, test: Any, label: str) -> Scored:
        """Softmax classifiers on this checkpoint's joint embeddings; EEG and image top-1 on the test split."""
        from bench.training.joint import fit_classifiers

        (_, data), (rows, test_images, image_labels) = prepared, test
        with ctx.timed("evaluate"):
            clf = fit_classifiers(trained, data, ctx.settings, self.protocol.classifier_l2)
            eeg_pred = clf.eeg.predict(trained.eeg_embedding(rows.signals, rows.subjects))
            img_pred = clf.image.predict(trained.image_joint(test_images, ctx.settings))
        metrics = {"eeg_top1": _top1(eeg_pred, rows.concepts), "image_top1": _top1(img_pred, image_labels)}
        for s in sorted(set(int(x) for x in rows.subjects)):
            m = rows.subjects == s
            metrics[f"eeg_top1/sub-{s:02d}"] = _top1(eeg_pred[m], rows.concepts[m])
        per_item = {"item_id": [f"sub-{int(s):02d}/{i}" for s, i in zip(rows.subjects, rows.image_ids)],
                    "subject": [int(s) for s in rows.subjects], "label": [int(c) for c in rows.concepts],
                    "eeg_pred": [int(p) for p in eeg_pred],
                    "eeg_correct": [int(p == c) for p, c in zip(eeg_pred, rows.concepts)]}
        return Scored(metrics, per_item, {"eeg_pred": eeg_pred, "img_pred": img_pred, "clf": clf})

    def finish(self, ctx: UnitContext, prepared: Any, trained: Any, test: Any, scored: dict[str, Scored],
               metrics: dict[str, float]) -> None:
        from bench.tasks.controls import confound_verdict, controls_method

        (ds, data), (rows, test_images, image_labels) = prepared, test
        controls, best = self.protocol.controls, scored[""].extra
        if controls.enabled and not ctx.nested:
            with ctx.timed("controls"):
                metrics.update(self._controls(ctx, ds, data, rows, best["eeg_pred"], metrics["eeg_top1"]))
                verdict = confound_verdict(metrics, metrics["eeg_top1"], controls.alpha, controls.explain_fraction)
                metrics["control/confound_flag"] = float(verdict.flag)
                ctx.info.update({"confound_flag": verdict.flag, "confound_reasons": verdict.reasons,
                                 "above_chance": verdict.above_chance, "design_blocked": verdict.blocked,
                                 "confound_rule": controls_method(controls)["rule"]})
        ctx.info.update({"n_test": len(rows), "n_test_images": len(test_images), "chance": self.chance(data.n_classes),
                         "classifier_l2": {"eeg": best["clf"].eeg.chosen_l2, "image": best["clf"].image.chosen_l2},
                         "image_per_item": {"item_id": list(test_images.ids), "label": image_labels.tolist(),
                                            "pred": [int(p) for p in best["img_pred"]]}})

    def _controls(self, ctx: UnitContext, ds: Any, data: Any, test: Any, eeg_pred: np.ndarray,
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
            elif c.high_gamma == "pipeline":        # the whole unit pipeline again, on the 55-95 Hz file
                out = self.execute(ctx.child(dataset=hg))
                high_gamma_top1 = (out.metrics["eeg_top1"], out.info["n_test"])
            else:
                if self.protocol.validation == "carved":
                    raise ConfigError("the band-power high-gamma control needs protocol.validation: published "
                                      "(its rows must be the model's rows)", field="protocol.controls.high_gamma",
                                      fix="use high_gamma: pipeline, or validation: published")
                high_gamma = {p: hg.load_subjects(unit_subjects(self.task, ctx.unit), p).signals
                              for p in ("train", "val", "test")}
        probe_signals = None
        if c.needs_probe_file():   # the raw recording: a band-pass would hide the slow block offsets
            probe = ds.with_variant(c.probe_variant)
            probe_signals = ({p: d.signals for p, d in parts.items()} if probe.variant == ds.variant
                             else rows_by_order(probe, unit_subjects(self.task, ctx.unit), order))
        return run_controls(c, labels={p: d.concepts for p, d in parts.items()},
                            subjects={p: d.subjects for p, d in parts.items()}, order=order,
                            n_classes=data.n_classes, eeg_pred=eeg_pred, seed=ctx.unit.seed,
                            probe_signals=probe_signals, sfreq=SFREQ, high_gamma=high_gamma,
                            high_gamma_top1=high_gamma_top1)


__all__ = ["Classification", "ClassificationProtocol"]
