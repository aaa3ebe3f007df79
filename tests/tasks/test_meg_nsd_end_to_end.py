"""THINGS-MEG, NSD and cross-subject retrieval end to end on simulated data, through ``bench.runner.evaluate``:
above chance, chance with shuffled training pairs, records in MLflow, resume, paired comparison, pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.config import load_task
from bench.leaderboard.reported import load_reported, reported_for_task
from bench.records.mlflow_store import RecordStore
from bench.runner import evaluate
from bench.stats import compare

ROOT = Path(__file__).resolve().parents[2]


def _variant(tmp: Path, name: str, *, task: str, submission: str, subjects, seeds=(0,), epochs: int,
             shuffled: bool = False, task_name: str | None = None, recipe: dict | None = None) -> Path:
    """A task extending ``task`` (fewer subjects/seeds, optionally shuffled pairs) and a submission
    extending ``submission`` that runs on it; returns the submission file."""
    task_name = task_name or f"{name}-task"
    task_file = tmp / f"{task_name}.yaml"
    if not task_file.exists():
        spec = {"extends": str(ROOT / "tasks" / f"{task}.yaml"), "name": task_name,
                "dataset": {"subjects": list(subjects)}, "seeds": list(seeds)}
        if shuffled:
            spec["protocol"] = {"shuffle_training_pairs": True}
            spec["variant"] = "null-shuffled-pairs"
        task_file.write_text(yaml.safe_dump(spec))
    sub_file = tmp / f"{name}.yaml"
    sub_file.write_text(yaml.safe_dump({"extends": str(ROOT / "submissions" / f"{submission}.yaml"), "name": name,
                                        "tasks": [str(task_file)], "recipe": {"epochs": epochs, **(recipe or {})}}))
    return sub_file


def _run(subs, settings):
    report = evaluate([str(s) for s in subs], settings=settings, progress=False)
    assert not report.failed, report.failed[0].error
    return report


def _mean(records, metric="top1"):
    return float(np.mean([r.metrics[metric] for r in records]))


def _check_records(report, n_gallery: int | None = None):
    for r in report.records:
        assert r.finished and r.provenance["data_checksum"] and r.provenance["weights_checksum"]
        assert len(r.per_item["rank"]) == r.info["n_test"]
        assert 1 <= r.chosen_epoch <= r.info["last_epoch"]
        if n_gallery is not None:
            assert r.info["n_gallery"] == n_gallery


def _assert_chance(records, *, top1_factor: float = 3.0):
    """Scores of shuffled-pair units are at chance (binomial bounds on the pooled test items)."""
    n = sum(r.info["n_test"] for r in records)
    chance = records[0].info["chance"]["top1"]
    hits = sum(r.metrics["top1"] * r.info["n_test"] for r in records)
    assert hits <= max(top1_factor * chance * n, chance * n + 3 * np.sqrt(n * chance)), (hits, n, chance)
    kway2 = np.mean([r.metrics["kway/2/top1"] for r in records])
    assert abs(kway2 - 0.5) < 3.5 * np.sqrt(0.25 / n), kway2


def _compare_and_pages(settings, task_name: str, a: str, b: str, tmp_path: Path) -> None:
    from bench.leaderboard.site import build_site

    records = RecordStore(settings.tracking_uri).records(task=task_name)
    res = compare(records, task_name, a, b)
    assert res.n_subjects == 2 and res.n_units == 2 and not res.unmatched
    assert np.isfinite(res.mean_a) and np.isfinite(res.mean_b)
    assert res.mean_diff == pytest.approx(res.mean_a - res.mean_b)
    written = build_site(records, tmp_path / "site", n_boot=200, reported=[])
    names = {p.relative_to(tmp_path / "site").as_posix() for p in written}
    assert any(n.startswith("tasks/") and task_name in n for n in names), names


def test_real_tasks_attach_the_papers_numbers():
    """The AlignVis variants of the three real tasks are matched with the AlignVis rows (MEG Table 3, NSD,
    cross-subject Table 2): AlignVis ranks by Pearson r, so its rows sit beside the Pearson variants."""
    rows = load_reported()
    for name, needle in (("things-meg-retrieval-200-alignvis", "things-meg"), ("nsd-retrieval-alignvis", "nsd-fmri"),
                         ("things-eeg2-cross-subject-alignvis", "cross-subject")):
        spec = load_task(name).spec.model_dump(mode="json")
        matched = reported_for_task(rows, spec)
        assert matched and all(needle in r.task_text for r in matched), name
    within = reported_for_task(rows, load_task("things-eeg2-retrieval-200-alignvis").spec.model_dump(mode="json"))
    assert not any("cross-subject" in r.task_text for r in within)


# ------------------------------------------------------------------------------------------------ NSD
def test_nsd_end_to_end(tmp_path, settings):
    a = _variant(tmp_path, "nsd-a", task="nsd-retrieval-demo", submission="demo_nsd", subjects=(1, 2), epochs=10,
                 task_name="nsd-fast")
    b = _variant(tmp_path, "nsd-b", task="nsd-retrieval-demo", submission="demo_nsd", subjects=(1, 2), epochs=1,
                 task_name="nsd-fast", recipe={"optimizer": {"name": "adamw", "lr": 1.0e-5}})
    report = _run([a, b], settings)
    assert len(report.records) == 4
    _check_records(report, n_gallery=56)                      # 60 shared images, 4 without betas: N from data
    recs_a = [r for r in report.records if r.submission == "nsd-a"]
    chance = recs_a[0].info["chance"]["top1"]
    assert _mean(recs_a) > 4 * chance and _mean(recs_a, "kway/2/top1") > 0.7
    assert {r.info["n_test"] for r in recs_a} == {56}
    # resume: everything is skipped
    again = evaluate([str(a), str(b)], settings=settings, progress=False)
    assert len(again.skipped) == 4 and not again.records
    _compare_and_pages(settings, "nsd-fast", "nsd-a", "nsd-b", tmp_path)
    # shuffled pairs fall to chance
    shuffled = _run([_variant(tmp_path, "nsd-null", task="nsd-retrieval-demo", submission="demo_nsd",
                              subjects=(1, 2), epochs=10, shuffled=True)], settings)
    _assert_chance(shuffled.records)


# ------------------------------------------------------------------------------------------------ MEG
def test_meg_end_to_end_smoke(tmp_path, settings):
    sub = _variant(tmp_path, "meg-smoke", task="things-meg-retrieval-200-demo", submission="demo_meg",
                   subjects=(1,), epochs=4)
    report = _run([sub], settings)
    (rec,) = report.records
    _check_records(report, n_gallery=20)
    assert rec.info["n_parameters"] < 5_000_000               # NICE on 271 sensors stays small
    assert rec.metrics["top1"] > 3 * rec.info["chance"]["top1"]
    assert rec.metrics["kway/2/top1"] > 0.7
    again = evaluate([str(sub)], settings=settings, progress=False)
    assert len(again.skipped) == 1 and not again.records


@pytest.mark.slow
def test_meg_end_to_end_controls_and_compare(tmp_path, settings):
    a = _variant(tmp_path, "meg-a", task="things-meg-retrieval-200-demo", submission="demo_meg", subjects=(1, 2),
                 epochs=6, task_name="meg-fast")
    b = _variant(tmp_path, "meg-b", task="things-meg-retrieval-200-demo", submission="demo_meg", subjects=(1, 2),
                 epochs=1, task_name="meg-fast")
    report = _run([a, b], settings)
    _check_records(report, n_gallery=20)
    recs_a = [r for r in report.records if r.submission == "meg-a"]
    assert _mean(recs_a) > 4 * recs_a[0].info["chance"]["top1"]
    assert len(evaluate([str(a), str(b)], settings=settings, progress=False).skipped) == 4
    _compare_and_pages(settings, "meg-fast", "meg-a", "meg-b", tmp_path)
    shuffled = _run([_variant(tmp_path, "meg-null", task="things-meg-retrieval-200-demo", submission="demo_meg",
                              subjects=(1, 2), epochs=6, shuffled=True)], settings)
    _assert_chance(shuffled.records)


# ------------------------------------------------------------------------------------------ cross-subject
@pytest.mark.slow
def test_cross_subject_end_to_end(tmp_path, settings):
    nice = _variant(tmp_path, "cs-nice", task="things-eeg2-cross-subject-demo", submission="demo_cross_subject",
                    subjects=(1, 2, 3), epochs=6, task_name="cs-fast")
    atm = _variant(tmp_path, "cs-atm", task="things-eeg2-cross-subject-demo", submission="demo_cross_subject_atm",
                   subjects=(1, 2, 3), epochs=6, task_name="cs-fast")
    report = evaluate([str(nice), str(atm)], settings=settings, subjects=[1, 2], progress=False)
    assert not report.failed, report.failed[0].error
    assert sorted((r.submission, r.split) for r in report.records) == [
        ("cs-atm", "loso-01"), ("cs-atm", "loso-02"), ("cs-nice", "loso-01"), ("cs-nice", "loso-02")]
    _check_records(report, n_gallery=50)
    for r in report.records:
        assert r.info["train_subjects"] == sorted({1, 2, 3} - {r.subject})
    recs = [r for r in report.records if r.submission == "cs-nice"]
    assert _mean(recs) > 4 * recs[0].info["chance"]["top1"]
    again = evaluate([str(nice), str(atm)], settings=settings, subjects=[1, 2], progress=False)
    assert len(again.skipped) == 4 and not again.records
    _compare_and_pages(settings, "cs-fast", "cs-nice", "cs-atm", tmp_path)
    shuffled = evaluate([str(_variant(tmp_path, "cs-null", task="things-eeg2-cross-subject-demo",
                                      submission="demo_cross_subject", subjects=(1, 2, 3), epochs=6, shuffled=True))],
                        settings=settings, subjects=[1, 2], progress=False)
    assert not shuffled.failed
    _assert_chance(shuffled.records)
