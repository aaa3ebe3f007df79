"""NSD fMRI (Allen et al. 2022): single-trial betas of nsdgeneral voxels, MindEye2-style files.

Layout read (the MindEye2 release of NSD, ``huggingface.co/datasets/pscotti/mindeyev2``, plus NSD's
own behaviour tables)::

    <root>/betas_all_subj{XX}_fp32_renorm.hdf5          per subject XX (01..08)
        dataset "betas": float32 (trials, voxels) -- the subject's nsdgeneral voxels (15,724 for
        subject 1), one row per trial in chronological order (session 1 trial 1 first)
    <root>/nsddata/ppdata/subj{XX}/behav/responses.tsv   NSD behaviour table (tab-separated, header row)
        one row per trial, chronological; the column "73KID" is the 1-based index of the trial's
        image among the 73,000 NSD images. Row i describes betas row i.
    <root>/shared1000.npy                                bool (73000,): True for the 1,000 images shown
                                                         to every subject (MindEye2's file)
    <root>/coco_images_224_float16.hdf5                  dataset "images": (73000, 3, H, W) floats in [0, 1]
                                                         (MindEye2's file), or instead
    <root>/nsd_stimuli.hdf5                              dataset "imgBrick": (73000, H, W, 3) uint8 (NSD's file)

- If ``responses.tsv`` has more rows than the betas (sessions whose betas are not in the file, e.g.
  the three sessions NSD withheld at first), the betas are the *first* ``len(betas)`` trials; the cut
  must fall on a session boundary (checked with the ``SESSION`` column when present).
- ``shared1000.npy`` must be a boolean mask with one entry per image (at least up to the largest
  73KID used). Integer files are refused (0- or 1-based indices cannot be told apart).

**Items** (docs/PROTOCOLS.md section 1):

- ``test``: the trials of shared images, **averaged over all of the image's repetitions** that
  have betas; one row per shared image the subject saw. Their number is computed from the data
  (982 for subjects 1, 2, 5, 7 with the 37 sessions of the common release; 1,000 with all 40):
  nothing here assumes 982.
- ``train``: the trials of every other image. ``repetitions="single"`` (the default of the NSD task:
  MindEye trains on single trials) gives one row per trial; ``"average"`` one row per image.
- Signals are float32 (items, voxels); the voxel count is the subject's own (``BrainData.shape``
  gives ``n_chans`` = voxels, ``n_times`` = None). Rows are in ascending 73KID order (single
  trials: then chronological).
- Image ids are ``nsdNNNNN`` with the 1-based 73KID; the concept label of an item is its image's
  0-based 73k index (each NSD image is its own class: a split "by concept" equals one "by image").

**Images.** ``images(part)`` is the sorted union of the part's images over every subject on disk
(subjects 1, 2, 5, 7 all saw the same shared images, so for them the test gallery is exactly each
subject's test set). The image models read files, so the needed images are written once as PNG
(lossless, 8-bit) under ``<cache_dir>/nsd-images/<key>/nsdNNNNN.png``; ``key`` encodes the
stimulus file's path, size and modification time and the dataset read from it.

**Memory.** The betas are read in row chunks of about 64 MB; peak memory is the float32 result plus
one chunk (about 1.7 GB for subject 1's single training trials).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.data import DATASETS
from bench.data.base import BrainData, BrainDataset, ImageSet, Part, Repetitions
from bench.errors import ConfigError, DataError

BETAS_TEMPLATE = "betas_all_subj{subject:02d}_fp32_renorm.hdf5"
BETAS_RE = re.compile(r"betas_all_subj(\d+)_fp32_renorm\.hdf5")
BETAS_KEY = "betas"
RESPONSES_TEMPLATE = "nsddata/ppdata/subj{subject:02d}/behav/responses.tsv"
IMAGE_COLUMN = "73KID"
SHARED_FILE = "shared1000.npy"
STIMULUS_FILES: tuple[tuple[str, str, str], ...] = (
    ("coco_images_224_float16.hdf5", "images", "chw-float"),   # MindEye2
    ("nsd_stimuli.hdf5", "imgBrick", "hwc-uint8"),             # NSD
)
DOWNLOAD_HINT = ("get the MindEye2 NSD files (betas_all_subjXX_fp32_renorm.hdf5, shared1000.npy, "
                 "coco_images_224_float16.hdf5 from huggingface.co/datasets/pscotti/mindeyev2) and NSD's "
                 "nsddata/ppdata/subjXX/behav/responses.tsv (naturalscenesdataset.org) into the same root; or "
                 "simulate one: bench data simulate nsd --out DIR")
_CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class TrialTable:
    """A subject's trials that have betas: the 0-based 73k image index of each, and whether it is shared."""

    betas: Path
    responses: Path
    image: np.ndarray        # (trials,) int64, 0-based 73k index, aligned with the betas rows
    shared: np.ndarray       # (trials,) bool
    n_voxels: int
    dtype: np.dtype
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FileSummary:
    """What ``bench data info`` shows for one subject's part (``read_file``)."""

    path: Path
    shape: tuple[int, ...]
    data: np.ndarray
    ch_names: list[str]
    times: np.ndarray
    stored_times: int


