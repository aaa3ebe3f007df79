"""Simulated datasets on demand: written once under ``settings.simulated_root``, reused afterwards.

    root = ensure_simulated("things-eeg2", settings, size="tiny", subjects=2, seed=0)
    ds = DATASETS.get("things-eeg2")(root, variant="250hz")

The folder is ``<simulated_root>/<name>/<variant>-<size>-n<subjects>-seed<seed>-snr<snr>``. It is
written into a temporary sibling (``.tmp-<folder>-<pid>-<random>``) and renamed into place only when
complete, so an interrupted simulation is never mistaken for a finished one. A lock file serialises
concurrent writers of the same folder (the second waits and then reuses the first one's result);
leftover temporary folders of killed runs are removed by the next writer.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bench.data.simulate import SIMULATION_FILE, SIMULATORS
from bench.settings import Settings

log = logging.getLogger(__name__)


def simulated_folder(name: str, settings: Settings, size: str = "tiny", subjects: int = 2, seed: int = 0,
                     snr: float | None = None, variant: str | None = None, options: dict | None = None) -> Path:
    """Where :func:`ensure_simulated` keeps this dataset (whether or not it exists yet)."""
    snr, variant = _defaults(name, snr, variant)
    extra = "".join(f"-{k}{v}" for k, v in sorted((options or {}).items()))
    return settings.simulated_root / name / f"{variant}-{size}-n{int(subjects)}-seed{int(seed)}-snr{snr}{extra}"


def _check_options(name: str, options: dict | None) -> None:
    """Simulator-specific options (e.g. ImageNet-EEG's ``design``) must be parameters of the writer."""
    import inspect

    from bench.errors import ConfigError

    params = inspect.signature(SIMULATORS.get(name)).parameters
    for key in options or {}:
        if key not in params:
            raise ConfigError(f"the '{name}' simulator has no option '{key}'", field=f"dataset.simulation.{key}",
                              fix=f"remove it (options of this simulator: {sorted(params)[:12]})")


def _defaults(name: str, snr: float | None, variant: str | None) -> tuple[float, str]:
    writer = SIMULATORS.get(name)
    defaults = getattr(writer, "__kwdefaults__", None) or {}
    snr = float(defaults.get("snr", 1.0) if snr is None else snr)
    variant = str(defaults.get("variant", "default") if variant is None else variant).lower()
    return snr, variant


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_simulated(name: str, settings: Settings, size: str = "tiny", subjects: int = 2, seed: int = 0,
                     snr: float | None = None, variant: str | None = None, progress: bool | None = None,
                     options: dict | None = None) -> Path:
    """The simulated dataset ``name`` for these parameters, writing it on first use.

    name: a registered simulator (``bench.data.simulate.SIMULATORS``), e.g. ``"things-eeg2"``.
    snr, variant: ``None`` takes the simulator's defaults (they are part of the folder name).
    options: extra keyword arguments of this simulator (e.g. ImageNet-EEG's ``design``), also
    part of the folder name. Returns the folder (the dataset root to give the loader).
    progress: progress bars while writing (None: when stderr is a terminal). Writing is announced
    on the ``bench.data.ensure`` logger (what, where) and its end with the size written.
    """
    writer = SIMULATORS.get(name)
    _check_options(name, options)
    snr, variant = _defaults(name, snr, variant)
    final = simulated_folder(name, settings, size, subjects, seed, snr, variant, options)
    if (final / SIMULATION_FILE).is_file():
        return final
    with _locked(final.parent / f".{final.name}.lock"):
        if (final / SIMULATION_FILE).is_file():  # another process finished while we waited
            return final
        for stale in final.parent.glob(f".tmp-{final.name}-*"):  # killed runs (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        if final.exists():  # a folder without its sidecar is not a finished simulation
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-{os.getpid()}-", dir=final.parent))
        log.info("writing simulated %s data (%s, %d subject%s; once, reused afterwards) to %s", name, size,
                 int(subjects), "s" if int(subjects) != 1 else "", final)
        started = time.perf_counter()
        try:
            writer(tmp, size=size, subjects=int(subjects), seed=int(seed), snr=snr, variant=variant,
                   progress=sys.stderr.isatty() if progress is None else progress, overwrite=True,
                   **(options or {}))
            os.replace(tmp, final)
            log.info("wrote %s of simulated %s data in %.0f s to %s", _human_size(folder_bytes(final)), name,
                     time.perf_counter() - started, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


__all__ = ["ensure_simulated", "folder_bytes", "simulated_folder"]
