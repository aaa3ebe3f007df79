"""`bench evaluate`: one preflight before any unit runs (each problem once, non-zero exit, nothing recorded)."""

from __future__ import annotations

import json
import math

from bench.records.mlflow_store import RecordStore
from tests.runner.helpers import ROOT

HEADLINE = ROOT / "submissions" / "atm_dreamsim.yaml"   # 10 subjects x 5 seeds on real THINGS-EEG2, DreamSim


def _all_runs(tracking_uri: str) -> list:
    store = RecordStore(tracking_uri)
    return store.client.search_runs([store.experiment_id])


def test_headline_command_without_data_reports_each_problem_once(invoke, tracking_uri):
    res = invoke("evaluate", HEADLINE, "--no-progress", "--tracking-uri", tracking_uri)
    assert res.exit_code == 1, res.output
    err = res.stderr
    assert err.count("no data root is set for the real 'things-eeg2' dataset") == 1
    assert err.count("missing weights for dreamsim ensemble") == 1
    assert err.count("stops all 50 units") == 2
    assert "2 problems found before running anything" in err
    # the fix names the exact files, inline
    assert "DIR/things-eeg2/Preprocessed_data_250Hz/sub-01/preprocessed_eeg_training.npy" in err
    assert "nothing was run" in err
    assert "FAILED" not in res.output
    assert _all_runs(tracking_uri) == []          # no failed runs, no parent run: nothing was trained


def test_empty_data_root_names_the_expected_paths(invoke, tracking_uri, tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    res = invoke("evaluate", HEADLINE, "--no-progress", "--tracking-uri", tracking_uri, "--data-root", empty)
    assert res.exit_code == 1
    err = res.stderr
    assert err.count(f"dataset folder '{empty / 'things-eeg2'}' does not exist") == 1
    assert str(empty / "things-eeg2" / "Preprocessed_data_250Hz" / "sub-01" / "preprocessed_eeg_test.npy") in err
    assert "docstring" not in err
    assert _all_runs(tracking_uri) == []


def test_dry_run_is_the_preflight_plus_the_plan_and_fails_when_a_unit_cannot_run(invoke, tracking_uri):
    res = invoke("evaluate", HEADLINE, "--dry-run", "--no-progress", "--tracking-uri", tracking_uri)
    assert res.exit_code == 1
    plan = [line for line in res.stdout.splitlines() if "atm_dreamsim · things-eeg2-retrieval-200" in line]
    assert len(plan) == 50
    assert all(line.endswith("[cannot run (problem 1, 2)]") for line in plan)
    assert "50 units planned: 0 already finished, 0 to run, 50 cannot run" in res.stdout
    assert res.stderr.count("no data root is set") == 1      # the problems once, not once per unit
    assert _all_runs(tracking_uri) == []


def test_unreachable_tracking_store_is_one_more_problem(invoke):
    res = invoke("evaluate", HEADLINE, "--no-progress", "--tracking-uri", "http://127.0.0.1:9")
    assert res.exit_code == 1
    err = res.stderr
    assert "3 problems found" in err
    assert err.count("the MLflow tracking server at 'http://127.0.0.1:9' does not answer") == 1
    assert "stops every unit" in err


def test_simulated_data_are_announced_and_the_plan_runs(invoke, tracking_uri, micro_submission, tmp_path):
    cache = tmp_path / "cache"
    args = ("evaluate", micro_submission, "--dry-run", "--no-progress", "--tracking-uri", tracking_uri,
            "--cache-dir", cache)
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "writing simulated things-eeg2 data (micro, 1 subject;" in first.stderr
    written = next(line for line in first.stderr.splitlines() if line.startswith("wrote "))
    folder = written.rsplit(" to ", 1)[1]
    assert folder.startswith(str(cache / "simulated" / "things-eeg2"))
    from bench.data.ensure import folder_bytes

    assert f"{folder_bytes(folder) / 1e6:.1f} MB" in written   # the size actually on disk
    assert "[to run]" in first.stdout and "1 units planned: 0 already finished, 1 to run, 0 cannot run" in first.stdout
    again = invoke(*args)
    assert again.exit_code == 0 and "writing simulated" not in again.stderr   # written once, reused


def test_output_file_and_next_steps(invoke, tracking_uri, micro_submission, tmp_path, settings):
    """A finished unit (written straight into the store: no training) is skipped; --output reports it."""
    from bench.preflight import preflight
    from bench.records.schema import Record

    settings = settings.with_(tracking_uri=tracking_uri, cache_dir=tmp_path / "cache")
    (planned,) = preflight([str(micro_submission)], settings=settings).planned
    unit = planned.unit
    record = Record(key=planned.key, task=unit.task.name, submission=unit.submission.name, split=unit.split,
                    subject=unit.subject, seed=unit.seed, status="finished",
                    task_spec=unit.task.model_dump(mode="json"), submission_spec=unit.submission.model_dump(mode="json"),
                    metrics={"top1": 0.25, "top5": 0.5}, per_item={"rank": [0, 3, 1, 7]},
                    curves={"train_loss": [2.0], "val_loss": [2.1], "val_top1": [0.2]}, chosen_epoch=1)
    RecordStore(tracking_uri).write(record)

    out = tmp_path / "results" / "run.json"
    res = invoke("evaluate", micro_submission, "--no-progress", "--tracking-uri", tracking_uri,
                 "--cache-dir", tmp_path / "cache", "--output", out)
    assert res.exit_code == 0, res.output
    assert "1 units planned: 1 already finished (skipped)" in res.stdout
    assert f"records: {tracking_uri}" in res.stdout
    assert "bench results --task micro-task" in res.stdout
    assert "bench leaderboard build" in res.stdout
    text = out.read_text()
    data = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))   # strict: no NaN
    (entry,) = data["units"]
    assert entry["status"] == "skipped (already finished)" and entry["key"] == planned.key
    (summary,) = data["results"]
    assert summary["submission"] == "micro-sub" and math.isclose(summary["mean"], 0.25)
    assert summary["se"] is None                 # one subject: SE undefined -> null, not NaN
    assert data["counts"] == {"planned": 1, "skipped": 1, "finished": 0, "failed": 0}


