"""Training objectives: symmetric InfoNCE (declared temperature), InfoNCE + MSE, triplet (Palazzo),
and the embedding normalisations a recipe declares (``recipe.normalise``, see :data:`NORMALISATIONS`).

Functional core (pure functions of tensors, tested against naive loops) plus :class:`TrainingLoss`,
the module the training loop uses, built from a recipe by :func:`build_loss`.

Inputs everywhere: ``brain`` (B, D) encoder outputs, ``image`` (B, D) target image embeddings
(already normalised as the recipe says), ``keys`` (B,) long -- rows with equal keys are in-batch
*false negatives* of each other (same image, or same concept) and are masked out of the softmax
(the diagonal, the positive pair, always stays).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from bench.config.schema import RecipeSpec

#: CLIP's bound on the logit scale (1 / temperature): tau >= 0.01.
MAX_LOGIT_SCALE = 100.0

#: ``recipe.normalise`` values: what each does, and where it comes from.
NORMALISATIONS: dict[str, str] = {
    "l2": "L2-normalise brain and image embeddings (cosine similarity; NICE, ATM).",
    "train-mean-center-l2": "subtract the mean image embedding of the training images (fit images only) "
                            "from every image embedding (targets and gallery; brain outputs untouched), "
                            "then L2. A feature-centring common for frozen image features; NOT AlignVis.",
    "center-l2": "legacy name of 'train-mean-center-l2' (same computation; kept so existing configs and "
                 "records keep their hashes). Earlier README text mislabelled it 'AlignVis'.",
    "per-vector-center-l2": "centre EACH vector (brain and image) on its own mean over dimensions, then L2, "
                            "in training and evaluation: similarities are Pearson r. AlignVis "
                            "(Rajabi et al. 2025) src/downstream.py::retrieval and src/utils.py::get_embeddings.",
}


def centres_on_training_mean(method: str) -> bool:
    """True for 'train-mean-center-l2' and its legacy name 'center-l2'."""
    return method in ("train-mean-center-l2", "center-l2")


def centres_per_vector(method: str) -> bool:
    """True for 'per-vector-center-l2' (AlignVis: Pearson r between brain and image embeddings)."""
    return method == "per-vector-center-l2"


def center_per_vector(x):
    """Each row minus its own mean over the last axis (numpy array or torch tensor)."""
    return x - x.mean(-1, keepdims=True) if not isinstance(x, torch.Tensor) else x - x.mean(-1, keepdim=True)


def false_negative_mask(keys: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: True where rows i != j share a key (to be excluded from the softmax)."""
    same = keys[:, None] == keys[None, :]
    return same & ~torch.eye(len(keys), dtype=torch.bool, device=keys.device)


def cosine_logits(brain: torch.Tensor, image: torch.Tensor, logit_scale: torch.Tensor | float,
                  per_vector_center: bool = False) -> torch.Tensor:
    """(B, B) logits: ``logit_scale * cos(brain_i, image_j)`` (Pearson r with ``per_vector_center``)."""
    if per_vector_center:
        brain, image = center_per_vector(brain), center_per_vector(image)
    return logit_scale * (F.normalize(brain, dim=-1) @ F.normalize(image, dim=-1).t())


