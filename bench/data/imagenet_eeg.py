"""ImageNet-EEG (Spampinato et al. 2017): 6 subjects, 40 ImageNet classes x 50 images, 128-channel EEG.

Used by Palazzo et al. 2020 (TPAMI) and NeuroImagen. **The recording is a block design** (every
class was shown in one block), so slow drifts identify the class (Li et al. 2021 TPAMI): every
number on this dataset is reported with the controls of ``bench.tasks.controls``.

Layout read (``<root>`` = ``<data_root>/imagenet-eeg/``)::

    <root>/eeg_5_95_std.pth                       variant "5-95"  (default; band-passed, standardised)
    <root>/eeg_14_70_std.pth                      variant "14-70"
    <root>/eeg_55_95_std.pth                      variant "55-95" (the high-gamma control file)
    <root>/eeg_signals_raw_with_mean_std.pth      variant "raw"
    <root>/block_splits_by_image_all.pth          splits for all subjects pooled (default)
    <root>/block_splits_by_image_single.pth       splits for single-subject runs
    <root>/images/<wnid>/<stem>.JPEG              the stimuli, e.g. images/n02951358/n02951358_31190.JPEG
                                                  (.jpg/.jpeg/.png accepted too)
    <root>/fixations/fixations.csv                optional eye-tracking fixations (saliency task), or
    <root>/fixations/maps/<stem>.png              binary fixation-map images (any nonzero pixel = fixated)

EEG file (a torch pickle)::

    {"dataset": [{"eeg": FloatTensor[128, T], "image": int, "label": int (0..39), "subject": int (1..6)}, ...],
     "labels":  [40 WordNet ids, e.g. "n02951358"],   # label i -> wnid
     "images":  [image stems, e.g. "n02951358_31190"]} # "image" indexes this list

(extra keys, e.g. the raw file's means/stds, are ignored). Split file::

    {"splits": [{"train": [int, ...], "val": [int, ...], "test": [int, ...]}, ...]}

**Published conventions** (Spampinato's ``EEGDataset`` + ``Splitter``), applied exactly:

1. subject filter *before* the split indices: with ``split_file="single"`` the indices index the
   list of one subject's items; with ``split_file="all"`` (default) they index the full list and a
   subject's rows are the split's items of that subject (no filter before indexing, as in the
   published pooled runs with ``--subject 0``);
2. split ``split_index`` (default 0, what everybody uses);
3. length filter: keep only split items with ``450 <= T <= 600``;
4. crop ``eeg[:, 20:460]`` (440 samples at 1 kHz, 20-459 ms after onset).

The split is by image: 1600 / 200 / 200 images train / val / test (``part`` = ``"train"``,
``"val"`` or ``"test"``). Every subject saw every image once, so ``repetitions`` has no effect.

**Safety.** Files are read with ``torch.load(..., weights_only=True)``: tensors, ints, strings,
lists and dicts only (what the published files hold). A file that needs anything else (a pickle
that imports or calls code) raises :class:`DataError`; the loader never falls back to unsafe
unpickling. The error says how to convert a *trusted* file once.

**Channels / times.** The published files carry no channel names: channels are called
``E1..E128`` in stored order. Sampling rate 1000 Hz; ``times`` = (20..459) / 1000 s.

**Recording order.** Rows carry their position in the file's ``dataset`` list
(:meth:`ImageNetEEG.list_index`); within a subject the published list is in recording order, which
the design check of :mod:`bench.tasks.controls` uses as presentation order (and which matches rows of
the raw file to the band-passed files' rows for the block-signature probes).

**Fixations** (saliency task), ``fixations/fixations.csv``, one row per fixation::

    image,x,y,width,height
    n02951358_31190,123.5,87.0,500,375

``image`` is the stem (or ``<wnid>/<stem>``); ``x`` (column, rightwards) and ``y`` (row,
downwards) are pixel coordinates of the image whose size is ``width`` x ``height`` (0,0 = top-left
corner of the top-left pixel; the fixated pixel is ``(floor(y), floor(x))``). Extra columns (e.g.
``observer``) are ignored. Images missing from the CSV (or every image, when there is no CSV) are
looked up as binary maps ``fixations/maps/<stem>.png`` (``.jpg``/``.bmp``/``.tif`` too), the
common layout of public fixation-map releases (MIT1003, SALICON): nonzero pixels are fixations.
"""

from __future__ import annotations

import csv
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np

from bench.data import DATASETS
from bench.data.base import BrainData, ImageSet, LabelledDataset
from bench.data.selection import pick_channels, pick_times
from bench.errors import ConfigError, DataError

