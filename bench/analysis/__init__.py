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
    from bench.analysis.verify import METHOD as VERIFY_METHOD
    from bench.tasks.controls import controls_method

    return {"controls": controls_method(), "checks": checklist_method(), "check_alpha": 0.01, "max_distance": 4,
            "factorial": METHOD, "ceiling": CEILING_METHOD,
            "checks_source": "Where the results live: the record checks (block design, validation-only selection, "
                             "complete seeds) are recomputed from the records at every build; the shuffled-pairs "
                             "null and pre-stimulus checks from the records of the derived tasks <task>-shuffled and "
                             "<task>-prestim that `bench check` runs, when the build has them, else from the "
                             "checklist file `bench check --out X.checks.json` wrote; the image-overlap scan from "
                             "that file only (it needs the image files).",
            "ceiling_source": "The ceiling needs the task's data, not the records: `bench analyze ceiling --task T "
                              "--out T.ceiling.json` computes it and `bench leaderboard build --analyses` shows it; "
                              "each entry's fraction of the ceiling is computed from the records at build time.",
            "verification": VERIFY_METHOD}
