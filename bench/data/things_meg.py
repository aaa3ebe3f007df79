"""THINGS-MEG (Hebart et al. 2023): the preprocessed MEG of 4 participants viewing THINGS images.

Layout read (the THINGS-data preprocessing, OpenNeuro ds004212 ``derivatives/preprocessed/``, plus
the stimulus folders its metadata names)::

    <root>/preprocessed_P{n}-epo.fif            MNE epochs of participant n (1-4), one epoch per trial
    <root>/preprocessed_P{n}-epo-{k}.fif        split parts MNE writes for files > 2 GB (read with it)
    <root>/images_meg/<concept>/<file>.jpg      training (``exp``) images, one folder per THINGS concept
    <root>/images_test_meg/<file>.jpg           the 200 test images

**Epochs.** 271 MEG channels (CTF axial gradiometers, MNE type ``mag``), 200 Hz, -0.1 to 1.3 s
(281 samples), saved by MNE (``Epochs.save``). ``events[:, 2]`` is the trial's image number and
**999999 for catch trials**. ``epochs.metadata`` is the participant's ``sample_attributes`` table,
one row per epoch; the loader reads three of its columns:

- ``trial_type``: ``"exp"`` (a training image, each shown once), ``"test"`` (the 200 test images,
  each shown 12 times), ``"catch"`` (oddball trials, dropped);
- ``image_path``: the stimulus file relative to ``<root>`` (``images_meg/<concept>/<file>.jpg`` or
  ``images_test_meg/<file>.jpg``), exactly as stored; the image id is this path without its suffix;
- ``things_category_nr``: the 1-based THINGS concept number (1..1854); concept label = value - 1.

Other columns (``things_image_nr``, ``test_image_nr``, ``session_nr``, ``run_nr`` ...) are kept by
MNE and ignored here.

**Items** (docs/PROTOCOLS.md section 1):

- Catch trials are dropped: event value 999999 *or* ``trial_type == "catch"``.
- ``test``: the ``trial_type == "test"`` trials, averaged per image over all their repetitions
  (200 images x 12 in the published data; the counts found are in ``BrainData.info``).
- ``train``: the ``exp`` trials of every concept that has *no* test image (1654 concepts x 12
  images in the published data): any trial of a test concept is removed, so no test concept is
  ever trained on. ``repetitions="average"`` gives one row per image (each exp image is shown once,
  so this equals the single trials), ``"single"`` one row per trial.
- Signals are cropped to 0-1.0 s inclusive (201 samples at 200 Hz) unless ``time_window`` says
  otherwise, and returned as float32 (items, channels, times). All MEG data channels are kept in
  their stored order (``channels=`` selects by name).
- Rows are in sorted image-id order (single trials: then in file order), the order of ``images``.

**Images.** ``images(part)`` is the sorted union of the part's image ids over every participant on
disk (the four participants saw the same images), with files at ``<root>/<image_path>``.

**Memory.** The files are opened with ``preload=False``; only the selected epochs are read, in
chunks of about 64 MB (float64), so a 27,000-trial participant (8 GB on disk) never sits in memory
as float64: peak memory is the float32 result plus one chunk.

Errors (missing files, missing metadata or columns, unknown image files, NaN/Inf) are
:class:`~bench.errors.DataError` naming the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.data import DATASETS
from bench.data.base import BrainData, BrainDataset, ImageSet, Part, Repetitions
from bench.data.selection import pick_channels, pick_times
from bench.errors import ConfigError, DataError

FILE_TEMPLATE = "preprocessed_P{subject}-epo.fif"
FILE_RE = re.compile(r"preprocessed_P(\d+)-epo\.fif")
CATCH_EVENT = 999999
TRIAL_TYPES = {"train": "exp", "test": "test", "catch": "catch"}
COLUMNS = ("trial_type", "image_path", "things_category_nr")
DEFAULT_WINDOW = (0.0, 1.0)
PUBLISHED = {"channels": 271, "sfreq": 200.0, "test_images": 200, "test_repetitions": 12, "train_concepts": 1654}
DOWNLOAD_HINT = ("get THINGS-MEG from OpenNeuro ds004212 (derivatives/preprocessed/preprocessed_P{n}-epo.fif) and "
                 "the THINGS images used in the experiment (images_meg/, images_test_meg/ from the THINGS-data "
                 "OSF repository) into the same root; or simulate one: bench data simulate things-meg --out DIR")
_CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class TrialTable:
    """Which epoch of a participant's file is what (from its events and metadata; no data read).

    part:      per epoch, "train", "test", "catch" or "removed" (an exp trial of a test concept).
    image_ids: per epoch, the image id (``image_path`` without suffix; "" for catch trials).
    paths:     image id -> ``image_path`` as stored (with its suffix).
    concepts:  per epoch, the 0-based concept (-1 for catch trials).
    """

    path: Path
    part: np.ndarray
    image_ids: np.ndarray
    concepts: np.ndarray
    paths: dict[str, str] = field(repr=False)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FileSummary:
    """What ``bench data info`` shows for one participant's part (``read_file``)."""

    path: Path
    shape: tuple[int, ...]
    data: np.ndarray            # empty array of the stored dtype (the data are not read)
    ch_names: list[str]
    times: np.ndarray
    stored_times: int