VARIANT_FILES: dict[str, str] = {
    "5-95": "eeg_5_95_std.pth",
    "14-70": "eeg_14_70_std.pth",
    "55-95": "eeg_55_95_std.pth",
    "raw": "eeg_signals_raw_with_mean_std.pth",
}
SPLIT_FILES: dict[str, str] = {"all": "block_splits_by_image_all.pth", "single": "block_splits_by_image_single.pth"}
PARTS = ("train", "val", "test")
SFREQ = 1000.0
LENGTH_RANGE = (450, 600)
CROP = (20, 460)
IMAGE_FOLDER = "images"
IMAGE_SUFFIXES = (".JPEG", ".jpeg", ".jpg", ".JPG", ".png", ".PNG")
FIXATION_FOLDER = "fixations"
FIXATION_CSV = "fixations.csv"
FIXATION_MAP_FOLDER = "maps"
FIXATION_MAP_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DOWNLOAD_HINT = ("get the ImageNet-EEG files (eeg_*_std.pth, block_splits_by_image_*.pth) from the authors' page "
                 "(PeRCeiVe Lab, 'EEG data for visual classification', Spampinato et al. 2017) and the 2,000 "
                 "ImageNet images listed in the file's 'images' key")
_ITEM_KEYS = ("eeg", "image", "label", "subject")
SplitFile = Literal["all", "single"]


# --------------------------------------------------------------------------------------------
# Reading (weights_only) and validating the files
# --------------------------------------------------------------------------------------------

