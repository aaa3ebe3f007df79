"""Per-item paired comparison of two submissions (e.g. per-image reconstruction scores).

A record's ``per_item`` holds one row per test item: ``item_id`` plus one column per per-item
outcome (retrieval: ``rank``, ``kway<k>_top1``; reconstruction: ``pixcorr``, ``ssim``,
``alexnet2``, ...). Two submissions evaluated on the same task are matched item by item:

- rows are matched on (split, seed, item_id); an item present for one submission only is listed as
  unmatched and left out, never imputed;
- each matched (split, item_id) is averaged over the seeds both submissions have, so an item is
  one test image of one subject;
- records are resolved first (:func:`bench.stats.entries.resolve_entries`: conflicting units are left out);
- reported over those items: the paired decision of :func:`bench.stats.design.paired_test` (paired
  t-test; identical values tie; a constant difference decided by the exact sign-flip test), Wilcoxon
  signed-rank, Cohen's d_z (where the t-test decides) and a BCa bootstrap CI of the mean difference
  (items resampled, seeded). Differences are a - b.

Items of different subjects that show the same image are treated as separate observations, as
per-image comparisons usually are; for inference at the level of subjects use
:func:`bench.stats.compare.compare` on the records' overall metrics.

Example::

    from bench.stats.items import compare_items
    res = compare_items(records, "things-eeg2-reconstruction", "mine", "recon_retrieval_baseline", "clip")
    res.mean_diff, res.p_t, res.n_items
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

from bench.errors import RecordError
from bench.records.schema import Record
from bench.stats.compare import bootstrap_ci
from bench.stats.design import paired_test
from bench.stats.entries import resolve_entries


def item_table(records: Iterable[Record], task: str, metric: str) -> pd.DataFrame:
    """One row per (finished unit, item): submission, split, seed, item_id, value of ``metric``."""
    frames = []
    for r in records:
        if not r.finished or r.task != task or metric not in r.per_item:
            continue
        ids = r.per_item.get("item_id")
        values = r.per_item[metric]
        if ids is None or len(ids) != len(values):
            raise RecordError(f"record of {r.submission} / {r.split} / seed {r.seed} has per_item['{metric}'] "
                              f"without a matching 'item_id' list", where=r.run_id or r.key,
                              fix="re-run the unit with the current harness (per_item lists must align)")
        frames.append(pd.DataFrame({"submission": r.submission, "split": r.split, "seed": r.seed,
                                    "item_id": [str(i) for i in ids], "value": np.asarray(values, dtype=float)}))
    cols = ["submission", "split", "seed", "item_id", "value"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


@dataclass
class ItemComparison:
    """Result of :func:`compare_items`; differences are a - b over matched items."""

    task: str
    metric: str
    a: str
    b: str
    n_items: int
    n_units: int
    mean_a: float
    mean_b: float
    mean_diff: float
    t: float
    p_t: float
    wilcoxon_stat: float
    p_wilcoxon: float
    cohens_dz: float
    ci_low: float
    ci_high: float
    ci_level: float = 0.95
    unmatched: list[str] = field(default_factory=list)
    test: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def matched_items(records: Iterable[Record], task: str, metric: str, a: str, b: str
                  ) -> tuple[pd.DataFrame, int, list[str]]:
    """Seed-averaged matched values (index (split, item_id), columns a, b), matched unit count, unmatched rows."""
    table = item_table([r for r in records if r.submission in (a, b)], task, metric).dropna(subset=["value"])
    wide = table.pivot_table(index=["split", "seed", "item_id"], columns="submission", values="value",
                             aggfunc="mean")
    for name in (a, b):
        if name not in wide:
            wide[name] = np.nan
    both = wide[[a, b]].dropna()
    unmatched = [f"{s}/seed{x}/{i}" for (s, x, i) in wide.index.difference(both.index)]
    n_units = len({(s, x) for s, x, _ in both.index})
    return both.groupby(level=["split", "item_id"]).mean(), n_units, unmatched


def compare_items(records: Iterable[Record], task: str, a: str, b: str, metric: str, *, n_boot: int = 10000,
                  seed: int = 0, ci_level: float = 0.95) -> ItemComparison:
    """Paired per-item statistics of submission ``a`` against ``b`` on ``task`` for per-item ``metric``."""
    items, n_units, unmatched = matched_items(resolve_entries(records).records, task, metric, a, b)
    xa, xb = items[a].to_numpy(dtype=float), items[b].to_numpy(dtype=float)
    diff = xa - xb
    n = len(diff)
    decision = paired_test(diff)
    t, p_t, dz = decision.statistic, decision.p, decision.dz
    w = p_w = float("nan")
    if n >= 2 and not np.all(diff == 0):
        wres = stats.wilcoxon(diff)
        w, p_w = float(wres.statistic), float(wres.pvalue)
    lo, hi = bootstrap_ci(diff, ci_level, n_boot, seed)
    nan = float("nan")
    return ItemComparison(task=task, metric=metric, a=a, b=b, n_items=n, n_units=n_units,
                          mean_a=float(xa.mean()) if n else nan, mean_b=float(xb.mean()) if n else nan,
                          mean_diff=float(diff.mean()) if n else nan, t=t, p_t=p_t, wilcoxon_stat=w, p_wilcoxon=p_w,
                          cohens_dz=dz, ci_low=lo, ci_high=hi, ci_level=ci_level, unmatched=unmatched,
                          test=decision.test, note=decision.note)


__all__ = ["ItemComparison", "compare_items", "item_table", "matched_items"]
