"""Factorial analysis of a task's entries: encoder x image model (or any factor read from the submissions).

The complete entries of a task are cells of a design over factors read from each submission
(:func:`factor_value`): ``encoder`` and ``image_model`` are the plug-in names, any other factor is a
submission tag (e.g. ``alignment``: ``dreamsim`` vs ``none`` separates an aligned image model from its
un-aligned backbone, which share the plug-in name). The response
of one cell for one *block* is the entry's score there: per subject, the mean over seeds (within-subject
and LOSO tasks), or per seed for pooled tasks (one split: seeds are the repeated unit, as in
:mod:`bench.stats.design`).

Method (:func:`factorial`):

- **design check** -- every combination of factor levels has exactly one entry, every entry is
  complete (all units of its plan finished, no conflicting records: :func:`bench.stats.aggregate.summarise`)
  and all cells share the same blocks. Anything else is refused (:class:`bench.errors.RecordError`),
  naming the missing cells, units or blocks;
- **tests** -- a repeated-measures ANOVA (``statsmodels.stats.anova.AnovaRM``; exact for a complete,
  balanced within-block design: each effect tested against its own effect x block error term) for every
  main effect and interaction, with partial eta squared;
- **effect sizes with CIs** -- per main effect, each level's marginal mean minus the reference
  (first) level's, and per two-factor interaction the difference of differences, each computed per
  block and summarised by its mean, a t-based 95 % CI over blocks and Cohen's d_z;
- **mixed model** -- ``statsmodels`` ``MixedLM`` ``value ~ A * B`` (treatment coding) with a random
  intercept per block (REML): fixed effects with 95 % Wald CIs and the block variance, reported
  beside the ANOVA (the ANOVA's F-tests are the verdict);
- **plot** -- :func:`interaction_plot`: mean score (y) per level of the first factor (x), one line
  per level of the second, error bars = SE over blocks.

References: Maxwell, Delaney & Kelley, *Designing Experiments and Analyzing Data* (3rd ed., ch. 11-12,
within-subject factorial designs); Lakens 2013 (Front. Psychol. 4:863) for partial eta squared and d_z.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from bench.errors import RecordError
from bench.records.schema import Record

DEFAULT_FACTORS = ("encoder", "image_model")
PLUGIN_FACTORS = ("encoder", "image_model")


def factor_value(submission_spec: dict[str, Any], factor: str) -> str | None:
    """The level of ``factor`` for a submission: the plug-in name for ``encoder`` and ``image_model``,
    else the submission's tag of that name; None when the submission does not say."""
    if factor in PLUGIN_FACTORS:
        block = submission_spec.get(factor) or {}
        return str(block["name"]) if isinstance(block, dict) and block.get("name") else None
    tags = submission_spec.get("tags") or {}
    return str(tags[factor]) if tags.get(factor) is not None else None


def default_metric(records: Sequence[Record]) -> str:
    """The task's headline metric (``headline_metric`` in its spec), else ``top1``."""
    for r in records:
        if isinstance(r.task_spec, dict) and r.task_spec.get("headline_metric"):
            return str(r.task_spec["headline_metric"])
    return "top1"


@dataclass
class Effect:
    """One ANOVA term: F test and partial eta squared."""

    term: str
    f: float
    df_num: float
    df_den: float
    p: float
    partial_eta_sq: float


@dataclass
class Contrast:
    """A one-degree-of-freedom effect in metric units, per block: mean, t 95 % CI, d_z."""

    term: str
    label: str
    estimate: float
    ci_low: float
    ci_high: float
    dz: float
    n: int


