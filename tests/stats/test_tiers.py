"""Significance tiers equal an independent computation (scipy.stats.ttest_rel + hand-written corrections)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bench.records.schema import Record
from bench.stats.tiers import assign_tiers, compute_tiers

TASK = "tier-task"


def _spec(subjects, seeds):
    return {"name": TASK, "version": 1, "kind": "retrieval", "variant": "default", "scheme": "within-subject",
            "dataset": {"name": "things-eeg2", "subjects": list(subjects)}, "seeds": list(seeds)}


def _records(values: dict[str, dict[tuple[int, int], float]], subjects, seeds, failed=()) -> list[Record]:
    """values[sub][(subject, seed)] = metric; ``failed`` = (sub, subject, seed) stored as failed units."""
    spec = _spec(subjects, seeds)
    out = []
    for sub, cells in values.items():
        for (subject, seed), v in cells.items():
            status = "failed" if (sub, subject, seed) in failed else "finished"
            out.append(Record(key=f"{sub}-{subject}-{seed}", task=TASK, submission=sub, split=f"sub-{subject:02d}",
                              subject=subject, seed=seed, status=status, task_spec=spec,
                              submission_spec={"name": sub}, metrics={"top1": v} if status == "finished" else {}))
    return out


def _synthetic(effects: dict[str, float], subjects=range(1, 9), seeds=(0, 1, 2), *, noise=0.03, rng_seed=0,
               noisy: dict[str, float] | None = None):
    """Shared subject offsets (paired tests have power); unit noise ``noise`` (or ``noisy[sub]``)."""
    rng = np.random.default_rng(rng_seed)
    offset = {s: rng.normal(0, 0.05) for s in subjects}
    return {sub: {(s, k): float(e + offset[s] + rng.normal(0, (noisy or {}).get(sub, noise)))
                  for s in subjects for k in seeds}
            for sub, e in effects.items()}


# ---- the independent computation -------------------------------------------------------------------
def _holm(p):
    p = np.asarray(p, float)
    out = np.full(len(p), np.nan)
    idx = [i for i in range(len(p)) if not math.isnan(p[i])]
    m = len(idx)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def _bh(p):
    p = np.asarray(p, float)
    out = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok])
    return out


def _reference_p(x, y):
    """Two-sided paired decision without bench code: scipy's t-test, or the exact sign-flip permutation
    test (scipy.stats.permutation_test, all 2^n sign patterns) where the differences have zero variance."""
    d = np.asarray(x) - np.asarray(y)
    if np.ptp(d) > 1e-12:
        return stats.ttest_rel(x, y).pvalue
    res = stats.permutation_test((np.asarray(x), np.asarray(y)), lambda a, b, axis: np.mean(a - b, axis=axis),
                                 permutation_type="samples", n_resamples=np.inf, vectorized=True)
    return min(1.0, res.pvalue)


def _reference_tiers(values, subjects, seeds, correction="holm", alpha=0.05, higher=True, min_pairs=4):
    """Tiers computed from the raw stored values, without any bench.stats code: step-down comparisons with
    the leader, tiers contiguous in the score, none below ``min_pairs`` subjects."""
    complete = {sub: cells for sub, cells in values.items()
                if all((s, k) in cells and not math.isnan(cells[(s, k)]) for s in subjects for k in seeds)}
    subj_means = {sub: np.array([np.mean([cells[(s, k)] for k in seeds]) for s in subjects])
                  for sub, cells in complete.items()}
    score = {sub: m.mean() for sub, m in subj_means.items()}
    sign = -1 if higher else 1
    remaining = sorted(complete, key=lambda sub: (sign * score[sub], sub))
    tiers = {sub: None for sub in values}
    if len(list(subjects)) < min_pairs:
        return tiers
    tier = 0
    while remaining:
        tier += 1
        leader, others = remaining[0], remaining[1:]
        p = [_reference_p(subj_means[leader], subj_means[o]) for o in others]
        adj = {"holm": _holm, "bh": _bh, "none": lambda x: np.asarray(x, float)}[correction](p)
        members = [leader]
        for o, q in zip(others, adj):
            if q < alpha:
                break
            members.append(o)
        for m in members:
            tiers[m] = tier
        remaining = [r for r in remaining if r not in members]
    return tiers


def _monotone(tiers, values, subjects, seeds, higher=True):
    """No entry of a later tier has a higher mean than an entry of an earlier tier."""
    mean = {sub: np.mean([values[sub][(s, k)] for s in subjects for k in seeds]) for sub in tiers if tiers[sub]}
    for a in mean:
        for b in mean:
            if tiers[a] < tiers[b]:
                assert (mean[a] >= mean[b]) if higher else (mean[a] <= mean[b]), (a, b)


# ---- tests -----------------------------------------------------------------------------------------
def test_tiers_equal_independent_computation_on_a_typical_board():
    subjects, seeds = range(1, 9), (0, 1, 2)
    values = _synthetic({"best": 0.50, "close": 0.495, "mid": 0.42, "noisy_low": 0.46, "low": 0.30}, subjects, seeds,
                        noise=0.01, noisy={"noisy_low": 0.25})
    values["half"] = {k: v for k, v in _synthetic({"half": 0.9}, subjects, seeds)["half"].items() if k != (3, 1)}
    recs = _records(values, subjects, seeds)
    tiers = assign_tiers(recs, TASK, "top1", correction="holm")
    assert tiers == _reference_tiers(values, subjects, seeds, "holm")
    assert tiers["best"] == 1 and tiers["close"] == 1       # not separable from the best
    assert tiers["mid"] > 1 and tiers["low"] > tiers["mid"]  # clearly worse, and worse again
    _monotone(tiers, values, subjects, seeds)
    assert tiers["half"] is None                             # incomplete: no tier, even with the highest mean


@pytest.mark.parametrize("correction", ["holm", "bh", "none"])
@pytest.mark.parametrize("rng_seed", range(6))
def test_tiers_equal_independent_computation_randomised(correction, rng_seed):
    rng = np.random.default_rng(100 + rng_seed)
    n_sub = int(rng.integers(3, 11))
    subjects, seeds = range(1, n_sub + 1), tuple(range(int(rng.integers(1, 4))))
    effects = {f"s{i}": float(rng.uniform(0.2, 0.6)) for i in range(int(rng.integers(2, 7)))}
    values = _synthetic(effects, subjects, seeds, noise=float(rng.uniform(0.005, 0.08)), rng_seed=rng_seed)
    recs = _records(values, subjects, seeds)
    result = compute_tiers(recs, TASK, "top1", correction=correction, alpha=0.05)
    assert result.tiers == _reference_tiers(values, subjects, seeds, correction)
    if n_sub < 4:
        assert result.withheld and "too few subjects to tier" in result.withheld and not result.rounds
    else:
        _monotone(result.tiers, values, subjects, seeds)
    # every round's corrected p's are the declared correction of its raw p's
    for rnd in result.rounds:
        raw = [c.p for c in rnd.comparisons]
        ref = {"holm": _holm, "bh": _bh, "none": lambda x: np.asarray(x, float)}[correction](raw)
        np.testing.assert_allclose([c.p_corrected for c in rnd.comparisons], ref, rtol=1e-12)
        assert all(c.a == rnd.leader and c.correction == correction for c in rnd.comparisons)


def test_lower_is_better_metrics():
    subjects, seeds = range(1, 7), (0, 1)
    values = _synthetic({"a": 0.2, "b": 0.5, "c": 0.21}, subjects, seeds, noise=0.005)
    recs = _records(values, subjects, seeds)
    tiers = assign_tiers(recs, TASK, "top1", higher_is_better=False)
    assert tiers == _reference_tiers(values, subjects, seeds, higher=False)
    assert tiers["b"] > tiers["a"]


def test_too_few_subjects_are_not_tiered_and_say_so():
    values = {"a": {(1, 0): 0.9, (1, 1): 0.8, (2, 0): 0.7, (2, 1): 0.75},
              "b": {(1, 0): 0.1, (1, 1): 0.2, (2, 0): 0.15, (2, 1): 0.1}}
    recs = _records(values, [1, 2], (0, 1))
    result = compute_tiers(recs, TASK, "top1")
    assert result.tiers == {"a": None, "b": None} and not result.rounds
    assert result.withheld.startswith("too few subjects to tier") and result.n_pairs == 2
    power = result.power()
    assert "12.7" in power and "too few subjects to tier" in power     # |t| > 12.7 with 2 subjects
    # with the minimum lowered explicitly, the design is tiered (and can still separate these two)
    assert assign_tiers(recs, TASK, "top1", min_pairs=2)["a"] == 1


def test_identical_entries_tie_and_a_constant_difference_is_decisive():
    subjects, seeds = range(1, 9), (0,)
    base = _synthetic({"a": 0.5}, subjects, seeds)["a"]
    values = {"a": base, "twin": dict(base), "shifted": {k: v - 0.05 for k, v in base.items()},
              "worse": _synthetic({"w": 0.1}, subjects, seeds, rng_seed=9)["w"]}
    recs = _records(values, subjects, seeds)
    result = compute_tiers(recs, TASK, "top1")
    assert result.tiers == _reference_tiers(values, subjects, seeds)
    assert result.tiers["twin"] == 1 and result.tiers["shifted"] == 2     # 8 subjects: p = 2/2^8 before Holm
    comps = {c.b: c for c in result.rounds[0].comparisons}
    assert comps["twin"].test.startswith("identical") and comps["twin"].p == 1.0
    assert comps["shifted"].test.startswith("exact sign-flip") and comps["shifted"].p == pytest.approx(2 / 2 ** 8)
    assert math.isnan(comps["shifted"].cohens_dz) and math.isnan(comps["shifted"].t)   # d_z: same rule as the test


def test_tiers_are_contiguous_in_the_score_and_say_why():
    """A steady entry just below the leader is separated; a noisy one further below is not, on its own test.
    The noisy one must not sit above the steady one: it goes to the next round, with a note."""
    subjects, seeds = range(1, 9), (0,)
    rng = np.random.default_rng(4)
    lead = {(s, 0): 0.6 + 0.01 * s for s in subjects}
    values = {"leader": lead,
              "steady": {k: v - 0.03 + rng.normal(0, 0.002) for k, v in lead.items()},
              "noisy": {k: v - 0.06 + (0.2 if k[0] % 2 else -0.2) for k, v in lead.items()}}
    recs = _records(values, subjects, seeds)
    result = compute_tiers(recs, TASK, "top1")
    first = {c.b: c for c in result.rounds[0].comparisons}
    assert first["steady"].significant and not first["noisy"].significant
    assert result.tiers["leader"] == 1 and result.tiers["steady"] == 2 and result.tiers["noisy"] >= 2
    assert result.rounds[0].boundary == "steady"
    assert "ranked below steady" in result.notes["noisy"]
    assert result.tiers == _reference_tiers(values, subjects, seeds)


def test_failed_and_nan_units_make_an_entry_incomplete():
    subjects, seeds = range(1, 5), (0, 1)
    values = _synthetic({"a": 0.5, "b": 0.4, "c": 0.3}, subjects, seeds)
    values["c"][(2, 1)] = float("nan")
    recs = _records(values, subjects, seeds, failed={("b", 4, 0)})
    result = compute_tiers(recs, TASK, "top1")
    assert result.tiers["b"] is None and result.tiers["c"] is None and result.tiers["a"] == 1
    assert result.incomplete == ["b", "c"]


def test_records_of_other_tasks_are_ignored_and_bad_arguments_fail():
    subjects, seeds = range(1, 4), (0,)
    recs = _records(_synthetic({"a": 0.5, "b": 0.3}, subjects, seeds), subjects, seeds)
    other = [Record(**{**r.to_dict(), "task": "other", "key": r.key + "x", "submission": "zzz"}) for r in recs]
    assert set(assign_tiers(recs + other, TASK)) == {"a", "b"}
    with pytest.raises(ValueError, match="correction"):
        assign_tiers(recs, TASK, correction="bonferroni")
    with pytest.raises(ValueError, match="alpha"):
        assign_tiers(recs, TASK, alpha=1.5)
