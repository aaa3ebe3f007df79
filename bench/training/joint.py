"""The Palazzo et al. 2020 siamese EEG/image model: training (both modes) and its classifiers.

Two towers map an EEG item ``e`` and an image ``v`` into a joint space (D = ``recipe.embed_dim``,
128 by default as in the paper): ``phi(e)`` (the submission's brain encoder) and ``theta(v)`` (the
image encoder). The compatibility ``F(e, v)`` is the training loss's similarity (dot product for
the triplet loss, Palazzo's choice; cosine for InfoNCE). Two declared image-encoder modes
(:mod:`bench.training.joint_spec`):

- ``frozen`` (default): ``theta(v) = W^T g(v)`` with ``g`` the registered image model's cached,
  deterministic features (normalised as ``recipe.normalise`` says) and ``W`` learned. Because
  ``F = phi(e) . W^T g(v) = (W phi(e)) . g(v)``, training folds ``W`` into the brain side:
  :class:`~bench.encoders.joint.JointEncoder` outputs ``W phi(e)`` and is trained against the
  fixed features by the shared loop (:func:`bench.training.fit`).
- ``finetune``: a timm backbone (the submission's ``image_model``, ``name: timm``) plus a linear
  head to D (:class:`~bench.encoders.joint.ImageTower`), trained end to end with the brain encoder
  (:func:`bench.training.two_tower.fit_two_tower`, on the same epoch loop), with the paper's 10-crop
  augmentation.

After training, softmax classifiers (:class:`~bench.training.classifier.LinearClassifier`, L2
chosen on validation) are fitted on the joint embeddings of the training split::

    trained = train_joint(submission, data, settings, seed=0)      # best (validation) checkpoint loaded
    clf = fit_classifiers(trained, data, settings)                  # softmax on phi(e) and theta(v)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from bench.encoders.joint import ImageTower, JointEncoder
from bench.errors import ConfigError
from bench.training.classifier import LinearClassifier
from bench.training.image_inputs import (InputSpec, feature_function, input_spec, load_input, load_resized,
                                         normalise_features)
from bench.training.joint_spec import check_recipe, image_encoder_mode, joint_dim
from bench.training.two_tower import fit_two_tower


@dataclass
class JointData:
    """Training and validation rows of a unit's subjects, with their image sets.

    rows[part]:       :class:`~bench.data.base.BrainData` of ``"train"`` / ``"val"``.
    images[part]:     the :class:`~bench.data.base.ImageSet` the rows' images belong to.
    image_row[part]:  row of ``images[part]`` shown by each row of ``rows[part]``.
    list_index[part]: each row's position in the dataset file (recording order, for the controls).
    image_labels[part]: class of each image of ``images[part]``.
    """

    rows: dict[str, Any]
    images: dict[str, Any]
    image_row: dict[str, np.ndarray]
    list_index: dict[str, np.ndarray]
    image_labels: dict[str, np.ndarray]
    n_classes: int
    validation: str


class TrainedJoint:
    """A trained siamese model (either mode); ``use("best" | "last")`` switches the checkpoint.

    The *comparison space* is where the compatibility is computed: frozen mode compares
    ``W phi(e)`` with the normalised features ``g(v)``; fine-tune mode ``phi(e)`` with ``theta(v)``.
    ``similarity`` is the training loss's (dot product for triplet, cosine for InfoNCE).
    """

    def __init__(self, mode: str, model: nn.Module, loss: Any, image_model: Any, spec: InputSpec,
                 centre: torch.Tensor | None, result: Any, device: str,
                 features: dict[str, np.ndarray] | None = None) -> None:
        self.mode = mode
        self.model = model
        self.loss = loss
        self.image_model = image_model
        self.spec = spec
        self.centre = centre
        self.result = result
        self.device = device
        self.cached_features = features or {}
        self._g: Callable | None = None

    def use(self, which: str) -> "TrainedJoint":
        """Load the chosen (``"best"``) or the ``"last"`` epoch's weights."""
        from bench.training.loop import load_state

        load_state(self.model, self.result.best_state if which == "best" else self.result.last_state)
        self.model.to(self.device).eval()
        return self

    # EEG side -----------------------------------------------------------------------------------
    def _brain(self) -> nn.Module:
        return self.model.brain if self.mode == "frozen" else self.model["brain"]

    @torch.inference_mode()
    def eeg_embedding(self, signals: np.ndarray, subjects: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """phi(e): (N, D) joint-space EEG embeddings."""
        brain = self._brain().eval()
        out = [brain(torch.from_numpy(np.ascontiguousarray(signals[i:i + batch_size])).to(self.device).float(),
                     torch.from_numpy(np.asarray(subjects[i:i + batch_size], dtype=np.int64)).to(self.device)
                     ).float().cpu() for i in range(0, len(signals), batch_size)]
        return torch.cat(out).numpy()

    @torch.inference_mode()
    def brain_vectors(self, joint_embedding: np.ndarray) -> torch.Tensor:
        """Comparison-space vectors of EEG items from their phi(e) (N, D)."""
        e = torch.as_tensor(np.asarray(joint_embedding, dtype=np.float32)).to(self.device)
        return self.model.proj(e) if self.mode == "frozen" else e

    # image side ---------------------------------------------------------------------------------
    def _features(self, pixels: torch.Tensor) -> torch.Tensor:
        if self._g is None:
            self._g = feature_function(self.image_model, self.device)
        assert self.centre is not None
        return normalise_features(self._g(pixels), self.centre)

    @torch.inference_mode()
    def image_vectors(self, pixels: torch.Tensor) -> torch.Tensor:
        """Comparison-space vectors of model inputs (B, 3, S, S)."""
        if self.mode == "frozen":
            return self._features(pixels)
        return self.model["tower"](pixels.to(self.device).float())

    @torch.inference_mode()
    def image_joint_from_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """theta(v) of model inputs: (B, D)."""
        if self.mode == "frozen":
            return self.model.image_embedding(self._features(pixels))
        return self.model["tower"](pixels.to(self.device).float())

    @torch.inference_mode()
    def image_joint(self, image_set: Any, settings: Any) -> np.ndarray:
        """theta(v) of every image of ``image_set`` (frozen mode: from the cached embeddings)."""
        if self.mode == "frozen":
            from bench.images import embed_image_set

            raw = self.cached_features.get(image_set.name)
            if raw is None:
                raw = embed_image_set(self.image_model, image_set, settings, progress=False)
            g = normalise_features(torch.from_numpy(raw).to(self.device), self.centre)
            return self.model.image_embedding(g).float().cpu().numpy()
        out = []
        for i in range(0, len(image_set), 32):
            batch = torch.stack([load_input(p, self.spec)[0] for p in image_set.paths[i:i + 32]])
            out.append(self.model["tower"](batch.to(self.device)).float().cpu())
        return torch.cat(out).numpy()

    def similarity(self, brain: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """(N, M) compatibility scores of comparison-space vectors."""
        return self.loss.similarity(brain, images)


def train_joint(submission: Any, data: JointData, settings: Any, *, seed: int, selection_metric: str = "val_loss",
                on_epoch: Callable | None = None, progress: bool = False,
                train_subjects: Sequence[int] | None = None) -> TrainedJoint:
    """Train the siamese model of ``submission`` on ``data``; the validation-chosen weights are loaded."""
    from bench.encoders import build_encoder
    from bench.images import build_image_model, embed_image_set
    from bench.training import TrainingSet, fit
    from bench.training.losses import build_loss

    check_recipe(submission)
    recipe = submission.recipe
    device = settings.torch_device()
    mode = image_encoder_mode(recipe)
    image_model = build_image_model(submission.image_model.name, submission.image_model.params, settings)
    train = data.rows["train"]
    d = joint_dim(recipe)
    subjects = list(train_subjects) if train_subjects is not None else sorted({int(s) for s in train.subjects})
    brain = build_encoder(submission.encoder, train.shape, n_outputs=d, subjects=subjects, seed=seed)
    spec = input_spec(image_model)

    if mode == "frozen":
        feats = {p: embed_image_set(image_model, data.images[p], settings, progress=progress) for p in ("train", "val")}
        fit_rows = np.unique(data.image_row["train"])
        centre = (feats["train"][fit_rows].mean(0) if recipe.normalise in ("center-l2", "train-mean-center-l2")
                  else np.zeros(feats["train"].shape[1])).astype(np.float32)
        centre_t = torch.from_numpy(centre)

        def training_set(part: str) -> TrainingSet:
            rows, img = data.rows[part], data.image_row[part]
            targets = normalise_features(torch.from_numpy(feats[part]), centre_t)[torch.from_numpy(img)]
            return TrainingSet(signals=torch.from_numpy(np.ascontiguousarray(rows.signals)), targets=targets,
                               image_index=torch.from_numpy(img), concepts=torch.from_numpy(rows.concepts),
                               subjects=torch.from_numpy(rows.subjects.astype(np.int64)))

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = JointEncoder(brain, d, feats["train"].shape[1])
        result = fit(model, training_set("train"), training_set("val"), recipe, seed=seed, device=device,
                     selection_metric=selection_metric, on_epoch=on_epoch, progress=progress)
        loss = build_loss(recipe)
        if result.loss_state:
            loss.load_state_dict(result.loss_state)
        cached = {data.images[p].name: feats[p] for p in ("train", "val")}
        return TrainedJoint(mode, model, loss.to(device), image_model, spec, centre_t.to(device), result, device,
                            cached).use("best")

    # fine-tune mode: a trainable torch backbone from the image model (timm)
    from bench.images.base import TorchImageModel

    if not isinstance(image_model, TorchImageModel):
        raise ConfigError(f"image model '{submission.image_model.name}' cannot be fine-tuned (not a torch network)",
                          where=f"submission '{submission.name}'", field="recipe.image_encoder",
                          fix="use image_model 'timm' to fine-tune, or image_encoder: frozen")
    image_model.load()
    backbone = image_model._net
    backbone.requires_grad_(True)
    n_features = int(getattr(backbone, "num_features", 0) or image_model.dim)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tower = ImageTower(backbone, n_features, d)
    resized = {p: [load_resized(path, spec)[0] for path in data.images[p].paths] for p in ("train", "val")}

    def rows_dict(part: str) -> dict[str, torch.Tensor]:
        rows = data.rows[part]
        return {"signals": torch.from_numpy(np.ascontiguousarray(rows.signals)),
                "image": torch.from_numpy(data.image_row[part]), "concepts": torch.from_numpy(rows.concepts),
                "subjects": torch.from_numpy(rows.subjects.astype(np.int64))}

    result = fit_two_tower(brain, tower, rows_dict("train"), rows_dict("val"), resized, spec, recipe, seed=seed,
                           device=device, selection_metric=selection_metric, on_epoch=on_epoch, progress=progress)
    model = nn.ModuleDict({"brain": brain, "tower": tower})
    return TrainedJoint(mode, model, build_loss(recipe).to(device), image_model, spec, None, result,
                        device).use("best")


@dataclass
class Classifiers:
    """The softmax classifiers on the joint embeddings."""

    eeg: LinearClassifier
    image: LinearClassifier


def fit_classifiers(trained: TrainedJoint, data: JointData, settings: Any,
                    l2_grid: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1)) -> Classifiers:
    """Softmax classifiers on phi(e) (EEG rows) and theta(v) (images); L2 chosen on validation."""
    emb = {p: trained.eeg_embedding(data.rows[p].signals, data.rows[p].subjects) for p in ("train", "val")}
    img = {p: trained.image_joint(data.images[p], settings) for p in ("train", "val")}
    eeg_clf = LinearClassifier(data.n_classes, l2_grid).fit(emb["train"], data.rows["train"].concepts,
                                                            emb["val"], data.rows["val"].concepts)
    if data.validation == "carved":   # train and val images share one set: split it the same way
        tr_img, va_img = np.unique(data.image_row["train"]), np.unique(data.image_row["val"])
        image_clf = LinearClassifier(data.n_classes, l2_grid).fit(
            img["train"][tr_img], data.image_labels["train"][tr_img], img["val"][va_img],
            data.image_labels["val"][va_img])
    else:
        image_clf = LinearClassifier(data.n_classes, l2_grid).fit(img["train"], data.image_labels["train"],
                                                                  img["val"], data.image_labels["val"])
    return Classifiers(eeg_clf, image_clf)


__all__ = ["Classifiers", "JointData", "TrainedJoint", "fit_classifiers", "train_joint"]
