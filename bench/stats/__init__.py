"""Statistics over records: the records of an entry, aggregation, paired decisions, power, corrections, tiers.

Pure functions of records (see PROTOCOLS.md §5): records are resolved once
(:func:`resolve_entries`: conflicting units excluded and flagged); a submission's score is the mean
over subjects of the mean over seeds; comparisons pair over matched subjects (seed-averaged) or, on
pooled tasks, over matched seeds (:mod:`bench.stats.design`), with the power of the design stated.
"""

from bench.stats.aggregate import SubmissionSummary, summarise, unit_table
from bench.stats.compare import Comparison, compare, compare_all
from bench.stats.corrections import benjamini_hochberg, correct, holm
from bench.stats.design import MIN_PAIRS, Design, design_of, paired_test, power_text
from bench.stats.entries import CONFLICT_FIX, Conflict, Resolution, entry_records, resolve_entries
from bench.stats.tiers import assign_tiers, compute_tiers

__all__ = ["CONFLICT_FIX", "Comparison", "Conflict", "Design", "MIN_PAIRS", "Resolution", "SubmissionSummary",
           "assign_tiers", "benjamini_hochberg", "compare", "compare_all", "compute_tiers", "correct", "design_of",
           "entry_records", "holm", "paired_test", "power_text", "resolve_entries", "summarise", "unit_table"]
