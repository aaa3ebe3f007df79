"""The record of one unit: everything statistics and pages need, and the identity of what produced it.

A unit is ``(task, submission, split, seed)``; running it yields one :class:`Record`. Records are
written to MLflow (one run each) and can be exported to / imported from a JSON snapshot, so
statistics and pages are pure functions of records and never need the training code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

RECORD_SCHEMA_VERSION = 1

Status = Literal["finished", "failed"]


@dataclass
class Record:
    """One unit's outcome.

    key:            content key of the unit (see ``bench.records.keys.unit_key``); the MLflow tag
                    ``bench.key``. Same inputs -> same key; any change of config/data/weights -> new key.
    task / submission: names; ``task_spec`` / ``submission_spec``: the fully resolved specs.
    split:          "sub-01" (within-subject) or "loso-01" (held-out subject of a LOSO fold).
    subject:        the evaluated (test) subject number.
    seed:           the unit's seed (weight init, validation split, data order, distractors).
    status:         "finished" or "failed" (then ``error`` holds the message).
    metrics:        final test metrics at the checkpoint chosen on validation (e.g. ``top1``),
                    plus ``last_epoch/<metric>`` for the last epoch's checkpoint.
    per_item:       per-test-item outcomes for paired statistics, equal-length lists keyed by name
                    (always ``item_id``; e.g. ``rank`` = 0-based rank of the true image).
    curves:         per-epoch series (``train_loss``, ``val_loss``, ``val_top1``, ...).
    chosen_epoch:   1-based epoch of the selected checkpoint (validation only).
    provenance:     data_checksum, weights_checksum, image_model_id, task_hash, submission_hash,
                    harness_version, code_version, config_hash.
    timings:        seconds per phase (load, embed, train, evaluate, total).
    info:           anything else worth keeping (n_test, chance, device, n_parameters, ...).
    """

    key: str
    task: str
    submission: str
    split: str
    subject: int
    seed: int
    status: Status
    task_spec: dict[str, Any]
    submission_spec: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    per_item: dict[str, list] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    chosen_epoch: int | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    run_id: str | None = None
    schema_version: int = RECORD_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Record":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def finished(self) -> bool:
        return self.status == "finished"