def test_a_missing_subject_is_one_problem_for_its_units_only(tmp_path, settings):
    """Real-data layout with sub-01 only: sub-02's units share one problem; sub-01's units can run."""
    from bench.data.ensure import ensure_simulated
    from bench.preflight import preflight

    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "things-eeg2").symlink_to(ensure_simulated("things-eeg2", settings, size="micro", subjects=1))
    task = tmp_path / "real-task.yaml"
    task.write_text(f"extends: {ROOT / 'tasks' / 'things-eeg2-retrieval-200.yaml'}\nname: real-task\n"
                    "dataset: {subjects: [1, 2]}\nseeds: [0, 1]\n")
    sub = tmp_path / "sub.yaml"
    sub.write_text(f"extends: {ROOT / 'submissions' / 'demo.yaml'}\nname: sub\ntasks: [{task}]\n")
    check = preflight([str(sub)], settings=settings.with_(data_root=data_root))
    assert len(check.problems) == 1, check.describe()
    (problem,) = check.problems
    assert "subject folder not found (subjects present: sub-01)" in problem.message
    assert "sub-02" in problem.message
    assert sorted(problem.units) == [f"sub · real-task · sub-02 · seed {s}" for s in (0, 1)]
    assert "stops 2 of 4 units" in check.describe()
    states = {p.unit.label: check.state(p) for p in check.planned}
    assert states["sub · real-task · sub-01 · seed 0"] == "to run"
    assert states["sub · real-task · sub-02 · seed 1"] == "cannot run (problem 1)"


def test_simulation_shows_a_progress_bar_and_its_size(settings, capsys, caplog):
    import logging

    from bench.data.ensure import ensure_simulated, folder_bytes

    with caplog.at_level(logging.INFO, logger="bench.data.ensure"):
        folder = ensure_simulated("things-eeg2", settings, size="micro", subjects=1, progress=True)
    err = capsys.readouterr().err
    assert "eeg:" in err and "images:" in err and "%|" in err          # tqdm bars (bytes written, images)
    start, done = [r.getMessage() for r in caplog.records]
    assert start.startswith("writing simulated things-eeg2 data (micro, 1 subject;") and str(folder) in start
    assert f"wrote {folder_bytes(folder) / 1e6:.1f} MB" in done and done.endswith(str(folder))


def test_tune_runs_the_same_preflight_before_any_trial(invoke, tracking_uri, tmp_path):
    res = invoke("tune", HEADLINE, "--task", "things-eeg2-retrieval-200", "--space",
                 ROOT / "submissions" / "spaces" / "atm.yaml", "--trials", "1",
                 "--storage", f"sqlite:///{tmp_path / 'optuna.db'}", "--tracking-uri", tracking_uri)
    assert res.exit_code == 1, res.output
    err = res.stderr
    assert err.count("no data root is set for the real 'things-eeg2' dataset") == 1
    assert err.count("missing weights for dreamsim ensemble") == 1
    assert "no trial was run" in err and "Traceback" not in res.output + err
    assert not (tmp_path / "optuna.db").exists()         # no study was created
    assert _all_runs(tracking_uri) == []
