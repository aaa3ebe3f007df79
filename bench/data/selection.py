"""Channel and time-window selection: one rule for every dataset loader.

``dataset.channels`` (names, in the order wanted) and ``dataset.time_window`` (``(tmin, tmax)`` in
seconds, inclusive) of a task select what a loader returns. Every loader calls these two functions,
so the same selection means the same thing (and fails the same way) on every dataset:

- an empty selection or an unknown channel name is an error listing the available names;
- a window must lie inside the stored times (half a sample of slack at either end) and select at
  least one sample; sample times match within a thousandth of a sample.

>>> pick_channels(["Fz", "Cz", "Oz"], ["Oz", "Fz"])
[2, 0]
>>> pick_times(np.arange(5) * 0.1, (0.1, 0.3))
slice(1, 4, None)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from bench.errors import ConfigError


def pick_channels(ch_names: Sequence[str], channels: Sequence[str] | None, *, where: Path | str | None = None,
                  label: str = "channel") -> list[int]:
    """Positions of ``channels`` in ``ch_names`` (all of them, in stored order, when ``channels`` is None).

    ``label`` names the kind in messages (e.g. "MEG channel"). Raises ConfigError (field
    ``dataset.channels``) for an empty selection or unknown names.
    """
    names = list(ch_names)
    if channels is None:
        return list(range(len(names)))
    listed = ", ".join(names[:12]) + (f", ... ({len(names)} {label}s)" if len(names) > 12 else "")
    if not channels:
        raise ConfigError(f"empty {label} selection", where=where, field="dataset.channels",
                          fix=f"give at least one name (among: {listed}) or leave dataset.channels out for all")
    pos = {c: i for i, c in enumerate(names)}
    unknown = [c for c in channels if c not in pos]
    if unknown:
        raise ConfigError(f"unknown {label}(s) {unknown[:5]}", where=where, field="dataset.channels",
                          fix=f"use names among: {listed}")
    return [pos[c] for c in channels]


def pick_times(times: np.ndarray, window: tuple[float, float] | None, *, where: Path | str | None = None) -> slice:
    """The samples of ``times`` (seconds) inside ``window`` (inclusive) as a slice; everything when None.

    Raises ConfigError (field ``dataset.time_window``) when the window is reversed, selects no sample
    or reaches outside the stored times by more than half a sample.
    """
    if window is None:
        return slice(None)
    times = np.asarray(times, dtype=np.float64)
    tmin, tmax = float(window[0]), float(window[1])
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    keep = np.flatnonzero((times >= tmin - 1e-3 * step) & (times <= tmax + 1e-3 * step))
    inside = len(times) and times[0] <= tmin + 0.5 * step and times[-1] >= tmax - 0.5 * step
    if tmax < tmin or len(keep) == 0 or not inside:
        span = f"{times[0]:.3f} to {times[-1]:.3f} s" if len(times) else "no samples"
        raise ConfigError(f"time window ({tmin}, {tmax}) s is not inside the stored times ({span})", where=where,
                          field="dataset.time_window",
                          fix=f"choose a window within [{times[0]:.3f}, {times[-1]:.3f}] s" if len(times) else
                              "check the data file")
    return slice(int(keep[0]), int(keep[-1]) + 1)


__all__ = ["pick_channels", "pick_times"]