def image_id(index: int) -> str:
    """The id of the image with 0-based 73k index ``index`` (``nsd`` + 1-based 73KID, 5 digits)."""
    return f"nsd{int(index) + 1:05d}"


@DATASETS.register("nsd", aliases=("nsd-fmri",))
class NSD(BrainDataset):
    """NSD single-trial betas in the MindEye2-style layout (see the module docstring).

    Example::

        ds = NSD("/data/nsd", cache_dir=Path("~/.cache/brainvis-bench"))
        train = ds.load(1, "train", repetitions="single")   # (trials, 15724) float32
        test = ds.load(1, "test")                            # (N shared images, 15724), reps averaged
        gallery = ds.images("test")                          # PNG files, row order of ``test``
    """

    name = "nsd"
    modality = "fmri"
    variants = ("default",)

    def __init__(self, root: Path, variant: str | None = None, cache_dir: Path | None = None) -> None:
        variant = self.check_variant(variant, "NSD")
        super().__init__(root, variant, cache_dir)
        self._tables: dict[int, TrialTable] = {}
        self._shared: np.ndarray | None = None
        self._images: dict[str, ImageSet] = {}

    # -- locations ------------------------------------------------------------------------------

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise DataError("NSD root folder not found", where=self.root, fix=DOWNLOAD_HINT)

    def subjects(self) -> list[int]:
        self._check_root()
        found = sorted(int(m.group(1)) for p in self.root.iterdir() if (m := BETAS_RE.fullmatch(p.name)))
        if not found:
            raise DataError("no betas_all_subjXX_fp32_renorm.hdf5 files", where=self.root, fix=DOWNLOAD_HINT)
        return found

    def _betas_file(self, subject: int) -> Path:
        self._check_root()
        path = self.root / BETAS_TEMPLATE.format(subject=int(subject))
        if not path.is_file():
            have = ", ".join(p.name for p in sorted(self.root.glob("betas_all_subj*_fp32_renorm.hdf5"))) or "none"
            raise DataError(f"betas of subject {subject} not found (present: {have})", where=path, fix=DOWNLOAD_HINT)
        return path

    def _responses_file(self, subject: int) -> Path:
        path = self.root / RESPONSES_TEMPLATE.format(subject=int(subject))
        if not path.is_file():
            raise DataError(f"behaviour table of subject {subject} not found", where=path, fix=DOWNLOAD_HINT)
        return path

    def files(self, subject: int, part: Part) -> list[Path]:
        self.check_part(part)
        shared = self.root / SHARED_FILE
        if not shared.is_file():
            raise DataError("shared-image mask not found", where=shared, fix=DOWNLOAD_HINT)
        return [self._betas_file(subject), self._responses_file(subject), shared]

    # -- tables ---------------------------------------------------------------------------------

    def shared_mask(self) -> np.ndarray:
        """``shared1000.npy``: bool per 0-based 73k index."""
        if self._shared is not None:
            return self._shared
        path = self.root / SHARED_FILE
        if not path.is_file():
            raise DataError("shared-image mask not found", where=path, fix=DOWNLOAD_HINT)
        try:
            mask = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"cannot read the shared-image mask: {exc}", where=path,
                            fix="it must be a plain .npy boolean array (no pickles); " + DOWNLOAD_HINT) from None
        if mask.dtype != np.bool_ or mask.ndim != 1:
            raise DataError(f"expected a 1-D boolean mask (one entry per NSD image), found {mask.dtype} "
                            f"{mask.shape}", where=path,
                            fix="use MindEye2's shared1000.npy (bool (73000,)); integer index lists are not "
                                "accepted because 0- and 1-based indices cannot be told apart")
        if not mask.any():
            raise DataError("the shared-image mask marks no image", where=path, fix=DOWNLOAD_HINT)
        self._shared = mask
        return mask

    def trial_table(self, subject: int) -> TrialTable:
        """The subject's trials with betas (behaviour table rows aligned with the betas rows; cached)."""
        subject = int(subject)
        if subject in self._tables:
            return self._tables[subject]
        import h5py
        import pandas as pd

        betas = self._betas_file(subject)
        responses = self._responses_file(subject)
        shared = self.shared_mask()
        with _open_h5(betas) as fh:
            if BETAS_KEY not in fh:
                raise DataError(f"no dataset '{BETAS_KEY}' (datasets: {list(fh.keys())[:10]})", where=betas,
                                field=BETAS_KEY, fix=DOWNLOAD_HINT)
            dset = fh[BETAS_KEY]
            if not isinstance(dset, h5py.Dataset) or dset.ndim != 2 or dset.dtype.kind != "f" or 0 in dset.shape:
                raise DataError(f"expected a non-empty 2-D float array (trials, voxels), found "
                                f"{getattr(dset, 'dtype', '?')} {getattr(dset, 'shape', '?')}", where=betas,
                                field=BETAS_KEY, fix=DOWNLOAD_HINT)
            n_trials, n_voxels = (int(s) for s in dset.shape)
            dtype = np.dtype(dset.dtype)
        try:
            table = pd.read_csv(responses, sep="\t")
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise DataError(f"cannot read the behaviour table: {exc}", where=responses, fix=DOWNLOAD_HINT) from None
        if IMAGE_COLUMN not in table.columns:
            raise DataError(f"no column '{IMAGE_COLUMN}' (columns: {list(table.columns)[:20]})", where=responses,
                            field=IMAGE_COLUMN, fix="use NSD's responses.tsv (tab-separated, header row)")
        if len(table) < n_trials:
            raise DataError(f"{len(table)} trials in the behaviour table but {n_trials} rows of betas in "
                            f"{betas.name}", where=responses, field=IMAGE_COLUMN,
                            fix="the betas and responses.tsv must describe the same trials (row i = trial i)")
        withheld = len(table) - n_trials
        if withheld and "SESSION" in table.columns:
            sessions = table["SESSION"].to_numpy()
            if sessions[n_trials - 1] == sessions[n_trials]:
                raise DataError(f"the betas end at trial {n_trials} in the middle of session "
                                f"{sessions[n_trials]} of the behaviour table", where=betas, field=BETAS_KEY,
                                fix="the betas must hold whole sessions, in order (row i = responses.tsv row i)")
        raw = pd.to_numeric(table[IMAGE_COLUMN].iloc[:n_trials], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(raw) | (raw < 1) | (np.round(raw) != raw))
        if len(bad):
            raise DataError(f"{len(bad)} trial(s) have no valid 1-based image index, first rows {bad[:10].tolist()}",
                            where=responses, field=IMAGE_COLUMN, fix="use NSD's responses.tsv unmodified")
        image = raw.astype(np.int64) - 1
        if image.max() >= len(shared):
            raise DataError(f"73KID {int(image.max()) + 1} is beyond the shared-image mask ({len(shared)} entries)",
                            where=self.root / SHARED_FILE, fix="the mask needs one entry per NSD image (73,000)")
        is_shared = shared[image]
        if not is_shared.any():
            raise DataError(f"subject {subject} saw no shared image: there is no test set", where=responses,
                            field=IMAGE_COLUMN, fix="check that shared1000.npy belongs to this release")
        if is_shared.all():
            raise DataError(f"subject {subject} saw only shared images: there is no training set", where=responses,
                            field=IMAGE_COLUMN, fix="check that shared1000.npy belongs to this release")
        counts = {"n_trials_with_betas": n_trials, "n_trials_without_betas": int(withheld), "n_voxels": n_voxels}
        result = TrialTable(betas, responses, image, is_shared, n_voxels, dtype, counts)
        self._tables[subject] = result
        return result

    # -- images ---------------------------------------------------------------------------------

    def _stimulus_file(self) -> tuple[Path, str, str]:
        for name, key, kind in STIMULUS_FILES:
            path = self.root / name
            if path.is_file():
                return path, key, kind
        raise DataError("no stimulus file found (looked for " + " and ".join(n for n, _, _ in STIMULUS_FILES) + ")",
                        where=self.root, fix=DOWNLOAD_HINT)

    def image_folder(self) -> Path:
        """Where the PNG copies of the needed images are written (see the module docstring)."""
        path, key, _ = self._stimulus_file()
        stat = path.stat()
        digest = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{key}".encode()).hexdigest()[:20]
        base = Path(self.cache_dir) if self.cache_dir is not None else Path(tempfile.gettempdir()) / "brainvis-bench"
        return base / "nsd-images" / digest

    def images(self, part: Part) -> ImageSet:
        """The part's images in row order (sorted union over the subjects on disk), as PNG files."""
        self.check_part(part)
        if part in self._images:
            return self._images[part]
        wanted: set[int] = set()
        for s in self.subjects():
            table = self.trial_table(s)
            mask = table.shared if part == "test" else ~table.shared
            wanted.update(int(i) for i in np.unique(table.image[mask]))
        index = np.array(sorted(wanted), dtype=np.int64)
        folder = self.image_folder()
        paths = [folder / f"{image_id(i)}.png" for i in index]
        missing = [k for k, p in enumerate(paths) if not p.is_file()]
        if missing:
            self._extract(index[missing], [paths[k] for k in missing])
        image_set = ImageSet(f"nsd/{part}", folder, tuple(image_id(i) for i in index), tuple(paths))
        self._images[part] = image_set
        return image_set

    def _extract(self, index: np.ndarray, paths: list[Path]) -> None:
        """Write the images ``index`` (sorted 0-based) of the stimulus file as PNGs at ``paths``."""
        from PIL import Image

        source, key, kind = self._stimulus_file()
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        with _open_h5(source) as fh:
            if key not in fh:
                raise DataError(f"no dataset '{key}' (datasets: {list(fh.keys())[:10]})", where=source, field=key,
                                fix=DOWNLOAD_HINT)
            dset = fh[key]
            shape = dset.shape
            ok = (len(shape) == 4 and ((kind == "chw-float" and shape[1] == 3 and dset.dtype.kind == "f")
                                       or (kind == "hwc-uint8" and shape[3] == 3 and dset.dtype == np.uint8)))
            if not ok:
                want = "(images, 3, H, W) floats in [0, 1]" if kind == "chw-float" else "(images, H, W, 3) uint8"
                raise DataError(f"expected {want}, found {dset.dtype} {shape}", where=source, field=key,
                                fix=DOWNLOAD_HINT)
            if index.max() >= shape[0]:
                raise DataError(f"image index {int(index.max()) + 1} is beyond the {shape[0]} images", where=source,
                                field=key, fix="the stimulus file must hold every NSD image (73,000)")
            per_image = int(np.prod(shape[1:])) * dset.dtype.itemsize
            step = max(1, _CHUNK_BYTES // per_image)
            k = 0
            while k < len(index):
                lo = int(index[k])
                hi = min(lo + step, shape[0])
                upto = k + int(np.searchsorted(index[k:], hi))
                block = dset[lo:hi]
                for j in range(k, upto):
                    pixels = block[int(index[j]) - lo]
                    if kind == "chw-float":
                        if not np.isfinite(pixels).all():
                            raise DataError(f"image {image_id(index[j])} has NaN/Inf pixels", where=source, field=key,
                                            fix=DOWNLOAD_HINT)
                        pixels = np.round(np.clip(np.transpose(pixels, (1, 2, 0)).astype(np.float32), 0, 1) * 255)
                    tmp = paths[j].with_name(f".{paths[j].name}.{os.getpid()}.tmp")
                    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), "RGB").save(tmp, format="PNG")
                    os.replace(tmp, paths[j])
                k = upto

    # -- reading --------------------------------------------------------------------------------

    def read_file(self, subject: int, part: Part) -> FileSummary:
        """Shape of ``subject``'s part as it will be loaded with single trials (no data read)."""
        self.check_part(part)
        table = self.trial_table(subject)
        n = int((table.shared if part == "test" else ~table.shared).sum())
        return FileSummary(table.betas, (n, table.n_voxels), np.empty(0, table.dtype), [], np.zeros(1), 1)

    def load(self, subject: int, part: Part, *, repetitions: Repetitions = "average",
             channels: Sequence[str] | None = None, time_window: tuple[float, float] | None = None) -> BrainData:
        """Read one subject's train or test items as float32 (items, voxels).

        repetitions: ``"average"`` (one row per image, the mean of its trials) or ``"single"`` (one
            row per trial). The test part is always loaded with ``"average"`` by the retrieval task.
        channels / time_window: not applicable to fMRI betas (ConfigError when given).
        """
        self.check_part(part)
        if repetitions not in ("average", "single"):
            raise ConfigError(f"unknown repetitions mode '{repetitions}'", field="repetitions",
                              fix="use 'average' or 'single'")
        if channels is not None:
            raise ConfigError("NSD betas have voxels, not named channels", field="channels",
                              fix="remove dataset.channels from the task")
        if time_window is not None:
            raise ConfigError("NSD betas have no time axis", field="time_window",
                              fix="remove dataset.time_window from the task")
        return self.kept_load(subject, part, (repetitions,), lambda: self._read(subject, part, repetitions))

    def _read(self, subject: int, part: Part, repetitions: Repetitions) -> BrainData:
        """:meth:`load` without the kept result: read the betas rows of ``part``."""
        table = self.trial_table(subject)
        rows = np.flatnonzero(table.shared if part == "test" else ~table.shared)
        images = table.image[rows]
        order = np.lexsort((rows, images))
        rows, images = rows[order], images[order]
        if repetitions == "average":
            items, item_of_row, reps = np.unique(images, return_inverse=True, return_counts=True)
        else:
            items, item_of_row = images, np.arange(len(rows))
            reps = np.unique(images, return_counts=True)[1]
        signals = _read_rows(table.betas, rows, item_of_row.reshape(-1), len(items), table.n_voxels,
                             average=repetitions == "average")
        info = {"dataset": self.name, "variant": self.variant, "part": part, "repetitions": repetitions,
                "n_trials": int(len(rows)), "n_images": int(len(np.unique(images))),
                "n_repetitions": int(reps.max()), "min_repetitions": int(reps.min()),
                "file": str(table.betas), **table.counts}
        ids = np.array([image_id(i) for i in items])
        return BrainData(signals, ids, items.astype(np.int64), np.full(len(items), int(subject), dtype=np.int64),
                         self.checksum(subject, part), None, None, None, info)

    # -- validation -----------------------------------------------------------------------------

    def validate(self, scan: bool = True) -> list[str]:
        """Every problem found, as messages (empty when the dataset is sound)."""
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
        if problems:
            return problems
        for part in ("train", "test"):
            try:
                self.images(part)
            except DataError as exc:
                problems.append(str(exc))
        if scan:
            for s in subjects:
                for part in ("train", "test"):
                    try:
                        self.load(s, part, repetitions="single")
                    except DataError as exc:
                        problems.append(str(exc))
        return problems


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def _open_h5(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"cannot open the HDF5 file: {exc}", where=path,
                        fix=f"the file is corrupt or not HDF5; re-download it ({DOWNLOAD_HINT})") from None


