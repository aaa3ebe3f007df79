"""Verified entries: a hand-edited spec is refused by key, an edited metric fails on the unit re-run,
an honest snapshot passes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bench.analysis.verify import compare_metrics, key_mismatch, verify_records

ROOT = Path(__file__).resolve().parents[2]


def _specs(tmp_path: Path, epochs: int = 1) -> tuple[Path, Path]:
    task = tmp_path / "t-verify.yaml"
    task.write_text(f"extends: {ROOT / 'tasks' / 'things-eeg2-retrieval-200-demo.yaml'}\nname: t-verify\n"
                    "dataset: {simulation: {size: micro, n_subjects: 1}, subjects: [1]}\nseeds: [0]\n")
    sub = tmp_path / "s-verify.yaml"
    sub.write_text(f"extends: {ROOT / 'submissions' / 'demo.yaml'}\nname: s-verify\ntasks: [{task}]\n"
                   f"recipe: {{epochs: {epochs}, batch_size: 16}}\n")
    return task, sub


def _planned_record(tmp_path, settings):
    from bench import HARNESS_VERSION
    from bench.config import load_submission, load_task, spec_hash
    from bench.execution import key_unit
    from bench.records.schema import Record
    from bench.tasks.base import Unit

    task_file, sub_file = _specs(tmp_path)
    task, sub = load_task(task_file).spec, load_submission(sub_file).spec
    planned = key_unit(Unit(task, sub, "sub-01", 1, 0), settings)
    assert planned.error is None, planned.error
    return Record(key=planned.key, task=task.name, submission=sub.name, split="sub-01", subject=1, seed=0,
                  status="finished", task_spec=task.model_dump(mode="json"),
                  submission_spec=sub.model_dump(mode="json"), metrics={"top1": 0.5},
                  provenance={"harness_version": HARNESS_VERSION, "task_hash": spec_hash(task),
                              "submission_hash": spec_hash(sub), **planned.fingerprint})


def test_a_hand_edited_spec_is_refused_with_the_record_named(tmp_path, settings):
    record = _planned_record(tmp_path, settings)
    assert key_mismatch(record) is None                        # honest: the key follows from the embedded specs
    edited = copy.deepcopy(record)
    edited.submission_spec["recipe"]["epochs"] = 50
    msg = key_mismatch(edited)
    assert msg and "s-verify" in msg and "sub-01" in msg and "edited" in msg
    result = verify_records([record, edited], settings, sample=1)
    assert not result.verified and result.key_mismatches == [msg] and not result.reruns
    assert result.badge().startswith("unverified (1 records")


def test_compare_metrics_tolerance():
    worst, bad = compare_metrics({"top1": 0.5, "top5": 0.9}, {"top1": 0.5 + 1e-9, "top5": 0.8}, 1e-6)
    assert worst == pytest.approx(0.1) and len(bad) == 1 and bad[0].startswith("top5")
    assert compare_metrics({"x": 1.0}, {}, 1e-6)[1]              # a metric missing from the re-run fails


@pytest.mark.slow
def test_honest_snapshot_verifies_and_an_edited_metric_fails(tmp_path, settings):
    from bench.runner import evaluate

    _, sub = _specs(tmp_path)
    report = evaluate([str(sub)], settings=settings, progress=False)
    assert not report.failed, report.failed[0].error
    honest = report.records
    ok = verify_records(honest, settings, sample=1)
    assert ok.verified and ok.reruns[0].status == "match", ok.text()
    assert ok.badge().startswith("verified: 1 of 1 units re-run, harness ")
    forged = copy.deepcopy(honest)
    forged[0].metrics["top1"] += 0.05
    bad = verify_records(forged, settings, sample=1)
    assert not bad.verified and bad.reruns[0].status == "mismatch" and "top1" in bad.reruns[0].detail