def safe_torch_load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)``; a file that needs more raises :class:`DataError`.

    Never retries with ``weights_only=False``: the published files hold only tensors, ints,
    strings, lists and dicts, so a file that needs anything else is not one of them (or was
    tampered with).
    """
    import pickle

    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc).splitlines()
        reason = next((line.strip() for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[0])
        raise DataError(
            f"refused to load: the file needs more than tensors/ints/strings/lists/dicts, which torch.load("
            f"weights_only=True) would have to execute as code ({reason})", where=path,
            fix="the published ImageNet-EEG files load with weights_only=True, so this one is not an original. "
                "Delete it and download the original. Only if you made it yourself and trust it: convert it once "
                "with python -c \"import torch; d = torch.load('IN', weights_only=False); torch.save(d, 'OUT')\" "
                "after checking that d holds only tensors, ints, strings, lists and dicts") from None
    except FileNotFoundError:
        raise DataError("file not found", where=path, fix=DOWNLOAD_HINT) from None
    except (RuntimeError, EOFError, KeyError, ValueError, OSError, AttributeError, TypeError,
            IndexError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the file as a torch pickle ({type(exc).__name__}: {str(exc)[:200]})",
                        where=path, fix=f"the file is corrupt or not an ImageNet-EEG file; re-download it "
                                        f"({DOWNLOAD_HINT})") from None


def _is_int(x: Any) -> bool:
    import torch

    if isinstance(x, bool):
        return False
    if isinstance(x, (int, np.integer)):
        return True
    return isinstance(x, torch.Tensor) and x.ndim == 0 and not x.is_floating_point() and x.dtype != torch.bool


@dataclass
class EEGFile:
    """One validated EEG file, compacted: the crop of every item that passes the length filter.

    signals:   float32 (n_kept, C, crop length), the ``[:, 20:460]`` crop of the kept items.
    kept:      (n_items,) bool, ``450 <= T <= 600``.
    row_of:    (n_items,) int64, row of ``signals`` for kept items, -1 otherwise.
    lengths, subjects, labels, images: (n_items,) int64 per list item.
    """

    path: Path
    signals: np.ndarray
    kept: np.ndarray
    row_of: np.ndarray
    lengths: np.ndarray
    subjects: np.ndarray
    labels: np.ndarray
    images: np.ndarray
    wnids: list[str]
    image_stems: list[str]
    n_chans: int

    @property
    def n_items(self) -> int:
        return len(self.kept)


def parse_eeg_file(path: Path, content: Any, length_range: tuple[int, int] = LENGTH_RANGE,
                   crop: tuple[int, int] = CROP) -> EEGFile:
    """Validate the published structure and compact it (raises :class:`DataError` naming the field)."""
    import torch

    layout = ("the file must hold {'dataset': [{'eeg': FloatTensor[channels, T], 'image': int, 'label': int, "
              "'subject': int}, ...], 'labels': [wnid, ...], 'images': [stem, ...]} as published; " + DOWNLOAD_HINT)
    if not isinstance(content, dict):
        raise DataError(f"expected a dict, found {type(content).__name__}", where=path, fix=layout)
    missing = [k for k in ("dataset", "labels", "images") if k not in content]
    if missing:
        raise DataError(f"missing key (keys present: {sorted(map(str, content))})", where=path, field=missing[0],
                        fix=layout)
    dataset, wnids, stems = content["dataset"], content["labels"], content["images"]
    for name, value in (("dataset", dataset), ("labels", wnids), ("images", stems)):
        if not isinstance(value, (list, tuple)) or not value:
            raise DataError(f"expected a non-empty list, found {type(value).__name__}"
                            + (f" of length {len(value)}" if isinstance(value, (list, tuple)) else ""),
                            where=path, field=name, fix=layout)
    for name, value in (("labels", wnids), ("images", stems)):
        bad = next((i for i, v in enumerate(value) if not isinstance(v, str)), None)
        if bad is not None:
            raise DataError(f"entry {bad} is {type(value[bad]).__name__}, expected a string", where=path,
                            field=f"{name}[{bad}]", fix=layout)
    n = len(dataset)
    lengths = np.empty(n, np.int64)
    subjects = np.empty(n, np.int64)
    labels = np.empty(n, np.int64)
    images = np.empty(n, np.int64)
    n_chans = None
    lo, hi = length_range
    c0, c1 = crop
    for i, item in enumerate(dataset):
        where = f"dataset[{i}]"
        if not isinstance(item, dict):
            raise DataError(f"is {type(item).__name__}, expected a dict", where=path, field=where, fix=layout)
        gone = [k for k in _ITEM_KEYS if k not in item]
        if gone:
            raise DataError(f"has no key '{gone[0]}' (keys: {sorted(map(str, item))})", where=path,
                            field=f"{where}.{gone[0]}", fix=layout)
        eeg = item["eeg"]
        if not isinstance(eeg, torch.Tensor) or eeg.ndim != 2 or not eeg.is_floating_point():
            desc = f"tensor of shape {tuple(eeg.shape)} dtype {eeg.dtype}" if isinstance(eeg, torch.Tensor) \
                else type(eeg).__name__
            raise DataError(f"is a {desc}; expected a 2-D float tensor (channels, T)", where=path,
                            field=f"{where}.eeg", fix=layout)
        if n_chans is None:
            n_chans = int(eeg.shape[0])
        elif eeg.shape[0] != n_chans:
            raise DataError(f"has {eeg.shape[0]} channels, item 0 has {n_chans}", where=path,
                            field=f"{where}.eeg", fix="every item must have the same channels (rows); " + layout)
        for key in ("image", "label", "subject"):
            if not _is_int(item[key]):
                raise DataError(f"is {type(item[key]).__name__} ({item[key]!r:.40}), expected an int", where=path,
                                field=f"{where}.{key}", fix=layout)
        lengths[i] = eeg.shape[1]
        images[i], labels[i], subjects[i] = int(item["image"]), int(item["label"]), int(item["subject"])
        if not 0 <= labels[i] < len(wnids):
            raise DataError(f"label {labels[i]} is outside 0..{len(wnids) - 1} (the 'labels' list)", where=path,
                            field=f"{where}.label", fix=layout)
        if not 0 <= images[i] < len(stems):
            raise DataError(f"image {images[i]} is outside 0..{len(stems) - 1} (the 'images' list)", where=path,
                            field=f"{where}.image", fix=layout)
        if subjects[i] < 1:
            raise DataError(f"subject {subjects[i]} is not a positive subject number", where=path,
                            field=f"{where}.subject", fix=layout)
        stem = stems[images[i]]
        if not stem.startswith(wnids[labels[i]]):
            raise DataError(f"shows image '{stem}' but its label {labels[i]} is '{wnids[labels[i]]}' (an image's "
                            "stem starts with its class's wnid)", where=path, field=f"{where}.label",
                            fix="the labels/images lists and the items disagree: the file is corrupt; re-download it")
    kept = (lengths >= lo) & (lengths <= hi)
    short = np.flatnonzero(kept & (lengths < c1))
    if len(short):
        raise DataError(f"{len(short)} item(s) pass the length filter {lo}..{hi} but are shorter than the crop end "
                        f"{c1} (first: dataset[{short[0]}] with T={lengths[short[0]]})", where=path,
                        field=f"dataset[{short[0]}].eeg",
                        fix=f"use a crop that ends at most at {lo} samples, or a length filter starting at {c1}")
    row_of = np.full(n, -1, np.int64)
    row_of[kept] = np.arange(int(kept.sum()))
    signals = np.empty((int(kept.sum()), n_chans or 0, c1 - c0), np.float32)
    bad: list[int] = []
    for i in np.flatnonzero(kept):
        window = dataset[i]["eeg"][:, c0:c1].to(torch.float32).numpy()
        if not np.isfinite(window).all():
            bad.append(int(i))
            continue
        signals[row_of[i]] = window
    if bad:
        raise DataError(f"NaN or Inf values in the {c0}:{c1} crop of {len(bad)} item(s); first: "
                        f"{[f'dataset[{b}]' for b in bad[:5]]}", where=path, field=f"dataset[{bad[0]}].eeg",
                        fix="re-download the file; if the rest is usable, remove these items from the file")
    return EEGFile(Path(path), signals, kept, row_of, lengths, subjects, labels, images, list(wnids), list(stems),
                   int(n_chans or 0))


def parse_split_file(path: Path, content: Any, split_index: int) -> dict[str, np.ndarray]:
    """``{"train", "val", "test"} -> int64 indices`` of split ``split_index`` (validated)."""
    layout = "the file must hold {'splits': [{'train': [int, ...], 'val': [...], 'test': [...]}, ...]}; " + DOWNLOAD_HINT
    if not isinstance(content, dict) or "splits" not in content:
        keys = sorted(map(str, content)) if isinstance(content, dict) else type(content).__name__
        raise DataError(f"missing key (found {keys})", where=path, field="splits", fix=layout)
    splits = content["splits"]
    if not isinstance(splits, (list, tuple)) or not splits:
        raise DataError("expected a non-empty list of splits", where=path, field="splits", fix=layout)
    if not 0 <= split_index < len(splits):
        raise ConfigError(f"split {split_index} does not exist: {path.name} has splits 0..{len(splits) - 1}",
                          field="protocol.split_index", fix="use split 0 (the one everybody uses)")
    split = splits[split_index]
    if not isinstance(split, dict):
        raise DataError(f"is {type(split).__name__}, expected a dict", where=path, field=f"splits[{split_index}]",
                        fix=layout)
    out = {}
    for part in PARTS:
        if part not in split:
            raise DataError(f"missing key (keys: {sorted(map(str, split))})", where=path,
                            field=f"splits[{split_index}].{part}", fix=layout)
        idx = split[part]
        if hasattr(idx, "tolist"):
            idx = idx.tolist()
        if not isinstance(idx, (list, tuple)) or not all(_is_int(i) for i in idx):
            raise DataError("expected a list of ints", where=path, field=f"splits[{split_index}].{part}", fix=layout)
        out[part] = np.asarray([int(i) for i in idx], dtype=np.int64)
    return out


class ParsedFiles:
    """Parsed files, memoised per (path, size, mtime, key) so a process reads a 3 GB file once.

    At most ``eeg_files`` parsed EEG files (they bound the memory) and ``eeg_files + 4`` entries in
    all (split files are small), least recently used first out. Thread-safe. A dataset reads through
    the object it is given (:attr:`ImageNetEEG.parsed_files`, the process-wide :data:`PARSED_FILES`
    by default).
    """

    def __init__(self, eeg_files: int = 2) -> None:
        self.eeg_files = int(eeg_files)
        self.entries: "OrderedDict[tuple, Any]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, key: tuple, build: Callable[[], Any]) -> Any:
        """The memoised value of ``build()`` for ``path`` (as it is now on disk) and ``key``."""
        stat = path.stat()
        full = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, *key)
        with self._lock:
            if full in self.entries:
                self.entries.move_to_end(full)
                return self.entries[full]
        value = build()
        with self._lock:
            self.entries[full] = value
            while len(self.entries) > self.eeg_files + 4:
                self.entries.popitem(last=False)
            eeg_keys = [k for k in self.entries if k[3] == "eeg"]
            while len(eeg_keys) > self.eeg_files:
                self.entries.pop(eeg_keys.pop(0))
        return value

    def clear(self) -> None:
        """Forget every parsed file (frees memory)."""
        with self._lock:
            self.entries.clear()


#: The process-wide parsed-file memo every :class:`ImageNetEEG` uses unless given another.
PARSED_FILES = ParsedFiles()


def clear_cache() -> None:
    """Forget every parsed file of the process-wide memo (frees memory)."""
    PARSED_FILES.clear()


@dataclass(frozen=True)
class PartSummary:
    """One subject's rows of one part, as read (``bench data info``)."""

    path: Path
    data: np.ndarray
    ch_names: list[str]
    times: np.ndarray
    stored_times: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


