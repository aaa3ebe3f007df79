"""Controls reported beside every ImageNet-EEG number (PROTOCOLS.md §4; Li et al. 2021 TPAMI).

The published ImageNet-EEG recording is a block design: every class was shown in one block, so
anything that changes slowly over a session (electrode drift, fatigue, muscle tension) identifies
the class. Each control measures how much of that a classifier could exploit *without* seeing
stimulus-locked brain responses. All are computed per unit (same subjects, same splits) and
stored in the record's metrics under ``control/...``:

``control/chance``                    1 / number of classes.
``control/drift_probe_top1`` (+ ``_p``)  a softmax classifier (same as the task's) on per-channel
                                      means and per-channel linear trends of each epoch only, i.e.
                                      the content below ~1 Hz of a 440 ms window; trained on the
                                      training rows, L2 chosen on validation, tested on the test rows.
``control/high_gamma_eeg_top1`` (+ ``_p``) EEG top-1 of the *same pipeline* (the submission's encoder
                                      and recipe) trained and tested on the 55-95 Hz file, where
                                      stimulus-locked visual information is not expected at the scalp
                                      (``high_gamma: band-power`` uses a log-power probe instead).
``control/adjacency_top1`` (+ ``_p``)    the temporal-adjacency null model: each test trial gets the
                                      label of the nearest training/validation trial of the same
                                      subject in recording order (``neighbours`` > 1: majority of
                                      the k nearest; ties -> the nearest). No signal at all.
``control/permutation_chance``, ``control/permutation_q95``, ``control/permutation_p``
                                      the model's EEG top-1 against ``permutations`` seeded shuffles
                                      of the test labels (mean, 95th percentile, one-sided p).
``control/confound_flag``             1.0 when a control explains the result (rule below), else 0.0.

``_p`` values are one-sided binomial tests of the control's test accuracy against chance.

**Flag rule** (``info["confound_flag"]`` and ``info["confound_reasons"]``): a result is flagged when
any of the drift probe, the 55-95 Hz accuracy or the adjacency null model is significantly above
chance (``p < alpha``, default 0.01) *and* reaches at least ``explain_fraction`` (default 0.5) of
the model's EEG top-1 -- i.e. a signal-free or stimulus-free shortcut alone gets at least half of
the way. A result whose EEG top-1 is not above permutation chance (``permutation_p >= alpha``) is
reported as such in ``info["above_chance"]`` (not a confound, just no evidence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.tasks.base import Protocol

CONFOUND_CONTROLS = ("drift_probe", "high_gamma", "adjacency")


class ControlsSpec(Protocol):
    """The ``protocol.controls`` block of an ImageNet-EEG task."""

    enabled: bool = True
    drift_probe: bool = True
    high_gamma: str = "pipeline"          # "pipeline" | "band-power" | "off"
    high_gamma_variant: str = "55-95"
    adjacency: bool = True
    neighbours: int = 1
    permutations: int = 1000
    alpha: float = 0.01
    explain_fraction: float = 0.5

    def model_post_init(self, __context) -> None:  # noqa: D401 - pydantic hook
        from bench.errors import ConfigError

        if self.high_gamma not in ("pipeline", "band-power", "off"):
            raise ConfigError(f"unknown high_gamma control '{self.high_gamma}'", field="protocol.controls.high_gamma",
                              fix="use 'pipeline' (the submission's model on the 55-95 Hz file), 'band-power' "
                                  "(a log-power probe) or 'off'")
        if self.neighbours < 1 or self.permutations < 1 or not 0 < self.alpha < 1 or not 0 < self.explain_fraction <= 1:
            raise ConfigError("controls: neighbours and permutations must be >= 1, alpha in (0, 1), "
                              "explain_fraction in (0, 1]", field="protocol.controls",
                              fix="e.g. neighbours: 1, permutations: 1000, alpha: 0.01, explain_fraction: 0.5")


# ------------------------------------------------------------------------------------------------
# Features and tests
# ------------------------------------------------------------------------------------------------

def drift_features(signals: np.ndarray) -> np.ndarray:
    """(N, 2C): per-channel mean and least-squares linear slope of each epoch (N, C, T).

    Over a 440 ms epoch these carry the content below ~1 Hz (offset and trend) and nothing of the
    stimulus-locked waveform's shape.
    """
    x = np.asarray(signals, dtype=np.float64)
    t = np.arange(x.shape[-1], dtype=np.float64)
    t = (t - t.mean()) / max(t.std(), 1e-12)
    mean = x.mean(axis=-1)
    slope = (x * t).mean(axis=-1)
    return np.concatenate([mean, slope], axis=1).astype(np.float32)


def band_power_features(signals: np.ndarray) -> np.ndarray:
    """(N, C): log variance per channel (the power of a band-passed file)."""
    x = np.asarray(signals, dtype=np.float64)
    return np.log(x.var(axis=-1) + 1e-12).astype(np.float32)


def binomial_p(correct: int, n: int, chance: float) -> float:
    """One-sided binomial test: P(X >= correct) for X ~ Binomial(n, chance)."""
    from scipy.stats import binomtest

    if n == 0:
        return float("nan")
    return float(binomtest(int(correct), int(n), float(chance), alternative="greater").pvalue)


def probe_accuracy(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], n_classes: int
                   ) -> tuple[float, np.ndarray]:
    """Test accuracy of the task's softmax classifier on ``features`` (train / val / test)."""
    from bench.tasks.joint import LinearClassifier

    clf = LinearClassifier(n_classes).fit(features["train"], labels["train"], features["val"], labels["val"])
    pred = clf.predict(features["test"])
    return float((pred == labels["test"]).mean()), pred


