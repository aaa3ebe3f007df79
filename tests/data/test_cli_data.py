"""`bench data simulate` / `bench data info`, and ensure_simulated's cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.data.ensure import ensure_simulated, simulated_folder
from bench.data.simulate import SIMULATION_FILE, SIMULATORS
from bench.data.simulate.things_eeg2 import DEFAULT_SNR

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def settings(tmp_path):
    """Settings in this test's tmp folder (no MLflow store needed here, unlike the shared fixture)."""
    from bench.settings import load_settings

    return load_settings(cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights",
                         tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", device="cpu")


def test_simulate_then_info(tmp_path):
    out = tmp_path / "sim"
    result = runner.invoke(app, ["data", "simulate", "things-eeg2", "--out", str(out), "--subjects", "1",
                                 "--size", "tiny", "--seed", "1", "--snr", "0.05", "--variant", "100hz", "--quiet"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    info = json.loads((out / SIMULATION_FILE).read_text())
    assert (info["seed"], info["snr"], info["variant"], info["subjects"]) == (1, 0.05, "100hz", 1)
    assert (out / "preprocessed_data" / "sub-01" / "preprocessed_eeg_training.npy").is_file()

    result = runner.invoke(app, ["data", "info", str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "100hz" in text and "subjects: [1]" in text and "(400, 4, 17, 100) float64" in text
    assert "(50, 20, 17, 100)" in text and "sha256" in text and "problems: none" in text

    result = runner.invoke(app, ["data", "info", str(out), "--json", "--quick"])
    report = json.loads(result.output)
    assert report["variant"] == "100hz" and report["problems"] == []
    assert {(f["part"], tuple(f["shape"])) for f in report["files"]} == {("train", (400, 4, 17, 100)),
                                                                         ("test", (50, 20, 17, 100))}


def test_info_reports_problems_with_exit_code_1(tmp_path):
    out = tmp_path / "sim"
    assert runner.invoke(app, ["data", "simulate", "things-eeg2", "--out", str(out), "--subjects", "1",
                               "--variant", "100hz", "--quiet"]).exit_code == 0
    path = out / "preprocessed_data" / "sub-01" / "preprocessed_eeg_test.npy"
    content = np.load(path, allow_pickle=True).item()
    content["preprocessed_eeg_data"][2, 0, 0, 0] = np.nan
    np.save(path, content, allow_pickle=True)
    result = runner.invoke(app, ["data", "info", str(out)])
    assert result.exit_code == 1
    assert "problems (1)" in result.output and "NaN" in result.output and "[2]" in result.output
    result = runner.invoke(app, ["data", "info", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "root folder not found" in result.output


def test_errors_are_clean_messages_from_the_real_command(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "file").write_text("x")
    cmd = [sys.executable, "-c", "import sys; from bench.cli import main; sys.argv[0] = 'bench'; main()",
           "data", "simulate", "things-eeg2", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2, proc.stderr
    assert "error:" in proc.stderr and "not empty" in proc.stderr and "--force" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_simulate_without_out_uses_the_cache(settings, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(settings.cache_dir))
    result = runner.invoke(app, ["data", "simulate", "things-eeg2", "--subjects", "1", "--variant", "100hz",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    expected = settings.simulated_root / "things-eeg2" / f"100hz-tiny-n1-seed0-snr{DEFAULT_SNR}"
    assert str(expected) in result.output and (expected / SIMULATION_FILE).is_file()


def test_ensure_simulated_writes_once_and_atomically(settings, monkeypatch):
    path = ensure_simulated("things-eeg2", settings, size="tiny", subjects=1, seed=2, snr=0.1, variant="100hz")
    assert path == settings.simulated_root / "things-eeg2" / "100hz-tiny-n1-seed2-snr0.1"
    assert path == simulated_folder("things-eeg2", settings, "tiny", 1, 2, 0.1, "100hz")
    stamp = (path / SIMULATION_FILE).stat().st_mtime_ns
    assert ensure_simulated("things-eeg2", settings, size="tiny", subjects=1, seed=2, snr=0.1,
                            variant="100hz") == path
    assert (path / SIMULATION_FILE).stat().st_mtime_ns == stamp  # reused, not rewritten

    # an interrupted simulation leaves neither a finished-looking folder nor its temporary folder
    real = SIMULATORS.get("things-eeg2")

    def dies_half_way(out, **kwargs):
        (Path(out) / "Preprocessed_data_250Hz").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setitem(SIMULATORS._items, "things-eeg2", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        ensure_simulated("things-eeg2", settings, size="tiny", subjects=1, seed=3, snr=0.1, variant="100hz")
    parent = settings.simulated_root / "things-eeg2"
    assert not (parent / "100hz-tiny-n1-seed3-snr0.1").exists()
    assert not list(parent.glob(".tmp-*"))
    # leftovers of a killed run (no cleanup at all) are ignored and removed by the next writer
    stale = parent / ".tmp-100hz-tiny-n1-seed3-snr0.1-999-abc"
    (stale / "training_images").mkdir(parents=True)
    monkeypatch.setitem(SIMULATORS._items, "things-eeg2", real)
    done = ensure_simulated("things-eeg2", settings, size="tiny", subjects=1, seed=3, snr=0.1, variant="100hz")
    assert (done / SIMULATION_FILE).is_file() and not stale.exists()


def test_ensure_rejects_unknown_dataset(settings):
    from bench.errors import RegistryError

    with pytest.raises(RegistryError, match="things-eeg2"):
        ensure_simulated("no-such-dataset", settings)