def _read_epochs(path: Path):
    import mne

    try:
        return mne.read_epochs(path, preload=False, proj=True, verbose="error")
    except (ValueError, OSError, RuntimeError, KeyError, IndexError) as exc:
        raise DataError(f"MNE could not read the epochs file: {type(exc).__name__}: {exc}", where=path,
                        fix=f"the file is corrupt or not an MNE epochs file; re-download it ({DOWNLOAD_HINT})"
                        ) from None


def _meg_picks(info) -> list[int]:
    import mne

    picks = mne.pick_types(info, meg=True, ref_meg=False, exclude=[])
    return [int(i) for i in picks]


@DATASETS.register("things-meg", aliases=("things_meg", "thingsmeg"))
class ThingsMEG(BrainDataset):
    """THINGS-MEG in the THINGS-data ``preprocessed_P{n}-epo.fif`` layout (see the module docstring).

    Example::

        ds = ThingsMEG("/data/things-meg")
        train = ds.load(1, "train")          # (19848, 271, 201) float32 on the published data
        test = ds.load(1, "test")            # (200, 271, 201): 12-repetition averages
        images = ds.images("test")           # row order of ``test``
    """

    name = "things-meg"
    modality = "meg"
    variants = ("default",)

    def __init__(self, root: Path, variant: str | None = None, cache_dir: Path | None = None) -> None:
        variant = self.check_variant(variant, "THINGS-MEG")
        super().__init__(root, variant, cache_dir)
        self._tables: dict[int, TrialTable] = {}
        self._images: dict[str, ImageSet] = {}

    # -- locations ------------------------------------------------------------------------------

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise DataError("THINGS-MEG root folder not found", where=self.root, fix=DOWNLOAD_HINT)

    def subjects(self) -> list[int]:
        self._check_root()
        found = sorted(int(m.group(1)) for p in self.root.iterdir() if (m := FILE_RE.fullmatch(p.name)))
        if not found:
            raise DataError("no preprocessed_P{n}-epo.fif files", where=self.root, fix=DOWNLOAD_HINT)
        return found

    def _main_file(self, subject: int) -> Path:
        self._check_root()
        path = self.root / FILE_TEMPLATE.format(subject=int(subject))
        if not path.is_file():
            have = ", ".join(p.name for p in sorted(self.root.glob("preprocessed_P*-epo.fif"))) or "none"
            raise DataError(f"epochs file of participant {subject} not found (present: {have})", where=path,
                            fix=DOWNLOAD_HINT)
        return path

    def files(self, subject: int, part: Part) -> list[Path]:
        self.check_part(part)
        main = self._main_file(subject)
        parts = []
        for p in self.root.glob(f"{main.stem}-*.fif"):     # MNE's split files: <stem>-1.fif, <stem>-2.fif, ...
            suffix = p.stem.rsplit("-", 1)[-1]
            if suffix.isdigit():
                parts.append((int(suffix), p))
        return [main] + [p for _, p in sorted(parts)]

    # -- trial table ----------------------------------------------------------------------------

    def trial_table(self, subject: int) -> TrialTable:
        """Classify every epoch of ``subject``'s file (events + metadata only; cached)."""
        subject = int(subject)
        if subject in self._tables:
            return self._tables[subject]
        path = self._main_file(subject)
        epochs = _read_epochs(path)
        table = _classify(path, epochs.events[:, 2], epochs.metadata)
        self._tables[subject] = table
        return table

    # -- images ---------------------------------------------------------------------------------

    def images(self, part: Part) -> ImageSet:
        """The part's images in row order: the sorted union over the participants on disk."""
        self.check_part(part)
        if part in self._images:
            return self._images[part]
        paths: dict[str, str] = {}
        for s in self.subjects():
            table = self.trial_table(s)
            for image_id in np.unique(table.image_ids[table.part == part]):
                paths[str(image_id)] = table.paths[str(image_id)]
        ids = sorted(paths)
        files = [self.root / paths[i] for i in ids]
        missing = [f for f in files if not f.is_file()]
        if missing:
            shown = ", ".join(str(f.relative_to(self.root)) for f in missing[:5])
            raise DataError(f"{len(missing)} of the {len(files)} {part} images named in the epochs' metadata "
                            f"(column 'image_path') are missing, e.g. {shown}", where=self.root,
                            fix="put the stimulus folders images_meg/ and images_test_meg/ under the root, as named "
                                f"in image_path; {DOWNLOAD_HINT}")
        image_set = ImageSet(f"things-meg/{part}", self.root, tuple(ids), tuple(files))
        self._images[part] = image_set
        return image_set

    # -- reading --------------------------------------------------------------------------------

    def read_file(self, subject: int, part: Part) -> FileSummary:
        """Shape, channels and times of ``subject``'s part as it will be loaded (no data read)."""
        self.check_part(part)
        path = self._main_file(subject)
        epochs = _read_epochs(path)
        table = self.trial_table(subject)
        picks = _meg_picks(epochs.info)
        n = int((table.part == part).sum())
        return FileSummary(path, (n, len(picks), len(epochs.times)), np.empty(0, np.float32),
                           [epochs.ch_names[i] for i in picks], np.asarray(epochs.times), len(epochs.times))

    def load(self, subject: int, part: Part, *, repetitions: Repetitions = "average",
             channels: Sequence[str] | None = None, time_window: tuple[float, float] | None = None) -> BrainData:
        """Read one participant's train or test items as float32 (items, channels, times).

        repetitions: ``"average"`` (one row per image; test: the mean of its repetitions) or
            ``"single"`` (one row per trial, rows grouped by image).
        channels: MEG channel names to keep, in the given order (default: all MEG channels, stored order).
        time_window: ``(tmin, tmax)`` seconds, inclusive (default 0-1.0 s).
        """
        self.check_part(part)
        if repetitions not in ("average", "single"):
            raise ConfigError(f"unknown repetitions mode '{repetitions}'", field="repetitions",
                              fix="use 'average' or 'single'")
        arguments = (repetitions, None if channels is None else tuple(channels),
                     None if time_window is None else tuple(time_window))
        return self.kept_load(subject, part, arguments,
                              lambda: self._read(subject, part, repetitions, channels, time_window))

    def _read(self, subject: int, part: Part, repetitions: Repetitions, channels: Sequence[str] | None,
              time_window: tuple[float, float] | None) -> BrainData:
        """:meth:`load` without the kept result: read the epochs file's rows of ``part``."""
        table = self.trial_table(subject)
        epochs = _read_epochs(table.path)
        ch_idx = _pick_channels(epochs, channels, table.path)
        t_sel = pick_times(np.asarray(epochs.times), time_window or DEFAULT_WINDOW, where=table.path)
        rows = np.flatnonzero(table.part == part)
        if len(rows) == 0:
            raise DataError(f"no {part} trials (trial_type '{TRIAL_TYPES[part]}')", where=table.path,
                            field="trial_type", fix=DOWNLOAD_HINT)
        ids_of_rows = table.image_ids[rows]
        order = np.lexsort((rows, ids_of_rows))          # by image id, then file order
        rows, ids_of_rows = rows[order], ids_of_rows[order]
        if repetitions == "average":
            item_ids, item_of_row, reps = np.unique(ids_of_rows, return_inverse=True, return_counts=True)
        else:
            item_ids, item_of_row, reps = ids_of_rows, np.arange(len(rows)), np.ones(len(rows), np.int64)
        n_t = len(range(len(epochs.times))[t_sel])
        signals = _read_rows(epochs, rows, item_of_row.reshape(-1), len(item_ids), ch_idx, t_sel, n_t, table.path,
                             average=repetitions == "average")
        concept_of = dict(zip(table.image_ids[rows], table.concepts[rows]))
        concepts = np.array([concept_of[i] for i in item_ids], dtype=np.int64)
        rep_counts = reps if repetitions == "average" else np.unique(ids_of_rows, return_counts=True)[1]
        info = {"dataset": self.name, "variant": self.variant, "part": part, "repetitions": repetitions,
                "n_trials": int(len(rows)), "n_repetitions": int(rep_counts.max()),
                "min_repetitions": int(rep_counts.min()), "file": str(table.path), **table.counts}
        times = np.asarray(epochs.times)[t_sel]
        return BrainData(signals, np.asarray(item_ids).astype(str), concepts,
                         np.full(len(item_ids), int(subject), dtype=np.int64), self.checksum(subject, part),
                         [epochs.ch_names[i] for i in ch_idx], times, float(epochs.info["sfreq"]), info)

    # -- validation -----------------------------------------------------------------------------

    def validate(self, scan: bool = True) -> list[str]:
        """Every problem found, as messages (empty when the dataset is sound).

        Checks each participant's metadata and image files; with ``scan``, loads every part once
        (NaN/Inf, shapes).
        """
        problems: list[str] = []
        try:
            subjects = self.subjects()
        except DataError as exc:
            return [str(exc)]
        for s in subjects:
            try:
                self.trial_table(s)
            except DataError as exc:
                problems.append(str(exc))
        for part in ("train", "test"):
            try:
                self.images(part)
            except DataError as exc:
                problems.append(str(exc))
        if scan and not problems:
            for s in subjects:
                for part in ("train", "test"):
                    try:
                        self.load(s, part)
                    except DataError as exc:
                        problems.append(str(exc))
        return problems


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def _classify(path: Path, events: np.ndarray, metadata) -> TrialTable:
    """The :class:`TrialTable` of one file from its event values and metadata DataFrame."""
    fix = ("the epochs' metadata must be the THINGS-MEG sample_attributes table with columns "
           f"{', '.join(COLUMNS)} (one row per epoch); re-download the file ({DOWNLOAD_HINT})")
    if metadata is None:
        raise DataError("the epochs file has no metadata (the trial -> image mapping)", where=path,
                        field="metadata", fix=fix)
    missing = [c for c in COLUMNS if c not in metadata.columns]
    if missing:
        raise DataError(f"metadata has no column '{missing[0]}' (columns: {list(metadata.columns)[:20]})",
                        where=path, field=missing[0], fix=fix)
    n = len(events)
    if len(metadata) != n:
        raise DataError(f"metadata has {len(metadata)} rows for {n} epochs", where=path, field="metadata", fix=fix)
    trial_type = metadata["trial_type"].astype(str).str.strip().str.lower().to_numpy()
    events = np.asarray(events)
    catch = (events == CATCH_EVENT) | (trial_type == TRIAL_TYPES["catch"])
    is_exp = (trial_type == TRIAL_TYPES["train"]) & ~catch
    is_test = (trial_type == TRIAL_TYPES["test"]) & ~catch
    unknown = ~(catch | is_exp | is_test)
    if unknown.any():
        bad = sorted(set(trial_type[unknown]))[:5]
        raise DataError(f"unknown trial_type value(s) {bad} in {int(unknown.sum())} epoch(s)", where=path,
                        field="trial_type", fix=f"trial_type must be 'exp', 'test' or 'catch'; {fix}")
    for name, mask in (("exp", is_exp), ("test", is_test)):
        if not mask.any():
            raise DataError(f"no '{name}' trials (trial_type column)", where=path, field="trial_type", fix=fix)
    used = is_exp | is_test
    raw_paths = metadata["image_path"].to_numpy()
    bad_path = [i for i in np.flatnonzero(used) if not isinstance(raw_paths[i], str) or not raw_paths[i].strip()]
    if bad_path:
        raise DataError(f"image_path is empty or not text in {len(bad_path)} exp/test epoch(s), first epoch "
                        f"indices {bad_path[:10]}", where=path, field="image_path", fix=fix)
    concept_raw = np.asarray(metadata["things_category_nr"].to_numpy(), dtype=object)
    concept_num = np.full(n, np.nan)
    for i in np.flatnonzero(used):
        try:
            concept_num[i] = float(concept_raw[i])
        except (TypeError, ValueError):
            pass
    bad_concept = np.flatnonzero(used & ~(np.isfinite(concept_num) & (concept_num >= 1)
                                          & (np.round(concept_num) == concept_num)))
    if len(bad_concept):
        raise DataError(f"things_category_nr is missing or not a positive integer in {len(bad_concept)} exp/test "
                        f"epoch(s), first epoch indices {bad_concept[:10].tolist()}", where=path,
                        field="things_category_nr", fix=fix)
    image_ids = np.full(n, "", dtype=object)
    paths: dict[str, str] = {}
    for i in np.flatnonzero(used):
        p = raw_paths[i].strip().replace("\\", "/")
        image_id = p.rsplit(".", 1)[0] if "." in Path(p).name else p
        if image_id.startswith("/") or ".." in Path(image_id).parts:
            raise DataError(f"image_path '{p}' (epoch {i}) is not a path inside the dataset root", where=path,
                            field="image_path", fix=fix)
        image_ids[i] = image_id
        paths[image_id] = p
    concepts = np.full(n, -1, dtype=np.int64)
    concepts[used] = concept_num[used].astype(np.int64) - 1
    # one concept per image
    seen: dict[str, int] = {}
    for i in np.flatnonzero(used):
        c = seen.setdefault(image_ids[i], int(concepts[i]))
        if c != concepts[i]:
            raise DataError(f"image '{image_ids[i]}' has two concepts ({c + 1} and {concepts[i] + 1})", where=path,
                            field="things_category_nr", fix=fix)
    shared = set(image_ids[is_test]) & set(image_ids[is_exp])
    if shared:
        raise DataError(f"{len(shared)} image(s) are both 'exp' and 'test' trials, e.g. {sorted(shared)[0]}",
                        where=path, field="trial_type", fix=fix)
    test_concepts = np.unique(concepts[is_test])
    removed = is_exp & np.isin(concepts, test_concepts)
    part = np.full(n, "catch", dtype=object)
    part[is_test] = "test"
    part[is_exp & ~removed] = "train"
    part[removed] = "removed"
    if not (part == "train").any():
        raise DataError("every exp trial belongs to a test concept: no training trials remain", where=path,
                        field="things_category_nr", fix=fix)
    counts = {"n_catch_trials": int(catch.sum()), "n_test_concept_trials_removed": int(removed.sum()),
              "n_test_concepts": int(len(test_concepts))}
    return TrialTable(path, part.astype(str), image_ids.astype(str), concepts, paths, counts)


