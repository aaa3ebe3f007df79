"""Classification accuracy (ImageNet-EEG 40-class: Spampinato et al. 2017; Palazzo et al. 2020).

``eeg_top1`` is the task's headline: the EEG classifier's predicted class against the true class of
each test trial. ``image_top1`` is the same accuracy of the image branch on the test images (a
sanity bound of the joint-embedding recipe). Chance is 1 / number of classes (the task kind's
``chance()`` reports it from the data).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics import METRICS
from bench.metrics._common import MetricInputError

RECIPE = "Spampinato et al. 2017 / Palazzo et al. 2020: argmax of the classifier over the classes, mean over test trials"


def top1_accuracy(pred: Any, labels: Any) -> float:
    """Fraction of items whose predicted class equals the true class.

    pred:   (N,) int, the predicted class of each item.
    labels: (N,) int, the true class of each item (same order).
    Returns a float in [0, 1]; NaN when N is 0.

    >>> top1_accuracy([0, 1, 2, 2], [0, 1, 1, 2])
    0.75
    >>> top1_accuracy([], [])
    nan
    """
    pred, labels = np.asarray(pred).ravel(), np.asarray(labels).ravel()
    if pred.shape != labels.shape:
        raise MetricInputError(f"'pred' has {pred.size} items but 'labels' has {labels.size}",
                               fix="pass one prediction per labelled item, in the same order")
    return float((pred == labels).mean()) if labels.size else float("nan")


@METRICS.register("eeg_top1", higher_is_better=True, ceiling=1.0, percent=True, recipe=RECIPE,
                  inputs="pred (N,) int class per EEG test trial, labels (N,) int",
                  description="top-1 accuracy of the EEG classifier on the test trials")
def eeg_top1(pred: Any, labels: Any) -> float:
    """Top-1 accuracy of EEG classification (see :func:`top1_accuracy`).

    >>> eeg_top1([3, 3, 1], [3, 0, 1])
    0.6666666666666666
    """
    return top1_accuracy(pred, labels)


@METRICS.register("image_top1", higher_is_better=True, ceiling=1.0, percent=True, recipe=RECIPE,
                  inputs="pred (N,) int class per test image, labels (N,) int",
                  description="top-1 accuracy of the image branch on the test images")
def image_top1(pred: Any, labels: Any) -> float:
    """Top-1 accuracy of the image classifier (see :func:`top1_accuracy`).

    >>> image_top1([1, 2], [1, 2])
    1.0
    """
    return top1_accuracy(pred, labels)


__all__ = ["eeg_top1", "image_top1", "top1_accuracy"]
