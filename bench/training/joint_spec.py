"""Declared facts of the Palazzo et al. 2020 siamese model's recipe, torch-free (planning code checks them).

``recipe.image_encoder``: ``frozen`` (cached image features + learned projection, the default) or
``finetune`` (a timm backbone trained end to end); the joint space has ``recipe.embed_dim``
dimensions (128 by default, as in the paper); the compatibility is the loss's similarity, so only
``triplet`` and ``infonce`` recipes have one.
"""

from __future__ import annotations

from typing import Any, Literal

from bench.errors import ConfigError

DEFAULT_JOINT_DIM = 128
ImageEncoderMode = Literal["frozen", "finetune"]


def image_encoder_mode(recipe: Any) -> ImageEncoderMode:
    """The declared image-encoder mode of a recipe (``recipe.image_encoder``; ``frozen`` when the
    schema has no such field)."""
    mode = getattr(recipe, "image_encoder", None) or "frozen"
    if mode not in ("frozen", "finetune"):
        raise ConfigError(f"unknown image encoder mode '{mode}'", field="recipe.image_encoder",
                          fix="use 'frozen' (cached features + learned projection) or 'finetune' (timm backbone)")
    return mode  # type: ignore[return-value]


def joint_dim(recipe: Any) -> int:
    """The joint space's size: ``recipe.embed_dim`` or 128 (Palazzo)."""
    return int(recipe.embed_dim or DEFAULT_JOINT_DIM)


def check_recipe(submission: Any) -> None:
    """Raise ConfigError when the submission has no compatibility function these tasks can use."""
    recipe = submission.recipe
    if recipe.loss not in ("triplet", "infonce"):
        raise ConfigError(f"recipe.loss '{recipe.loss}' has no compatibility function for this task",
                          where=f"submission '{submission.name}'", field="recipe.loss",
                          fix="use 'triplet' (Palazzo: dot product, no margin) or 'infonce' (cosine)")
    image_encoder_mode(recipe)


__all__ = ["DEFAULT_JOINT_DIM", "ImageEncoderMode", "check_recipe", "image_encoder_mode", "joint_dim"]
