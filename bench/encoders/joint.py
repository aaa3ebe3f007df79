"""The two towers of the Palazzo et al. 2020 siamese EEG/image model (models live in ``bench/encoders``).

:class:`JointEncoder` wraps a registered brain encoder ``phi`` for the frozen image-encoder mode
(``forward(x) = W phi(x)``, trained against fixed image features by :func:`bench.training.fit`);
:class:`ImageTower` is the fine-tune mode's trainable image backbone plus a linear head. The task
side (training, the two-tower loop, classifiers) is :mod:`bench.training.joint`, the data :mod:`bench.tasks.palazzo`.
"""

from __future__ import annotations

import torch
from torch import nn


class JointEncoder(nn.Module):
    """Frozen mode, folded: ``forward(x) = W phi(x)`` in the image-feature space (size G).

    ``eeg_embedding(x)`` is ``phi(x)`` (the joint space, D) and ``image_embedding(g)`` is
    ``theta(v) = W^T g`` (D). ``n_outputs`` = G, what :func:`bench.training.fit` checks.
    """

    def __init__(self, brain: nn.Module, joint_dim: int, feature_dim: int) -> None:
        super().__init__()
        self.brain = brain
        self.proj = nn.Linear(joint_dim, feature_dim, bias=False)
        self.n_outputs = int(feature_dim)
        self.joint_dim = int(joint_dim)

    def forward(self, x: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(self.brain(x, subject))

    def eeg_embedding(self, x: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:
        return self.brain(x, subject)

    def image_embedding(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.proj.weight.to(features.device)


class ImageTower(nn.Module):
    """Fine-tune mode: a trainable backbone (pooled features) + a linear head to the joint space."""

    def __init__(self, backbone: nn.Module, n_features: int, joint_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(n_features, joint_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(pixels))


__all__ = ["ImageTower", "JointEncoder"]
