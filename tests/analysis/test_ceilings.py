"""Noise ceilings: identification arithmetic checked by hand and by simulation; the ceiling rises with
the simulator's SNR and with repetitions and sits at chance on pure noise; scores as fractions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.analysis.ceilings import (TaskCeiling, extrapolate, fraction_of_ceiling, identification,
                                     identification_accuracy, repetition_trials, subject_ceiling)


def test_identification_counts_strict_wins_both_directions():
    a = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert identification(a, a) == 1.0
    b = a[[1, 0, 2]]                                             # rows 0 and 1 swapped: only row 2 matches
    assert identification(a, b) == pytest.approx(1 / 3)
    tie = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert identification(tie, tie) == pytest.approx(1 / 3)       # ties count against


def test_gaussian_identification_model_matches_monte_carlo():
    rng = np.random.default_rng(0)
    n, d = 10, 1.5
    x = rng.standard_normal((200_000, n))
    x[:, 0] += d
    mc = (x.argmax(axis=1) == 0).mean()
    assert identification_accuracy(d, n)[0] == pytest.approx(mc, abs=0.005)
    assert identification_accuracy(0.0, n)[0] == pytest.approx(1 / n, abs=1e-6)


def _trials(rng, snr: float, reps: int, n_img: int = 60, feats: int = 150) -> np.ndarray:
    return rng.standard_normal((n_img, 1, feats)) * np.sqrt(snr) + rng.standard_normal((n_img, reps, feats))


def test_ceiling_rises_with_snr_and_repetitions_and_is_chance_for_noise():
    rng = np.random.default_rng(1)
    by_snr = [subject_ceiling(_trials(rng, s, 8), n_splits=8).ceiling for s in (0.02, 0.05, 0.2)]
    assert by_snr[0] < by_snr[1] < by_snr[2]
    by_reps = [subject_ceiling(_trials(np.random.default_rng(2), 0.03, r), n_splits=8).ceiling for r in (4, 8, 16)]
    assert by_reps[0] < by_reps[1] < by_reps[2]
    noise = subject_ceiling(_trials(rng, 0.0, 8, n_img=200, feats=100), n_splits=10)
    assert noise.chance == pytest.approx(1 / 200)
    assert noise.split_half == pytest.approx(noise.chance, abs=0.01)        # one data set: SE ~0.005
    assert noise.ceiling < noise.chance + 0.02 < by_snr[0]                   # d1 >= 0: a small upward bias only
    # the correction raises the split-half value (R reps per side > R/2) and is stated
    c = subject_ceiling(_trials(rng, 0.05, 8), n_splits=8)
    assert c.ceiling > c.split_half and "corrected to m=8" in c.method
    assert extrapolate({1: 0.1, 2: 0.1}, 10, 4) == pytest.approx(0.1, abs=1e-3)


def test_ceiling_from_the_simulator_rises_with_its_snr(tmp_path):
    from bench.data.simulate.things_eeg2 import write_things_eeg2
    from bench.data.things_eeg2 import ThingsEEG2

    values = []
    for snr in (0.005, 0.05):
        root = write_things_eeg2(tmp_path / f"snr{snr}", size="micro", subjects=1, seed=0, snr=snr)
        trials, dropped = repetition_trials(ThingsEEG2(root, "250hz"), 1)
        assert trials.shape[:2] == (10, 4) and dropped == 0
        values.append(subject_ceiling(trials, 1, n_splits=20).ceiling)
    assert values[0] < values[1]


def test_fraction_of_ceiling_per_subject():
    from tests.analysis.records import record, submission_spec, task_spec

    task = task_spec([1, 2], [0, 1])
    sub = submission_spec("a", "nice", "pixels-colour-texture")
    recs = [record(task, sub, s, seed, v) for s, seed, v in ((1, 0, 0.2), (1, 1, 0.4), (2, 0, 0.1), (2, 1, 0.1))]
    ceiling = TaskCeiling("t-demo", "top1")
    ceiling.subjects = [subject_ceiling(_trials(np.random.default_rng(3), 1.0, 4, 20, 50), s) for s in (1, 2)]
    ceiling.subjects[0].ceiling, ceiling.subjects[1].ceiling = 0.6, 0.5
    out = fraction_of_ceiling(recs, ceiling)["a"]
    assert out["per_subject"] == pytest.approx({"sub-01": 0.5, "sub-02": 0.2})
    assert out["mean"] == pytest.approx(0.35) and ceiling.mean == pytest.approx(0.55)
