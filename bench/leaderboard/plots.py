"""Figures for the pages, drawn with matplotlib into SVG bytes (embedded with ``<img>``, so no script runs).

Text from submissions is drawn as glyph outlines (``svg.fonttype: path``: no fonts needed, nothing in
the SVG can be interpreted as markup) with mathtext off (``$`` in a name is just a character), and
long labels are shortened. Output is deterministic (fixed hash salt, no date metadata).

Series are told apart by marker shape and line style as well as colour (deuteranopia-safe), and each
axis shows one quantity.

- :func:`task_subject_dots`  per-subject dots (seed means) + mean with a 95% t-interval across subjects,
                             clipped to the metric's range (clipped ends drawn as arrows), none for n < 3;
- :func:`grid_heatmap`       encoder × image-model heatmap of complete entries;
- :func:`kway_curves`        per-k retrieval curves with the chance level 1/k;
- :func:`submission_seed_dots` one submission: every (subject, seed) value, mean ± std over seeds;
- :func:`learning_curves`    per-epoch curves of every unit, their mean, and the epochs chosen on validation;
- :func:`factorial_interaction` the interaction plot of a task's factorial design (:mod:`bench.analysis.factorial`).
"""

from __future__ import annotations

import io
import math
import re
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

from bench.leaderboard.data import (MIN_INTERVAL_N, Entry, KwayCurve, SubjectRow, heatmap_cells, interval, is_fraction,
                                    metric_label, scale)
from bench.records.schema import Record

_STYLE = {
    "svg.fonttype": "path", "svg.hashsalt": "brainvis-bench", "text.parse_math": False,
    "font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "figure.dpi": 100,
}
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
DASHES = ["-", "--", ":", "-."]


