"""Figures for the pages, drawn with matplotlib into SVG bytes (embedded with ``<img>``, so no script runs).

Text from submissions is drawn as glyph outlines (``svg.fonttype: path``: no fonts needed, nothing in
the SVG can be interpreted as markup) with mathtext off (``$`` in a name is just a character), and
long labels are shortened. Output is deterministic (fixed hash salt, no date metadata).

- :func:`task_subject_dots`  per-subject dots (seed means) + mean with a 95% t-interval across subjects;
- :func:`grid_heatmap`       encoder × image-model heatmap of complete entries;
- :func:`kway_curves`        per-k retrieval curves with the chance level 1/k;
- :func:`submission_seed_dots` one submission: every (subject, seed) value, mean ± std over seeds;
- :func:`learning_curves`    per-epoch curves of every unit, their mean, and the epochs chosen on validation.
"""

from __future__ import annotations

import io
import math
import re
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

from bench.leaderboard.data import Entry, KwayCurve, SubjectRow, heatmap_cells, is_fraction, metric_label, scale
from bench.records.schema import Record

_STYLE = {
    "svg.fonttype": "path", "svg.hashsalt": "brainvis-bench", "text.parse_math": False,
    "font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "figure.dpi": 100,
}
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22"]


def label(s: str, limit: int = 38) -> str:
    """A plot label: control characters removed, shortened to ``limit`` characters."""
    s = re.sub(r"[\x00-\x1f\x7f]", " ", str(s))
    return s if len(s) <= limit else s[: limit - 1] + "…"


@contextmanager
def _figure(width: float, height: float) -> Iterator:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(_STYLE):
        fig = plt.figure(figsize=(width, height))
        try:
            yield fig
        finally:
            plt.close(fig)