def info_nce(brain: torch.Tensor, image: torch.Tensor, logit_scale: torch.Tensor | float,
             keys: torch.Tensor | None = None, per_vector_center: bool = False) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP loss) with cosine similarity.

    loss = (CE(logits, diag) + CE(logits.T, diag)) / 2,  logits = cos / tau = logit_scale * cos.
    ``keys`` masks in-batch false negatives (rows sharing a key) out of both softmaxes.
    ``per_vector_center``: each vector centred on its own mean first (AlignVis: Pearson r).
    """
    logits = cosine_logits(brain.float(), image.float(), logit_scale, per_vector_center)
    if keys is not None:
        logits = logits.masked_fill(false_negative_mask(keys), float("-inf"))
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def triplet(brain: torch.Tensor, image: torch.Tensor, image_index: torch.Tensor | None = None,
            keys: torch.Tensor | None = None) -> torch.Tensor:
    """Palazzo et al. 2020 triplet loss without margin on the dot-product compatibility.

    F(e, v) = e . v. For each brain row i (the anchor), with its image v_i as positive, every other
    in-batch image j is a negative unless it shares the anchor's image (``image_index``) or its
    ``keys`` (e.g. concept); loss_i = mean over valid negatives of max(0, F(e_i, v_j) - F(e_i, v_i)).
    Palazzo sample one random negative per anchor; the mean over all valid in-batch negatives is the
    expectation of that loss under uniform sampling, without the sampling noise. Rows without any
    valid negative contribute nothing.
    """
    scores = brain.float() @ image.float().t()
    valid = ~torch.eye(len(scores), dtype=torch.bool, device=scores.device)
    if image_index is not None:
        valid &= ~false_negative_mask(image_index)
    if keys is not None:
        valid &= ~false_negative_mask(keys)
    hinge = torch.relu(scores - scores.diagonal()[:, None]) * valid
    n_valid = valid.sum(1)
    per_row = hinge.sum(1) / n_valid.clamp(min=1)
    has = n_valid > 0
    if not bool(has.any()):
        return scores.sum() * 0.0
    return per_row[has].mean()


class Temperature(nn.Module):
    """InfoNCE temperature tau, stored as ``log_scale = log(1 / tau)`` (CLIP style).

    Learnable: an ``nn.Parameter``; the scale is clamped to at most ``max(100, 1 / initial)`` in the
    forward pass and by :meth:`clamp_` after each optimiser step (CLIP's bound, tau >= 0.01).
    Fixed: a buffer, never changed.
    """

    def __init__(self, initial: float = 0.07, learnable: bool = False) -> None:
        super().__init__()
        value = torch.tensor(math.log(1.0 / initial), dtype=torch.float32)
        self.learnable = learnable
        self.max_log_scale = math.log(max(MAX_LOGIT_SCALE, 1.0 / initial))
        if learnable:
            self.log_scale = nn.Parameter(value)
        else:
            self.register_buffer("log_scale", value)

    def forward(self) -> torch.Tensor:
        """The logit scale 1 / tau (a scalar tensor)."""
        return self.log_scale.clamp(max=self.max_log_scale).exp()

    @torch.no_grad()
    def clamp_(self) -> None:
        self.log_scale.clamp_(max=self.max_log_scale)

    @property
    def tau(self) -> float:
        return float(1.0 / self().detach())


Exclude = Literal["none", "image", "concept"]


class TrainingLoss(nn.Module):
    """The recipe's objective as a module (it may own a learnable temperature).

    kind:        "infonce" | "infonce+mse" | "triplet".
    mse_weight:  (1 - lambda) for "infonce+mse": loss = (1 - w) * InfoNCE + w * MSE(brain, image).
    exclude:     in-batch false negatives to mask: "none", "image" (same image) or "concept".
    per_vector_center: centre brain and image vectors on their own means before the cosine (InfoNCE
                 and :meth:`similarity`): recipe.normalise 'per-vector-center-l2' (AlignVis).
    """

    def __init__(self, kind: Literal["infonce", "infonce+mse", "triplet"] = "infonce", *,
                 temperature: float = 0.07, learnable_temperature: bool = False, mse_weight: float = 0.0,
                 exclude: Exclude = "none", per_vector_center: bool = False) -> None:
        super().__init__()
        if kind not in ("infonce", "infonce+mse", "triplet"):
            raise ValueError(f"unknown loss {kind!r}")
        if exclude not in ("none", "image", "concept"):
            raise ValueError(f"unknown exclude_false_negatives {exclude!r}")
        self.kind = kind
        self.mse_weight = float(mse_weight)
        self.exclude = exclude
        self.per_vector_center = bool(per_vector_center)
        self.temperature = Temperature(temperature, learnable_temperature)

    def _keys(self, image_index: torch.Tensor | None, concepts: torch.Tensor | None) -> torch.Tensor | None:
        if self.exclude == "image":
            return image_index
        if self.exclude == "concept":
            return concepts
        return None

    def forward(self, brain: torch.Tensor, image: torch.Tensor, image_index: torch.Tensor | None = None,
                concepts: torch.Tensor | None = None) -> torch.Tensor:
        keys = self._keys(image_index, concepts)
        if self.kind == "triplet":
            return triplet(brain, image, image_index, keys)
        loss = info_nce(brain, image, self.temperature(), keys, self.per_vector_center)
        if self.kind == "infonce+mse":
            loss = (1.0 - self.mse_weight) * loss + self.mse_weight * F.mse_loss(brain.float(), image.float())
        return loss

    def similarity(self, brain: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
        """Retrieval scores (N, G): cosine (Pearson r with per-vector centring) for InfoNCE, dot for triplet."""
        if self.kind == "triplet":
            return brain.float() @ gallery.float().t()
        if self.per_vector_center:
            brain, gallery = center_per_vector(brain.float()), center_per_vector(gallery.float())
        return F.normalize(brain.float(), dim=-1) @ F.normalize(gallery.float(), dim=-1).t()

    @property
    def tau(self) -> float:
        """Current temperature (NaN for triplet, which has none)."""
        return float("nan") if self.kind == "triplet" else self.temperature.tau


def build_loss(recipe: RecipeSpec) -> TrainingLoss:
    """The :class:`TrainingLoss` a recipe declares."""
    return TrainingLoss(recipe.loss, temperature=recipe.temperature.initial,
                        learnable_temperature=recipe.temperature.learnable,
                        mse_weight=recipe.mse_weight if recipe.loss == "infonce+mse" else 0.0,
                        exclude=recipe.exclude_false_negatives,
                        per_vector_center=centres_per_vector(recipe.normalise))