@dataclass
class FactorialResult:
    task: str
    metric: str
    factors: list[str]
    levels: dict[str, list[str]]
    block: str                                  # "subject" or "seed"
    n_blocks: int
    cells: pd.DataFrame                         # one row per cell: levels, submission, mean, se
    data: pd.DataFrame                          # long table: levels, block, value
    effects: list[Effect] = field(default_factory=list)
    contrasts: list[Contrast] = field(default_factory=list)
    mixed: dict[str, Any] = field(default_factory=dict)
    alpha: float = 0.05

    def significant(self, term: str) -> bool:
        return any(e.term == term and e.p < self.alpha for e in self.effects)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"task": self.task, "metric": self.metric, "factors": self.factors, "levels": self.levels,
                "block": self.block, "n_blocks": self.n_blocks, "alpha": self.alpha,
                "cells": self.cells.to_dict(orient="records"), "effects": [asdict(e) for e in self.effects],
                "contrasts": [asdict(c) for c in self.contrasts], "mixed_model": self.mixed,
                "method": METHOD}

    def text(self) -> str:
        lines = [f"factorial analysis of {self.task} ({self.metric}): {' x '.join(self.factors)}, "
                 f"{self.n_blocks} {self.block}s, repeated-measures ANOVA (alpha={self.alpha:g})"]
        for _, c in self.cells.iterrows():
            lines.append("  cell " + ", ".join(f"{f}={c[f]}" for f in self.factors)
                         + f": {c['submission']}  mean={c['mean']:.4f} se={c['se']:.4f}")
        for e in self.effects:
            verdict = "significant" if e.p < self.alpha else "not significant"
            lines.append(f"  {e.term}: F({e.df_num:g}, {e.df_den:g}) = {e.f:.3f}, p = {e.p:.4g}, "
                         f"partial eta^2 = {e.partial_eta_sq:.3f}  -> {verdict}")
        for c in self.contrasts:
            lines.append(f"  effect {c.label}: {c.estimate:+.4f} [95% CI {c.ci_low:+.4f}, {c.ci_high:+.4f}], "
                         f"d_z = {c.dz:.3f} (n={c.n})")
        if self.mixed:
            lines.append(f"  mixed model ({self.mixed['formula']}, random intercept per {self.block}): "
                         + ("; ".join(f"{k} {v['estimate']:+.4f} [{v['ci_low']:+.4f}, {v['ci_high']:+.4f}]"
                                      for k, v in self.mixed["fixed"].items())))
        return "\n".join(lines)


METHOD = ("Complete entries form a factorial design over factors read from the submissions; per "
          "subject (seed, for pooled tasks) the seed-averaged score is one observation. Main effects and "
          "interactions: repeated-measures ANOVA (statsmodels AnovaRM) with partial eta squared; "
          "effects in metric units with t 95% CIs over subjects and d_z; a linear mixed model "
          "(statsmodels MixedLM, random intercept per subject) for the fixed-effect estimates. "
          "Incomplete or unbalanced designs are refused.")


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def design_table(records: Iterable[Record], task: str, factors: Sequence[str] = DEFAULT_FACTORS,
                 metric: str | None = None) -> tuple[pd.DataFrame, str, str]:
    """The long table (factor levels, submission, block, value) of a complete, balanced design.

    Raises :class:`RecordError` naming what is missing (cells, units, blocks) otherwise.
    Returns (table, metric, block kind).
    """
    from bench.stats.aggregate import summarise, unit_table
    from bench.stats.design import design_of
    from bench.stats.entries import resolve_entries

    records = [r for r in records if r.task == task]
    if not records:
        raise RecordError(f"no records for task '{task}'", fix=f"run `bench evaluate <submission> --task {task}` "
                                                              "for the entries of the design first")
    factors = list(dict.fromkeys(factors))
    if not 1 <= len(factors) <= 3:
        raise RecordError(f"a factorial analysis needs 1 to 3 factors, got {factors}", field="--factor",
                          fix="name one to three factors, e.g. --factor encoder --factor image_model")
    metric = metric or default_metric(records)
    resolved = resolve_entries(records)
    summaries = {s.submission: s for s in summarise(records, metric)}
    specs = {r.submission: r.submission_spec for r in resolved.records}
    pooled = design_of(records[0].task_spec).pooled
    block = "seed" if pooled else "subject"

    problems: list[str] = []
    cells: dict[tuple[str, ...], list[str]] = {}
    for sub in sorted(summaries):
        s = summaries[sub]
        if sub not in specs:
            problems.append(f"entry '{sub}' has no usable record ({len(s.conflicts)} conflicting units)")
            continue
        levels = tuple(factor_value(specs[sub], f) for f in factors)
        absent = [f for f, v in zip(factors, levels) if v is None]
        if absent:
            problems.append(f"entry '{sub}' does not declare {absent} (add `tags: {{{absent[0]}: ...}}` to its YAML)")
            continue
        if not s.complete:
            what = [f"{u}/seed{x}" for u, x in s.missing[:4]] + [c.label for c in s.conflicts[:4]]
            problems.append(f"entry '{sub}' is incomplete: missing or conflicting units {what}"
                            + (" ..." if len(s.missing) + len(s.conflicts) > 4 else ""))
            continue
        cells.setdefault(levels, []).append(sub)
    levels = {f: sorted({lv[i] for lv in cells}) for i, f in enumerate(factors)}
    for f in factors:
        if len(levels[f]) < 2:
            problems.append(f"factor '{f}' has {len(levels[f])} level(s) among the complete entries "
                            f"({levels[f]}); a factor needs at least 2")
    for combo in itertools.product(*(levels[f] for f in factors)):
        subs = cells.get(combo, [])
        name = ", ".join(f"{f}={v}" for f, v in zip(factors, combo))
        if not subs:
            problems.append(f"cell ({name}) has no complete entry")
        elif len(subs) > 1:
            problems.append(f"cell ({name}) has {len(subs)} entries {subs}; name a factor that separates them "
                            f"(--factor <tag>) or leave one out")
    if problems:
        raise RecordError("the design is incomplete or unbalanced:\n  - " + "\n  - ".join(problems),
                          where=f"task '{task}'",
                          fix="evaluate one complete entry per cell (every level combination), or choose factors "
                              "whose levels the entries cross")
    table = unit_table(resolved.records, metric)
    table = table[table["task"] == task].dropna(subset=["value"])
    rows = []
    for combo, (sub,) in cells.items():
        t = table[table["submission"] == sub]
        per = t.groupby("seed" if pooled else "split")["value"].mean()
        for b, v in per.items():
            rows.append({**dict(zip(factors, combo)), "submission": sub, "block": str(b), "value": float(v)})
    long = pd.DataFrame(rows)
    blocks = long.groupby("submission")["block"].apply(frozenset)
    common = frozenset.intersection(*blocks.values)
    if any(b != common for b in blocks.values):
        diff = {s: sorted(b - common) for s, b in blocks.items() if b != common}
        raise RecordError(f"the entries were evaluated on different {block}s (not in every cell: {diff})",
                          where=f"task '{task}'", fix=f"evaluate every entry on the same {block}s")
    if len(common) < 2:
        raise RecordError(f"a repeated-measures analysis needs at least 2 {block}s, the design has {len(common)}",
                          where=f"task '{task}'", fix=f"evaluate the entries on more {block}s")
    return long, metric, block