def _read_rows(path: Path, rows: np.ndarray, item_of_row: np.ndarray, n_items: int, n_voxels: int, *,
               average: bool) -> np.ndarray:
    """float32 (n_items, voxels): betas ``rows`` read in contiguous chunks, summed into their items."""
    out = np.zeros((n_items, n_voxels), dtype=np.float32)
    counts = np.zeros(n_items, dtype=np.int64)
    file_order = np.argsort(rows, kind="stable")
    sorted_rows = rows[file_order]
    with _open_h5(path) as fh:
        dset = fh[BETAS_KEY]
        step = max(1, _CHUNK_BYTES // (n_voxels * dset.dtype.itemsize))
        bad: list[int] = []
        n_bad = 0
        k = 0
        while k < len(sorted_rows):
            lo = int(sorted_rows[k])
            hi = lo + step
            upto = k + int(np.searchsorted(sorted_rows[k:], hi))
            block = np.asarray(dset[lo:min(hi, dset.shape[0])], dtype=np.float32)
            sel = file_order[k:upto]
            picked = block[rows[sel] - lo]
            finite = np.isfinite(picked).all(axis=1)
            if not finite.all():
                n_bad += int((~finite).sum())
                bad.extend(int(r) for r in rows[sel][~finite][: max(0, 10 - len(bad))])
            else:
                items = item_of_row[sel]
                if average and len(np.unique(items)) == len(items):
                    out[items] += picked
                    counts[items] += 1
                elif average:
                    np.add.at(out, items, picked)
                    np.add.at(counts, items, 1)
                else:
                    out[items] = picked
            k = upto
    if n_bad:
        raise DataError(f"NaN or Inf betas in {n_bad} trial(s); first rows: {bad}", where=path, field=BETAS_KEY,
                        fix="re-download the file; NaN voxels must be removed from the nsdgeneral mask")
    if average:
        out /= counts[:, None]
    return out


__all__ = ["NSD", "TrialTable", "image_id", "BETAS_TEMPLATE", "RESPONSES_TEMPLATE", "SHARED_FILE", "STIMULUS_FILES"]