def _pick_channels(epochs, channels: Sequence[str] | None, path: Path) -> list[int]:
    meg = _meg_picks(epochs.info)
    if not meg:
        raise DataError("the epochs file holds no MEG channel", where=path, field="info['chs']",
                        fix=f"use the preprocessed THINGS-MEG epochs; {DOWNLOAD_HINT}")
    picked = pick_channels([epochs.ch_names[i] for i in meg], channels, where=path, label="MEG channel")
    return [meg[i] for i in picked]


def _read_rows(epochs, rows: np.ndarray, item_of_row: np.ndarray, n_items: int, ch_idx: list[int], t_sel: slice,
               n_t: int, path: Path, *, average: bool) -> np.ndarray:
    """float32 (n_items, channels, n_t): epochs ``rows`` (read in file order, in chunks) summed into their items."""
    n_ch = len(ch_idx)
    out_bytes = n_items * n_ch * n_t
    acc = np.zeros((n_items, n_ch, n_t), dtype=np.float64 if average and out_bytes * 8 <= (1 << 30) else np.float32)
    counts = np.zeros(n_items, dtype=np.int64)
    row_bytes = len(epochs.ch_names) * len(epochs.times) * 8
    step = max(1, _CHUNK_BYTES // row_bytes)
    file_order = np.argsort(rows, kind="stable")
    bad: list[int] = []
    n_bad = 0
    for k in range(0, len(rows), step):
        sel = file_order[k:k + step]
        block = epochs.get_data(picks=ch_idx, item=rows[sel], verbose="error")[..., t_sel]
        finite = np.isfinite(block).reshape(len(sel), -1).all(axis=1)
        if not finite.all():
            n_bad += int((~finite).sum())
            bad.extend(int(r) for r in rows[sel][~finite][: max(0, 10 - len(bad))])
            continue
        items = item_of_row[sel]
        if average and len(np.unique(items)) == len(items):
            acc[items] += block                       # one trial per item in this chunk (exp images)
        elif average:
            np.add.at(acc, items, block)              # repetitions of one image in the same chunk
        else:
            acc[items] = block
        np.add.at(counts, items, 1)
    if n_bad:
        raise DataError(f"NaN or Inf values in {n_bad} epoch(s); first epoch indices: {bad}", where=path,
                        field="data", fix="re-download or re-create the file; if the rest is usable, drop these "
                                          "epochs (or the channels/times holding them, via channels=/time_window=)")
    if average:
        acc /= counts[:, None, None]
    return acc.astype(np.float32, copy=False)


__all__ = ["ThingsMEG", "TrialTable", "FILE_TEMPLATE", "CATCH_EVENT", "COLUMNS", "DEFAULT_WINDOW"]
