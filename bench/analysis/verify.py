"""Verified entries: a results snapshot checked against its own embedded specs and re-run in part.

``bench leaderboard verify SNAPSHOT --sample K`` (:func:`verify_records`):

1. **keys** -- every record's key is recomputed from the specs embedded in it (task and submission
   spec hashes, split, seed, the data and weights checksums and harness version of its provenance,
   :func:`bench.records.keys.unit_key`). A record whose key does not match was edited by hand (a spec,
   a checksum or the key) and is refused, named;
2. **re-runs** -- ``K`` finished records drawn with a seeded generator are re-run from their embedded
   specs on local data and weights. A unit whose local key differs (other data or weights files, other
   harness version) cannot be verified here and says so; otherwise every metric of the record is
   compared with the re-run's within ``tolerance`` (absolute; default 1e-6: exact where the run is
   deterministic on the same hardware, as the CPU runs of this harness are). A metric outside the
   tolerance fails the unit, so an edited metric is caught on the units re-run.

The result states "verified: k of n units re-run, harness version, date" or why not
(:meth:`Verification.badge`).

**Where it lives** (:func:`verify_snapshot`): the verification of ``results.json`` is written beside it as
``results.json.verification.json`` with the snapshot's SHA-256. The leaderboard reads it when it loads the
snapshot (:func:`attach_verification`: ``info["verification"]`` of each record; whatever a snapshot
claims there itself is dropped) and shows, per entry, :func:`entry_verification`. A verification of an
older version of the file (another SHA-256) is ignored, so an entry is "unverified" until it is re-verified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from bench.records.schema import Record

SCHEMA = "brainvis-bench/snapshot-verification"
METHOD = ("`bench leaderboard verify SNAPSHOT --sample K` recomputes every record's key from the specs, split, seed, "
          "checksums and harness version embedded in it (a hand-edited record is refused, named), then re-runs K "
          "finished units drawn with a declared seed from their embedded specs on local data and weights and "
          "compares every metric within an absolute tolerance (default 1e-6: exact where the run is deterministic "
          "on the same hardware). It writes <snapshot>.verification.json beside the snapshot, bound to the "
          "snapshot's SHA-256; an entry shows \"verified: k of n units re-run, harness version, date\" only when "
          "every one of its records comes from a snapshot so verified, else \"unverified\" (or why verification "
          "failed). What a snapshot claims about itself is ignored.")
SUFFIX = ".verification.json"
UNVERIFIED = "unverified"


@dataclass
class UnitCheck:
    label: str
    status: str                      # "match" | "mismatch" | "unverifiable" | "failed"
    detail: str
    max_diff: float | None = None
    key: str = ""


@dataclass
class Verification:
    n_records: int
    key_mismatches: list[str] = field(default_factory=list)
    reruns: list[UnitCheck] = field(default_factory=list)
    harness_version: str = ""
    date: str = ""
    snapshot: str = ""
    snapshot_sha256: str = ""

    @property
    def verified(self) -> bool:
        return (not self.key_mismatches and bool(self.reruns)
                and all(u.status == "match" for u in self.reruns))

    def badge(self) -> str:
        k = sum(u.status == "match" for u in self.reruns)
        if self.verified:
            return f"verified: {k} of {self.n_records} units re-run, harness {self.harness_version}, {self.date}"
        return "unverified" + (f" ({len(self.key_mismatches)} records with a key that does not match their specs)"
                               if self.key_mismatches else
                               f" ({sum(u.status != 'match' for u in self.reruns)} of {len(self.reruns)} re-runs "
                               f"did not match)" if self.reruns else " (no unit re-run)")

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"schema": SCHEMA, "schema_version": 1, "verified": self.verified, "badge": self.badge(),
                "n_records": self.n_records, "key_mismatches": self.key_mismatches,
                "reruns": [asdict(u) for u in self.reruns], "harness_version": self.harness_version,
                "date": self.date, "snapshot": self.snapshot, "snapshot_sha256": self.snapshot_sha256}

    def text(self) -> str:
        lines = [self.badge()]
        lines += [f"  key mismatch: {m}" for m in self.key_mismatches]
        lines += [f"  [{u.status}] {u.label}: {u.detail}" for u in self.reruns]
        return "\n".join(lines)


def _label(r: Record) -> str:
    return f"{r.submission} · {r.task} · {r.split} · seed {r.seed} (key {r.key[:12]})"


def _specs(r: Record):
    from bench.config.schema import SubmissionSpec, TaskSpec

    return TaskSpec.model_validate(r.task_spec), SubmissionSpec.model_validate(r.submission_spec)


def expected_key(r: Record) -> str:
    """The key the record's embedded specs and provenance give (:func:`bench.records.keys.unit_key`)."""
    from bench.config import spec_hash
    from bench.records.keys import unit_key

    task, sub = _specs(r)
    prov = r.provenance or {}
    return unit_key(task_hash=spec_hash(task), submission_hash=spec_hash(sub), split=r.split, seed=r.seed,
                    data_checksum=prov.get("data_checksum", "unavailable"),
                    weights_checksum=prov.get("weights_checksum", "unavailable"),
                    harness_version=prov.get("harness_version", ""))


