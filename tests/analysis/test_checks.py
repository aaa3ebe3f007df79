"""The validity checklist: a task variant whose training images include a test image fails the overlap
check (perceptual hash survives re-encoding); record-based checks pass and fail for the right reasons."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.analysis.checks import badges, chance_test, checklist, image_overlap, task_image_overlap
from tests.analysis.records import record, submission_spec, task_spec


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory) -> Path:
    from bench.data.simulate.things_eeg2 import write_things_eeg2

    return write_things_eeg2(tmp_path_factory.mktemp("te2") / "things-eeg2", size="micro", subjects=1, seed=0)


def _leaky_copy(root: Path, out: Path) -> Path:
    """The same data, but one training image replaced by a re-encoded, resized copy of a test image."""
    shutil.copytree(root, out)
    test_img = sorted((out / "test_images").rglob("*.jpg"))[3]
    victim = sorted((out / "training_images").rglob("*.jpg"))[5]
    with Image.open(test_img) as im:
        w, h = im.size
        im.convert("RGB").resize((int(w * 0.9), int(h * 0.9))).save(victim, quality=80)
    return out


def _task(root: Path):
    from bench.config import load_task

    return load_task("things-eeg2-retrieval-200-demo", {"dataset": {"source": "real", "subjects": [1]}}).spec


@pytest.mark.integration
def test_a_task_variant_with_test_images_in_training_fails_the_overlap_check(sim_root, tmp_path, settings):
    clean = task_image_overlap(_task(sim_root), settings.with_(data_root=sim_root.parent))
    assert clean.status == "pass" and clean.value == 0.0
    leaky_root = _leaky_copy(sim_root, tmp_path / "leaky" / "things-eeg2")
    leaky = task_image_overlap(_task(leaky_root), settings.with_(data_root=leaky_root.parent))
    assert leaky.status == "fail" and leaky.value == 1.0 and "1 of 10 test images" in leaky.detail


def test_image_overlap_ignores_different_images(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        p = tmp_path / f"{i}.png"
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).resize((128, 128)).save(p)
        paths.append(p)
    assert image_overlap(paths[:3], paths[3:]).status == "pass"
    assert image_overlap(paths[:3], [paths[1]]).status == "fail"


def _records(values, *, selection="val_loss", chosen=3, seeds=(0, 1), name="t-demo", kind="retrieval", info=None):
    task = {**task_spec([1, 2], seeds, name), "selection": {"metric": selection}, "kind": kind}
    sub = submission_spec("a", "nice", "pixels-colour-texture")
    out = []
    for (s, seed), v in zip([(s, x) for s in (1, 2) for x in seeds], values):
        r = record(task, sub, s, seed, v)
        r.chosen_epoch = chosen
        r.per_item = {"rank": [0] * int(v * 100) + [7] * (100 - int(v * 100))}
        r.info = {"n_gallery": 100, **(info or {})}
        out.append(r)
    return out


def test_record_checks_pass_and_fail_for_the_right_reasons():
    good = _records([0.3, 0.35, 0.4, 0.3])
    null_ok = _records([0.01, 0.0, 0.02, 0.01], name="t-demo-shuffled")
    null_leaky = _records([0.1, 0.12, 0.09, 0.1], name="t-demo-shuffled")
    res = checklist(good, "t-demo", "a", null_records=null_ok, prestim_note="no pre-stimulus samples")
    by = {c.name: c for c in res.checks}
    assert by["shuffled_null"].status == "pass" and by["prestimulus"].status == "n/a"
    assert by["validation_only"].status == "pass" and by["seeds_complete"].status == "pass"
    assert by["block_design"].status == "n/a" and by["image_overlap"].status == "not run"
    assert checklist(good, "t-demo", "a", null_records=null_leaky).checks[0].status == "fail"
    # test-set selection and a missing seed are caught
    bad = _records([0.3, 0.35, 0.4], selection="test_top1")
    by = {c.name: c for c in checklist(bad, "t-demo", "a").checks}
    assert by["validation_only"].status == "fail" and by["seeds_complete"].status == "fail"
    assert "sub-02/seed1" in by["seeds_complete"].detail
    # badges carry the rule and the detail
    b = badges(res)
    assert b[0]["status"] == "pass" and "shuffled training pairs" in b[0]["title"]


def test_chance_test_matches_scipy_binomial():
    from scipy.stats import binomtest

    recs = _records([0.05, 0.02, 0.0, 0.03])
    c = chance_test(recs, alpha=0.01)
    assert c.value == pytest.approx(10 / 400)
    assert f"p = {binomtest(10, 400, 0.01, alternative='greater').pvalue:.3g}" in c.detail


def test_block_design_check_reads_the_confound_flag():
    recs = _records([0.5, 0.5], seeds=(0,), kind="classification")
    recs[0].metrics["control/confound_flag"] = 1.0
    recs[0].info["confound_reasons"] = ["drift_probe: blocked design: ..."]
    by = {c.name: c for c in checklist(recs, "t-demo", "a").checks}
    assert by["block_design"].status == "fail" and "drift_probe" in by["block_design"].detail
    assert by["shuffled_null"].status == "n/a"


@pytest.mark.integration
def test_method_page_states_the_flag_rule_and_the_checklist(tmp_path):
    import numpy as np

    from bench.leaderboard import build_site
    from tests.analysis.records import factorial_records

    build_site(factorial_records(np.random.default_rng(0), n_subjects=2, seeds=(0,)), tmp_path / "site")
    about = (tmp_path / "site" / "about.html").read_text()
    assert "block-signature probe" in about and "raw unfiltered recording" in about
    for name in ("shuffled_null", "prestimulus", "image_overlap", "block_design", "validation_only", "seeds_complete"):
        assert name in about
    assert "Spearman-Brown" in about and "AnovaRM" in about


def test_run_checks_without_runs_reads_the_store_and_scans_the_images(settings, tmp_path):
    """--no-run: derived null and pre-stimulus tasks are written, nothing is evaluated, the images are
    scanned, missing records say so."""
    import yaml

    from bench.analysis.checks import run_checks

    root = Path(__file__).resolve().parents[2]
    task = tmp_path / "t-micro.yaml"
    task.write_text(f"extends: {root / 'tasks' / 'things-eeg2-retrieval-200-demo.yaml'}\nname: t-micro\n"
                    "dataset: {simulation: {size: micro}}\n")
    res = run_checks("demo", str(task), settings, run=False)
    by = {c.name: c for c in res.checks}
    assert by["image_overlap"].status == "pass"
    assert by["shuffled_null"].status == "not run" and by["seeds_complete"].status == "fail"
    folder = settings.cache_dir / "checks"
    assert yaml.safe_load((folder / "t-micro-shuffled.yaml").read_text())["protocol"] == {"shuffle_training_pairs": True}
    body = yaml.safe_load((folder / "t-micro-prestim.yaml").read_text())
    assert body["dataset"] == {"time_window": [-0.2, 0.0]} and body["name"] == "t-micro-prestim"
