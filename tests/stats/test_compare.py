"""Statistics equal independent scipy/numpy computations on the same stored values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bench.stats import compare, compare_all, holm, summarise
from bench.stats.corrections import benjamini_hochberg
from tests.records.factory import make_records


def _values(records, sub):
    return {(r.subject, r.seed): r.metrics["top1"] for r in records if r.submission == sub}


def test_summary_mean_of_seed_means_and_se_across_subjects():
    recs = make_records({"a": 0.4, "b": 0.3})
    va = _values(recs, "a")
    subj = np.array([np.mean([va[(s, k)] for k in (0, 1, 2)]) for s in (1, 2, 3, 4)])
    summary = {s.submission: s for s in summarise(recs, "top1")}["a"]
    assert summary.mean == pytest.approx(subj.mean(), abs=1e-12)
    assert summary.se == pytest.approx(stats.sem(subj), abs=1e-12)
    sd1 = np.std([va[(1, k)] for k in (0, 1, 2)], ddof=1)
    assert summary.per_subject["sub-01"][1] == pytest.approx(sd1, abs=1e-12)
    assert summary.complete and summary.n_units == 12


def test_incomplete_units_are_reported_missing_not_averaged():
    recs = make_records({"a": 0.4}, drop={("a", 2, 1), ("a", 3, 0)})
    s = summarise(recs, "top1")[0]
    assert not s.complete
    assert s.missing == [("sub-02", 1), ("sub-03", 0)]
    assert s.per_subject["sub-02"][2] == 2 and s.n_units == 10


def test_compare_matches_scipy():
    recs = make_records({"a": 0.45, "b": 0.40}, seed=3)
    c = compare(recs, "toy-task", "a", "b", "top1", n_boot=2000, seed=1)
    va, vb = _values(recs, "a"), _values(recs, "b")
    sa = np.array([np.mean([va[(s, k)] for k in range(3)]) for s in range(1, 5)])
    sb = np.array([np.mean([vb[(s, k)] for k in range(3)]) for s in range(1, 5)])
    ref = stats.ttest_rel(sa, sb)
    assert c.pair_by == "subjects" and c.test == "paired t-test" and c.n_pairs == 4
    assert c.t == pytest.approx(ref.statistic, rel=1e-10)
    assert c.p == pytest.approx(ref.pvalue, rel=1e-10)
    keys = sorted(va)
    ref_u = stats.ttest_rel([va[k] for k in keys], [vb[k] for k in keys])
    assert c.t_unit == pytest.approx(ref_u.statistic, rel=1e-10) and c.p_unit == pytest.approx(ref_u.pvalue, rel=1e-10)
    ref_w = stats.wilcoxon(sa - sb)
    assert c.p_wilcoxon == pytest.approx(ref_w.pvalue, rel=1e-10)
    d = sa - sb
    assert c.cohens_dz == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-10)
    assert c.sd_diff == pytest.approx(d.std(ddof=1), rel=1e-10)
    assert c.mean_diff == pytest.approx(d.mean(), abs=1e-12)
    # BCa bootstrap CI: scipy.stats.bootstrap with the same seeded generator
    boot = stats.bootstrap((d,), np.mean, n_resamples=2000, method="BCa", rng=np.random.default_rng(1))
    assert (c.ci_low, c.ci_high) == pytest.approx((boot.confidence_interval.low, boot.confidence_interval.high))
    # minimum detectable difference: statsmodels' TTestPower effect size times the observed sd
    from statsmodels.stats.power import TTestPower

    dz_min = TTestPower().solve_power(nobs=4, alpha=0.05, power=0.8, alternative="two-sided")
    assert c.mdd == pytest.approx(dz_min * d.std(ddof=1), rel=1e-8)
    assert c.n_subjects == 4 and c.n_units == 12 and not c.unmatched and not c.conflicts


def test_compare_leaves_unmatched_units_out():
    recs = make_records({"a": 0.45, "b": 0.40}, drop={("b", 1, 2)})
    c = compare(recs, "toy-task", "a", "b", "top1", n_boot=100)
    assert c.unmatched == ["sub-01/seed2"] and c.n_units == 11


def test_holm_and_bh_match_reference_formulas_and_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    m = len(p)
    order = np.argsort(p)
    expect = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        expect[i] = running
    assert np.allclose(holm(p), expect)
    assert np.allclose(holm(p), multipletests(p, method="holm")[1])
    bh = np.empty(m)
    prev = 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        prev = min(prev, p[i] * m / (rank + 1))
        bh[i] = prev
    assert np.allclose(benjamini_hochberg(p), bh)
    assert np.allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])
    assert np.allclose(benjamini_hochberg(p), stats.false_discovery_control(p))
    # NaN (no test) is left out of the family and stays NaN
    with_nan = np.array([0.01, np.nan, 0.04])
    out = holm(with_nan)
    assert np.isnan(out[1]) and np.allclose(out[[0, 2]], multipletests([0.01, 0.04], method="holm")[1])


def test_compare_all_corrects_the_family():
    recs = make_records({"a": 0.5, "b": 0.4, "c": 0.39})
    res = compare_all(recs, "toy-task", ["a", "b", "c"], "top1", correction="holm", n_boot=200)
    assert len(res) == 3
    assert np.allclose([r.p_corrected for r in res], holm([r.p for r in res]))
