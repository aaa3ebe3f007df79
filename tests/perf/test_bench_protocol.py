"""ci/bench_protocol.py: one subject's units at full size, extrapolated to the 10 x 5 protocol."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "ci"))
    spec = importlib.util.spec_from_file_location("bench_protocol", ROOT / "ci" / "bench_protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIRST = {"load_train": 3.0, "embed_train_images": 1.0, "train": 11.0, "epochs": 10.0, "evaluate": 2.0, "total": 20.0}
FURTHER = {"load_train": 0.0, "embed_train_images": 0.0, "train": 10.5, "epochs": 10.0, "evaluate": 0.5, "total": 12.0}


def test_extrapolation_matches_a_hand_computation(bench):
    est = bench.extrapolate(35.0, [FIRST, FURTHER])               # 3 s outside the units
    reads = 3.0 + (2.0 - 0.5)                                     # another subject's first seed reads again
    total = 35.0 + 9 * (12.0 + reads) + (50 - 2 - 9) * 12.0
    assert est["subject_reads_s"] == reads and est["outside_units_s"] == pytest.approx(3.0)
    assert est["protocol_s"] == pytest.approx(total)
    assert est["protocol_epochs_s"] == pytest.approx(20.0 + 48 * 10.0)
    assert est["protocol_share"] == pytest.approx(1 - 500.0 / total)
    # the measured plan itself gives back the measured share
    assert bench.extrapolate(35.0, [FIRST, FURTHER], subjects=1, seeds=2)["protocol_share"] == pytest.approx(1 - 20 / 35)
    # further seeds: their median
    slow = dict(FURTHER, total=30.0, epochs=28.0)
    assert bench.extrapolate(60.0, [FIRST, FURTHER, FURTHER, slow])["further_unit_s"] == 12.0


def test_extrapolation_needs_a_further_seed_and_one_subject(bench):
    with pytest.raises(ValueError, match="at least 2 seeds"):
        bench.extrapolate(20.0, [FIRST])
    with pytest.raises(ValueError, match="more than one subject"):
        bench.extrapolate(40.0, [FIRST, FURTHER, FURTHER], subjects=2, seeds=2)


def test_variants_are_the_protocol_on_one_subject(bench, tmp_path):
    from bench.config import load_submission, load_task

    task_file, sub_file = bench.write_variants(tmp_path, ROOT / "submissions" / "nice_dreamsim.yaml", size="full",
                                               seeds=3, real=False, image_model="pixels-colour-texture", epochs=4)
    task = load_task(task_file).spec
    protocol = load_task(ROOT / "tasks" / "things-eeg2-retrieval-200.yaml").spec
    assert task.dataset.subjects == [1] and task.seeds == [0, 1, 2]
    assert task.dataset.source == "simulated" and task.dataset.simulation.size == "full"
    assert task.protocol == protocol.protocol and task.validation == protocol.validation
    sub = load_submission(sub_file).spec
    original = load_submission(ROOT / "submissions" / "nice_dreamsim.yaml").spec
    assert sub.image_model.name == "pixels-colour-texture" and sub.recipe.epochs == 4
    assert sub.encoder == original.encoder and sub.recipe.batch_size == original.recipe.batch_size
    _, kept = bench.write_variants(tmp_path, ROOT / "submissions" / "nice_dreamsim.yaml", size="full", seeds=2,
                                   real=True, image_model="keep", epochs=None)
    kept_spec = load_submission(kept).spec
    assert kept_spec.image_model == original.image_model and kept_spec.recipe == original.recipe
    assert load_task(tmp_path / "task.yaml").spec.dataset.source == "real"


@pytest.mark.integration
def test_two_seeds_of_one_subject_run_and_extrapolate(bench, tmp_path, capsys):
    result = bench.main(["--size", "micro", "--epochs", "2", "--seeds", "2", "--device", "cpu",
                         "--cache-dir", str(tmp_path / "cache"), "--keep", str(tmp_path / "run")])
    first, second = result["units_measured"]
    assert (first["seed"], second["seed"]) == (0.0, 1.0) and first["n_epochs"] == second["n_epochs"] == 2.0
    assert second["load_train"] < first["load_train"]              # the second seed reuses the subject's load
    assert 0.0 < result["protocol_share"] < 1.0 and result["protocol_s"] > result["invocation_s"]
    out = capsys.readouterr().out
    assert "non-training share" in out and "50 units" in out


@pytest.mark.integration
def test_the_gpu_command_runs_the_same_steps_on_a_cpu(tmp_path):
    """ci/gpu_protocol.sh, the one command a lent GPU machine runs, here with DEVICE=cpu and a tiny
    size: `python3` is this interpreter (the GPU machine's has torch), no wheels are carried."""
    import json
    import os
    import subprocess

    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python3").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}", OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"),
               WHEELS=str(tmp_path / "no-wheels"), DEVICE="cpu", SIZE="micro", EPOCHS="2")
    proc = subprocess.run(["bash", str(ROOT / "ci" / "gpu_protocol.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((tmp_path / "out" / "protocol.json").read_text())
    assert result["size"] == "micro" and 0.0 < result["protocol_share"] < 1.0
    assert [u["n_epochs"] for u in result["units_measured"]] == [2.0, 2.0]
    log = (tmp_path / "out" / "protocol.log").read_text()
    assert "torch" in log and "non-training share" in log
