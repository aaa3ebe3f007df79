"""Controls reported beside every ImageNet-EEG number (PROTOCOLS.md §4; Li et al. 2021 TPAMI).

The published ImageNet-EEG recording is a block design: every class was shown in one block, so
anything that changes slowly over a session (electrode drift, fatigue, muscle tension) identifies
the class. The controls ask two questions: *is the class confounded with recording time?* (the
design check) and *can the class be read from signals that are not the stimulus-locked brain
response?* (the block-signature probes). All are computed per unit (same subjects, same splits)
and stored in the record's metrics under ``control/...``:

``control/chance``                     1 / number of classes.
``control/design_adjacent_same``       fraction of consecutive trials (same subject, recording order,
  (+ ``_expected``, ``design_p``,      over the unit's train/val/test rows) that show the same class;
  ``design_blocked``)                  ``_expected`` is its mean over ``permutations`` seeded
                                       within-subject shuffles of the labels (≈ 1/classes), ``design_p``
                                       the one-sided permutation p, ``design_blocked`` = 1.0 when
                                       ``design_p < alpha``. A randomized design sits at its
                                       expectation; a block design near 1. It replaces the
                                       temporal-adjacency null model, which is ≈100 % by construction
                                       in any block design and so could not tell a clean design from a
                                       confounded one.
``control/drift_probe_top1`` (+ ``_p``)   a softmax classifier (the task's) on per-channel means and
                                       linear trends of each epoch of the **raw, unfiltered file**
                                       (``probe_variant``, default ``raw``): the content below ~1 Hz.
                                       Not on the 5-95 Hz file: a band-pass removes exactly these
                                       offsets and trends, so the probe misses the confound there
                                       (simulated tiny block design: 0.95 on raw, 0.26, p = 0.04, on 5-95 Hz).
``control/band_power_top1`` (+ ``_p``)    the same classifier on log band power per channel
                                       (``bands``, default 0.5-4, 4-8, 8-13, 13-30, 30-55, 55-95 Hz;
                                       periodogram of each raw epoch): block-wise changes of muscle
                                       or line power survive any band-pass.
``control/high_gamma_eeg_top1`` (+ ``_p``) EEG top-1 of the *same pipeline* (the submission's encoder
                                       and recipe) on the 55-95 Hz file, where stimulus-locked visual
                                       information is not expected at the scalp (``high_gamma:
                                       band-power``: a log-power probe of that file instead).
``control/permutation_chance``, ``control/permutation_q95``, ``control/permutation_p``
                                       the model's EEG top-1 against ``permutations`` seeded shuffles
                                       of the test labels (mean, 95th percentile, one-sided p).
``control/confound_flag``              1.0 when the flag rule below fires, else 0.0.

Probes are trained on the training rows, their L2 chosen on the validation rows, tested on the test
rows; ``_p`` values are one-sided binomial tests of the test accuracy against chance.

**Flag rule** (:data:`FLAG_RULE`, :func:`confound_verdict`; ``info["confound_flag"]`` and
``info["confound_reasons"]``), with ``alpha`` (default 0.01) and ``explain_fraction`` (default 0.5):

1. a *block-signature probe* (drift or band power, raw file) flags the result when the design is
   blocked (``design_p < alpha``, or the design check is off) and the probe is significantly above
   chance (``p < alpha``) and reaches at least ``explain_fraction`` of the model's EEG top-1. In a
   randomized design the class is not confounded with recording time, so what these probes decode
   there is stimulus-locked (the evoked response has slow and power components too) and does not
   flag;
2. the *high-gamma control* flags the result in any design under the same significance and
   fraction condition.

A result whose EEG top-1 is not above permutation chance (``permutation_p >= alpha``) is reported
as such in ``info["above_chance"]`` (not a confound, just no evidence). :func:`controls_method`
returns this rule and the list of controls as data for the leaderboard's method page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from bench.tasks.base import Protocol

BLOCK_PROBES = ("drift_probe", "band_power")
"""Probes of the block signature: they flag only where the design check finds a blocked design."""

CONFOUND_CONTROLS = BLOCK_PROBES + ("high_gamma",)

DEFAULT_BANDS: tuple[tuple[float, float], ...] = ((0.5, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 55.0),
                                                  (55.0, 95.0))

FLAG_RULE = ("A result is flagged when (1) the design is blocked (consecutive trials share a class more often "
             "than in {permutations} within-subject label shuffles, p < {alpha:g}) and a block-signature probe "
             "(per-channel mean and trend, or log band power, of the raw unfiltered recording) decodes the class "
             "above chance (binomial p < {alpha:g}) reaching at least {explain_fraction:g} x the model's EEG "
             "top-1; or (2) the same pipeline on the 55-95 Hz file does so in any design. In a randomized design "
             "the class is not confounded with time, so what the probes decode there is stimulus-locked and "
             "does not flag. The probes read the raw file because a band-pass removes the slow offsets they "
             "look for (Li et al. 2021 TPAMI).")


class ControlsSpec(Protocol):
    """The ``protocol.controls`` block of an ImageNet-EEG task."""

    enabled: bool = True
    design_check: bool = True
    drift_probe: bool = True
    band_power: bool = True
    probe_variant: str = "raw"
    bands: list[tuple[float, float]] = [tuple(b) for b in DEFAULT_BANDS]
    high_gamma: str = "pipeline"          # "pipeline" | "band-power" | "off"
    high_gamma_variant: str = "55-95"
    permutations: int = 1000
    alpha: float = 0.01
    explain_fraction: float = 0.5

    def model_post_init(self, __context) -> None:  # noqa: D401 - pydantic hook
        from bench.errors import ConfigError

        if self.high_gamma not in ("pipeline", "band-power", "off"):
            raise ConfigError(f"unknown high_gamma control '{self.high_gamma}'", field="protocol.controls.high_gamma",
                              fix="use 'pipeline' (the submission's model on the 55-95 Hz file), 'band-power' "
                                  "(a log-power probe) or 'off'")
        if self.permutations < 1 or not 0 < self.alpha < 1 or not 0 < self.explain_fraction <= 1:
            raise ConfigError("controls: permutations must be >= 1, alpha in (0, 1), explain_fraction in (0, 1]",
                              field="protocol.controls",
                              fix="e.g. permutations: 1000, alpha: 0.01, explain_fraction: 0.5")
        if not self.bands or any(not 0 <= lo < hi for lo, hi in self.bands):
            raise ConfigError(f"controls.bands {self.bands} must be non-empty [low, high] pairs with 0 <= low < high",
                              field="protocol.controls.bands", fix="e.g. bands: [[0.5, 4], [4, 8], [55, 95]]")

    def needs_probe_file(self) -> bool:
        return self.enabled and (self.drift_probe or self.band_power)


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


def band_power_features(signals: np.ndarray, sfreq: float | None = None,
                        bands: Sequence[tuple[float, float]] | None = None) -> np.ndarray:
    """Log power per channel: (N, C) total (log variance) or, with ``sfreq`` and ``bands``, (N, C x bands).

    Band power = mean periodogram value (|rFFT|^2 of the mean-removed epoch) over the frequency
    bins in ``[low, high)`` Hz; a band with no bin at this epoch length is an error.
    """
    x = np.asarray(signals, dtype=np.float64)
    if bands is None:
        return np.log(x.var(axis=-1) + 1e-12).astype(np.float32)
    if sfreq is None:
        raise ValueError("band_power_features needs sfreq with bands")
    x = x - x.mean(axis=-1, keepdims=True)
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2 / x.shape[-1]
    freqs = np.fft.rfftfreq(x.shape[-1], 1.0 / float(sfreq))
    out = []
    for lo, hi in bands:
        sel = (freqs >= lo) & (freqs < hi)
        if not sel.any():
            from bench.errors import ConfigError

            raise ConfigError(f"band [{lo}, {hi}) Hz holds no frequency bin of a {x.shape[-1]}-sample epoch at "
                              f"{sfreq:g} Hz (resolution {freqs[1]:.2f} Hz)", field="protocol.controls.bands",
                              fix="widen the band")
        out.append(np.log(power[..., sel].mean(axis=-1) + 1e-12))
    return np.concatenate(out, axis=1).astype(np.float32)


def binomial_p(correct: int, n: int, chance: float) -> float:
    """One-sided binomial test: P(X >= correct) for X ~ Binomial(n, chance)."""
    from scipy.stats import binomtest

    if n == 0:
        return float("nan")
    return float(binomtest(int(correct), int(n), float(chance), alternative="greater").pvalue)


def probe_accuracy(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], n_classes: int
                   ) -> tuple[float, np.ndarray]:
    """Test accuracy of the task's softmax classifier on ``features`` (train / val / test)."""
    from bench.training.classifier import LinearClassifier

    clf = LinearClassifier(n_classes).fit(features["train"], labels["train"], features["val"], labels["val"])
    pred = clf.predict(features["test"])
    return float((pred == labels["test"]).mean()), pred


