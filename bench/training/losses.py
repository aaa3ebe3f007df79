"""Training objectives: symmetric InfoNCE (declared temperature), InfoNCE + MSE, triplet (Palazzo).

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


def false_negative_mask(keys: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: True where rows i != j share a key (to be excluded from the softmax)."""
    same = keys[:, None] == keys[None, :]
    return same & ~torch.eye(len(keys), dtype=torch.bool, device=keys.device)


def cosine_logits(brain: torch.Tensor, image: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """(B, B) logits: ``logit_scale * cos(brain_i, image_j)``."""
    return logit_scale * (F.normalize(brain, dim=-1) @ F.normalize(image, dim=-1).t())


def info_nce(brain: torch.Tensor, image: torch.Tensor, logit_scale: torch.Tensor | float,
             keys: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP loss) with cosine similarity.

    loss = (CE(logits, diag) + CE(logits.T, diag)) / 2,  logits = cos / tau = logit_scale * cos.
    ``keys`` masks in-batch false negatives (rows sharing a key) out of both softmaxes.
    """
    logits = cosine_logits(brain.float(), image.float(), logit_scale)
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
    """

    def __init__(self, kind: Literal["infonce", "infonce+mse", "triplet"] = "infonce", *,
                 temperature: float = 0.07, learnable_temperature: bool = False, mse_weight: float = 0.0,
                 exclude: Exclude = "none") -> None:
        super().__init__()
        if kind not in ("infonce", "infonce+mse", "triplet"):
            raise ValueError(f"unknown loss {kind!r}")
        if exclude not in ("none", "image", "concept"):
            raise ValueError(f"unknown exclude_false_negatives {exclude!r}")
        self.kind = kind
        self.mse_weight = float(mse_weight)
        self.exclude = exclude
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
        loss = info_nce(brain, image, self.temperature(), keys)
        if self.kind == "infonce+mse":
            loss = (1.0 - self.mse_weight) * loss + self.mse_weight * F.mse_loss(brain.float(), image.float())
        return loss

    def similarity(self, brain: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
        """Retrieval scores (N, G): cosine for InfoNCE objectives, dot product for triplet."""
        if self.kind == "triplet":
            return brain.float() @ gallery.float().t()
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
                        exclude=recipe.exclude_false_negatives)
