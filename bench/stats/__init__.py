"""Statistics over records: aggregation over subjects x seeds, paired comparisons, corrections.

Pure functions of records (see PROTOCOLS.md §5): a submission's score is the mean over subjects of
the mean over seeds, with the standard error across subjects; comparisons are paired over matched
subjects (seed-averaged) and over matched (subject, seed) units.
"""

from bench.stats.aggregate import SubmissionSummary, summarise, unit_table
from bench.stats.compare import Comparison, compare, compare_all
from bench.stats.corrections import benjamini_hochberg, correct, holm
from bench.stats.tiers import assign_tiers, compute_tiers

__all__ = ["Comparison", "SubmissionSummary", "assign_tiers", "benjamini_hochberg", "compare", "compare_all",
           "compute_tiers", "correct", "holm", "summarise", "unit_table"]
