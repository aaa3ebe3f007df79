"""The validity checklist of one entry (``bench check SUBMISSION --task T``), as badge data.

Each check answers "could this number be high for the wrong reason?" and is shown on the entry,
pass or fail, never hidden (:data:`CHECKS` holds the rule and threshold of each, for the method page):

``shuffled_null``   the same submission on the shuffled-pairs null task (training pairs shuffled,
                    ``protocol.shuffle_training_pairs: true``; ``<task>-shuffled`` when it exists, e.g.
                    ``things-eeg2-retrieval-200-demo-shuffled``) must be at chance: the test items'
                    top-1 hits pooled over its units, one-sided binomial test against 1 / gallery,
                    pass when ``p >= alpha`` (default 0.01).
``prestimulus``     the same submission trained and tested on the -200..0 ms window
                    (``dataset.time_window: [-0.2, 0.0]``) must be at chance (same test). Not
                    applicable where the data hold no pre-stimulus samples (the 250 Hz THINGS-EEG2
                    release starts at onset) or the encoder cannot run on so short a window: the
                    badge then says why.
``image_overlap``   no test image is a (near-)duplicate of a training image: 64-bit perceptual hashes
                    (``imagehash.phash``, DCT of the 32x32 grey image) of every training and test image
                    file; fail when any test image is within ``max_distance`` bits (default 4) of a
                    training image (Zauner 2010; re-encoding and resizing move a phash by a few bits,
                    unrelated photographs by ~32; the simulated demo images, drawn from one procedural
                    family, stay >= 8 apart).
``block_design``    ImageNet-EEG classification only: no unit carries the block-design confound flag
                    (:mod:`bench.tasks.controls`, flag rule there).
``validation_only`` every record chose its checkpoint on a validation metric (``selection.metric``
                    starts with ``val_``) and records a chosen epoch.
``seeds_complete``  every (split, seed) unit the task demands has a finished, non-conflicting record.

:func:`checklist` computes the record-based checks (pure function of records); :func:`run_checks`
also runs the null and pre-stimulus evaluations and the image-overlap scan; :func:`badges` turns a
result into the list the leaderboard shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import numpy as np

from bench.records.schema import Record

CHECKLIST_SCHEMA = "brainvis-bench/checklist"
Status = Literal["pass", "fail", "n/a", "not run"]
PRESTIMULUS_WINDOW = (-0.2, 0.0)

CHECKS: dict[str, str] = {
    "shuffled_null": "shuffled training pairs: top-1 not above chance (pooled binomial test, p >= alpha)",
    "prestimulus": "trained and tested on -200..0 ms: top-1 not above chance (pooled binomial test, p >= alpha)",
    "image_overlap": "no test image within max_distance bits of a training image (64-bit perceptual hash)",
    "block_design": "ImageNet-EEG: no unit flagged by the block-design controls",
    "validation_only": "every checkpoint chosen on a validation metric",
    "seeds_complete": "every (split, seed) unit of the plan finished, no conflicting records",
}


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    value: float | None = None

    @property
    def rule(self) -> str:
        return CHECKS[self.name]


@dataclass
class Checklist:
    task: str
    submission: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.status in ("pass", "n/a") for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": CHECKLIST_SCHEMA, "task": self.task, "submission": self.submission, "passed": self.passed,
                "checks": [{**asdict(c), "rule": c.rule} for c in self.checks]}

    def text(self) -> str:
        lines = [f"validity checklist: {self.submission} on {self.task}"]
        for c in self.checks:
            lines.append(f"  [{c.status:>7}] {c.name}: {c.detail}")
        lines.append("  all checks pass" if self.passed else "  SOME CHECKS FAIL OR DID NOT RUN")
        return "\n".join(lines)


def badges(result: Checklist) -> list[dict[str, str]]:
    """Badge data per check: name, status, short label, tooltip (rule + detail)."""
    label = {"pass": "ok", "fail": "FAIL", "n/a": "n/a", "not run": "not run"}
    return [{"check": c.name, "status": c.status, "label": f"{c.name}: {label[c.status]}",
             "title": f"{c.rule}. {c.detail}"} for c in result.checks]


# ------------------------------------------------------------------------------------ record checks
def chance_test(records: Sequence[Record], alpha: float = 0.01) -> Check | None:
    """Pooled top-1 hits of retrieval records (per-item ranks) against chance 1 / gallery; None without records."""
    from scipy.stats import binomtest

    hits = n = 0
    chance = None
    for r in records:
        ranks = r.per_item.get("rank")
        if ranks is None:
            continue
        hits += int((np.asarray(ranks) < 1).sum())
        n += len(ranks)
        gallery = r.info.get("n_gallery") or (1 / r.info["chance"]["top1"] if r.info.get("chance", {}).get("top1")
                                              else len(ranks))
        chance = 1.0 / float(gallery)
    if n == 0 or chance is None:
        return None
    p = float(binomtest(hits, n, chance, alternative="greater").pvalue)
    status: Status = "pass" if p >= alpha else "fail"
    return Check("", status, f"top-1 {hits}/{n} = {hits / n:.3f} vs chance {chance:.3f} (binomial p = {p:.3g}, "
                             f"alpha {alpha:g}; {len(records)} units)", hits / n)


def checklist(records: Iterable[Record], task: str, submission: str, *, null_records: Sequence[Record] = (),
              prestim_records: Sequence[Record] = (), prestim_note: str | None = None,
              overlap: Check | None = None, alpha: float = 0.01) -> Checklist:
    """The checklist of one entry from its records (and those of its null / pre-stimulus runs)."""
    from bench.stats.aggregate import summarise
    from bench.stats.entries import entry_records

    records = list(records)
    mine = entry_records(records, task, submission)
    out = Checklist(task, submission)
    kind = (mine[0].task_spec or {}).get("kind") if mine else None

    for name, recs, note in (("shuffled_null", null_records, None), ("prestimulus", prestim_records, prestim_note)):
        if kind not in (None, "retrieval", "cross-subject"):
            out.checks.append(Check(name, "n/a", f"defined for retrieval tasks (this task is '{kind}')"))
            continue
        res = chance_test(recs, alpha) if recs else None
        if res is None:
            out.checks.append(Check(name, "n/a" if note else "not run",
                                    note or f"no finished records of this check (run `bench check ... --task {task}`)"))
        else:
            res.name = name
            out.checks.append(res)

    out.checks.append(overlap or Check("image_overlap", "not run", "the image files were not scanned"))

    if kind == "classification":
        flagged = [r for r in mine if r.metrics.get("control/confound_flag", 0.0) >= 1.0]
        reasons = sorted({x.split(":")[0] for r in flagged for x in r.info.get("confound_reasons", [])})
        out.checks.append(Check("block_design", "fail" if flagged else "pass",
                                f"{len(flagged)} of {len(mine)} units flagged" + (f" ({', '.join(reasons)})"
                                                                                   if reasons else "")))
    else:
        out.checks.append(Check("block_design", "n/a", "ImageNet-EEG classification only"))

    bad = [r for r in mine if not str((r.task_spec.get("selection") or {}).get("metric", "val_loss")).startswith("val_")
           or r.chosen_epoch is None]
    out.checks.append(Check("validation_only", "fail" if bad or not mine else "pass",
                            f"{len(mine) - len(bad)} of {len(mine)} units chose their checkpoint on validation"
                            + (f"; not: {', '.join(f'{r.split}/seed{r.seed}' for r in bad[:4])}" if bad else "")))

    summary = next((s for s in summarise([r for r in records if r.task == task and r.submission == submission],
                                          "top1") if s.submission == submission), None)
    if summary is None:
        out.checks.append(Check("seeds_complete", "fail", "no finished record of this entry"))
    else:
        gaps = [f"{s}/seed{x}" for s, x in summary.missing] + [c.label for c in summary.conflicts]
        out.checks.append(Check("seeds_complete", "pass" if not gaps else "fail",
                                f"{summary.n_units} units finished" + (f"; missing or conflicting: {gaps[:6]}"
                                                                       if gaps else "")))
    return out


# ------------------------------------------------------------------------------------ image overlap
def perceptual_hashes(paths: Sequence[Path]) -> np.ndarray:
    """(n, 64) bool: ``imagehash.phash`` of each image file (hash_size 8)."""
    import imagehash
    from PIL import Image

    out = np.empty((len(paths), 64), dtype=bool)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            out[i] = imagehash.phash(im).hash.reshape(-1)
    return out


def image_overlap(train_paths: Sequence[Path], test_paths: Sequence[Path], max_distance: int = 4) -> Check:
    """Fail when a test image is within ``max_distance`` bits of any training image (perceptual hash)."""
    train, test = perceptual_hashes(train_paths), perceptual_hashes(test_paths)
    packed_tr = np.packbits(train, axis=1)
    packed_te = np.packbits(test, axis=1)
    nearest = np.empty(len(test), dtype=np.int64)
    match = np.empty(len(test), dtype=np.int64)
    for i, h in enumerate(packed_te):
        dist = np.unpackbits(np.bitwise_xor(packed_tr, h[None]), axis=1).sum(axis=1)
        match[i] = int(np.argmin(dist))
        nearest[i] = int(dist[match[i]])
    dup = np.flatnonzero(nearest <= max_distance)
    detail = (f"{len(dup)} of {len(test)} test images within {max_distance} bits of a training image"
              f" (closest distance {int(nearest.min()) if len(nearest) else 'n/a'} bits)")
    if len(dup):
        detail += "; e.g. " + ", ".join(f"{Path(test_paths[i]).name} ~ {Path(train_paths[match[i]]).name}"
                                        for i in dup[:3])
    return Check("image_overlap", "fail" if len(dup) else "pass", detail, float(len(dup)))


def task_image_overlap(task: Any, settings: Any, max_distance: int = 4) -> Check:
    """:func:`image_overlap` of a task's training and test image sets (from its dataset loader)."""
    from bench.data.locate import open_dataset

    ds = open_dataset(task.dataset, settings)
    if not hasattr(ds, "images"):
        return Check("image_overlap", "n/a", f"dataset '{task.dataset.name}' has no image sets")
    parts = ("train", "test")
    try:
        sets = [ds.images(p) for p in parts]
    except Exception as exc:  # noqa: BLE001 - a dataset without those parts: say why
        return Check("image_overlap", "n/a", f"no train/test image sets: {exc}")
    return image_overlap(list(sets[0].paths), list(sets[1].paths), max_distance)