def _same_pairs(subjects: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by (subject, order) and the mask of consecutive pairs within one subject."""
    idx = np.lexsort((np.asarray(order), np.asarray(subjects)))
    subj = np.asarray(subjects)[idx]
    return idx, subj[1:] == subj[:-1]


def adjacent_same(subjects: np.ndarray, order: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of consecutive trial pairs (same subject, sorted by ``order``) that share a label."""
    idx, pairs = _same_pairs(subjects, order)
    lab = np.asarray(labels)[idx]
    return float((lab[1:] == lab[:-1])[pairs].mean()) if pairs.any() else float("nan")


def design_check(subjects: np.ndarray, order: np.ndarray, labels: np.ndarray, permutations: int = 1000,
                 seed: int = 0) -> dict[str, float]:
    """Is the class confounded with recording time? Observed :func:`adjacent_same` against
    ``permutations`` seeded shuffles of the labels within each subject (mean and one-sided p)."""
    idx, pairs = _same_pairs(subjects, order)
    lab = np.asarray(labels)[idx]
    subj = np.asarray(subjects)[idx]
    observed = float((lab[1:] == lab[:-1])[pairs].mean()) if pairs.any() else float("nan")
    rng = np.random.default_rng([int(seed), 0xDE5])
    groups = [np.flatnonzero(subj == s) for s in np.unique(subj)]
    null = np.empty(int(permutations))
    for k in range(int(permutations)):
        shuffled = lab.copy()
        for g in groups:
            shuffled[g] = lab[g][rng.permutation(len(g))]
        null[k] = (shuffled[1:] == shuffled[:-1])[pairs].mean() if pairs.any() else np.nan
    return {"design_adjacent_same": observed, "design_adjacent_expected": float(null.mean()),
            "design_p": float((1 + (null >= observed).sum()) / (1 + len(null)))}


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
    blocked: bool


def _accuracy_key(name: str) -> str:
    return "control/high_gamma_eeg_top1" if name == "high_gamma" else f"control/{name}_top1"


def confound_verdict(metrics: dict[str, float], eeg_top1: float, alpha: float = 0.01,
                     explain_fraction: float = 0.5) -> ConfoundVerdict:
    """Apply the flag rule (module docstring, :data:`FLAG_RULE`) to ``control/...`` metrics.

    Without a design check in ``metrics`` the design counts as blocked (the conservative reading).
    """
    design_p = metrics.get("control/design_p")
    blocked = design_p is None or not np.isfinite(design_p) or design_p < alpha
    reasons = []
    for name in CONFOUND_CONTROLS:
        acc, p = metrics.get(_accuracy_key(name)), metrics.get(f"control/{name}_p")
        if acc is None or p is None or not np.isfinite(acc) or not np.isfinite(p):
            continue
        if name in BLOCK_PROBES and not blocked:
            continue
        if p < alpha and acc >= explain_fraction * eeg_top1:
            where = "blocked design: " if name in BLOCK_PROBES else ""
            reasons.append(f"{name}: {where}{acc:.3f} (p={p:.2g}) is >= {explain_fraction:g} x the model's EEG "
                           f"top-1 {eeg_top1:.3f}")
    above = metrics.get("control/permutation_p", 0.0) < alpha
    return ConfoundVerdict(bool(reasons), reasons, bool(above), bool(blocked))


def controls_method(spec: "ControlsSpec | None" = None) -> dict[str, Any]:
    """The flag rule and the controls as data (for the leaderboard's method page and ``bench check``)."""
    spec = spec or ControlsSpec()
    return {
        "rule": FLAG_RULE.format(permutations=spec.permutations, alpha=spec.alpha,
                                 explain_fraction=spec.explain_fraction),
        "alpha": spec.alpha, "explain_fraction": spec.explain_fraction,
        "controls": [
            {"metric": "control/design_adjacent_same", "what": "share of consecutive trials with the same class "
             "(design check; block design ~1, randomized ~1/classes)"},
            {"metric": "control/drift_probe_top1", "what": f"softmax probe on per-channel mean and trend of the "
             f"'{spec.probe_variant}' file (< 1 Hz)"},
            {"metric": "control/band_power_top1", "what": f"softmax probe on log band power {list(spec.bands)} Hz "
             f"of the '{spec.probe_variant}' file"},
            {"metric": "control/high_gamma_eeg_top1", "what": f"the same pipeline on the {spec.high_gamma_variant} "
             f"Hz file ({spec.high_gamma})"},
            {"metric": "control/permutation_chance", "what": "the model's top-1 under shuffled test labels"},
        ],
        "reference": "Li et al. 2021 TPAMI, 'The perils and pitfalls of block design for EEG classification "
                     "experiments'",
    }


def rows_by_order(dataset: Any, subjects: Sequence[int], wanted: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Signals of ``dataset`` (e.g. the raw file) for the rows at the list positions ``wanted[part]``.

    The model's rows may come from a carved validation split, so rows are matched by their position
    in the dataset list (identical across the band files of one release), not by split part.
    """
    from bench.errors import DataError

    loaded = [dataset.load_subjects(list(subjects), p) for p in ("train", "val", "test")]
    position = np.concatenate([np.asarray(d.info["list_index"], np.int64) for d in loaded])
    signals = np.concatenate([d.signals for d in loaded])
    row = {int(k): i for i, k in enumerate(position)}
    out = {}
    for part, idx in wanted.items():
        missing = [int(k) for k in idx if int(k) not in row]
        if missing:
            raise DataError(f"{len(missing)} row(s) of the model's '{part}' part (list positions {missing[:3]}...) "
                            f"are not in {dataset.eeg_path().name}", where=dataset.eeg_path(),
                            fix="use band files of the same release (same dataset list and length filter)")
        out[part] = signals[[row[int(k)] for k in idx]]
    return out


def run_controls(spec: ControlsSpec, *, labels: dict[str, np.ndarray], subjects: dict[str, np.ndarray],
                 order: dict[str, np.ndarray], n_classes: int, eeg_pred: np.ndarray, seed: int,
                 probe_signals: dict[str, np.ndarray] | None = None, sfreq: float = 1000.0,
                 high_gamma: dict[str, np.ndarray] | None = None,
                 high_gamma_top1: tuple[float, int] | None = None) -> dict[str, float]:
    """Every enabled control as ``control/...`` metrics (see the module docstring).

    labels/subjects/order: per part (train, val, test), the unit's rows (order = recording
    position). probe_signals: the same rows read from ``spec.probe_variant`` (the raw file), for
    the drift and band-power probes (``sfreq`` Hz). eeg_pred: the model's test predictions (for
    permutation chance). high_gamma: the 55-95 Hz signals per part (band-power high-gamma probe);
    high_gamma_top1: (accuracy, n) of the pipeline run on the 55-95 Hz file.
    """
    chance = 1.0 / n_classes
    n_test = len(labels["test"])
    out: dict[str, float] = {"control/chance": chance}

    def probe(name: str, features: dict[str, np.ndarray]) -> None:
        acc, _ = probe_accuracy(features, labels, n_classes)
        out[f"control/{name}_top1"] = acc
        out[f"control/{name}_p"] = binomial_p(round(acc * n_test), n_test, chance)

    if spec.design_check:
        parts = ("train", "val", "test")
        design = design_check(np.concatenate([subjects[p] for p in parts]), np.concatenate([order[p] for p in parts]),
                              np.concatenate([labels[p] for p in parts]), spec.permutations, seed)
        out.update({f"control/{k}": v for k, v in design.items()})
        out["control/design_blocked"] = float(design["design_p"] < spec.alpha)
    if probe_signals is not None:
        if spec.drift_probe:
            probe("drift_probe", {p: drift_features(x) for p, x in probe_signals.items()})
        if spec.band_power:
            probe("band_power", {p: band_power_features(x, sfreq, spec.bands) for p, x in probe_signals.items()})
    if high_gamma_top1 is not None:
        acc, n = high_gamma_top1
        out["control/high_gamma_eeg_top1"] = acc
        out["control/high_gamma_p"] = binomial_p(round(acc * n), n, chance)
    elif high_gamma is not None:
        acc, _ = probe_accuracy({p: band_power_features(x) for p, x in high_gamma.items()}, labels, n_classes)
        out["control/high_gamma_eeg_top1"] = acc
        out["control/high_gamma_p"] = binomial_p(round(acc * n_test), n_test, chance)
    out.update({f"control/{k}": v for k, v in
                permutation_chance(eeg_pred, labels["test"], spec.permutations, seed).items()})
    return out


__all__ = ["BLOCK_PROBES", "CONFOUND_CONTROLS", "ConfoundVerdict", "ControlsSpec", "DEFAULT_BANDS", "FLAG_RULE",
           "adjacent_same", "band_power_features", "binomial_p", "confound_verdict", "controls_method",
           "design_check", "drift_features", "permutation_chance", "probe_accuracy", "rows_by_order",
           "run_controls"]
