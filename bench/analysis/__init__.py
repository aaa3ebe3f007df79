"""Analyses no leaderboard table answers, computed from the records (and, for ceilings, the data).

- :mod:`bench.analysis.factorial`: encoder x image model (or any tagged factor) as a factorial design,
  repeated-measures ANOVA and a linear mixed model with subject as random effect;
- :mod:`bench.analysis.ceilings`: split-half noise ceilings of retrieval tasks from test repetitions;
- :mod:`bench.analysis.checks`: the validity checklist per entry (``bench check``);
- :mod:`bench.analysis.verify`: verified entries (``bench leaderboard verify``).
"""


def method_texts() -> dict:
    """The rules of the controls, the checklist, the factorial analysis and the ceilings, for the method page."""
    from bench.analysis.ceilings import CEILING_METHOD
    from bench.analysis.checks import checklist_method
    from bench.analysis.factorial import METHOD
    from bench.tasks.controls import controls_method

    return {"controls": controls_method(), "checks": checklist_method(), "check_alpha": 0.01, "max_distance": 4,
            "factorial": METHOD, "ceiling": CEILING_METHOD}


def factorial_for_page(records, task: str, factors=None, metric: str | None = None) -> dict:
    """Page data for a task's factorial analysis: ``{"available": True, **result}`` or
    ``{"available": False, "reason": what is missing}`` (an incomplete design is stated, not hidden)."""
    from bench.analysis.factorial import DEFAULT_FACTORS, factorial
    from bench.errors import RecordError

    try:
        result = factorial(records, task, factors or DEFAULT_FACTORS, metric, mixed=False)
    except RecordError as exc:
        return {"available": False, "reason": exc.what}
    return {"available": True, **result.to_dict(), "text": result.text()}
