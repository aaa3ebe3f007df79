"""Significance tiers: which entries of a task cannot be told apart from the best (PROTOCOLS.md §5).

A pure function of records. The algorithm, exactly:

1. **Entries.** One entry per submission with finished records on ``task``, resolved by
   :func:`bench.stats.entries.resolve_entries` (conflicting units excluded). Its score is the
   :func:`~bench.stats.aggregate.summarise` mean (mean over subjects of the mean over seeds). An entry
   is *complete* when every (split, seed) unit its task demands has one usable finished record with a
   finite value and none of its units conflicts. **Incomplete or conflicting entries get no tier**.
2. **Design and minimum n.** The task's design (:mod:`bench.stats.design`) decides what is paired:
   subjects (within-subject, LOSO) or seeds (pooled tasks). If any complete entry has fewer than
   ``min_pairs`` pairs (default :data:`~bench.stats.design.MIN_PAIRS`), **no tier is assigned** and
   the reason is kept ("too few subjects to tier"): the design cannot separate anything but huge
   differences, and a shared tier 1 would read as evidence of a tie.
3. **Order.** Complete entries are sorted best first (highest mean, or lowest with
   ``higher_is_better=False``); equal means are ordered by submission name.
4. **Rounds (step-down comparisons with the leader).** Tier ``t`` (from 1): the *leader* is the best
   remaining entry. It is compared with every other remaining entry by the design's paired decision
   (:func:`bench.stats.compare.compare`: paired t-test; a constant difference decided by the exact
   sign-flip test; identical values tie). Those p-values form one family, adjusted with the declared
   ``correction`` (``holm``: family-wise; ``bh``: Benjamini–Hochberg; ``none``). Walking the others
   in score order, each entry joins tier ``t`` while its adjusted p is ``>= alpha``; the **first**
   entry significantly different from the leader closes the tier, and it and every entry ranked
   below it go to the next round — also an entry whose own test was not significant (it is kept with
   a note saying so and why). The next round runs on the rest until none is left.

Why this procedure. Each round is Dunnett-style "comparisons with a control" (the leader) with a
Holm (1979) step-down family-wise correction — the standard way to ask "which entries are worse than
the best?". Keeping tiers contiguous in the score is the convention of published significance
clusters in shared-task rankings (entries ordered by score, a boundary drawn where a pairwise test
separates): a tier never holds an entry with a lower mean than an entry of a later tier. The price is
stated, not hidden: an entry pushed below a boundary was not itself shown worse than the leader, and
``TierResult.notes`` (shown on the pages) says so.

>>> tiers = assign_tiers(records, "things-eeg2-retrieval-200", "top1", correction="holm")
>>> tiers                                   # doctest: +SKIP
{'nice_dreamsim': 1, 'atm_dreamsim': 1, 'eegnet_dreamsim': 2, 'half_done': None}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

from bench.records.schema import Record
from bench.stats.aggregate import SubmissionSummary, summarise
from bench.stats.compare import Comparison, compare
from bench.stats.corrections import Correction, correct
from bench.stats.design import MIN_PAIRS, Design, design_of, power_text

#: Bootstrap resamples used for the CIs kept with each round's comparisons (tiers use only the p's).
TIER_BOOTSTRAP = 1000


@dataclass
class TierRound:
    """One round: the leader, the entries tested against it and the members of its tier.

    comparisons: ``compare(leader, other)`` for every other remaining entry in score order (``a`` is the
                 leader), with ``p_corrected`` adjusted over this round's family.
    boundary:    the first entry significantly different from the leader (closes the tier), or None.
    """

    tier: int
    leader: str
    members: list[str]
    comparisons: list[Comparison] = field(default_factory=list)
    boundary: str | None = None


@dataclass
class TierResult:
    """Tiers of one task and metric, and how they were decided.

    tiers:      submission -> tier (1 = best); ``None`` for incomplete/conflicting entries, and for all
                entries when ``withheld`` says why no tier was assigned.
    order:      complete entries, best first (the order leaders were picked from).
    incomplete: submissions with missing or conflicting units (no tier).
    notes:      submission -> why it sits where it does, when that is not its own test's verdict.
    summaries:  submission -> its :class:`SubmissionSummary` for ``metric``.
    """

    task: str
    metric: str
    correction: str
    alpha: float
    higher_is_better: bool
    tiers: dict[str, int | None]
    order: list[str]
    incomplete: list[str]
    rounds: list[TierRound]
    summaries: dict[str, SubmissionSummary]
    design: Design | None = None
    min_pairs: int = MIN_PAIRS
    n_pairs: int = 0
    withheld: str | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """The method, in words (shown on pages)."""
        names = {"holm": "Holm (family-wise)", "bh": "Benjamini–Hochberg (FDR)", "none": "no"}
        pair = "matched seeds (pooled design)" if self.design and self.design.pooled else \
            "matched subjects (seed-averaged)"
        return (f"Step-down comparisons with the leader: tier 1 holds the best complete entry and, in score order, "
                f"every entry not significantly different from it, up to the first entry that is "
                f"(two-sided paired test over {pair}; a constant difference is decided by the exact sign-flip test, "
                f"p = 2/2^n; identical values tie; {names.get(self.correction, self.correction)} correction over the "
                f"comparisons with that leader, α = {self.alpha:g}); that entry and all below it form the next "
                f"tiers the same way, so tiers never put a lower mean above a higher one. Incomplete or "
                f"conflicting entries get no tier; with fewer than {self.min_pairs} "
                f"{self.design.unit if self.design else 'subject'}s no tier is assigned.")

    def power(self, fmt=lambda v: f"{v:.3g}", comparisons: Iterable[Comparison] = ()) -> str:
        """The power statement of this task's design (n pairs, detectable d_z, and the range of minimum
        detectable differences over the observed sds of this round's and ``comparisons``' differences)."""
        unit = self.design.unit if self.design else "subject"
        sds = [c.sd_diff for rnd in self.rounds for c in rnd.comparisons] + [c.sd_diff for c in comparisons]
        return power_text(self.n_pairs, unit, self.alpha, sds, fmt)


def _finite(x: float | None) -> bool:
    return x is not None and not math.isnan(x)


def compute_tiers(records: Iterable[Record], task: str, metric: str = "top1", *, correction: Correction = "holm",
                  alpha: float = 0.05, higher_is_better: bool = True, min_pairs: int = MIN_PAIRS,
                  n_boot: int = TIER_BOOTSTRAP) -> TierResult:
    """Significance tiers of ``task`` on ``metric`` with the full record of each round (see module doc)."""
    if correction not in ("holm", "bh", "none"):
        raise ValueError(f"unknown correction '{correction}': use holm, bh or none")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    records = [r for r in records if r.task == task]
    summaries = {s.submission: s for s in summarise(records, metric)}
    complete = [name for name, s in summaries.items() if s.complete and _finite(s.mean)]
    incomplete = sorted(set(summaries) - set(complete))
    sign = -1.0 if higher_is_better else 1.0
    order = sorted(complete, key=lambda name: (sign * summaries[name].mean, name))
    example = next((r for r in records if r.finished), None)
    design = design_of(example.task_spec) if example else None
    n_pairs = min((summaries[name].n_pairs for name in complete), default=0)
    result = TierResult(task=task, metric=metric, correction=correction, alpha=alpha,
                        higher_is_better=higher_is_better, tiers={name: None for name in summaries}, order=order,
                        incomplete=incomplete, rounds=[], summaries=summaries, design=design, min_pairs=min_pairs,
                        n_pairs=n_pairs)
    if complete and n_pairs < min_pairs:
        unit = design.unit if design else "subject"
        result.withheld = (f"too few {unit}s to tier: {n_pairs} {unit}(s), fewer than the declared minimum of "
                           f"{min_pairs}")
    remaining = [] if result.withheld else list(order)
    tier = 0
    while remaining:
        tier += 1
        leader, others = remaining[0], remaining[1:]
        comps = [compare(records, task, leader, other, metric, n_boot=n_boot, alpha=alpha) for other in others]
        adjusted = correct([c.p for c in comps], correction)
        for c, p in zip(comps, adjusted):
            c.p_corrected = float(p)
            c.correction = correction
        members, boundary = [leader], None
        for c in comps:
            if boundary is None and c.significant:
                boundary = c.b
            if boundary is None:
                members.append(c.b)
            elif not c.significant:
                result.notes[c.b] = (f"not significantly different from {leader} itself (p {correction} = "
                                     f"{c.p_corrected:.3g}), but ranked below {boundary}, which is; tiers stay "
                                     f"contiguous in the score")
        for name in members:
            result.tiers[name] = tier
        result.rounds.append(TierRound(tier=tier, leader=leader, members=members, comparisons=comps,
                                       boundary=boundary))
        remaining = [name for name in remaining if name not in members]
    return result


def assign_tiers(records: Iterable[Record], task: str, metric: str = "top1", *, correction: Correction = "holm",
                 alpha: float = 0.05, higher_is_better: bool = True,
                 min_pairs: int = MIN_PAIRS) -> dict[str, int | None]:
    """submission -> significance tier on ``task`` (1 = best; ``None`` = no tier). See the module doc."""
    return compute_tiers(records, task, metric, correction=correction, alpha=alpha,
                         higher_is_better=higher_is_better, min_pairs=min_pairs).tiers