def _svg(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


def _t95(n: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else float("nan")


def task_subject_dots(entries: Sequence[Entry], metric: str, chance: float | None) -> bytes:
    """One row per entry (table order, best at the top): subject seed-means as dots, the entry's mean and a
    95% t-interval across subjects; incomplete/conflicting entries hollow and labelled."""
    n = len(entries)
    with _figure(7.5, 0.9 + 0.42 * max(n, 1)) as fig:
        ax = fig.add_subplot(1, 1, 1)
        rng = np.random.default_rng(0)
        for i, e in enumerate(entries):
            y = n - 1 - i
            colour = COLOURS[i % len(COLOURS)]
            subj = np.array([scale(m, metric) for (m, _, _) in e.summary.per_subject.values()], dtype=float)
            subj = subj[~np.isnan(subj)]
            ax.scatter(subj, y + rng.uniform(-0.15, 0.15, len(subj)), s=22, color=colour, alpha=0.55, lw=0)
            mean = scale(e.summary.mean, metric)
            if not math.isnan(mean):
                half = _t95(len(subj)) * scale(e.summary.se, metric)
                if not math.isnan(half):
                    ax.errorbar(mean, y, xerr=half, fmt="none", ecolor=colour, elinewidth=2, capsize=4)
                ax.plot(mean, y, marker="D", ms=7, color=colour if e.complete else "white", mec=colour, mew=1.5)
        if chance is not None:
            ax.axvline(scale(chance, metric), color="black", ls="--", lw=1, label="chance")
            ax.legend(loc="lower right", fontsize=8)
        names = []
        for e in entries:
            tag = f"tier {e.tier}" if e.tier is not None else ("incomplete" if not e.summary.complete else "not tiered")
            names.append(f"{label(e.submission)} ({tag})")
        ax.set_yticks(range(n - 1, -1, -1), names)
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel(metric_label(metric) + " — dots: subjects (seed means); ◆ mean, bar: 95% CI across subjects")
        ax.grid(axis="y", alpha=0)
        return _svg(fig)


def grid_heatmap(entries: Sequence[Entry], metric: str) -> bytes | None:
    """Encoder (rows) × image model (columns) heatmap of complete entries' means; None when under 2 cells."""
    rows, cols, cells = heatmap_cells(list(entries))
    if len(cells) < 2:
        return None
    grid = np.full((len(rows), len(cols)), np.nan)
    for (r, c), (v, _) in cells.items():
        grid[rows.index(r), cols.index(c)] = scale(v, metric)
    with _figure(1.6 + 1.25 * len(cols), 1.2 + 0.55 * len(rows)) as fig:
        ax = fig.add_subplot(1, 1, 1)
        masked = np.ma.masked_invalid(grid)
        im = ax.imshow(masked, cmap="viridis", aspect="auto")
        for (r, c), (v, count) in cells.items():
            i, j = rows.index(r), cols.index(c)
            value = grid[i, j]
            lo, hi = np.nanmin(grid), np.nanmax(grid)
            dark = hi == lo or (value - lo) / (hi - lo) < 0.6
            txt = (f"{value:.1f}" if is_fraction(metric) else f"{value:.3g}") + (f"\n(best of {count})" if count > 1 else "")
            ax.text(j, i, txt, ha="center", va="center", fontsize=8, color="white" if dark else "black")
        ax.set_xticks(range(len(cols)), [label(c, 24) for c in cols], rotation=30, ha="right")
        ax.set_yticks(range(len(rows)), [label(r, 24) for r in rows])
        ax.set_xlabel("image model")
        ax.set_ylabel("brain encoder")
        ax.grid(False)
        fig.colorbar(im, ax=ax, label=metric_label(metric))
        return _svg(fig)


def kway_curves(curves: dict[str, KwayCurve], names: Sequence[str] | None = None) -> bytes | None:
    """Top-1 accuracy (%) against k (log scale) for each entry, ± SE across subjects, with chance 1/k."""
    names = [n for n in (names or list(curves)) if n in curves]
    if not names:
        return None
    with _figure(6.5, 3.6) as fig:
        ax = fig.add_subplot(1, 1, 1)
        all_k: set[int] = set()
        for i, name in enumerate(names):
            c = curves[name]
            all_k.update(c.ks)
            means = np.array(c.means) * 100
            ses = np.nan_to_num(np.array(c.ses, dtype=float) * 100)
            colour = COLOURS[i % len(COLOURS)]
            ax.errorbar(c.ks, means, yerr=ses, marker="o", ms=4, lw=1.5, capsize=2, color=colour, label=label(name, 30))
        ks = np.array(sorted(all_k), dtype=float)
        ax.plot(ks, 100 / ks, color="black", ls="--", lw=1, label="chance (1/k)")
        ax.set_xscale("log")
        ax.set_xticks(ks, [str(int(k)) for k in ks])
        ax.minorticks_off()
        ax.set_xlabel("k (candidates per trial; the largest k is the full gallery)")
        ax.set_ylabel("top-1 (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        return _svg(fig)


def submission_seed_dots(rows: Sequence[SubjectRow], seeds: Sequence[int], metric: str) -> bytes | None:
    """Every (subject, seed) value as a dot, the subject's mean over seeds ± std (ddof=1)."""
    if not rows:
        return None
    with _figure(max(4.0, 0.55 * len(rows) + 1.8), 3.2) as fig:
        ax = fig.add_subplot(1, 1, 1)
        for j, seed in enumerate(seeds):
            xs = [i + (j - (len(seeds) - 1) / 2) * 0.08 for i, row in enumerate(rows) if row.values[j] is not None]
            ys = [scale(row.values[j], metric) for row in rows if row.values[j] is not None]
            ax.scatter(xs, ys, s=16, color=COLOURS[j % len(COLOURS)], alpha=0.7, lw=0, label=f"seed {seed}")
        means = [scale(r.mean, metric) for r in rows]
        stds = [scale(r.std, metric) for r in rows]
        ax.errorbar(range(len(rows)), means, yerr=np.nan_to_num(stds), fmt="D", color="black", ms=5, capsize=4,
                    label="mean ± std over seeds")
        ax.set_xticks(range(len(rows)), [label(r.split, 10) for r in rows], rotation=45 if len(rows) > 8 else 0)
        ax.set_ylabel(metric_label(metric))
        ax.legend(fontsize=7, ncol=2)
        return _svg(fig)


def learning_curves(records: Sequence[Record]) -> bytes | None:
    """Loss curves and other per-epoch series: each unit thin, the mean over units bold, chosen epochs marked."""
    from matplotlib.collections import LineCollection
    from matplotlib.ticker import MaxNLocator

    names = sorted({k for r in records for k, v in r.curves.items() if v})
    if not names:
        return None
    groups = [g for g in ([n for n in names if "loss" in n], [n for n in names if "loss" not in n]) if g]
    with _figure(4.2 * len(groups), 3.2) as fig:
        for gi, group in enumerate(groups):
            ax = fig.add_subplot(1, len(groups), gi + 1)
            for ci, name in enumerate(group):
                colour = COLOURS[ci % len(COLOURS)]
                series = [np.array([np.nan if v is None else v for v in r.curves.get(name, [])], dtype=float)
                          for r in records if r.curves.get(name)]
                ax.add_collection(LineCollection([np.column_stack([np.arange(1, len(s) + 1), s]) for s in series],
                                                 colors=colour, alpha=0.2, linewidths=0.8))
                longest = max(len(s) for s in series)
                padded = np.full((len(series), longest), np.nan)
                for i, s in enumerate(series):
                    padded[i, : len(s)] = s
                with np.errstate(all="ignore"):
                    import warnings

                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        mean = np.nanmean(padded, axis=0)
                ax.plot(range(1, longest + 1), mean, color=colour, lw=2, label=label(name, 24))
                chosen = [(r.chosen_epoch, r.curves[name][r.chosen_epoch - 1]) for r in records
                          if r.chosen_epoch and r.curves.get(name) and 0 < r.chosen_epoch <= len(r.curves[name])
                          and r.curves[name][r.chosen_epoch - 1] is not None]
                if chosen:
                    ax.scatter(*zip(*chosen), marker="v", s=18, color=colour, zorder=3,
                               label="chosen epoch (validation)" if ci == 0 else None)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title("losses" if "loss" in group[0] else "validation metrics", fontsize=9)
            ax.legend(fontsize=7)
        return _svg(fig)
