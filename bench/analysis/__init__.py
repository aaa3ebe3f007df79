"""Analyses no leaderboard table answers, computed from the records (and, for ceilings, the data).

- :mod:`bench.analysis.factorial`: encoder x image model (or any tagged factor) as a factorial design,
  repeated-measures ANOVA and a linear mixed model with subject as random effect;
- :mod:`bench.analysis.ceilings`: split-half noise ceilings of retrieval tasks from test repetitions;
- :mod:`bench.analysis.checks`: the validity checklist per entry (``bench check``).
"""
