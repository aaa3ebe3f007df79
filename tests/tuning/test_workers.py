"""Optuna done right for concurrent workers: distinct sampler seeds per worker, stale trials failed by
heartbeat and re-queued, exact per-invocation counts, RUNNING/failed trials in the summary."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from bench.settings import load_settings
from bench.tuning.study import _derived_seed, _summarise, open_storage, storage_identity


def test_sampler_seeds_differ_per_worker_identity():
    a = _derived_seed(0, 0, 0, "hostA:100")
    assert a == _derived_seed(0, 0, 0, "hostA:100")            # reproducible for one identity
    assert a != _derived_seed(0, 0, 0, "hostA:101")            # two `bench tune` processes: different seeds
    assert a != _derived_seed(0, 0, 1, "hostA:100")            # two workers of one call
    assert a != _derived_seed(1, 0, 0, "hostA:100")
    # two samplers seeded so draw different first points (the duplicated-trials bug)
    draws = {optuna.samplers.RandomSampler(seed=_derived_seed(0, 0, 0, f"h:{pid}")).sample_independent(
        None, None, "x", FloatDistribution(0, 1)) for pid in (1, 2, 3)}
    assert len(draws) == 3


def test_storage_identity_ignores_spelling_and_password():
    assert storage_identity("postgresql://u:pw@DB:5432/optuna") == storage_identity("postgres://v@db/optuna")
    assert "pw" not in storage_identity("postgresql://u:pw@db/optuna")


def test_stale_trial_is_failed_by_heartbeat_and_requeued(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'o.db'}", heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="s", storage=storage)
    dead = study.ask({"x": FloatDistribution(0, 1)})
    dead.set_user_attr("invocation", "other")
    storage.record_heartbeat(dead._trial_id)                    # a worker that then died (no more beats)
    alive = study.ask({"x": FloatDistribution(0, 1)})
    alive.set_user_attr("invocation", "mine")
    alive.set_user_attr("worker", "hostB:7")
    time.sleep(2.5)
    storage.record_heartbeat(alive._trial_id)                   # still beating
    optuna.storages.fail_stale_trials(study)
    trials = study.trials
    assert trials[dead.number].state == TrialState.FAIL
    assert trials[alive.number].state == TrialState.RUNNING
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.system_attrs["failed_trial"] == dead.number and retry.params == trials[dead.number].params

    study.tell(alive, 0.5)
    result = _summarise(study, 0, "val_loss", "minimize", 1, 0, "postgresql://u:secret@db/optuna", "run",
                        load_settings(tracking_uri="postgresql://u:secret@db/mlflow"), invocation="mine")
    assert (result.n_trials, result.n_new, result.new_complete, result.n_failed) == (3, 1, 1, 1)
    text = result.summary()
    assert f"trial {dead.number}: its worker stopped (no heartbeat) (re-queued as trial {retry.number})" in text
    assert "this invocation: 1 trials: 1 complete" in text
    assert "secret" not in text


def test_running_trials_are_listed(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'o.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    t = study.ask({"x": FloatDistribution(0, 1)})
    t.set_user_attr("worker", "hostC:9")
    result = _summarise(study, 0, "val_loss", "minimize", 1, 0, "sqlite:///x.db", "run", load_settings(),
                        invocation="none")
    assert result.running and "worker hostC:9" in result.summary() and "running now (1" in result.summary()
    assert result.n_new == 0


def test_unreachable_postgres_storage_is_one_redacted_error():
    pytest.importorskip("psycopg")
    from bench.errors import ConfigError
    from bench.tracking_server import free_port

    with pytest.raises(ConfigError) as err:
        open_storage(f"postgresql://alice:hunter2@127.0.0.1:{free_port()}/optuna")
    assert "hunter2" not in str(err.value) and "alice:***@" in str(err.value)