# --------------------------------------------------------------------------------------------
# Fixations
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fixations:
    """Eye-tracking fixations on one image.

    image_id: ``<wnid>/<stem>`` (the :class:`ImageSet` id).
    points:   (N, 2) float64 (x, y) pixel coordinates (empty when read from a map image).
    size:     (height, width) of the frame the fixations refer to.
    fixation_map: (H, W) bool when read from a binary map image, else None.
    """

    image_id: str
    points: np.ndarray
    size: tuple[int, int]
    fixation_map: np.ndarray | None = None

    def binary_map(self) -> np.ndarray:
        """(H, W) bool, True at fixated pixels ``(floor(y), floor(x))`` (clipped to the frame)."""
        if self.fixation_map is not None:
            return self.fixation_map
        h, w = self.size
        out = np.zeros((h, w), dtype=bool)
        if len(self.points):
            cols = np.clip(np.floor(self.points[:, 0]).astype(np.int64), 0, w - 1)
            rows = np.clip(np.floor(self.points[:, 1]).astype(np.int64), 0, h - 1)
            out[rows, cols] = True
        return out

    def __len__(self) -> int:
        return int(self.binary_map().sum()) if self.fixation_map is not None else len(self.points)


def read_fixation_csv(path: Path) -> dict[str, Fixations]:
    """Fixations per image stem from the documented CSV (see the module docstring)."""
    path = Path(path)
    fix_layout = "expected a CSV with header 'image,x,y,width,height' (one row per fixation; see bench/data/imagenet_eeg.py)"
    points: dict[str, list[tuple[float, float]]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        need = ["image", "x", "y", "width", "height"]
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"missing column(s) {missing} (columns: {reader.fieldnames})", where=path,
                            field=missing[0], fix=fix_layout)
        for line, row in enumerate(reader, start=2):
            stem = row["image"].strip().split("/")[-1]
            try:
                x, y = float(row["x"]), float(row["y"])
                w, h = int(float(row["width"])), int(float(row["height"]))
            except (TypeError, ValueError):
                raise DataError(f"line {line}: x, y, width, height must be numbers (got {row})", where=path,
                                fix=fix_layout) from None
            if not (np.isfinite(x) and np.isfinite(y)) or w < 1 or h < 1:
                raise DataError(f"line {line}: non-finite coordinates or empty size ({row})", where=path, fix=fix_layout)
            if not (0 <= x < w + 1e-6 and 0 <= y < h + 1e-6):
                raise DataError(f"line {line}: fixation ({x}, {y}) lies outside the {w}x{h} image", where=path,
                                fix="x must be in [0, width) and y in [0, height), in the image's pixel frame")
            if stem in sizes and sizes[stem] != (h, w):
                raise DataError(f"line {line}: image '{stem}' has size {w}x{h} here but "
                                f"{sizes[stem][1]}x{sizes[stem][0]} on an earlier line", where=path, fix=fix_layout)
            sizes[stem] = (h, w)
            points.setdefault(stem, []).append((min(x, w - 1e-6), min(y, h - 1e-6)))
    return {stem: Fixations(stem, np.asarray(p, dtype=np.float64), sizes[stem]) for stem, p in points.items()}


