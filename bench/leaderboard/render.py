"""HTML rendering: one Jinja2 environment with autoescaping on for every template.

Every string that reaches a page goes through autoescaping; the filters below return plain strings
(never ``Markup``), so they are escaped too. Nothing in the templates is marked ``|safe``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from bench.leaderboard import data as d
from bench.leaderboard.templates import TEMPLATES


def _show(value: Any) -> str:
    """Display text of any value: lists of strings joined with ', ', other structures as compact JSON."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return d.text(value, 2000)


def _clip(value: Any, limit: int = 300) -> str:
    s = "" if value is None else str(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _sortable(value: Any) -> str:
    """The ``data-value`` of a numeric cell: a plain number, or '' (sorts last) when missing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        return ""
    return repr(float(value))


def _component(comp: Any) -> str:
    if isinstance(comp, dict):
        params = comp.get("params") or {}
        return d.text(comp.get("name", ""), 200) + (f" {d.text(params, 1000)}" if params else "")
    return d.text(comp, 1000)


def _items_sorted(value: Any) -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        return []
    return sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])


def _fmt_unit(value: Any, metric: str = "") -> str:
    """A value in display units with its unit ('0.50 %' for a fraction metric)."""
    shown = d.fmt(value, metric)
    return shown + " %" if d.is_fraction(metric) and shown != "—" else shown


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@functools.lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment (autoescape on for every template, whatever its name)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), autoescape=True, trim_blocks=False,
                             lstrip_blocks=False, keep_trailing_newline=True)
    env.filters.update({
        "fmt": lambda v, metric="", digits=None: d.fmt(v, metric, digits),
        "fmt_pm": lambda m, s, metric="": d.fmt_pm(m, s, metric),
        "fmt_unit": _fmt_unit,
        "fmt_p": d.fmt_p, "metric_label": d.metric_label, "sortable": _sortable, "clip": _clip, "show": _show,
        "component": _component, "recipe": d.recipe_text, "dictsort": _items_sorted,
    })
    env.tests["nan"] = _is_nan
    return env


def render(template: str, **context: Any) -> str:
    """Render one of :data:`~bench.leaderboard.templates.TEMPLATES` with ``context``."""
    return environment().get_template(template).render(**context)