def key_mismatch(r: Record) -> str | None:
    """None when the record's key matches its embedded specs, else why not (naming the record)."""
    try:
        key = expected_key(r)
    except Exception as exc:  # noqa: BLE001 - an unreadable embedded spec is a mismatch, named
        return f"{_label(r)}: embedded specs do not validate ({str(exc).splitlines()[0]})"
    if key != r.key:
        return (f"{_label(r)}: key does not match the embedded specs and provenance (expected {key[:12]}); "
                "a spec, checksum or key was edited")
    return None


def compare_metrics(stored: dict[str, float], rerun: dict[str, float], tolerance: float) -> tuple[float, list[str]]:
    """Largest absolute difference over the stored metrics and the names outside ``tolerance``."""
    worst, bad = 0.0, []
    for name, value in stored.items():
        other = rerun.get(name)
        a = float(value) if value is not None else float("nan")
        b = float(other) if other is not None else float("nan")
        if math.isnan(a) and math.isnan(b):
            continue
        diff = abs(a - b) if not (math.isnan(a) or math.isnan(b)) else float("inf")
        worst = max(worst, diff)
        if diff > tolerance:
            bad.append(f"{name}: stored {a:.6g}, re-run {b:.6g}")
    return worst, bad


def rerun_unit(r: Record, settings: Any, tolerance: float) -> UnitCheck:
    """Re-run one record's unit from its embedded specs and compare the metrics."""
    out = _rerun_unit(r, settings, tolerance)
    out.key = r.key
    return out


def _rerun_unit(r: Record, settings: Any, tolerance: float) -> UnitCheck:
    from bench.execution import execute_unit, key_unit
    from bench.tasks.base import Unit

    task, sub = _specs(r)
    planned = key_unit(Unit(task, sub, r.split, r.subject, r.seed), settings)
    if planned.error:
        return UnitCheck(_label(r), "unverifiable", f"cannot run here: {planned.error.splitlines()[0]}")
    if planned.key != r.key:
        return UnitCheck(_label(r), "unverifiable", "the local data, weights or harness differ from the record's "
                                                    f"(local key {planned.key[:12]})")
    new = execute_unit(planned, settings)
    if not new.finished:
        return UnitCheck(_label(r), "failed", f"re-run failed: {(new.error or '').splitlines()[-1][:200]}")
    worst, bad = compare_metrics(r.metrics, new.metrics, tolerance)
    if bad:
        return UnitCheck(_label(r), "mismatch", f"{len(bad)} metric(s) differ beyond {tolerance:g}: "
                                                + "; ".join(bad[:4]), worst)
    return UnitCheck(_label(r), "match", f"{len(r.metrics)} metrics within {tolerance:g} (max |diff| {worst:.3g})",
                     worst)


