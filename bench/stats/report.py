"""Statistics as text and strict JSON, for ``bench results`` and ``bench compare`` (pages have their own templates).

- :func:`strict_json` — JSON with ``null`` for NaN/inf (``allow_nan=False``: never a bare ``NaN``);
- :func:`comparison_text` — one comparison: design, the deciding test, power, verdict, conflicts;
- :func:`nothing_matched` — the error when a pair has no matched unit (what is there, what to run).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Iterable

from bench.errors import RecordError
from bench.records.schema import Record
from bench.stats.compare import Comparison
from bench.stats.design import power_text
from bench.stats.entries import conflict_fix


def json_safe(x: Any) -> Any:
    """NaN/inf -> None, recursively through dataclasses, dicts, lists and tuples; numpy scalars to Python."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        x = x.to_dict() if hasattr(x, "to_dict") else dataclasses.asdict(x)
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "shape", None) == ():
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def strict_json(obj: Any, indent: int | None = 1) -> str:
    """Valid JSON (RFC 8259): NaN and infinities become null; raises if any other non-JSON value remains."""
    return json.dumps(json_safe(obj), indent=indent, allow_nan=False)


def _f(x: float | None, spec: str = ".4f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def design_text(c: Comparison) -> str:
    if c.pair_by == "seeds":
        return f"pooled design: paired over {c.n_pairs} matched seeds"
    return f"paired over {c.n_pairs} matched subjects (each the mean over matched seeds)"


def comparison_text(c: Comparison) -> str:
    """The ``bench compare`` table for one pair (a − b)."""
    unit = "seed" if c.pair_by == "seeds" else "subject"
    lines = [f"{c.a} vs {c.b} on {c.task} ({c.metric}): {design_text(c)}; {c.n_units} (subject, seed) units matched",
             f"  mean a={_f(c.mean_a)}  b={_f(c.mean_b)}  diff={_f(c.mean_diff, '+.4f')}  "
             f"{int(round(c.ci_level * 100))}% {c.ci_method} CI [{_f(c.ci_low, '+.4f')}, {_f(c.ci_high, '+.4f')}]"]
    decision = f"  test: {c.test}"
    if c.test == "paired t-test":
        decision += f" (two-sided, over {unit}s): t={_f(c.t, '.3f')} p={_f(c.p, '.4g')}  d_z={_f(c.cohens_dz, '.3f')}"
    else:
        decision += f": p={_f(c.p, '.4g')}  (d_z undefined: zero variance of the differences)" \
            if c.n_pairs else ""
    if c.p_corrected is not None and c.correction != "none":
        decision += f"  p_{c.correction}={_f(c.p_corrected, '.4g')}"
    lines.append(decision)
    if c.note:
        lines.append(f"  note: {c.note}")
    lines.append(f"  power: {power_text(c.n_pairs, unit, c.alpha, [c.sd_diff])}")
    lines.append(f"  for reference: unit-level (subject, seed) paired decision p={_f(c.p_unit, '.4g')}; "
                 f"Wilcoxon signed-rank over {unit}s p={_f(c.p_wilcoxon, '.4g')}")
    corrected = f"{c.correction}-corrected" if c.correction != "none" else "uncorrected"
    lines.append(f"  verdict at α = {c.alpha:g} ({corrected}): {c.verdict()}")
    if c.conflicts:
        subs = sorted({x.split(":")[0] for x in c.conflicts})
        lines.append(f"  CONFLICTS (excluded, never averaged): {', '.join(c.conflicts)}; fix: "
                     + "; ".join(conflict_fix(s, c.task) for s in subs))
    if c.unmatched:
        lines.append(f"  unmatched units (left out): {', '.join(c.unmatched)}")
    return "\n".join(lines)


def nothing_matched(comparisons: Iterable[Comparison], records: list[Record], task: str) -> RecordError | None:
    """The error for the first pair with no matched unit, saying what each side has and what to run."""
    for c in comparisons:
        if c.n_pairs:
            continue
        have = {}
        for name in (c.a, c.b):
            have[name] = len({(r.split, r.seed) for r in records if r.task == task and r.submission == name
                              and r.finished})
        conflicts = f"; conflicting units excluded: {', '.join(c.conflicts)}" if c.conflicts else ""
        missing = [n for n, k in have.items() if k == 0]
        fix = (f"run `bench evaluate <YAML of {missing[0]}> --task {task}` first" if missing else
               "the two entries share no (split, seed) unit: run both on the same task plan "
               "(same subjects and seeds)")
        if conflicts:
            fix += f"; {conflict_fix(c.a, task)}"
        return RecordError(f"nothing to compare: {c.a} and {c.b} have no matched units on task '{task}' "
                           f"({c.a}: {have[c.a]} finished units, {c.b}: {have[c.b]}){conflicts}",
                           fix=fix + " (or check --task, --snapshot and --tracking-uri)")
    return None


__all__ = ["comparison_text", "design_text", "json_safe", "nothing_matched", "strict_json"]
