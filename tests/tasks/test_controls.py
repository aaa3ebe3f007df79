"""ImageNet-EEG controls fail and pass for the right reasons (issue #11 item 5).

Two simulated recordings with the same block signature (per-block offsets, ramps, drift and
55-95 Hz power), filtered *after* the signature is added, like a real recording:

- block design (one block per class): flagged by the drift probe and the band-power probe on the
  raw file; the drift probe on the 5-95 Hz file misses it, because the band-pass removes the
  < 1 Hz offsets and trends it looks for (that is why the probes read the raw file);
- randomized design: the design check finds no class clustering in time, so nothing is flagged
  (the probes do decode some class information there, from the stimulus-locked response itself).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data.imagenet_eeg import SFREQ, ImageNetEEG
from bench.data.simulate.imagenet_eeg import write_imagenet_eeg
from bench.tasks.controls import (FLAG_RULE, ControlsSpec, adjacent_same, band_power_features, confound_verdict,
                                  controls_method, design_check, drift_features, rows_by_order, run_controls)


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("imagenet-eeg-controls")
    for design in ("block", "randomized"):
        write_imagenet_eeg(base / design, size="tiny", subjects=2, seed=0, design=design)
    return {d: base / d for d in ("block", "randomized")}


_CACHE: dict[tuple, dict[str, float]] = {}


def _controls(root: Path, probe_variant: str, **spec) -> dict[str, float]:
    key = (str(root), probe_variant, tuple(sorted(spec.items())))
    if key not in _CACHE:
        _CACHE[key] = _run_controls(root, probe_variant, **spec)
    return _CACHE[key]


def _run_controls(root: Path, probe_variant: str, **spec) -> dict[str, float]:
    ds = ImageNetEEG(root, "5-95")
    parts = {p: ds.load_subjects([1, 2], p) for p in ("train", "val", "test")}
    order = {p: np.asarray(d.info["list_index"]) for p, d in parts.items()}
    probe = rows_by_order(ImageNetEEG(root, probe_variant), [1, 2], order)
    return run_controls(ControlsSpec(high_gamma="off", permutations=300, **spec),
                        labels={p: d.concepts for p, d in parts.items()},
                        subjects={p: d.subjects for p, d in parts.items()}, order=order, n_classes=ds.n_classes,
                        eeg_pred=parts["test"].concepts, seed=0, probe_signals=probe, sfreq=SFREQ)


def test_block_design_is_flagged_by_the_raw_and_band_power_probes(roots):
    m = _controls(roots["block"], "raw")
    assert m["control/design_blocked"] == 1.0 and m["control/design_adjacent_same"] > 0.8
    assert m["control/design_adjacent_expected"] == pytest.approx(0.1, abs=0.03)
    for name in ("drift_probe", "band_power"):
        assert m[f"control/{name}_top1"] > 0.8 and m[f"control/{name}_p"] < 1e-6, (name, m)
    verdict = confound_verdict(m, eeg_top1=0.9)
    assert verdict.flag and verdict.blocked
    assert {r.split(":")[0] for r in verdict.reasons} == {"drift_probe", "band_power"}


def test_a_drift_probe_on_the_5_95_file_misses_the_block_confound(roots):
    raw, band = _controls(roots["block"], "raw"), _controls(roots["block"], "5-95", band_power=False)
    # the band-pass removed the offsets and trends: not significant at alpha, far below the raw probe
    assert band["control/drift_probe_p"] > 0.01 and band["control/drift_probe_top1"] < 0.4
    assert raw["control/drift_probe_top1"] - band["control/drift_probe_top1"] > 0.5
    assert not confound_verdict(band, eeg_top1=0.9).flag


def test_randomized_design_passes(roots):
    m = _controls(roots["randomized"], "raw")
    assert m["control/design_blocked"] == 0.0 and m["control/design_p"] > 0.05
    assert m["control/design_adjacent_same"] < 0.2
    verdict = confound_verdict(m, eeg_top1=0.6)
    assert not verdict.flag and not verdict.blocked and verdict.above_chance


def test_design_check_against_exact_counts():
    # one subject: labels in recording order 0 0 1 1 2 (shuffled rows), 2 of 4 consecutive pairs match
    order = np.array([4, 0, 2, 1, 3])
    labels = np.array([2, 0, 1, 0, 1])
    assert adjacent_same(np.zeros(5, int), order, labels) == pytest.approx(0.5)
    # pairs never cross subjects
    assert adjacent_same(np.array([1, 1, 2, 2]), np.array([0, 1, 2, 3]), np.array([0, 1, 1, 0])) == 0.0
    # expectation under within-subject shuffles: sum n_c (n_c - 1) / (n (n - 1)) per subject
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(5), 8)
    d = design_check(np.zeros(40, int), np.arange(40), labels, permutations=2000, seed=0)
    assert d["design_adjacent_same"] == pytest.approx(35 / 39) and d["design_p"] == pytest.approx(1 / 2001)
    assert d["design_adjacent_expected"] == pytest.approx(5 * 8 * 7 / (40 * 39), abs=0.01)
    shuffled = design_check(np.zeros(40, int), np.arange(40), rng.permutation(labels), permutations=500)
    assert shuffled["design_p"] > 0.05


def test_band_power_features_match_scipy_periodogram():
    from scipy.signal import periodogram

    rng = np.random.default_rng(0)
    n = 1000
    x = rng.standard_normal((3, 2, n))
    bands = [(0.5, 4.0), (55.0, 95.0)]
    f = band_power_features(x, 1000.0, bands)
    freqs, p = periodogram(x, fs=1000.0, detrend="constant", scaling="spectrum", axis=-1)
    for k, (lo, hi) in enumerate(bands):
        sel = (freqs >= lo) & (freqs < hi)
        # scipy's one-sided spectrum is 2 |X|^2 / n^2 off DC; ours is |X|^2 / n: a constant log(n / 2)
        ref = np.log(p[..., sel].mean(-1))
        np.testing.assert_allclose(f[:, 2 * k: 2 * k + 2] - ref, np.log(n / 2), atol=1e-6)
    with pytest.raises(Exception, match="no frequency bin"):
        band_power_features(x[..., :200], 1000.0, [(0.5, 4.0)])
    assert band_power_features(x).shape == (3, 2)                        # total power: log variance
    t = np.arange(100.0)
    np.testing.assert_allclose(drift_features(np.stack([np.stack([2 + 0 * t, 3 * (t - t.mean()) / t.std()])]))[0],
                               [2.0, 0.0, 0.0, 3.0], atol=1e-5)


def test_flag_rule_gates_block_probes_on_the_design():
    m = {"control/drift_probe_top1": 0.8, "control/drift_probe_p": 1e-9, "control/band_power_top1": 0.7,
         "control/band_power_p": 1e-9, "control/permutation_p": 0.001}
    assert confound_verdict(m, 0.9).flag                                  # no design check: counts as blocked
    assert not confound_verdict({**m, "control/design_p": 0.5}, 0.9).flag  # randomized: stimulus-locked
    assert confound_verdict({**m, "control/design_p": 0.001}, 0.9).flag
    assert not confound_verdict({**m, "control/design_p": 0.001}, 1.0, explain_fraction=0.9).flag  # < 0.9 x 1.0
    hg = {"control/high_gamma_eeg_top1": 0.6, "control/high_gamma_p": 1e-6, "control/design_p": 0.5}
    assert confound_verdict(hg, 0.9).flag                                 # high gamma flags in any design
    method = controls_method(ControlsSpec(alpha=0.05))
    assert "p < 0.05" in method["rule"] and "raw" in method["rule"]
    assert {c["metric"] for c in method["controls"]} >= {"control/design_adjacent_same", "control/band_power_top1"}
    assert "{alpha" in FLAG_RULE


def test_simulator_filters_after_the_block_signature(roots):
    """Raw = stimulus + signature; 5-95 = band-pass of that sum: the offsets are gone from 5-95."""
    raw, band = ImageNetEEG(roots["block"], "raw"), ImageNetEEG(roots["block"], "5-95")
    r, b = raw.load_subjects([1], "train"), band.load_subjects([1], "train")
    assert np.array_equal(np.asarray(r.info["list_index"]), np.asarray(b.info["list_index"]))
    between_blocks = lambda x: x.mean(-1).std(0).mean() / x.std()      # spread of epoch means across trials
    assert between_blocks(r.signals) > 5 * between_blocks(b.signals)


def test_task_option_selects_the_simulated_design(settings):
    """``dataset.simulation.design`` reaches the ImageNet-EEG simulator (and is refused elsewhere)."""
    import json

    from bench.config import load_task
    from bench.data.locate import dataset_root
    from bench.errors import ConfigError

    task = load_task("imagenet-eeg-40-demo-randomized").spec
    assert task.dataset.simulation.design == "randomized"
    assert load_task("imagenet-eeg-40-demo").spec.dataset.simulation.design is None     # simulator default: block
    root = dataset_root(task.dataset, settings)
    assert root.name.endswith("-designrandomized")
    assert json.loads((root / "simulation.json").read_text())["design"] == "randomized"
    other = load_task("things-eeg2-retrieval-200-demo", {"dataset": {"simulation": {"design": "block"}}}).spec
    with pytest.raises(ConfigError, match="has no option 'design'"):
        dataset_root(other.dataset, settings)
