"""200-way retrieval end to end on the embedded default: records, chance control, resume, compare."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import stats

from bench.records.mlflow_store import RecordStore
from bench.runner import evaluate
from tests.runner.helpers import ROOT, bench_cmd, write_variants


def test_demo_unit_records_in_mlflow(tmp_path, settings):
    task, sub = write_variants(tmp_path, epochs=6)
    report = evaluate([str(sub)], settings=settings, progress=False)
    assert not report.failed, report.failed[0].error if report.failed else ""
    (record,) = report.records
    chance = record.info["chance"]["top1"]
    assert record.metrics["top1"] > 5 * chance, (record.metrics, chance)
    assert record.metrics["kway/2/top1"] > 0.75
    assert "last_epoch/top1" in record.metrics
    assert 1 <= record.chosen_epoch <= record.info["last_epoch"]
    assert len(record.per_item["rank"]) == record.info["n_test"]
    assert record.provenance["data_checksum"] and record.provenance["weights_checksum"]

    store = RecordStore(settings.tracking_uri)
    run = store.client.get_run(record.run_id)
    assert run.data.tags["bench.key"] == record.key
    assert run.data.tags["mlflow.parentRunId"] == report.parent_run_id
    assert run.data.params["submission.encoder.name"] == "nice"
    assert "curve/val_loss" in run.data.metrics and "top1" in run.data.metrics
    artifacts = {a.path for a in store.client.list_artifacts(record.run_id)}
    assert {"record.json", "per_item.csv", "task.yaml", "submission.yaml"} <= artifacts

    again = evaluate([str(sub)], settings=settings, progress=False)
    assert len(again.skipped) == 1 and not again.records  # resume: nothing redone


def test_shuffled_pairs_fall_to_chance(tmp_path, settings):
    _, sub = write_variants(tmp_path, epochs=6, task_base="things-eeg2-retrieval-200-demo-shuffled", seeds=(0, 1))
    report = evaluate([str(sub)], settings=settings, progress=False)
    assert not report.failed
    top1 = np.mean([r.metrics["top1"] for r in report.records])
    kway2 = np.mean([r.metrics["kway/2/top1"] for r in report.records])
    n = report.records[0].info["n_test"]
    # Binomial bounds around chance for the pooled test items.
    assert top1 < 4 / n
    assert abs(kway2 - 0.5) < 3 * np.sqrt(0.25 / (2 * n))


def test_changed_config_gives_new_key(tmp_path, settings):
    _, sub = write_variants(tmp_path, epochs=2)
    first = evaluate([str(sub)], settings=settings, progress=False, dry_run=True).planned[0].key
    _, sub2 = write_variants(tmp_path, epochs=3, name="other")
    second = evaluate([str(sub2)], settings=settings, progress=False, dry_run=True).planned[0].key
    assert first != second


def test_preflight_keys_are_reused_not_recomputed(tmp_path, settings, monkeypatch):
    """`bench evaluate` hands its preflight's keyed units to evaluate: no file is stat-ed twice."""
    from bench.preflight import preflight

    _, sub = write_variants(tmp_path, epochs=2, subjects=(1, 2))
    check = preflight([str(sub)], settings=settings)
    expected = [p.key for p in evaluate([str(sub)], settings=settings, progress=False, dry_run=True).planned]

    def no_second_keying(*_args, **_kw):
        raise AssertionError("a unit was keyed again")

    monkeypatch.setattr("bench.execution.driver.key_unit", no_second_keying)
    report = evaluate([str(sub)], settings=settings, progress=False, dry_run=True, planned=check.planned)
    assert [p.key for p in report.planned] == expected and len(expected) == 2
    with pytest.raises(ValueError, match="do not match this plan"):
        evaluate([str(sub)], settings=settings, progress=False, dry_run=True, planned=check.planned[:1])


def test_kill_and_resume_with_a_real_subprocess(tmp_path, settings):
    _, sub = write_variants(tmp_path, epochs=3, subjects=(1, 2), seeds=(0, 1))
    env = {"BENCH_TRACKING_URI": settings.tracking_uri, "BENCH_CACHE_DIR": str(settings.cache_dir)}
    import os

    proc = subprocess.Popen([sys.executable, "-m", "bench", "evaluate", str(sub), "--no-progress"], cwd=ROOT,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    store = RecordStore(settings.tracking_uri)
    deadline = time.time() + 400
    try:
        while time.time() < deadline and not store.finished_keys():
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(1)
        first_done = {r.key: r.run_id for r in store.records()}
        assert first_done, "no unit finished in time"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = {r.key: r.run_id for r in store.records()}
    assert 1 <= len(done_before) < 4
    out = bench_cmd("evaluate", str(sub), "--no-progress", env=env)
    assert f"{len(done_before)} already finished (skipped)" in out.stdout
    after = store.records()
    assert len(after) == 4 and len({r.key for r in after}) == 4
    for key, run_id in done_before.items():
        assert {r.key: r.run_id for r in after}[key] == run_id  # finished units were not redone
    unit_runs = store._search("tags.`bench.kind` = 'unit' and tags.`bench.status` = 'finished'")
    assert len(unit_runs) == 4  # exactly one finished run per key


def test_compare_cli_equals_scipy_on_stored_values(tmp_path, settings):
    _, sub_a = write_variants(tmp_path, epochs=3, subjects=(1, 2), seeds=(0, 1), name="a")
    _, sub_b = write_variants(tmp_path, epochs=1, subjects=(1, 2), seeds=(0, 1), name="b")
    # Both variants must evaluate on the same task for a paired comparison: point b at a's task.
    sub_b.write_text(sub_b.read_text().replace("b-task.yaml", "a-task.yaml"))
    for s in (sub_a, sub_b):
        assert not evaluate([str(s)], settings=settings, progress=False).failed
    env = {"BENCH_TRACKING_URI": settings.tracking_uri}
    out = bench_cmd("compare", str(sub_a), str(sub_b), "--task", "a-task", "--format", "json", "--bootstrap", "500",
                    env=env)
    (res,) = json.loads(out.stdout)
    recs = RecordStore(settings.tracking_uri).records(task="a-task")
    by = {(r.submission, r.subject, r.seed): r.metrics["top1"] for r in recs}
    a = np.array([[by[("a-sub", s, k)] for k in (0, 1)] for s in (1, 2)])
    b = np.array([[by[("b-sub", s, k)] for k in (0, 1)] for s in (1, 2)])
    ref_u = stats.ttest_rel(a.ravel(), b.ravel())
    assert res["n_units"] == 4 and res["n_subjects"] == 2
    assert res["mean_diff"] == pytest.approx((a.mean(1) - b.mean(1)).mean(), abs=1e-12)
    if np.isfinite(ref_u.statistic):
        assert res["t_unit"] == pytest.approx(ref_u.statistic, rel=1e-9)
        assert res["p_unit"] == pytest.approx(ref_u.pvalue, rel=1e-9)
    out = bench_cmd("results", "--task", "a-task", "--format", "json", env=env)
    rows = {r["submission"]: r for r in json.loads(out.stdout)}
    assert rows["a-sub"]["mean"] == pytest.approx(a.mean(1).mean(), abs=1e-12)
    assert rows["a-sub"]["se"] == pytest.approx(stats.sem(a.mean(1)), abs=1e-12)
