"""A real Optuna study on tiny simulated data: validation only, pruning, two worker processes, resume,
MLflow logging under the study's parent run, and a best-trial submission that `bench evaluate` runs."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest
import yaml

from bench.errors import ConfigError
from bench.tuning.study import TUNING_EXPERIMENT, importances_computable, open_storage, redact
from tests.tuning.tiny import write_tiny_plan

# lr 1e-7 barely moves the weights: such a trial is worse than the median of finished trials after
# its first epoch, so the median pruner (1 startup trial, no warm-up) stops it. The baseline trial
# (the submission's own lr 1e-3, weight decay 0) runs first, so a pruning reference always exists.
SPACE = {
    "description": "test space: one good and one useless learning rate",
    "pruner": {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
    "sampler": {"name": "tpe", "n_startup_trials": 10},
    "params": {
        "recipe.optimizer.lr": {"type": "categorical", "choices": [1.0e-3, 1.0e-7]},
        "recipe.optimizer.weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
    },
}


def _guard_test_split(m, calls: list):
    """Any read of the test part of THINGS-EEG2 (EEG, images, checksums of them) fails loudly."""
    from bench.data.things_eeg2 import ThingsEEG2

    for name in ("load", "images", "read_file", "files", "checksum", "image_table"):
        original = getattr(ThingsEEG2, name)

        def guarded(self, *args, _original=original, _name=name, **kwargs):
            if "test" in args or kwargs.get("part") == "test":
                calls.append((_name, args))
                raise AssertionError(f"the test split was read during tuning ({_name}{args})")
            return _original(self, *args, **kwargs)

        m.setattr(ThingsEEG2, name, guarded)


@contextlib.contextmanager
def _test_split_removed(root: Path):
    """Move the test EEG files and test images out of the dataset (worker processes cannot be patched)."""
    aside = root.parent / f".aside-{root.name}"
    moved = [p for p in root.rglob("preprocessed_eeg_test.npy")] + [root / "test_images"]
    aside.mkdir(exist_ok=True)
    pairs = [(p, aside / p.relative_to(root)) for p in moved]
    for src, dst in pairs:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
    try:
        yield
    finally:
        for src, dst in pairs:
            recreated = src.exists()
            if recreated:
                shutil.rmtree(src) if src.is_dir() else src.unlink()
            shutil.move(str(dst), str(src))
            assert not recreated, f"{src} was written during tuning"
        shutil.rmtree(aside, ignore_errors=True)


def test_study_validation_only_pruning_two_workers_resume_and_best_yaml(tmp_path, tiny_cache, tracking_uri,
                                                                      monkeypatch):
    from mlflow.tracking import MlflowClient

    from bench.runner import evaluate
    from bench.tuning import tune
    from bench.validate import validate_file

    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0,))
    settings = plan.settings(tracking_uri)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, sort_keys=False))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    out = tmp_path / "tuned" / "tiny_tuned.yaml"
    kw = dict(storage=storage, settings=settings, seed=0, out=out)

    # 1) in this process, with every test-split reader patched to fail. The sampler seed derives from
    # the worker's host:pid, so a fixed identity fixes the sampled learning rates: for this one the
    # baseline's 1e-3, then 1e-7, 1e-3, 1e-7; the median pruner must stop a 1e-7 trial. (With the real
    # pid, 1 run in 8 samples no 1e-7 at all and nothing is pruned.)
    calls: list = []
    with monkeypatch.context() as m:
        _guard_test_split(m, calls)
        m.setattr("bench.tuning.study._worker_identity", lambda: "test-host:3")
        first = tune(plan.submission, plan.task, space, trials=4, **kw)
    assert calls == []
    assert (first.n_trials, first.n_new, first.n_failed) == (4, 4, 0), first.trial_errors
    assert first.n_pruned >= 1 and first.metric == "val_loss" and first.direction == "minimize"

    # 2) resume the same study with two worker processes, the test files physically absent
    with _test_split_removed(plan.dataset_root()):
        second = tune(plan.submission, plan.task, space, trials=4, n_jobs=2, **kw)
    assert second.worker_errors == [] and second.n_failed == 0, (second.worker_errors, second.trial_errors)
    assert (second.n_trials, second.n_new) == (8, 4)  # the study continued
    assert second.n_pruned >= first.n_pruned >= 1 and second.n_complete >= 1
    assert second.parent_run_id == first.parent_run_id

    import optuna

    study = optuna.load_study(study_name="tiny__tiny-task", storage=open_storage(storage))
    trials = study.trials
    assert trials[0].user_attrs.get("baseline") is True
    assert trials[0].params == {"recipe.optimizer.lr": 1e-3, "recipe.optimizer.weight_decay": 0.0}
    for t in trials:  # seeds recorded on every trial
        assert t.user_attrs["unit_seed"] == 0 and t.user_attrs["subject"] == 1 and "sampler_seed" in t.user_attrs
    import os

    workers = {t.user_attrs["worker_pid"] for t in trials[4:]}
    assert len(workers) == 2 and os.getpid() not in workers  # two separate worker processes
    assert len({t.user_attrs["sampler_seed"] for t in trials[4:]}) == 2
    assert {t.user_attrs["sampler_seed"] for t in trials[:4]}.isdisjoint({t.user_attrs["sampler_seed"] for t in trials[4:]})
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert all(t.params["recipe.optimizer.lr"] == 1e-7 or t.intermediate_values for t in pruned)

    # MLflow: one parent run for the study, one child per trial with params, curves and state
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(TUNING_EXPERIMENT)
    parents = client.search_runs([exp.experiment_id], "tags.`bench.kind` = 'study'")
    assert [p.info.run_id for p in parents] == [first.parent_run_id]
    assert parents[0].info.status == "FINISHED" and parents[0].data.tags["bench.study"] == "tiny__tiny-task"
    assert parents[0].data.metrics["n_trials"] == 8
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{first.parent_run_id}'")
    assert sorted(int(c.data.tags["optuna.trial_number"]) for c in children) == list(range(8))
    state = {int(c.data.tags["optuna.trial_number"]): c.data.tags["optuna.state"] for c in children}
    assert state == {t.number: t.state.name for t in trials}
    done = next(c for c in children if c.data.tags["optuna.state"] == "COMPLETE")
    assert float(done.data.params["recipe.optimizer.lr"]) in (1e-3, 1e-7)
    assert done.data.params["bench.unit_seed"] == "0" and done.data.params["bench.subject"] == "1"
    history = client.get_metric_history(done.info.run_id, "val_loss")
    assert sorted(m.step for m in history) == [1, 2]
    assert "objective" in done.data.metrics and "chosen_epoch" in done.data.metrics
    cut = next(c for c in children if c.data.tags["optuna.state"] == "PRUNED")
    assert "pruned at epoch" in cut.data.tags["bench.note"]
    # importances need two finished trials that differ; which trials the median pruner lets finish in
    # the two-worker half depends on the workers' pids (the sampler seeds), so the figure is expected
    # exactly when the study allows it (tests/tuning/test_study_artifacts.py pins both cases)
    artifacts = {a.path for a in client.list_artifacts(first.parent_run_id, "optuna")}
    expected = {"optuna/optimization_history.png", "optuna/intermediate_values.png", "optuna/trials.csv"}
    if importances_computable([t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]):
        expected.add("optuna/param_importances.png")
    assert artifacts == expected
    assert [a.path for a in client.list_artifacts(first.parent_run_id, "best")] == ["best/tiny_tuned.yaml"]

    # the best trial, as a submission that extends the original with only the tuned values
    assert second.out_path == out
    body = yaml.safe_load(out.read_text())
    assert set(body) == {"extends", "name", "description", "recipe"}
    assert (out.parent / body["extends"]).resolve() == plan.submission.resolve()
    assert body["recipe"] == {"optimizer": {"lr": second.best_params["recipe.optimizer.lr"],
                                            "weight_decay": second.best_params["recipe.optimizer.weight_decay"]}}
    loaded = validate_file(out)
    assert loaded.spec.name == "tiny_tuned" and loaded.spec.recipe.epochs == 2
    assert loaded.spec.recipe.optimizer.lr == second.best_params["recipe.optimizer.lr"]

    # ... that `bench evaluate` runs (now the test split is read, for the first time)
    report = evaluate([str(out)], tasks=[str(plan.task)], settings=settings, progress=False)
    assert len(report.records) == 1 and report.records[0].finished, report.records[0].error
    assert report.records[0].submission == "tiny_tuned" and "top1" in report.records[0].metrics

    # resuming with another space is refused (its trials would not be comparable)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**SPACE, "params": {"recipe.optimizer.lr": SPACE["params"]["recipe.optimizer.lr"]}}))
    with pytest.raises(ConfigError, match="different space"):
        tune(plan.submission, plan.task, other, trials=1, **kw)


def test_cli_tune_on_journal_storage(tmp_path, tiny_cache, tracking_uri, monkeypatch):
    """`bench tune` end to end with Optuna's journal file storage; running it again resumes the study."""
    from typer.testing import CliRunner

    from bench.cli import app

    plan = write_tiny_plan(tmp_path / "specs", tiny_cache, seeds=(0,), epochs=1)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({**SPACE, "pruner": {"name": "none"}}, sort_keys=False))
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tiny_cache))
    journal = tmp_path / "study.journal"
    out = tmp_path / "best.yaml"
    args = ["tune", str(plan.submission), "--task", str(plan.task), "--space", str(space), "--trials", "1",
            "--storage", f"journal:{journal}", "--study-name", "cli-study", "--out", str(out),
            "--tracking-uri", tracking_uri, "--device", "cpu", "--threads", "1"]
    for expected in (1, 2):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output + repr(result.exception)
        assert f"study 'cli-study' (journal:{journal}): {expected} trials" in result.output
    assert journal.is_file() and out.is_file()
    assert yaml.safe_load(out.read_text())["name"] == "best"


def test_storage_helpers(tmp_path):
    from optuna.storages import JournalStorage, RDBStorage

    assert isinstance(open_storage(f"journal:{tmp_path / 'j' / 'x.log'}"), JournalStorage)
    assert isinstance(open_storage(f"sqlite:///{tmp_path / 'db' / 'o.db'}"), RDBStorage)
    assert redact("postgresql://user:secret@db:5432/optuna") == "postgresql://user:***@db:5432/optuna"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ConfigError, match="--storage|storage"):
        open_storage("nosuchdialect://x/y")
