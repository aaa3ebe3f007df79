"""The common in-memory form of every dataset, and the dataset plug-in interface.

Every loader returns :class:`BrainData` (float32 signals, one row per item, with the image id and
concept of each row) and :class:`ImageSet` (the stimulus files in row order). Everything downstream
(image embeddings, training, evaluation) works on these two and never on a dataset's own layout.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Sequence

import numpy as np

Part = Literal["train", "test"]
Repetitions = Literal["average", "single"]


@dataclass
class BrainData:
    """Brain responses of one subject (or several, pooled) to images, one row per item.

    signals:   float32, (items, channels, times) for EEG/MEG or (items, voxels) for fMRI.
    image_ids: str per item: the stimulus id (image path relative to the image folder, no suffix),
               the join key with :class:`ImageSet` and with image embeddings.
    concepts:  int per item, the concept label (0-based).
    subjects:  int per item, the subject number (1-based, as in the dataset's files).
    checksum:  SHA-256 over the files read to build this object (names + bytes).
    """

    signals: np.ndarray
    image_ids: np.ndarray
    concepts: np.ndarray
    subjects: np.ndarray
    checksum: str
    ch_names: list[str] | None = None
    times: np.ndarray | None = None
    sfreq: float | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.signals)
        for name in ("image_ids", "concepts", "subjects"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"BrainData.{name} has {len(getattr(self, name))} rows, signals has {n}")

    def __len__(self) -> int:
        return len(self.signals)

    @property
    def shape(self) -> dict[str, int | float | None]:
        """Signal shape by name, what encoders are built from (braindecode's n_chans/n_times/sfreq)."""
        if self.signals.ndim == 3:
            return {"n_chans": self.signals.shape[1], "n_times": self.signals.shape[2], "sfreq": self.sfreq}
        return {"n_chans": self.signals.shape[1], "n_times": None, "sfreq": None}

    def subset(self, index: np.ndarray) -> "BrainData":
        """Rows ``index`` (a copy of the signal rows; metadata shared)."""
        return BrainData(self.signals[index], self.image_ids[index], self.concepts[index],
                         self.subjects[index], self.checksum, self.ch_names, self.times, self.sfreq,
                         dict(self.info))

    @staticmethod
    def concat(parts: Sequence["BrainData"]) -> "BrainData":
        """Stack several subjects' data (same channels/times) into one pooled object."""
        from bench.data.checksum import combine

        first = parts[0]
        return BrainData(np.concatenate([p.signals for p in parts]),
                         np.concatenate([p.image_ids for p in parts]),
                         np.concatenate([p.concepts for p in parts]),
                         np.concatenate([p.subjects for p in parts]),
                         combine(p.checksum for p in parts), first.ch_names, first.times, first.sfreq,
                         dict(first.info))


@dataclass(frozen=True)
class ImageSet:
    """Stimulus image files in row order, with their ids (relative path without suffix)."""

    name: str
    root: Path
    ids: tuple[str, ...]
    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.ids)

    def content_hash(self, cache_dir: Path | None = None) -> str:
        """Hash of the ids and file bytes, in order: the image part of an embedding-cache key."""
        from bench.data.checksum import file_sha256

        h = hashlib.sha256()
        for image_id, path in zip(self.ids, self.paths):
            h.update(image_id.encode())
            h.update(file_sha256(path, cache_dir).encode())
        return h.hexdigest()

    def index_of(self, image_ids: Sequence[str]) -> np.ndarray:
        """Row positions of ``image_ids`` in this set (KeyError names the first unknown id)."""
        pos = {k: i for i, k in enumerate(self.ids)}
        return np.array([pos[i] for i in image_ids], dtype=np.int64)


class BrainDataset(ABC):
    """A dataset on disk in its published layout. One subclass per dataset, in ``bench/data/<name>.py``.

    Constructors only store their arguments (scikit-learn style); nothing is read until ``load``.
    """

    name: ClassVar[str]
    modality: ClassVar[Literal["eeg", "meg", "fmri"]]
    variants: ClassVar[tuple[str, ...]] = ("default",)

    def __init__(self, root: Path, variant: str | None = None, cache_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.variant = variant or self.variants[0]
        self.cache_dir = cache_dir

    @abstractmethod
    def subjects(self) -> list[int]:
        """Subject numbers present on disk."""

    @abstractmethod
    def files(self, subject: int, part: Part) -> list[Path]:
        """The files ``load(subject, part)`` reads (for checksums and unit keys)."""

    @abstractmethod
    def load(self, subject: int, part: Part, *, repetitions: Repetitions = "average",
             channels: Sequence[str] | None = None, time_window: tuple[float, float] | None = None) -> BrainData:
        """Read one subject's train or test part as float32 :class:`BrainData`."""

    @abstractmethod
    def images(self, part: Part) -> ImageSet:
        """The stimulus images of ``part`` in row order."""

    def checksum(self, subject: int, part: Part) -> str:
        """Checksum of the files ``load(subject, part)`` reads, without loading them."""
        from bench.data.checksum import files_sha256

        return files_sha256(self.files(subject, part), self.cache_dir, root=self.root)
