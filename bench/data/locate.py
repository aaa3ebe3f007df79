"""Where a task's dataset lives: real files under the data root, or the simulator's cache."""

from __future__ import annotations

from pathlib import Path

from bench.config.schema import DatasetSpec
from bench.data.base import BrainDataset
from bench.errors import DataError
from bench.settings import Settings


def dataset_root(spec: DatasetSpec, settings: Settings) -> Path:
    """The folder holding ``spec.name``'s files (simulating it first when ``source: simulated``).

    Real data: ``<data_root>/<dataset name>/`` (``--data-root``, ``BENCH_DATA_ROOT`` or ``data_root:``
    in the settings file). The dataset's module docstring documents the exact layout inside.
    """
    if spec.source == "simulated":
        from bench.data.ensure import ensure_simulated

        sim = spec.simulation
        return ensure_simulated(spec.name, settings, size=sim.size, subjects=sim.n_subjects, seed=sim.seed,
                                snr=sim.snr, variant=spec.variant)
    if settings.data_root is None:
        raise DataError(f"no data root is set for the real '{spec.name}' dataset",
                        fix=f"pass --data-root DIR (or set BENCH_DATA_ROOT / 'data_root:' in bench.yaml) where "
                            f"DIR/{spec.name}/ holds the files; or use a task with 'dataset.source: simulated'")
    root = Path(settings.data_root) / spec.name
    if not root.is_dir():
        direct = Path(settings.data_root)
        raise DataError(f"dataset folder '{root}' does not exist", where=direct,
                        fix=f"put the {spec.name} files in {root}/ (see `bench data info` and the loader's "
                            f"docstring for the layout)")
    return root


def open_dataset(spec: DatasetSpec, settings: Settings) -> BrainDataset:
    """The dataset plug-in for ``spec``, pointed at its files."""
    from bench.data import DATASETS

    cls = DATASETS.get(spec.name)
    return cls(dataset_root(spec, settings), variant=spec.variant, cache_dir=settings.cache_dir)