def read_fixation_map(path: Path, image_id: str) -> Fixations:
    """A binary fixation-map image (nonzero pixels = fixations) as :class:`Fixations`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read fixation map: {exc}", where=path, fix="replace the file") from None
    mask = arr > 0
    if not mask.any():
        raise DataError("fixation map has no fixated (nonzero) pixel", where=path,
                        fix="remove the file (images without fixations are not scored)")
    return Fixations(image_id, np.zeros((0, 2)), (int(mask.shape[0]), int(mask.shape[1])), mask)


# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------

@DATASETS.register("imagenet-eeg", aliases=("imagenet_eeg", "spampinato"))
class ImageNetEEG(LabelledDataset):
    """ImageNet-EEG in its published layout (see the module docstring).

    Example::

        ds = ImageNetEEG("/data/imagenet-eeg", variant="5-95")
        train = ds.load_subjects(ds.subjects(), "train")   # all subjects pooled, split 0
        test = ds.load(1, "test")                           # subject 1's test items
        images = ds.images("test")                          # the 200 test images

    Parameters beyond the common ones: ``split_file`` (``"all"`` | ``"single"``), ``split_index``
    (0), ``length_range`` ((450, 600)), ``crop`` ((20, 460)).
    """

    name = "imagenet-eeg"
    modality = "eeg"
    variants = ("5-95", "14-70", "55-95", "raw")
    parts = PARTS

    def __init__(self, root: Path, variant: str | None = None, cache_dir: Path | None = None, *,
                 split_file: SplitFile = "all", split_index: int = 0,
                 length_range: tuple[int, int] = LENGTH_RANGE, crop: tuple[int, int] = CROP,
                 parsed_files: ParsedFiles | None = None) -> None:
        super().__init__(root, variant, cache_dir)
        self.parsed_files = parsed_files if parsed_files is not None else PARSED_FILES
        self.variant = _variant_name(self.variant)
        self.split_file = split_file
        self.split_index = int(split_index)
        self.length_range = (int(length_range[0]), int(length_range[1]))
        self.crop = (int(crop[0]), int(crop[1]))
        if split_file not in SPLIT_FILES:
            raise ConfigError(f"unknown split file '{split_file}'", field="protocol.split_file",
                              fix=f"use one of {list(SPLIT_FILES)}")
        if not (0 <= self.crop[0] < self.crop[1]) or self.length_range[0] > self.length_range[1]:
            raise ConfigError(f"invalid crop {crop} or length range {length_range}", field="crop",
                              fix="use the published crop (20, 460) and length filter (450, 600)")

    def with_variant(self, variant: str) -> "ImageNetEEG":
        """The same dataset and split options, reading another band file (e.g. the 55-95 Hz control)."""
        return ImageNetEEG(self.root, variant, self.cache_dir, split_file=self.split_file,
                           split_index=self.split_index, length_range=self.length_range, crop=self.crop,
                           parsed_files=self.parsed_files)

    # -- files ---------------------------------------------------------------------------------

    def eeg_path(self, variant: str | None = None) -> Path:
        return self.root / VARIANT_FILES[_variant_name(variant or self.variant)]

    def split_path(self) -> Path:
        return self.root / SPLIT_FILES[self.split_file]

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise DataError("dataset folder not found", where=self.root,
                            fix=f"put the files under {self.root}/ ({', '.join(VARIANT_FILES.values())}, "
                                f"{SPLIT_FILES['all']}, images/); {DOWNLOAD_HINT}")

    def _require(self, path: Path, what: str) -> Path:
        self._check_root()
        if not path.is_file():
            present = sorted(p.name for p in self.root.glob("*.pth"))
            raise DataError(f"{what} not found (.pth files present: {present or 'none'})", where=path,
                            fix=f"put {path.name} in {self.root}/; {DOWNLOAD_HINT}")
        return path

    def files(self, subject: int, part: str) -> list[Path]:
        return [self.eeg_path(), self.split_path()]

    def read_eeg(self) -> EEGFile:
        """The validated, compacted EEG file of this variant (memoised in ``self.parsed_files``)."""
        path = self._require(self.eeg_path(), f"EEG file of variant '{self.variant}'")
        return self.parsed_files.get(path, ("eeg", self.length_range, self.crop),
                       lambda: parse_eeg_file(path, safe_torch_load(path), self.length_range, self.crop))

    def read_splits(self) -> dict[str, np.ndarray]:
        path = self._require(self.split_path(), f"split file '{self.split_file}'")
        return self.parsed_files.get(path, ("split", self.split_index),
                       lambda: parse_split_file(path, safe_torch_load(path), self.split_index))

    def subjects(self) -> list[int]:
        return sorted(int(s) for s in np.unique(self.read_eeg().subjects))

    # -- items -----------------------------------------------------------------------------------

    def list_index(self, subjects: Sequence[int], part: str) -> np.ndarray:
        """Positions in the file's ``dataset`` list of the rows ``load_subjects(subjects, part)`` returns.

        Applies the published conventions in order (subject filter before the split indices for
        ``split_file="single"``, then the length filter); rows are ordered by subject, then by
        split order.
        """
        self.check_part(part)
        eeg = self.read_eeg()
        split = self.read_splits()[part]
        known = set(self.subjects())
        unknown = [s for s in subjects if s not in known]
        if unknown:
            raise ConfigError(f"subject(s) {unknown} not in {self.eeg_path().name} (has {sorted(known)})",
                              field="dataset.subjects", fix="choose among the subjects present in the file")
        out = []
        for s in subjects:
            if self.split_file == "single":
                members = np.flatnonzero(eeg.subjects == s)          # subject filter first
                bad = split[(split < 0) | (split >= len(members))]
                if len(bad):
                    raise DataError(f"split {self.split_index} '{part}' has index {int(bad[0])} but subject {s} has "
                                    f"{len(members)} items (indices address the subject's own items)",
                                    where=self.split_path(), field=f"splits[{self.split_index}].{part}",
                                    fix="use the split file made for single-subject runs, or split_file 'all'")
                idx = members[split]
            else:
                bad = split[(split < 0) | (split >= eeg.n_items)]
                if len(bad):
                    raise DataError(f"split {self.split_index} '{part}' has index {int(bad[0])} but the EEG file has "
                                    f"{eeg.n_items} items", where=self.split_path(),
                                    field=f"splits[{self.split_index}].{part}",
                                    fix="the split and EEG files come from different releases; re-download both")
                idx = split[eeg.subjects[split] == s]
            out.append(idx[eeg.kept[idx]])                          # length filter on split items
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def load_subjects(self, subjects: Sequence[int], part: str, *, channels: Sequence[str] | None = None,
                      time_window: tuple[float, float] | None = None) -> BrainData:
        """Rows of ``part`` for several subjects pooled (rows by subject, then split order)."""
        eeg = self.read_eeg()
        idx = self.list_index(list(subjects), part)
        if len(idx) == 0:
            raise DataError(f"no item of subject(s) {list(subjects)} in split {self.split_index} '{part}' passes the "
                            f"length filter {self.length_range}", where=self.split_path(),
                            fix="check the split file and the subjects")
        ch_names = [f"E{i + 1}" for i in range(eeg.n_chans)]
        ch_idx = None if channels is None else pick_channels(ch_names, channels, where=self.eeg_path())
        times = np.arange(*self.crop) / SFREQ
        t_sel = pick_times(times, time_window, where=self.eeg_path())
        signals = eeg.signals[eeg.row_of[idx]]
        if ch_idx is not None:
            signals = signals[:, ch_idx]
            ch_names = [ch_names[i] for i in ch_idx]
        if t_sel != slice(None):
            signals = signals[..., t_sel]
        ids = np.asarray([f"{eeg.wnids[eeg.labels[i]]}/{eeg.image_stems[eeg.images[i]]}" for i in idx])
        info = {"dataset": self.name, "variant": self.variant, "part": part, "split_file": self.split_file,
                "split_index": self.split_index, "file": str(self.eeg_path()), "n_classes": len(eeg.wnids),
                "list_index": idx.tolist()}
        return BrainData(np.ascontiguousarray(signals, dtype=np.float32), ids, eeg.labels[idx].copy(),
                         eeg.subjects[idx].copy(), self.checksum(0, part), ch_names, times[t_sel], SFREQ, info)

    def load(self, subject: int, part: str, *, repetitions: str = "average",
             channels: Sequence[str] | None = None, time_window: tuple[float, float] | None = None) -> BrainData:
        """One subject's rows of ``part`` ("train", "val" or "test"); one trial per image, so
        ``repetitions`` changes nothing. ``info["list_index"]`` holds each row's list position."""
        if repetitions not in ("average", "single"):
            raise ConfigError(f"unknown repetitions mode '{repetitions}'", field="repetitions",
                              fix="use 'average' or 'single' (identical here: one trial per image)")
        return self.load_subjects([int(subject)], part, channels=channels, time_window=time_window)

    def checksum(self, subject: int, part: str) -> str:
        """SHA-256 of the EEG file, the split file and the options that select rows (any subject/part)."""
        from bench.data.checksum import combine, files_sha256

        self._require(self.eeg_path(), f"EEG file of variant '{self.variant}'")
        self._require(self.split_path(), f"split file '{self.split_file}'")
        opts = f"{self.variant}|{self.split_file}|{self.split_index}|{self.length_range}|{self.crop}"
        return combine([opts, files_sha256([self.eeg_path(), self.split_path()], self.cache_dir, root=self.root)])

    def read_file(self, subject: int, part: str) -> "PartSummary":
        """What ``bench data info`` shows for one subject and part: the file, the rows' shape, times."""
        data = self.load(subject, part)
        return PartSummary(self.eeg_path(), data.signals, list(data.ch_names or []), data.times,
                           len(data.times))

    @property
    def n_classes(self) -> int:
        return len(self.read_eeg().wnids)

    # -- images ----------------------------------------------------------------------------------

    def image_ids(self, part: str) -> list[str]:
        """Ids ``<wnid>/<stem>`` of the images of ``part`` (any subject), in the file's image order."""
        self.check_part(part)
        eeg = self.read_eeg()
        idx = self.list_index(self.subjects(), part)
        images = np.unique(eeg.images[idx])
        wnid_of = {}
        for i in idx:
            wnid_of[int(eeg.images[i])] = eeg.wnids[eeg.labels[i]]
        return [f"{wnid_of[int(k)]}/{eeg.image_stems[k]}" for k in images]

    def images(self, part: str) -> ImageSet:
        """The images of ``part`` in the file's image order: ``<root>/images/<wnid>/<stem>.JPEG``."""
        ids = self.image_ids(part)
        folder = self.root / IMAGE_FOLDER
        paths, missing = [], []
        for image_id in ids:
            path = _find_image(folder / image_id)
            if path is None:
                missing.append(image_id)
            paths.append(path)
        if missing:
            raise DataError(f"{len(missing)} of the {len(ids)} {part} images are missing (first: "
                            f"{folder / missing[0]}.JPEG)", where=folder,
                            fix=f"put the images at images/<wnid>/<stem>.JPEG under {self.root}; {DOWNLOAD_HINT}")
        return ImageSet(f"imagenet-eeg/{part}", folder, tuple(ids), tuple(paths))

    def labels_of_images(self, image_ids: Sequence[str]) -> np.ndarray:
        """Class label (0-based) of each image id (``<wnid>/<stem>``)."""
        wnids = {w: i for i, w in enumerate(self.read_eeg().wnids)}
        try:
            return np.asarray([wnids[i.split("/", 1)[0]] for i in image_ids], dtype=np.int64)
        except KeyError as exc:
            raise DataError(f"image id with unknown wnid {exc}", where=self.eeg_path(), field="labels",
                            fix="image ids are '<wnid>/<stem>' with a wnid from the file's 'labels'") from None

    # -- fixations -------------------------------------------------------------------------------

    def fixations(self, part: str = "test") -> dict[str, Fixations]:
        """Fixations of the images of ``part`` that have any, keyed by image id (``<wnid>/<stem>``).

        Raises :class:`DataError` when the folder is missing or no image of ``part`` has fixations.
        """
        folder = self.root / FIXATION_FOLDER
        if not folder.is_dir():
            raise DataError("fixation folder not found", where=folder,
                            fix="put the eye-tracking fixations in fixations/fixations.csv (columns image,x,y,width,"
                                "height) or binary maps in fixations/maps/<stem>.png; see bench/data/imagenet_eeg.py")
        table = read_fixation_csv(folder / FIXATION_CSV) if (folder / FIXATION_CSV).is_file() else {}
        out: dict[str, Fixations] = {}
        for image_id in self.image_ids(part):
            stem = image_id.split("/", 1)[1]
            if stem in table:
                f = table[stem]
                out[image_id] = Fixations(image_id, f.points, f.size)
                continue
            for suffix in FIXATION_MAP_SUFFIXES:
                path = folder / FIXATION_MAP_FOLDER / f"{stem}{suffix}"
                if path.is_file():
                    out[image_id] = read_fixation_map(path, image_id)
                    break
        if not out:
            raise DataError(f"no {part} image has fixations", where=folder,
                            fix="fixations.csv rows name images by stem (e.g. n02951358_31190); maps are "
                                "fixations/maps/<stem>.png")
        return out

    def fixation_files(self) -> list[Path]:
        """The fixation files present (for checksums)."""
        folder = self.root / FIXATION_FOLDER
        files = [folder / FIXATION_CSV] if (folder / FIXATION_CSV).is_file() else []
        if (folder / FIXATION_MAP_FOLDER).is_dir():
            files += sorted(p for p in (folder / FIXATION_MAP_FOLDER).iterdir()
                            if p.suffix.lower() in FIXATION_MAP_SUFFIXES)
        return files

    # -- validation ------------------------------------------------------------------------------

    def validate(self, scan: bool = True) -> list[str]:
        """Every problem found, as messages (empty when sound): files, structure, splits, images."""
        problems: list[str] = []
        try:
            eeg = self.read_eeg()
            splits = self.read_splits()
        except (DataError, ConfigError) as exc:
            return [str(exc)]
        if self.split_file == "all":
            seen: dict[int, str] = {}
            for part in PARTS:
                idx = splits[part]
                idx = idx[(idx >= 0) & (idx < eeg.n_items)]
                for img in np.unique(eeg.images[idx]):
                    if int(img) in seen and seen[int(img)] != part:
                        problems.append(f"{self.split_path()}: image '{eeg.image_stems[img]}' is in both "
                                        f"'{seen[int(img)]}' and '{part}' (the split must be by image)")
                        break
                    seen[int(img)] = part
        for part in PARTS:
            try:
                self.images(part)
            except DataError as exc:
                problems.append(str(exc))
        return problems


def _variant_name(variant: str | None) -> str:
    name = (variant or "5-95").lower().replace("_", "-")
    aliases = {"5-95hz": "5-95", "14-70hz": "14-70", "55-95hz": "55-95", "default": "5-95"}
    name = aliases.get(name, name)
    if name not in VARIANT_FILES:
        raise ConfigError(f"unknown ImageNet-EEG variant '{variant}'", field="dataset.variant",
                          fix=f"use one of {list(VARIANT_FILES)} (the band of the file to read)")
    return name


def _find_image(base: Path) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        path = base.with_name(base.name + suffix)
        if path.is_file():
            return path
    return None


__all__ = ["ImageNetEEG", "EEGFile", "Fixations", "VARIANT_FILES", "SPLIT_FILES", "SFREQ", "LENGTH_RANGE", "CROP",
           "safe_torch_load", "parse_eeg_file", "parse_split_file", "read_fixation_csv", "read_fixation_map",
           "clear_cache", "ParsedFiles", "PARSED_FILES"]
