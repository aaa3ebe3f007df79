"""Where a task's dataset lives: real files under the data root, or the simulator's cache."""

from __future__ import annotations

from pathlib import Path

from bench.config.schema import DatasetSpec
from bench.data.base import BrainDataset
from bench.errors import DataError
from bench.settings import Settings


def dataset_root(spec: DatasetSpec, settings: Settings, progress: bool | None = None) -> Path:
    """The folder holding ``spec.name``'s files (simulating it first when ``source: simulated``;
    ``progress``: bars while simulating, None = when stderr is a terminal).

    Real data: ``<data_root>/<dataset name>/`` (``--data-root``, ``BENCH_DATA_ROOT`` or ``data_root:``
    in the settings file). When it is missing, the error names the files expected inside.
    """
    if spec.source == "simulated":
        from bench.data.ensure import ensure_simulated

        sim = spec.simulation
        options = {"design": sim.design} if sim.design is not None else None
        return ensure_simulated(spec.name, settings, size=sim.size, subjects=sim.n_subjects, seed=sim.seed,
                                snr=sim.snr, variant=spec.variant, options=options, progress=progress)
    if settings.data_root is None:
        raise DataError(f"no data root is set for the real '{spec.name}' dataset",
                        fix=f"pass --data-root DIR (or set BENCH_DATA_ROOT / 'data_root:' in bench.yaml) where "
                            f"DIR/{spec.name}/ holds the files ({_layout_help(spec, Path('DIR') / spec.name)}); "
                            f"or use a task with 'dataset.source: simulated'")
    root = Path(settings.data_root) / spec.name
    if not root.is_dir():
        direct = Path(settings.data_root)
        raise DataError(f"dataset folder '{root}' does not exist", where=direct,
                        fix=f"put the {spec.name} files in {root}/ ({_layout_help(spec, root)}); "
                            f"`bench data info {root}` checks the folder")
    return root


def _layout_help(spec: DatasetSpec, root: Path) -> str:
    """The files the loader expects under ``root`` (for the first subject) and its own hint."""
    from bench.data import DATASETS
    from bench.errors import BenchError

    ds = DATASETS.get(spec.name)(root, variant=spec.variant)
    subject = spec.subjects[0] if spec.subjects else 1
    parts = []
    try:
        files = dict.fromkeys(str(f) for part in ("train", "test") for f in ds.files(subject, part))
        parts.append(f"expected for subject {subject}: {', '.join(files)}")
    except BenchError:
        pass  # this loader only names files that exist: its hint below lists them
    try:
        ds.subjects()
    except BenchError as exc:
        parts.append(exc.fix or exc.what)
    return "; ".join(parts) or "see the dataset's section in the README"


def open_dataset(spec: DatasetSpec, settings: Settings) -> BrainDataset:
    """The dataset plug-in for ``spec``, pointed at its files."""
    from bench.data import DATASETS

    cls = DATASETS.get(spec.name)
    return cls(dataset_root(spec, settings), variant=spec.variant, cache_dir=settings.cache_dir)
