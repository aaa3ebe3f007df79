"""Search-space files: schema, dotted-path checks against the submission schema, errors that name file/field/fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.config import load_submission
from bench.errors import ConfigError
from bench.tuning.space import SearchSpace, load_space

ROOT = Path(__file__).resolve().parents[2]


def write_space(tmp_path: Path, params: dict, **top) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**top, "params": params}, sort_keys=False))
    return path


@pytest.mark.parametrize("space, submission", [("atm", "atm_dreamsim"), ("atm", "demo_atm"),
                                               ("nice", "nice_dreamsim"), ("nice", "demo")])
def test_example_spaces_fit_their_submissions(space, submission):
    loaded = load_space(ROOT / "submissions" / "spaces" / f"{space}.yaml")
    loaded.check_against(load_submission(submission).spec, where=space)
    assert loaded.metric == "val_top1"  # they tune batch size / temperature (see test below)


def test_distributions_and_overrides(tmp_path):
    import optuna

    path = write_space(tmp_path, {
        "recipe.optimizer.lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
        "recipe.batch_size": {"type": "categorical", "choices": [64, 128, 256]},
        "recipe.epochs": {"type": "int", "low": 10, "high": 50, "step": 10},
        "encoder.params.dropout": {"type": "float", "low": 0.1, "high": 0.5},
    }, metric="val_top1", pruner={"name": "percentile", "percentile": 30, "n_warmup_steps": 2})
    space = load_space(path)
    space.check_against(load_submission("demo").spec, where=path)
    assert isinstance(space.pruner.build(), optuna.pruners.PercentilePruner)
    assert isinstance(space.sampler.build(0), optuna.samplers.TPESampler)

    fixed = {"recipe.optimizer.lr": 3e-4, "recipe.batch_size": 128, "recipe.epochs": 30, "encoder.params.dropout": 0.2}
    values = space.suggest(optuna.trial.FixedTrial(fixed))
    assert values == fixed
    assert SearchSpace.to_overrides(values) == {
        "recipe": {"optimizer": {"lr": 3e-4}, "batch_size": 128, "epochs": 30}, "encoder": {"params": {"dropout": 0.2}}}
    sub = load_submission("demo", overrides=SearchSpace.to_overrides(values)).spec
    assert (sub.recipe.optimizer.lr, sub.recipe.batch_size, sub.encoder.params["dropout"]) == (3e-4, 128, 0.2)
    # the demo's own values that lie inside the space start a new study (epochs 12 is off the step-10 grid);
    # a loaded submission carries its encoder's resolved defaults (issue #12.1), so NICE's dropout 0.5 counts
    assert space.baseline_values(load_submission("demo").spec) == {"recipe.optimizer.lr": 1e-3,
                                                                   "recipe.batch_size": 64,
                                                                   "encoder.params.dropout": 0.5}
    assert space.loss_scale_paths() == ["recipe.batch_size"]


def test_baseline_values_only_inside_the_space(tmp_path):
    path = write_space(tmp_path, {
        "recipe.optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},   # demo: 1e-3 (inside)
        "recipe.batch_size": {"type": "categorical", "choices": [128, 256]},                # demo: 64 (outside)
        "recipe.temperature.learnable": {"type": "categorical", "choices": [False, True]},  # demo: true
        "encoder.params.dropout": {"type": "float", "low": 0.1, "high": 0.5},              # demo: NICE's default 0.5
        "encoder.params.n_filters": {"type": "int", "low": 8, "high": 32},                 # demo: default 40 (outside)
    }, metric="val_top1")
    space = load_space(path)
    # the submission's values are the *resolved* ones (defaults written out, issue #12.1)
    assert space.baseline_values(load_submission("demo").spec) == {"recipe.optimizer.lr": 1e-3,
                                                                   "recipe.temperature.learnable": True,
                                                                   "encoder.params.dropout": 0.5}


@pytest.mark.parametrize("params, field, words", [
    ({"recipe.optimiser.lr": {"type": "float", "low": 0.1, "high": 0.2}}, "params.recipe.optimiser.lr",
     ["'optimiser' is not a field of recipe", "optimizer"]),
    ({"recipe.optimizer": {"type": "categorical", "choices": ["adam"]}}, "params.recipe.optimizer",
     ["whole block", "recipe.optimizer.lr"]),
    ({"recipe.epochs.value": {"type": "int", "low": 1, "high": 3}}, "params.recipe.epochs.value",
     ["is a value, not a block"]),
    ({"name": {"type": "categorical", "choices": ["a", "b"]}}, "params.name", ["cannot be tuned"]),
    ({"encoder.params": {"type": "categorical", "choices": [1]}}, "params.encoder.params", ["must name one key"]),
    ({"encoder.params.a.b": {"type": "float", "low": 0, "high": 1}}, "params.encoder.params.a.b",
     ["must name one key"]),
    ({"recipe.optimizer.lr": {"type": "float", "low": 1e-4, "high": 1e-3},
      "recipe.optimizer": {"type": "categorical", "choices": [1]}}, "params.recipe.optimizer.lr", ["overlap"]),
])
def test_paths_that_do_not_exist_are_refused(tmp_path, params, field, words):
    path = write_space(tmp_path, params)
    with pytest.raises(ConfigError) as err:
        load_space(path)
    assert err.value.field == field
    assert str(path) in str(err.value)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("param, words", [
    ({"type": "float", "low": 1e-3, "high": 1e-5}, ["must be smaller than high"]),
    ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, ["log scale needs low > 0"]),
    ({"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1}, ["cannot be combined"]),
    ({"type": "gaussian", "low": 0.1, "high": 1.0}, ["params.recipe.optimizer.lr"]),
    ({"type": "categorical", "choices": []}, ["params.recipe.optimizer.lr.categorical.choices"]),
    ({"type": "categorical", "choices": [[0.9, 0.99]]}, ["params.recipe.optimizer.lr.categorical.choices"]),
    ({"type": "float", "low": 0.1, "high": 1.0, "spread": 3}, ["spread"]),
])
def test_bad_distributions_name_the_field(tmp_path, param, words):
    path = write_space(tmp_path, {"recipe.optimizer.lr": param})
    with pytest.raises(ConfigError) as err:
        load_space(path)
    assert str(path) in str(err.value)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("params, field, words", [
    ({"recipe.optimizer.name": {"type": "categorical", "choices": ["adam", "rmsprop"]}},
     "params.recipe.optimizer.name", ["'rmsprop'", "does not make a valid submission"]),
    ({"recipe.batch_size": {"type": "int", "low": 1, "high": 64}}, "params.recipe.batch_size", ["1"]),
    ({"encoder.params.dropuot": {"type": "float", "low": 0.1, "high": 0.5}}, "params.encoder.params.dropuot",
     ["encoder 'nice' has no parameter 'dropuot'", "dropout"]),
])
def test_values_are_checked_against_the_submission(tmp_path, params, field, words):
    path = write_space(tmp_path, params)
    space = load_space(path)
    with pytest.raises(ConfigError) as err:
        space.check_against(load_submission("demo").spec, where=path)
    assert err.value.field == field
    for w in words:
        assert w in str(err.value)


def test_val_loss_cannot_compare_batch_sizes_or_temperatures(tmp_path, settings):
    """val_loss depends on the number of in-batch negatives and on tau: such a space must use val_top1."""
    from bench.tuning import tune

    path = write_space(tmp_path, {"recipe.batch_size": {"type": "categorical", "choices": [64, 128]}})
    with pytest.raises(ConfigError) as err:
        tune("demo", "things-eeg2-retrieval-200-demo", path, trials=1, settings=settings,
             storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert err.value.field == "params.recipe.batch_size" and "metric: val_top1" in str(err.value)
    assert not (tmp_path / "optuna.db").exists()  # refused before any study was made