def adjacency_predictions(ref_subjects: np.ndarray, ref_order: np.ndarray, ref_labels: np.ndarray,
                          subjects: np.ndarray, order: np.ndarray, neighbours: int = 1) -> np.ndarray:
    """Label of the temporally nearest reference trial(s) of the same subject, per query trial.

    ref_*: the reference (training/validation) trials; subjects/order: the query (test) trials.
    Order is the position in recording order. ``neighbours`` > 1: majority vote of the k nearest
    (ties go to the label of the nearest among the tied).
    """
    out = np.empty(len(order), dtype=np.int64)
    for s in np.unique(subjects):
        ref = np.flatnonzero(ref_subjects == s)
        if len(ref) == 0:
            out[subjects == s] = -1
            continue
        r_order, r_labels = ref_order[ref], ref_labels[ref]
        for i in np.flatnonzero(subjects == s):
            dist = np.abs(r_order - order[i])
            near = np.lexsort((r_order, dist))[:neighbours]       # by distance, then earlier first
            votes = np.bincount(r_labels[near])
            winners = np.flatnonzero(votes == votes.max())
            out[i] = next(int(r_labels[j]) for j in near if r_labels[j] in winners)
    return out


def permutation_chance(pred: np.ndarray, true: np.ndarray, permutations: int = 1000, seed: int = 0
                       ) -> dict[str, float]:
    """Accuracy of ``pred`` against seeded shuffles of ``true``: mean, 95th percentile, one-sided p."""
    pred, true = np.asarray(pred), np.asarray(true)
    observed = float((pred == true).mean())
    rng = np.random.default_rng([int(seed), 0x9E])
    accs = np.array([(pred == true[rng.permutation(len(true))]).mean() for _ in range(int(permutations))])
    return {"permutation_chance": float(accs.mean()), "permutation_q95": float(np.quantile(accs, 0.95)),
            "permutation_p": float((1 + (accs >= observed).sum()) / (1 + len(accs)))}


@dataclass
class ConfoundVerdict:
    flag: bool
    reasons: list[str]
    above_chance: bool


def confound_verdict(metrics: dict[str, float], eeg_top1: float, alpha: float = 0.01,
                     explain_fraction: float = 0.5) -> ConfoundVerdict:
    """Apply the flag rule (module docstring) to ``control/...`` metrics."""
    reasons = []
    for name in CONFOUND_CONTROLS:
        acc = metrics.get(f"control/{name}_top1" if name != "high_gamma" else "control/high_gamma_eeg_top1")
        p = metrics.get(f"control/{name}_p")
        if acc is None or p is None or not np.isfinite(acc) or not np.isfinite(p):
            continue
        if p < alpha and acc >= explain_fraction * eeg_top1:
            reasons.append(f"{name}: {acc:.3f} (p={p:.2g}) is >= {explain_fraction:g} x the model's EEG top-1 "
                           f"{eeg_top1:.3f}")
    above = metrics.get("control/permutation_p", 0.0) < alpha
    return ConfoundVerdict(bool(reasons), reasons, bool(above))


def run_controls(spec: ControlsSpec, *, signals: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                 subjects: dict[str, np.ndarray], order: dict[str, np.ndarray], n_classes: int,
                 eeg_pred: np.ndarray, seed: int, high_gamma: dict[str, np.ndarray] | None = None,
                 high_gamma_top1: tuple[float, int] | None = None) -> dict[str, float]:
    """Every enabled control as ``control/...`` metrics (see the module docstring).

    signals/labels/subjects/order: per part (train, val, test), the unit's rows (order = recording
    position). eeg_pred: the model's test predictions (for permutation chance). high_gamma: the
    55-95 Hz signals per part (band-power probe); high_gamma_top1: (accuracy, n) of the pipeline
    run on the 55-95 Hz file.
    """
    chance = 1.0 / n_classes
    n_test = len(labels["test"])
    out: dict[str, float] = {"control/chance": chance}
    if spec.drift_probe:
        acc, _ = probe_accuracy({p: drift_features(x) for p, x in signals.items()}, labels, n_classes)
        out["control/drift_probe_top1"] = acc
        out["control/drift_probe_p"] = binomial_p(round(acc * n_test), n_test, chance)
    if high_gamma_top1 is not None:
        acc, n = high_gamma_top1
        out["control/high_gamma_eeg_top1"] = acc
        out["control/high_gamma_p"] = binomial_p(round(acc * n), n, chance)
    elif high_gamma is not None:
        acc, _ = probe_accuracy({p: band_power_features(x) for p, x in high_gamma.items()}, labels, n_classes)
        out["control/high_gamma_eeg_top1"] = acc
        out["control/high_gamma_p"] = binomial_p(round(acc * n_test), n_test, chance)
    if spec.adjacency:
        ref = ("train", "val")
        pred = adjacency_predictions(np.concatenate([subjects[p] for p in ref]),
                                     np.concatenate([order[p] for p in ref]),
                                     np.concatenate([labels[p] for p in ref]), subjects["test"], order["test"],
                                     spec.neighbours)
        acc = float((pred == labels["test"]).mean())
        out["control/adjacency_top1"] = acc
        out["control/adjacency_p"] = binomial_p(round(acc * n_test), n_test, chance)
    out.update({f"control/{k}": v for k, v in
                permutation_chance(eeg_pred, labels["test"], spec.permutations, seed).items()})
    return out


__all__ = ["CONFOUND_CONTROLS", "ConfoundVerdict", "ControlsSpec", "adjacency_predictions", "band_power_features",
           "binomial_p", "confound_verdict", "drift_features", "permutation_chance", "probe_accuracy",
           "run_controls"]