def rm_anova(long: pd.DataFrame, factors: Sequence[str]) -> list[Effect]:
    """Repeated-measures ANOVA (statsmodels AnovaRM) of ``value`` over ``factors`` within ``block``."""
    from statsmodels.stats.anova import AnovaRM

    safe = {f: f"f_{_safe(f)}" for f in factors}
    frame = long.rename(columns=safe)
    table = AnovaRM(frame, depvar="value", subject="block", within=[safe[f] for f in factors]).fit().anova_table
    back = {v: k for k, v in safe.items()}
    out = []
    for term, row in table.iterrows():
        name = ":".join(back[t] for t in term.split(":"))
        f, d1, d2 = float(row["F Value"]), float(row["Num DF"]), float(row["Den DF"])
        eta = f * d1 / (f * d1 + d2) if np.isfinite(f) else float("nan")
        out.append(Effect(name, f, d1, d2, float(row["Pr > F"]), float(eta)))
    return out


def _t_summary(term: str, label: str, per_block: np.ndarray, level: float = 0.95) -> Contrast:
    from scipy import stats

    x = np.asarray(per_block, dtype=float)
    n = len(x)
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else float("nan")
    if n > 1 and sd > 0:
        half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n))
        dz = mean / sd
    else:
        half, dz = (0.0, float("nan")) if n > 1 else (float("nan"), float("nan"))
    return Contrast(term, label, mean, mean - half, mean + half, float(dz), n)


def contrasts(long: pd.DataFrame, factors: Sequence[str], levels: dict[str, list[str]]) -> list[Contrast]:
    """Main-effect contrasts (level - reference level, marginal over the other factors) and two-factor
    interaction contrasts (difference of differences), per block, with t CIs and d_z."""
    out = []
    for f in factors:
        marg = long.groupby(["block", f])["value"].mean().unstack(f)
        ref = levels[f][0]
        for lv in levels[f][1:]:
            out.append(_t_summary(f, f"{f}: {lv} - {ref}", (marg[lv] - marg[ref]).to_numpy()))
    for a, b in itertools.combinations(factors, 2):
        m = long.groupby(["block", a, b])["value"].mean()
        a0, b0 = levels[a][0], levels[b][0]
        for la in levels[a][1:]:
            for lb in levels[b][1:]:
                d = ((m.xs((la, lb), level=(a, b)) - m.xs((la, b0), level=(a, b)))
                     - (m.xs((a0, lb), level=(a, b)) - m.xs((a0, b0), level=(a, b))))
                out.append(_t_summary(f"{a}:{b}", f"{a}:{b}: ({la} - {a0}) x ({lb} - {b0})", d.to_numpy()))
    return out


