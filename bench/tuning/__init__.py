"""Hyperparameter search (``bench tune``): search spaces in YAML and Optuna studies on validation metrics.

>>> from bench.tuning import load_space, tune
>>> result = tune("submissions/nice_dreamsim.yaml", "things-eeg2-retrieval-200", "submissions/spaces/nice.yaml",
...               trials=20, settings=load_settings())

See :mod:`bench.tuning.space` for the space file and :mod:`bench.tuning.study` for what a study does.
Optuna is imported only when a study runs.
"""

from bench.tuning.space import CategoricalParam, FloatParam, IntParam, PrunerSpec, SamplerSpec, SearchSpace, load_space


def tune(*args, **kwargs):
    """See :func:`bench.tuning.study.tune`."""
    from bench.tuning.study import tune as _tune

    return _tune(*args, **kwargs)


__all__ = ["CategoricalParam", "FloatParam", "IntParam", "PrunerSpec", "SamplerSpec", "SearchSpace", "load_space",
           "tune"]
