"""Verdicts that hold (issue #11): each finding rebuilt from records, decided as the evidence says, and every
printed number checked against an independent scipy/statsmodels computation. CLI checks go through the
console-script entry point ``bench.cli.main``."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from scipy import stats

from bench.records.keys import unit_key
from bench.records.schema import Record
from bench.records.snapshot import export_snapshot
from bench.stats import compare, compute_tiers, resolve_entries, summarise
from bench.stats.compare import Comparison
from bench.stats.design import MIN_PAIRS, detectable_dz, paired_test, power_text
from bench.stats.report import comparison_text, strict_json

A, B = "nice_dreamsim", "atm_dreamsim"          # real submission names, so `bench compare` can load them


def _spec(task, subjects, seeds, scheme="within-subject", dataset="things-eeg2"):
    return {"name": task, "version": 1, "kind": "retrieval", "variant": "default", "scheme": scheme,
            "dataset": {"name": dataset, "subjects": list(subjects)}, "seeds": list(seeds), "headline_metric": "top1"}


def _record(spec, sub, split, subject, seed, value, *, sub_hash="s0", data="d0", status="finished"):
    key = unit_key(task_hash=spec["name"], submission_hash=f"{sub}-{sub_hash}", split=split, seed=seed,
                   data_checksum=data, weights_checksum="w")
    return Record(key=key, task=spec["name"], submission=sub, split=split, subject=subject, seed=seed, status=status,
                  task_spec=spec, submission_spec={"name": sub, "recipe": {"epochs": 10 if sub_hash == "s0" else 3}},
                  metrics={"top1": float(value)} if status == "finished" else {},
                  provenance={"task_hash": "t0", "submission_hash": f"{sub}-{sub_hash}", "data_checksum": data},
                  error=None if status == "finished" else "RuntimeError: boom")


def within(values: dict[str, dict[tuple[int, int], float]], task="within-task") -> list[Record]:
    subjects = sorted({s for cells in values.values() for s, _ in cells})
    seeds = sorted({k for cells in values.values() for _, k in cells})
    spec = _spec(task, subjects, seeds)
    return [_record(spec, sub, f"sub-{s:02d}", s, k, v) for sub, cells in values.items() for (s, k), v in cells.items()]


def pooled(values: dict[str, list[float]], task="pooled-task") -> list[Record]:
    n = len(next(iter(values.values())))
    spec = _spec(task, range(1, 7), range(n), scheme="pooled", dataset="imagenet-eeg")
    return [_record(spec, sub, "pooled", 0, k, v) for sub, vals in values.items() for k, v in enumerate(vals)]


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """``bench ARGS`` through the console-script entry point; (exit code, stdout, stderr)."""
    from bench.cli import main

    monkeypatch.setattr(sys, "argv", ["bench", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def _strict_loads(text: str):
    def bad(constant):
        raise ValueError(f"non-JSON constant {constant}")
    return json.loads(text, parse_constant=bad)


# ---- finding 1: pooled tasks are separated, over seeds, labelled ------------------------------------
def test_pooled_task_pairs_over_seeds_and_separates_60_percent_from_chance():
    rng = np.random.default_rng(0)
    good = (0.60 + rng.normal(0, 0.02, 5)).tolist()
    chance = (0.025 + rng.normal(0, 0.005, 5)).tolist()
    recs = pooled({"good": good, "chance": chance})
    result = compute_tiers(recs, "pooled-task", "top1")
    assert result.design.pooled and result.n_pairs == 5 and result.withheld is None
    assert result.tiers == {"good": 1, "chance": 2}
    c = result.rounds[0].comparisons[0]
    ref = stats.ttest_rel(good, chance)
    assert c.pair_by == "seeds" and c.n_pairs == 5 and c.test == "paired t-test"
    assert c.t == pytest.approx(ref.statistic, rel=1e-10) and c.p == pytest.approx(ref.pvalue, rel=1e-10)
    assert c.p < 1e-6 and c.significant
    d = np.subtract(good, chance)
    assert c.cohens_dz == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-10)
    # the pooled SE is across seeds (there is one split)
    s = {x.submission: x for x in summarise(recs, "top1")}["good"]
    assert s.pair_by == "seeds" and s.se == pytest.approx(stats.sem(good), rel=1e-10)
    text = comparison_text(c)
    assert "pooled design: paired over 5 matched seeds" in text
    boot = stats.bootstrap((d,), np.mean, n_resamples=1000, method="BCa", rng=np.random.default_rng(0))
    ci = boot.confidence_interval
    assert (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert f"95% BCa bootstrap CI [{ci.low:+.4f}, {ci.high:+.4f}]" in text
    assert f"t={ref.statistic:.3f} p={ref.pvalue:.4g}" in text and f"d_z={d.mean() / d.std(ddof=1):.3f}" in text


# ---- finding 2: a constant difference is decisive; identical values tie -----------------------------
def _constant_board(shift=0.05, bump=0.0):
    rng = np.random.default_rng(1)
    a = {(s, k): float(0.5 + 0.05 * rng.normal()) for s in range(1, 11) for k in range(5)}
    b = {key: v - shift for key, v in a.items()}
    if bump:
        b[(3, 2)] += bump
    return a, b


def test_constant_difference_over_50_units_is_decisive_by_the_exact_sign_flip_test():
    a, b = _constant_board()
    recs = within({A: a, B: b})
    c = compare(recs, "within-task", A, B, "top1", n_boot=500)
    assert c.test.startswith("exact sign-flip") and c.n_pairs == 10
    sa = np.array([np.mean([a[(s, k)] for k in range(5)]) for s in range(1, 11)])
    sb = np.array([np.mean([b[(s, k)] for k in range(5)]) for s in range(1, 11)])
    ref = stats.permutation_test((sa, sb), lambda x, y, axis: np.mean(x - y, axis=axis), vectorized=True,
                                 permutation_type="samples", n_resamples=np.inf)
    assert c.p == pytest.approx(ref.pvalue, rel=1e-12) == 2 / 2 ** 10
    assert math.isnan(c.cohens_dz) and math.isnan(c.t)                  # d_z only where the t-test decides
    assert (c.ci_low, c.ci_high) == pytest.approx((0.05, 0.05))         # every resample has the same mean
    assert c.significant and c.verdict() == f"{A} > {B}"
    assert compute_tiers(recs, "within-task", "top1").tiers == {A: 1, B: 2}
    text = comparison_text(c)
    assert "p=nan" not in text and "e+13" not in text and "e+14" not in text and "2/2^10" in text
    # one unit nudged: the t-test decides, and agrees with scipy
    a2, b2 = _constant_board(bump=0.001)
    c2 = compare(within({A: a2, B: b2}), "within-task", A, B, "top1", n_boot=500)
    sb2 = np.array([np.mean([b2[(s, k)] for k in range(5)]) for s in range(1, 11)])
    assert c2.test == "paired t-test" and c2.p == pytest.approx(stats.ttest_rel(sa, sb2).pvalue, rel=1e-9)


def test_degenerate_paired_decisions():
    tie = paired_test(np.zeros(8))
    assert tie.test.startswith("identical") and tie.p == 1.0 and math.isnan(tie.dz)
    few = paired_test(np.full(5, 0.05))
    assert few.p == pytest.approx(2 / 32) and "no test can reach p < 0.05" in few.note and math.isnan(few.mdd)
    assert paired_test(np.full(6, -0.05)).p == pytest.approx(2 / 64)
    assert paired_test(np.array([])).test == "no matched pairs" and math.isnan(paired_test(np.array([])).p)


# ---- finding 3: stale and current runs are a conflict, excluded and flagged -------------------------
def _stale_and_current():
    """Current plan: 4 subjects x 2 seeds. Stale runs of the same name under an older spec: sub-01 seeds 0-2."""
    spec = _spec("demo-task", (1, 2, 3, 4), (0, 1))
    rng = np.random.default_rng(2)
    current = [_record(spec, A, f"sub-{s:02d}", s, k, 0.5 + rng.normal(0, 0.01)) for s in range(1, 5) for k in (0, 1)]
    stale = [_record(spec, A, "sub-01", 1, k, 0.9, sub_hash="old") for k in (0, 1, 2)]
    other = [_record(spec, B, f"sub-{s:02d}", s, k, 0.3 + rng.normal(0, 0.01)) for s in range(1, 5) for k in (0, 1)]
    return current, stale, other


def test_stale_and_current_runs_conflict_and_are_never_averaged():
    current, stale, other = _stale_and_current()
    res = resolve_entries(current + stale + other)
    mine = res.conflicts_of("demo-task", A)
    assert {c.label for c in mine} == {f"sub-0{s}/seed{k}" for s in range(1, 5) for k in (0, 1)} | {"sub-01/seed2"}
    assert any("different keys" in c.reason for c in mine) and any("specifications" in c.reason for c in mine)
    assert all(r.submission == B for r in res.records)
    s = {x.submission: x for x in summarise(current + stale + other, "top1")}
    assert not s[A].complete and s[A].n_units == 0 and len(s[A].conflicts) == 9 and math.isnan(s[A].mean)
    assert s[B].complete and not s[B].conflicts
    assert compute_tiers(current + stale + other, "demo-task", "top1").tiers[A] is None
    # a key conflict alone (a data file changed for one unit): only that unit is excluded
    changed = _record(current[0].task_spec, A, "sub-02", 2, 1, 0.99, data="d1")
    s = {x.submission: x for x in summarise(current + [changed], "top1")}[A]
    assert [c.label for c in s.conflicts] == ["sub-02/seed1"] and s.n_units == 7 and not s.complete
    ref = np.mean([np.mean([r.metrics["top1"] for r in current
                            if r.subject == subj and not (subj == 2 and r.seed == 1)])
                   for subj in range(1, 5)])
    assert s.mean == pytest.approx(ref, rel=1e-12)                       # the conflicting unit is not in the mean
    # the same record twice (same key) is one result, not a conflict
    assert not resolve_entries(current + current[:2]).conflicts


def test_results_and_compare_flag_conflicts_through_the_cli(monkeypatch, capsys, tmp_path):
    current, stale, other = _stale_and_current()
    snap = tmp_path / "snap.json"
    export_snapshot(current + stale + other, snap)
    code, out, err = run_cli(monkeypatch, capsys, "results", "--snapshot", snap)
    assert code == 0, err
    assert f"CONFLICT demo-task / {A}: 9 conflicting unit(s) excluded" in out
    assert "bench store prune" in out and "bench evaluate" in out
    code, out, err = run_cli(monkeypatch, capsys, "results", "--snapshot", snap, "--format", "json")
    rows = {r["submission"]: r for r in _strict_loads(out)}
    assert len(rows[A]["conflicts"]) == 9 and rows[A]["mean"] is None and not rows[A]["complete"]
    assert "bench store prune" in rows[A]["conflicts"][0]["fix"]
    # compare: the conflicting entry has nothing left to match -> an error that says why and what to run
    code, out, err = run_cli(monkeypatch, capsys, "compare", A, B, "--task", "demo-task", "--snapshot", snap)
    assert code != 0 and "nothing to compare" in err and "conflicting units excluded" in err
    assert "bench store prune" in err


def test_compare_prints_conflicting_units_it_left_out(monkeypatch, capsys, tmp_path):
    current, _, other = _stale_and_current()
    changed = _record(current[0].task_spec, A, "sub-02", 2, 1, 0.99, data="d1")
    snap = tmp_path / "snap.json"
    export_snapshot(current + [changed] + other, snap)
    code, out, err = run_cli(monkeypatch, capsys, "compare", A, B, "--task", "demo-task", "--snapshot", snap,
                             "--bootstrap", "200")
    assert code == 0, err
    assert f"CONFLICTS (excluded, never averaged): {A}: sub-02/seed1" in out and "bench store prune" in out
    assert "unmatched units (left out): sub-02/seed1" in out


# ---- finding 6: power stated; too few subjects are not tiered --------------------------------------
def test_power_statement_matches_statsmodels_and_scipy():
    from statsmodels.stats.power import TTestPower

    for n in (2, 4, 10):
        dz = TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
        assert detectable_dz(n) == pytest.approx(dz, rel=1e-10)
        # independent check: the noncentral t gives 80% power at that effect size
        tc = stats.t.ppf(0.975, n - 1)
        nc = dz * math.sqrt(n)
        power = stats.nct.sf(tc, n - 1, nc) + stats.nct.cdf(-tc, n - 1, nc)
        assert power == pytest.approx(0.8, abs=1e-6)
    text = power_text(2, "subject", sds=[0.11])
    assert "|t| > 12.7" in text and "too few subjects to tier" in text
    assert f"{detectable_dz(2) * 0.11:.3g}" in text


def test_two_subjects_are_not_tiered_and_compare_states_its_power(monkeypatch, capsys, tmp_path):
    # 72.0 ± 11.0 vs 62.5 ± 0.5 over 2 subjects (p = 0.53): tier 1 for both before; now: not tiered, power shown
    recs = within({A: {(1, 0): 0.83, (2, 0): 0.61}, B: {(1, 0): 0.63, (2, 0): 0.62}}, task="two-task")
    result = compute_tiers(recs, "two-task", "top1")
    assert result.tiers == {A: None, B: None} and result.withheld.startswith("too few subjects to tier")
    assert MIN_PAIRS == 4 and "12.7" in result.power()
    snap = tmp_path / "snap.json"
    export_snapshot(recs, snap)
    code, out, err = run_cli(monkeypatch, capsys, "compare", A, B, "--task", "two-task", "--snapshot", snap,
                             "--bootstrap", "200")
    assert code == 0, err
    d = np.array([0.83 - 0.63, 0.61 - 0.62])
    ref = stats.ttest_rel([0.83, 0.61], [0.63, 0.62])
    assert f"p={ref.pvalue:.4g}" in out and f"t={ref.statistic:.3f}" in out
    assert f"d_z={d.mean() / d.std(ddof=1):.3f}" in out
    assert "power: With 2 subjects" in out and "needs |t| > 12.7" in out
    assert f"{detectable_dz(2) * d.std(ddof=1):.3g}" in out
    assert "verdict at α = 0.05 (holm-corrected): not significantly different" in out


# ---- finding 7: nothing matched is an error; p = 0 is significant; JSON is strict --------------------
def test_compare_with_nothing_matched_exits_non_zero(monkeypatch, capsys, tmp_path):
    recs = within({A: {(s, 0): 0.5 for s in range(1, 5)}}, task="one-side")
    snap = tmp_path / "snap.json"
    export_snapshot(recs, snap)
    code, out, err = run_cli(monkeypatch, capsys, "compare", A, B, "--task", "one-side", "--snapshot", snap)
    assert code != 0 and "verdict" not in out
    assert f"nothing to compare: {A} and {B} have no matched units on task 'one-side'" in err
    assert f"{B}: 0)" in err and f"bench evaluate <YAML of {B}> --task one-side" in err
    code, out, err = run_cli(monkeypatch, capsys, "compare", A, B, "--task", "no-such-task", "--snapshot", snap)
    assert code != 0 and "nothing to compare" in err


def test_p_of_exactly_zero_is_significant(monkeypatch, capsys, tmp_path):
    base = dict(task="t", metric="top1", a="x", b="y", pair_by="seeds", n_pairs=50, n_subjects=1, n_units=50,
                mean_a=0.6, mean_b=0.1, mean_diff=0.5, test="paired t-test", t=1e12, p=0.0, cohens_dz=1e9, sd_diff=1e-9,
                mdd=1e-9, t_unit=1e12, p_unit=0.0, wilcoxon_stat=0.0, p_wilcoxon=1e-15, ci_low=0.5, ci_high=0.5)
    assert Comparison(**base).significant and Comparison(**base, p_corrected=0.0).verdict() == "x > y"
    assert not Comparison(**{**base, "p": float("nan")}).significant
    # from records: 50 seeds of a pooled task with a near-constant gap -> scipy's p underflows to exactly 0
    rng = np.random.default_rng(3)
    good = 0.6 + rng.normal(0, 1e-3, 50)
    recs = pooled({A: good.tolist(), B: (good - 0.5 + rng.normal(0, 1e-10, 50)).tolist()}, task="zero-p")
    c = compare(recs, "zero-p", A, B, "top1", n_boot=200)
    assert c.p == stats.ttest_rel([r.metrics["top1"] for r in recs if r.submission == A],
                                  [r.metrics["top1"] for r in recs if r.submission == B]).pvalue == 0.0
    snap = tmp_path / "snap.json"
    export_snapshot(recs, snap)
    code, out, err = run_cli(monkeypatch, capsys, "compare", A, B, "--task", "zero-p", "--snapshot", snap,
                             "--bootstrap", "200")
    assert code == 0, err
    assert f"verdict at α = 0.05 (holm-corrected): {A} > {B}" in out


def test_results_and_compare_json_are_strict(monkeypatch, capsys, tmp_path):
    recs = within({A: {(1, 0): 0.5, (1, 1): 0.6}, B: {(1, 0): 0.4, (1, 1): 0.45}}, task="one-subject")
    snap = tmp_path / "snap.json"
    export_snapshot(recs, snap)
    code, out, err = run_cli(monkeypatch, capsys, "results", "--snapshot", snap, "--format", "json")
    assert code == 0, err
    rows = _strict_loads(out)
    assert "NaN" not in out and all(r["se"] is None for r in rows)       # one subject: SE undefined -> null
    code, out, err = run_cli(monkeypatch, capsys, "compare", A, B, "--task", "one-subject", "--snapshot", snap,
                             "--format", "json", "--bootstrap", "200")
    assert code == 0, err
    (row,) = _strict_loads(out)
    assert "NaN" not in out and row["t"] is None and row["ci_low"] is None and row["n_pairs"] == 1
    assert row["test"].startswith("exact sign-flip") and row["p"] == 1.0 and row["significant"] is False
    with pytest.raises(ValueError):
        json.dumps({"x": float("nan")}, allow_nan=False)
    assert strict_json({"x": float("nan"), "y": [float("inf"), 1.0]}, indent=None) == '{"x": null, "y": [null, 1.0]}'


# ---- issue #16, item 1: failed is not missing (bench results) ---------------------------------------
def test_results_tell_failed_units_from_never_run_ones(monkeypatch, capsys, tmp_path):
    spec = _spec("fail-task", (1, 2), (0, 1))
    ok = [_record(spec, A, f"sub-0{s}", s, k, 0.5) for s, k in ((1, 0), (1, 1), (2, 0))]
    broken = _record(spec, A, "sub-02", 2, 1, 0, status="failed")
    broken.error = "RuntimeError: CUDA out of memory\nTraceback (most recent call last): ..."
    only_failed = [_record(spec, B, f"sub-0{s}", s, k, 0, status="failed") for s in (1, 2) for k in (0, 1)]
    partial = [_record(spec, "eegnet_dreamsim", "sub-01", 1, 0, 0.3)]          # three units never run
    snap = tmp_path / "snap.json"
    export_snapshot(ok + [broken] + only_failed + partial, snap)
    code, out, err = run_cli(monkeypatch, capsys, "results", "--snapshot", snap)
    assert code == 0, err
    assert f"FAILED fail-task / {A}: 1 unit(s) failed: sub-02/seed1: RuntimeError: CUDA out of memory;" in out
    assert "Traceback" not in out and "incomplete (1 failed)" in out
    assert "NOT RUN fail-task / eegnet_dreamsim: 3 unit(s) never run: sub-01/seed1, sub-02/seed0, sub-02/seed1" in out
    assert f"FAILED ATTEMPT fail-task / {B}: no unit finished (4 failed): 4 × RuntimeError: boom" in out
    code, out, err = run_cli(monkeypatch, capsys, "results", "--snapshot", snap, "--format", "json")
    rows = {r["submission"]: r for r in _strict_loads(out)}
    assert rows[A]["failed"] == [{"unit": "sub-02/seed1", "error": "RuntimeError: CUDA out of memory"}]
    assert rows[A]["missing"] == [] and rows["eegnet_dreamsim"]["failed"] == []
    assert rows[B]["status"] == "failed attempt" and rows[B]["n_failed"] == 4 and rows[B]["mean"] is None
