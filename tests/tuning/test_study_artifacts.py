"""The study's figures on its MLflow parent run: importances exactly when finished trials can explain
some variance, and a study where they cannot still gets its other figures and no warning."""

from __future__ import annotations

import warnings

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from bench.tuning.study import TUNING_EXPERIMENT, _log_study_artifacts, importances_computable

DISTRIBUTIONS = {"lr": CategoricalDistribution([1e-3, 1e-7]), "wd": FloatDistribution(0.0, 0.1)}


def _study(finished: list[tuple[float, float, float]], pruned: int) -> optuna.Study:
    """An in-memory study: (lr, wd, value) finished trials with a 2-epoch curve, then pruned ones."""
    study = optuna.create_study(direction="minimize")
    for lr, wd, value in finished:
        study.add_trial(create_trial(params={"lr": lr, "wd": wd}, distributions=DISTRIBUTIONS, value=value,
                                     intermediate_values={1: value + 1.0, 2: value}))
    for i in range(pruned):
        study.add_trial(create_trial(params={"lr": 1e-7, "wd": 0.01 * i}, distributions=DISTRIBUTIONS,
                                     state=TrialState.PRUNED, intermediate_values={1: 9.0}))
    return study


def _complete(study: optuna.Study) -> list:
    return [t for t in study.trials if t.state == TrialState.COMPLETE]


@pytest.fixture
def store(tracking_uri):
    from bench.records.mlflow_store import RecordStore

    return RecordStore(tracking_uri, experiment=TUNING_EXPERIMENT)


def test_importances_need_two_finished_trials_that_differ():
    assert not importances_computable(_complete(_study([(1e-3, 0.0, 3.0)], pruned=3)))
    assert not importances_computable(_complete(_study([(1e-3, 0.0, 3.0), (1e-3, 0.05, 3.0)], pruned=0)))
    assert not importances_computable(_complete(_study([(1e-3, 0.0, 3.0), (1e-3, 0.0, 3.5)], pruned=0)))
    assert importances_computable(_complete(_study([(1e-3, 0.0, 3.0), (1e-7, 0.05, 3.9)], pruned=1)))


def test_varied_study_gets_importances(store):
    study = _study([(1e-3, 0.0, 3.0), (1e-7, 0.02, 3.9), (1e-3, 0.08, 3.2), (1e-7, 0.06, 3.8)], pruned=2)
    run = store.client.create_run(store.experiment_id).info.run_id
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = _log_study_artifacts(store, run, study, seed=0)
    expected = ["optuna/optimization_history.png", "optuna/intermediate_values.png",
                "optuna/param_importances.png", "optuna/trials.csv"]
    assert written == expected
    assert sorted(a.path for a in store.client.list_artifacts(run, "optuna")) == sorted(expected)


def test_one_finished_trial_gets_no_importances_and_no_warning(store):
    study = _study([(1e-3, 0.0, 3.0)], pruned=3)
    run = store.client.create_run(store.experiment_id).info.run_id
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = _log_study_artifacts(store, run, study, seed=0)
    assert written == ["optuna/optimization_history.png", "optuna/intermediate_values.png", "optuna/trials.csv"]
