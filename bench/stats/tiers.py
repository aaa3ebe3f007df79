"""Significance tiers: which entries of a task cannot be told apart from the best (PROTOCOLS.md §5).

A pure function of records. The algorithm, exactly:

1. **Entries.** One entry per submission with records on ``task``. Its score is the
   :func:`~bench.stats.aggregate.summarise` mean (mean over subjects of the mean over seeds of
   ``metric``). An entry is *complete* when every (split, seed) unit its task demands has a finished
   record with a finite value of ``metric``. **Incomplete entries get no tier** (``None``): they are
   shown flagged, never tested, never averaged as if complete, and never part of a family.
2. **Order.** Complete entries are sorted best first (highest mean, or lowest with
   ``higher_is_better=False``); equal means are ordered by submission name, so the result is
   deterministic.
3. **Rounds.** Tier ``t`` (starting at 1): the *leader* is the best remaining entry. It is compared
   with every other remaining entry by the **subject-level paired t-test, two-sided** (matched
   subjects, seed-averaged: ``Comparison.p_subject`` of :func:`~bench.stats.compare.compare`). Those
   p-values form one family, adjusted with the declared ``correction`` (``holm``: family-wise;
   ``bh``: Benjamini–Hochberg; ``none``). An entry whose adjusted p is ``>= alpha`` is *not
   significantly different from the leader* and joins tier ``t``; the leader is always in it.
   The members of tier ``t`` are removed and the next round runs on the rest, until none is left.
4. **Undefined tests.** The paired t-test is undefined (NaN p) when fewer than two subjects are
   matched, or when all subject differences are (numerically) equal — one subject, two identical
   entries, zero-variance differences. An undefined test is not a rejection: the entry **shares the
   leader's tier**. NaN p-values are left out of the correction (the family's size counts the
   defined tests only; see :mod:`bench.stats.corrections`).

Consequences worth knowing when reading a page: tier membership is decided by the test, not by the
mean, so a noisy entry with a lower mean can share tier 1 while a steadier entry with a higher mean
does not (tiers are not monotone in the mean). Each round's family is "the leader against the rest",
so the correction is declared per round; the rounds and their p-values are kept in
:class:`TierResult` so pages can show how every tier was decided.

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

#: Bootstrap resamples used for the CIs kept with each round's comparisons (tiers use only the p's).
TIER_BOOTSTRAP = 1000


@dataclass
class TierRound:
    """One round: the leader, the entries tested against it and the members of its tier.

    comparisons: ``compare(leader, other)`` for every other remaining entry (``a`` is the leader),
                 with ``p_corrected`` adjusted over this round's family.
    """

    tier: int
    leader: str
    members: list[str]
    comparisons: list[Comparison] = field(default_factory=list)


@dataclass
class TierResult:
    """Tiers of one task and metric, and how they were decided.

    tiers:      submission -> tier (1 = best); ``None`` for incomplete entries.
    order:      complete entries, best first (the order leaders were picked from).
    incomplete: submissions with missing units (no tier).
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

    def describe(self) -> str:
        """One sentence declaring the method (shown on pages)."""
        names = {"holm": "Holm (family-wise)", "bh": "Benjamini–Hochberg (FDR)", "none": "no"}
        return (f"Tier 1 holds the best complete entry and every entry not significantly different from it "
                f"(subject-level paired t-test, two-sided, {names.get(self.correction, self.correction)} "
                f"correction over the comparisons with that leader, alpha = {self.alpha:g}); the next tier is "
                f"formed the same way from the rest. Undefined tests (one subject, zero-variance differences) "
                f"share the leader's tier. Incomplete entries get no tier.")


def _finite(x: float) -> bool:
    return x is not None and not math.isnan(x)


def compute_tiers(records: Iterable[Record], task: str, metric: str = "top1", *, correction: Correction = "holm",
                  alpha: float = 0.05, higher_is_better: bool = True,
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

    tiers: dict[str, int | None] = {name: None for name in incomplete}
    rounds: list[TierRound] = []
    remaining = list(order)
    tier = 0
    while remaining:
        tier += 1
        leader, others = remaining[0], remaining[1:]
        comps = [compare(records, task, leader, other, metric, n_boot=n_boot) for other in others]
        adjusted = correct([c.p_subject for c in comps], correction)
        members = [leader]
        for c, p in zip(comps, adjusted):
            c.p_corrected = float(p)
            c.correction = correction
            if not _finite(c.p_corrected) or c.p_corrected >= alpha:
                members.append(c.b)
        for name in members:
            tiers[name] = tier
        rounds.append(TierRound(tier=tier, leader=leader, members=members, comparisons=comps))
        remaining = [name for name in remaining if name not in members]
    return TierResult(task=task, metric=metric, correction=correction, alpha=alpha,
                      higher_is_better=higher_is_better, tiers=tiers, order=order, incomplete=incomplete,
                      rounds=rounds, summaries=summaries)


def assign_tiers(records: Iterable[Record], task: str, metric: str = "top1", *, correction: Correction = "holm",
                 alpha: float = 0.05, higher_is_better: bool = True) -> dict[str, int | None]:
    """submission -> significance tier on ``task`` (1 = best; ``None`` = incomplete). See the module doc."""
    return compute_tiers(records, task, metric, correction=correction, alpha=alpha,
                         higher_is_better=higher_is_better).tiers