def verify_records(records: Iterable[Record], settings: Any, *, sample: int = 1, seed: int = 0,
                   tolerance: float = 1e-6) -> Verification:
    """Key checks on every record, then ``sample`` seeded re-runs (module docstring)."""
    from bench import HARNESS_VERSION

    records = list(records)
    out = Verification(n_records=len(records), harness_version=HARNESS_VERSION,
                       date=dt.date.today().isoformat())
    out.key_mismatches = [m for m in (key_mismatch(r) for r in records) if m]
    finished = [r for r in records if r.finished]
    if out.key_mismatches or not finished or sample <= 0:
        return out
    rng = np.random.default_rng([int(seed), 0x7E51])
    chosen = rng.choice(len(finished), size=min(int(sample), len(finished)), replace=False)
    out.reruns = [rerun_unit(finished[i], settings, tolerance) for i in sorted(chosen)]
    return out


# ---- the verification file beside a snapshot, and what the pages show ---------------------------------
def verification_path(snapshot: Path | str) -> Path:
    """``<snapshot>.verification.json`` beside the snapshot."""
    snapshot = Path(snapshot)
    return snapshot.with_name(snapshot.name + SUFFIX)


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify_snapshot(snapshot: Path | str, settings: Any, *, sample: int = 1, seed: int = 0,
                    tolerance: float = 1e-6, out: Path | str | None = None) -> tuple[Verification, Path]:
    """:func:`verify_records` on a snapshot file; writes the result (default :func:`verification_path`)."""
    from bench.records.snapshot import import_snapshot

    result = verify_records(import_snapshot(snapshot), settings, sample=sample, seed=seed, tolerance=tolerance)
    result.snapshot, result.snapshot_sha256 = Path(snapshot).name, file_sha256(snapshot)
    path = Path(out) if out is not None else verification_path(snapshot)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=1, default=str) + "\n")
    return result, path


def load_verification(snapshot: Path | str) -> dict[str, Any] | None:
    """The verification beside ``snapshot`` when it exists and was made of this very file (same SHA-256)."""
    vpath = verification_path(snapshot)
    if not vpath.is_file() or not Path(snapshot).is_file():
        return None
    try:
        data = json.loads(vpath.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA \
            or data.get("snapshot_sha256") != file_sha256(snapshot):
        return None
    return data


def attach_verification(records: list[Record], snapshot: Path | str) -> list[Record]:
    """Set ``info["verification"]`` of the snapshot's records from its verification file (dropping whatever
    the snapshot claims there itself)."""
    data = load_verification(snapshot)
    runs = {u.get("key"): u.get("status") for u in (data or {}).get("reruns", []) if isinstance(u, dict)}
    for r in records:
        r.info.pop("verification", None)
        if data is not None:
            r.info["verification"] = {"verified": bool(data.get("verified")), "badge": str(data.get("badge", "")),
                                      "snapshot": str(data.get("snapshot", "")),
                                      "harness_version": str(data.get("harness_version", "")),
                                      "date": str(data.get("date", "")), "rerun": runs.get(r.key)}
    return records


def entry_verification(records: Iterable[Record]) -> str:
    """An entry's verification line: its snapshot's badge ("verified: k of n units re-run, harness H, date",
    or "unverified (why)"); "unverified" when a finished record comes from no verified snapshot."""
    found = [r.info.get("verification") if isinstance(r.info, dict) else None for r in records if r.finished]
    if not found:
        return UNVERIFIED
    failed = sorted({v["badge"] for v in found if isinstance(v, dict) and not v.get("verified")})
    if failed:
        return "; ".join(failed)
    n = sum(isinstance(v, dict) for v in found)
    if n < len(found):
        return f"{UNVERIFIED} ({n} of {len(found)} units come from a verified snapshot)" if n else UNVERIFIED
    return "; ".join(sorted({v["badge"] for v in found}))


__all__ = ["METHOD", "SCHEMA", "SUFFIX", "UNVERIFIED", "UnitCheck", "Verification", "attach_verification",
           "compare_metrics",
           "entry_verification", "expected_key", "file_sha256", "key_mismatch", "load_verification", "rerun_unit",
           "verification_path", "verify_records", "verify_snapshot"]