def style(i: int) -> dict:
    """Colour, marker and line style of series ``i`` (never colour alone)."""
    return {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[i % len(MARKERS)], "ls": DASHES[i % len(DASHES)]}


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
    95% t-interval across subjects (seeds on pooled tasks) clipped to the metric's range — a clipped end is
    an arrow — and no interval below MIN_INTERVAL_N; incomplete/conflicting entries hollow and labelled."""
    n = len(entries)
    lo_bound, hi_bound = (0.0, 100.0) if is_fraction(metric) else (-math.inf, math.inf)
    clipped_any = small_any = False
    with _figure(7.5, 0.9 + 0.42 * max(n, 1)) as fig:
        ax = fig.add_subplot(1, 1, 1)
        rng = np.random.default_rng(0)
        for i, e in enumerate(entries):
            y = n - 1 - i
            st = style(i)
            colour = st["color"]
            subj = np.array([scale(m, metric) for (m, _, _) in e.summary.per_subject.values()], dtype=float)
            subj = subj[~np.isnan(subj)]
            ax.scatter(subj, y + rng.uniform(-0.15, 0.15, len(subj)), s=22, color=colour, alpha=0.55, lw=0,
                       marker=st["marker"])
            mean = scale(e.summary.mean, metric)
            if math.isnan(mean):
                continue
            iv = interval(e.summary, e.summary.metric)
            if iv is not None:
                lo, hi = scale(iv.low, metric), scale(iv.high, metric)
                ax.plot([lo, hi], [y, y], color=colour, lw=2, ls=st["ls"])
                for end, clipped, arrow in ((lo, iv.clipped_low, "<"), (hi, iv.clipped_high, ">")):
                    ax.plot(end, y, marker=arrow if clipped else "|", ms=8 if clipped else 10, color=colour)
                clipped_any |= iv.clipped
            elif e.summary.n_pairs < MIN_INTERVAL_N:
                small_any = True
            ax.plot(mean, y, marker=st["marker"], ms=8, color=colour if e.complete else "white", mec=colour, mew=1.5)
        if chance is not None:
            ax.axvline(scale(chance, metric), color="black", ls="--", lw=1, label="chance")
            ax.legend(loc="lower right", fontsize=8)
        names = []
        for e in entries:
            tag = f"tier {e.tier}" if e.tier is not None else ("incomplete" if not e.complete else "not tiered")
            names.append(f"{label(e.submission)} ({tag})")
        ax.set_yticks(range(n - 1, -1, -1), names)
        ax.set_ylim(-0.7, n - 0.3)
        if math.isfinite(lo_bound):
            left, right = ax.get_xlim()
            ax.set_xlim(max(left, lo_bound - 2), min(right, hi_bound + 2))
        note = "bar: 95% CI across subjects"
        if clipped_any:
            note += " (arrow: clipped at the metric's range)"
        if small_any:
            note += f"; no bar below {MIN_INTERVAL_N} subjects"
        ax.set_xlabel(metric_label(metric) + " — dots: subjects (seed means); big marker: mean; " + note)
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
            st = style(i)
            ax.errorbar(c.ks, means, yerr=ses, marker=st["marker"], ms=5, lw=1.5, ls=st["ls"], capsize=2,
                        color=st["color"], label=label(name, 30))
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
            st = style(j)
            ax.scatter(xs, ys, s=18, color=st["color"], marker=st["marker"], alpha=0.75, lw=0, label=f"seed {seed}")
        means = [scale(r.mean, metric) for r in rows]
        stds = [scale(r.std, metric) for r in rows]
        ax.errorbar(range(len(rows)), means, yerr=np.nan_to_num(stds), fmt="D", color="black", ms=5, capsize=4,
                    label="mean ± std over seeds")
        ax.set_xticks(range(len(rows)), [label(r.split, 10) for r in rows], rotation=45 if len(rows) > 8 else 0)
        ax.set_ylabel(metric_label(metric))
        ax.legend(fontsize=7, ncol=2)
        return _svg(fig)


def curve_panels(names: Sequence[str]) -> list[list[str]]:
    """One quantity per axis: the losses share a panel (same quantity), every other curve gets its own."""
    losses = [n for n in names if "loss" in n]
    return ([losses] if losses else []) + [[n] for n in names if "loss" not in n]


def learning_curves(records: Sequence[Record]) -> bytes | None:
    """Per-epoch curves, one quantity per panel (losses together; validation accuracy, learning rate,
    temperature, time each on their own): each unit thin, the mean over units bold, chosen epochs marked."""
    from matplotlib.collections import LineCollection
    from matplotlib.ticker import MaxNLocator

    names = sorted({k for r in records for k, v in r.curves.items() if v})
    if not names:
        return None
    panels = curve_panels(names)
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    with _figure(3.6 * ncols, 2.9 * nrows) as fig:
        for gi, group in enumerate(panels):
            ax = fig.add_subplot(nrows, ncols, gi + 1)
            for ci, name in enumerate(group):
                st = style(ci)
                colour = st["color"]
                series = [np.array([np.nan if v is None else v for v in r.curves.get(name, [])], dtype=float)
                          for r in records if r.curves.get(name)]
                ax.add_collection(LineCollection([np.column_stack([np.arange(1, len(s) + 1), s]) for s in series],
                                                 colors=colour, alpha=0.2, linewidths=0.8, linestyles=st["ls"]))
                longest = max(len(s) for s in series)
                padded = np.full((len(series), longest), np.nan)
                for i, s in enumerate(series):
                    padded[i, : len(s)] = s
                import warnings

                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.nanmean(padded, axis=0)
                ax.plot(range(1, longest + 1), mean, color=colour, lw=2, ls=st["ls"], label=label(name, 24))
                chosen = [(r.chosen_epoch, r.curves[name][r.chosen_epoch - 1]) for r in records
                          if r.chosen_epoch and r.curves.get(name) and 0 < r.chosen_epoch <= len(r.curves[name])
                          and r.curves[name][r.chosen_epoch - 1] is not None]
                if chosen:
                    ax.scatter(*zip(*chosen), marker="v", s=18, color=colour, zorder=3,
                               label="chosen epoch (validation)" if ci == 0 else None)
            ax.autoscale_view()
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title("loss" if "loss" in group[0] else label(group[0], 30), fontsize=9)
            ax.legend(fontsize=7)
        fig.tight_layout()
        return _svg(fig)


def factorial_interaction(result) -> bytes:
    """Interaction plot of a :class:`~bench.analysis.factorial.FactorialResult`: the score (y, display units)
    per level of the first factor (x), one line (marker and dash) per level of the second, ± SE over blocks."""
    from bench.analysis.factorial import draw_interaction

    unit = " (%)" if is_fraction(result.metric) else ""
    with _figure(5.8, 4.0) as fig:
        ax = fig.add_subplot(1, 1, 1)
        draw_interaction(ax, result, scale=100.0 if is_fraction(result.metric) else 1.0,
                         ylabel=f"{metric_label(result.metric).replace(' (%)', '')}{unit}, mean ± SE over "
                                f"{result.block}s")
        return _svg(fig)