# ------------------------------------------------------------------------------------ running
def derived_task(task_name: str, suffix: str, overrides: dict[str, Any], folder: Path) -> str:
    """A task file ``<task>-<suffix>`` that extends ``task_name`` with ``overrides`` (returns its path);
    an existing task of that name (e.g. ``...-shuffled``) is used as it is."""
    import yaml

    from bench.config import load_task
    from bench.errors import ConfigError

    parent = load_task(task_name)
    name = f"{parent.name}-{suffix}"
    try:
        load_task(name)
        return name
    except ConfigError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    body = {"extends": str(parent.path) if parent.path else task_name, "name": name,
            "variant": f"check-{suffix}", **overrides}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return str(path)


def run_checks(submission: str, task: str, settings: Any, *, alpha: float = 0.01, max_distance: int = 4,
               run: bool = True, progress: bool = False) -> Checklist:
    """Run the null and pre-stimulus evaluations (unless ``run`` is False), scan the images, read the records."""
    import yaml

    from bench.config import load_submission, load_task
    from bench.errors import BenchError
    from bench.records.mlflow_store import RecordStore
    from bench.runner import evaluate

    sub = load_submission(submission)
    task_ref = task
    spec = load_task(task_ref).spec
    task = spec.name
    folder = Path(settings.cache_dir) / "checks"
    retrieval = spec.kind in ("retrieval", "cross-subject")
    derived: dict[str, str] = {}
    prestim_note = None
    if retrieval:
        derived["shuffled_null"] = derived_task(str(task_ref), "shuffled",
                                                {"protocol": {"shuffle_training_pairs": True}}, folder)
        derived["prestimulus"] = derived_task(str(task_ref), "prestim",
                                              {"dataset": {"time_window": list(PRESTIMULUS_WINDOW)}}, folder)
    names: dict[str, str] = {}
    for check, ref in derived.items():
        try:
            names[check] = load_task(ref).name
        except BenchError as exc:
            if check == "prestimulus":
                prestim_note = f"cannot select -200..0 ms: {exc.what}"
                continue
            raise
    if run:
        for check, ref in derived.items():
            if check not in names:
                continue
            sub_file = folder / f"{sub.name}--{names[check]}.yaml"
            sub_file.parent.mkdir(parents=True, exist_ok=True)
            sub_file.write_text(yaml.safe_dump({"extends": str(sub.path) if sub.path else submission,
                                                "name": sub.name, "tasks": [ref]}, sort_keys=False))
            try:
                report = evaluate([str(sub_file)], tasks=[ref], settings=settings, progress=progress)
            except BenchError as exc:
                if check != "prestimulus":
                    raise
                prestim_note = f"could not run on -200..0 ms: {exc.what}"
                continue
            if check == "prestimulus" and report.failed and not any(r.finished for r in report.records):
                prestim_note = f"could not run on -200..0 ms: {(report.failed[0].error or '').splitlines()[-1][:200]}"
    store = RecordStore(settings.tracking_uri)
    records = store.records(task=task)
    null = [r for r in store.records(task=names["shuffled_null"]) if r.submission == sub.name and r.finished] \
        if "shuffled_null" in names else []
    pre = [r for r in store.records(task=names["prestimulus"]) if r.submission == sub.name and r.finished] \
        if "prestimulus" in names else []
    overlap = task_image_overlap(spec, settings, max_distance)
    return checklist(records, task, sub.name, null_records=null, prestim_records=pre, prestim_note=prestim_note,
                     overlap=overlap, alpha=alpha)


def checklist_method() -> dict[str, Any]:
    """The checks and their rules as data (the leaderboard's method page)."""
    return {"checks": [{"check": k, "rule": v} for k, v in CHECKS.items()],
            "prestimulus_window_s": list(PRESTIMULUS_WINDOW),
            "reference": "Li et al. 2021 TPAMI (block design); Zauner 2010 (perceptual hashing)"}


__all__ = ["CHECKLIST_SCHEMA", "CHECKS", "Check", "Checklist", "PRESTIMULUS_WINDOW", "badges", "chance_test",
           "checklist",
           "checklist_method", "derived_task", "image_overlap", "perceptual_hashes", "run_checks",
           "task_image_overlap"]