def mixed_model(long: pd.DataFrame, factors: Sequence[str]) -> dict[str, Any]:
    """statsmodels MixedLM, ``value ~ factors`` (full interaction, treatment coding), random intercept per block."""
    import warnings

    import statsmodels.formula.api as smf

    safe = {f: f"f_{_safe(f)}" for f in factors}
    frame = long.rename(columns=safe)
    formula = "value ~ " + " * ".join(f"C({safe[f]})" for f in factors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # boundary fits (zero block variance) warn; still valid
        fit = smf.mixedlm(formula, frame, groups=frame["block"]).fit(reml=True)
    ci = fit.conf_int()
    fixed = {}
    for name in fit.fe_params.index:
        label = name
        for f, s in safe.items():
            label = label.replace(f"C({s})[T.", f"{f}[").replace(s, f)
        fixed[label] = {"estimate": float(fit.fe_params[name]), "ci_low": float(ci.loc[name, 0]),
                        "ci_high": float(ci.loc[name, 1]), "p": float(fit.pvalues[name])}
    return {"formula": formula.replace("f_", ""), "fixed": fixed, "block_variance": float(fit.cov_re.iloc[0, 0]),
            "residual_variance": float(fit.scale), "converged": bool(fit.converged)}


def factorial(records: Iterable[Record], task: str, factors: Sequence[str] = DEFAULT_FACTORS,
              metric: str | None = None, alpha: float = 0.05, mixed: bool = True) -> FactorialResult:
    """The factorial analysis of ``task`` (module docstring); refuses incomplete designs."""
    long, metric, block = design_table(records, task, factors, metric)
    factors = list(dict.fromkeys(factors))
    levels = {f: sorted(long[f].unique().tolist()) for f in factors}
    cells = (long.groupby(factors + ["submission"])["value"]
             .agg(mean="mean", se=lambda v: float(v.std(ddof=1) / np.sqrt(len(v)))).reset_index())
    result = FactorialResult(task=task, metric=metric, factors=factors, levels=levels, block=block,
                             n_blocks=int(long["block"].nunique()), cells=cells, data=long, alpha=alpha)
    result.effects = rm_anova(long, factors)
    result.contrasts = contrasts(long, factors, levels)
    if mixed:
        result.mixed = mixed_model(long, factors)
    return result


def draw_interaction(ax: Any, result: FactorialResult, scale: float = 1.0, ylabel: str | None = None) -> None:
    """Draw the interaction plot on ``ax``: mean score (y, times ``scale``) per level of the first factor (x),
    one line per level of the second (or one line for a one-factor design); error bars = SE over blocks."""
    x_f = result.factors[0]
    line_f = result.factors[1] if len(result.factors) > 1 else None
    long = result.data
    xs = np.arange(len(result.levels[x_f]))
    styles = (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))
    for i, lv in enumerate(result.levels[line_f] if line_f else [None]):
        part = long if lv is None else long[long[line_f] == lv]
        per = part.groupby(["block", x_f])["value"].mean().unstack(x_f)[result.levels[x_f]] * scale
        mean, se = per.mean(), per.std(ddof=1) / np.sqrt(len(per))
        marker, ls = styles[i % len(styles)]
        ax.errorbar(xs, mean.to_numpy(), yerr=se.to_numpy(), marker=marker, ls=ls, capsize=3,
                    label=f"{line_f} = {lv}" if lv is not None else result.metric)
    ax.set_xticks(xs, result.levels[x_f])
    ax.set_xlabel(x_f)
    ax.set_ylabel(ylabel or f"{result.metric} (mean over {result.block}s ± SE)")
    ax.legend(fontsize=8)


def interaction_plot(result: FactorialResult, out: Path) -> Path:
    """Write the interaction plot (:func:`draw_interaction`) to ``out`` (PNG, or SVG by extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=110)
    draw_interaction(ax, result)
    ax.set_title(f"{result.task}: {' x '.join(result.factors)}", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


__all__ = ["DEFAULT_FACTORS", "METHOD", "Contrast", "Effect", "FactorialResult", "contrasts", "design_table",
           "draw_interaction", "factor_value", "factorial", "interaction_plot", "mixed_model", "rm_anova"]
