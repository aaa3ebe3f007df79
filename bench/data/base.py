"""The common in-memory form of every dataset, and the dataset plug-in interface.

Every loader returns :class:`BrainData` (float32 signals, one row per item, with the image id and
concept of each row) and :class:`ImageSet` (the stimulus files in row order). Everything downstream
(image embeddings, training, evaluation) works on these two and never on a dataset's own layout.

The interface is declared here, once: :class:`BrainDataset` (load, files, images, checksum, and the
inspection methods ``read_file`` / ``validate`` / ``detect_variant`` that ``bench data info`` uses)
and :class:`LabelledDataset` (the class-label extras classification and saliency tasks need).
Channel/time selection is :mod:`bench.data.selection`; safe unpickling :mod:`bench.data.safe_pickle`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Sequence
from typing import Protocol as TypingProtocol

import numpy as np

from bench.errors import ConfigError

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
    #: the parts ``files``/``load``/``images`` accept (:meth:`check_part`)
    parts: ClassVar[tuple[str, ...]] = ("train", "test")

    def __init__(self, root: Path, variant: str | None = None, cache_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.variant = variant or self.variants[0]
        self.cache_dir = cache_dir

    @classmethod
    def check_variant(cls, variant: str | None, title: str) -> str:
        """``variant`` lower-cased (None: the first of :attr:`variants`), or a ConfigError naming the known ones."""
        name = (variant or cls.variants[0]).lower()
        if name not in cls.variants:
            raise ConfigError(f"unknown {title} variant '{variant}'", field="dataset.variant",
                              fix=f"use one of {list(cls.variants)} (or leave dataset.variant out: '{cls.variants[0]}')")
        return name

    def check_part(self, part: str) -> None:
        """A ConfigError naming the accepted parts unless ``part`` is one of :attr:`parts`."""
        if part not in self.parts:
            names = [f"'{p}'" for p in self.parts]
            raise ConfigError(f"unknown part '{part}'", field="part",
                              fix=f"use {', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else f"use {names[0]}")

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

    def kept_load(self, subject: int, part: Part, arguments: tuple, read: Callable[[], BrainData]) -> BrainData:
        """``read()``, or the result of the previous identical load in this process: the same subject
        and part, the same :meth:`files` as they are on disk now, the same ``arguments`` (everything
        else that shapes the result: repetitions, channels, times). See :mod:`bench.data.last_read`:
        one result per dataset part is kept, its arrays read-only; the caller gets its own ``info``
        and ``ch_names`` containers."""
        from bench.data import last_read

        key = (int(subject), self.variant, *arguments,
               *(last_read.file_key(p) for p in self.files(subject, part)))
        data = last_read.remembered(f"{self.name}:{part}", key, read)
        return replace(data, ch_names=None if data.ch_names is None else list(data.ch_names), info=dict(data.info))

    def checksum(self, subject: int, part: Part) -> str:
        """Checksum of the files ``load(subject, part)`` reads, without loading them."""
        from bench.data.checksum import files_sha256

        return files_sha256(self.files(subject, part), self.cache_dir, root=self.root)

    # ---------------------------------------------------------------- inspection (``bench data info``)
    def read_file(self, subject: int, part: Part) -> "StoredFile":
        """A summary of the stored file behind ``load(subject, part)`` (path, shape, dtype, channels, times),
        without reading the signals; ``bench data info`` reports it (see :mod:`bench.data.describe`)."""
        from bench.errors import DataError

        raise DataError(f"dataset '{self.name}' does not summarise its stored files",
                        fix=f"implement read_file() in bench/data/{self.name.replace('-', '_')}.py")

    def validate(self, scan: bool = True) -> list[str]:
        """Every problem of the folder's layout (one message each, empty when sound); ``scan`` also checks
        the stored values for NaN/Inf. Never raises for a problem of the data: it reports it."""
        return []

    @classmethod
    def detect_variant(cls, root: Path) -> str | None:
        """The variant a folder holds, from its layout (None: cannot tell; the default is used)."""
        return None


class StoredFile(TypingProtocol):
    """What :meth:`BrainDataset.read_file` returns: a summary of one stored file (no signals read)."""

    path: Path
    shape: tuple[int, ...]
    ch_names: list[str]
    times: np.ndarray
    stored_times: int
    data: Any       # exposes ``dtype`` (an array, a lazy array or a summary)


class LabelledDataset(BrainDataset):
    """A dataset whose items are images of a fixed set of classes, split by list files (ImageNet-EEG).

    What classification and saliency tasks need beyond :class:`BrainDataset`; a dataset offering it
    subclasses this (instead of the task probing for methods).
    """

    @property
    @abstractmethod
    def n_classes(self) -> int:
        """Number of classes (labels are 0 .. n_classes - 1)."""

    @abstractmethod
    def load_subjects(self, subjects: Sequence[int], part: str, *, channels: Sequence[str] | None = None,
                      time_window: tuple[float, float] | None = None) -> BrainData:
        """Rows of ``part`` ("train", "val" or "test") of several subjects pooled."""

    @abstractmethod
    def labels_of_images(self, image_ids: Sequence[str]) -> np.ndarray:
        """The class (int) of each image id."""

    def fixations(self, part: str = "test") -> dict[str, Any]:
        """Human fixations per image id of ``part`` (saliency tasks); DataError when the dataset has none."""
        from bench.errors import DataError

        raise DataError(f"dataset '{self.name}' has no fixation data", field="kind",
                        fix="saliency tasks need a dataset with fixations (ImageNet-EEG's saliency release)")
