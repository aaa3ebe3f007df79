"""THINGS-EEG2 (Gifford et al. 2022): the preprocessed EEG of 10 subjects viewing THINGS images.

Layouts read (both as published; see docs/PROTOCOLS.md section 1)::

    <root>/Preprocessed_data_250Hz/sub-XX/preprocessed_eeg_training.npy   variant "250hz"
    <root>/Preprocessed_data_250Hz/sub-XX/preprocessed_eeg_test.npy         (NICE / ATM / AlignVis)
    <root>/preprocessed_data/sub-XX/preprocessed_eeg_{training,test}.npy    variant "100hz" (official OSF)
    <root>/training_images/<NNNNN_concept>/<concept>_XXb.jpg                1654 concepts x 10 images
    <root>/test_images/<NNNNN_concept>/<concept>_XXs.jpg                    200 concepts x 1 image
    <root>/image_metadata.npy                                               optional, cross-checked
    <root>/object_images/<concept>/<file>.jpg     optional: the THINGS images database (Hebart et al. 2019)

- ``object_images/`` is the THINGS database's own layout (folder = concept name without the
  ``NNNNN_`` prefix, e.g. ``object_images/aircraft_carrier/aircraft_carrier_06s.jpg``; the published
  zips unpack to it). Only NICE's "concept-centre" gallery reads it (:meth:`ThingsEEG2.concept_centre_images`):
  for each test concept, every image of its folder except the test image itself (same file name), as
  NICE's ``preprocessing/get_center_images.py`` does. Absent or incomplete, the error lists exactly
  which concept folders are missing or hold no other image.

- "250hz": each ``.npy`` is really a *pickle* (protocol 4) of ``{"preprocessed_eeg_data": float64
  (images, repetitions, 63, 250), "ch_names": [63], "times": [300]}``. The data are the 250 samples
  0-0.996 s; the stored ``times`` still has the 300 values of -0.2-0.996 s, so the loader takes the
  last ``n_times`` of them (the published ``[..., 50:]``) whenever ``times`` is longer than the data.
- "100hz": ``np.save`` of the same dict (17 occipital/parietal channels, 100 samples, -0.2-0.79 s).
- EEG row *i* is the *i*-th image in sorted-folder, sorted-file order; the concept label is
  ``int(folder.split("_")[0]) - 1`` (the test folders are numbered 1-200 on their own).

**Safety.** Both containers are pickles. They are read with :class:`~bench.data.safe_pickle.SafeUnpickler`, whose
``find_class`` admits only numpy's array/dtype/scalar reconstruction and a few inert builtins
(never ``os.system``, ``eval``, ...): a file that tries anything else raises :class:`DataError`
before any of it runs.

**Memory.** A 250 Hz training file is ~8.3 GB of float64. The unpickler does not read large array
payloads: it notes their offset in the file (pickle protocol >= 4 writes them unframed, protocol 3
inline), and ``load`` then reads them in chunks of ~64 MB, averaging repetitions (float64
arithmetic) straight into the float32 output. Peak memory is the float32 result plus one chunk
(``repetitions="single"``: the float32 result, 4x larger). Small arrays (``times``) and arrays
inside a pickle frame are read normally.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np

from bench.data import DATASETS, last_read
from bench.data.base import BrainData, BrainDataset, ImageSet, Part, Repetitions
from bench.data.checksum import cached_sha256, file_sha256, remember_sha256
from bench.data.selection import pick_channels, pick_times
from bench.errors import ConfigError, DataError

# --------------------------------------------------------------------------------------------
# Published layout
# --------------------------------------------------------------------------------------------

CH_NAMES_63: tuple[str, ...] = (
    "Fp1", "Fp2", "AF7", "AF3", "AFz", "AF4", "AF8", "F7", "F5", "F3", "F1", "F2", "F4",
    "F6", "F8", "FT9", "FT7", "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "FT8",
    "FT10", "T7", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "T8", "TP9", "TP7", "CP5",
    "CP3", "CP1", "CPz", "CP2", "CP4", "CP6", "TP8", "TP10", "P7", "P5", "P3", "P1", "Pz",
    "P2", "P4", "P6", "P8", "PO7", "PO3", "POz", "PO4", "PO8", "O1", "Oz", "O2",
)
"""The 63 channels of the 250 Hz files, in their stored order."""

CH_NAMES_17: tuple[str, ...] = (
    "Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz", "PO4", "PO8", "P6", "P2",
)
"""The 17 occipital/parietal channels of the official 100 Hz files, in their stored order."""

DATA_KEY, CH_KEY, TIMES_KEY = "preprocessed_eeg_data", "ch_names", "times"
FILE_NAMES: dict[str, str] = {"train": "preprocessed_eeg_training.npy", "test": "preprocessed_eeg_test.npy"}
IMAGE_FOLDERS: dict[str, str] = {"train": "training_images", "test": "test_images"}
METADATA_FILE = "image_metadata.npy"
METADATA_KEYS: dict[str, tuple[str, str]] = {"train": ("train_img_concepts", "train_img_files"),
                                             "test": ("test_img_concepts", "test_img_files")}
PUBLISHED_SHAPES: dict[str, tuple[int, int]] = {"train": (16540, 4), "test": (200, 80)}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
OBJECT_IMAGES = "object_images"
"""The THINGS images database folder (``object_images/<concept>/<file>.jpg``), for concept centres."""
DOWNLOAD_HINT = ("get THINGS-EEG2 from its OSF project (https://osf.io/3jk45/, linked from the THINGS "
                 "initiative page): the preprocessed EEG and the image set, unpacked under the same root")


@dataclass(frozen=True)
class Layout:
    """One published variant of the preprocessed files."""

    variant: str
    folder: str
    container: str          # "pickle" (pickle.dump) or "npy" (np.save of the dict)
    ch_names: tuple[str, ...]
    sfreq: float
    stored_times: tuple[int, int]   # sample range of the stored ``times`` (times = arange(*r) / sfreq)
    data_start: int                 # first data sample, in the same units
    origin: str

    @property
    def n_times(self) -> int:
        return self.stored_times[1] - self.data_start

    def example(self, part: str = "train") -> str:
        return f"<root>/{self.folder}/sub-01/{FILE_NAMES[part]}"


LAYOUTS: dict[str, Layout] = {
    "250hz": Layout("250hz", "Preprocessed_data_250Hz", "pickle", CH_NAMES_63, 250.0, (-50, 250), 0,
                    "the 250 Hz / 63-channel preprocessing of NICE, ATM and AlignVis (a pickle per file)"),
    "100hz": Layout("100hz", "preprocessed_data", "npy", CH_NAMES_17, 100.0, (-20, 80), -20,
                    "the official OSF 100 Hz / 17-channel release (np.save of a dict per file)"),
}


def detect_variant(root: Path) -> str | None:
    """The variant whose EEG folder exists under ``root`` (250hz first), or None."""
    for name, layout in LAYOUTS.items():
        if (Path(root) / layout.folder).is_dir():
            return name
    return None


# Safe, lazy unpickling lives in bench/data/safe_pickle.py (re-exported here for existing imports).
from bench.data.safe_pickle import LAZY_THRESHOLD, LazyArray, SafeUnpickler, safe_load  # noqa: E402,F401

# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------

_CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class EEGFile:
    """One validated EEG file: the (lazy) data array, channels, and the data's sample times."""

    path: Path
    data: Any               # LazyArray or np.ndarray, (images, repetitions, channels, times)
    ch_names: list[str]
    times: np.ndarray       # the data's own sample times (len == data.shape[-1])
    stored_times: int       # len(times) as stored in the file

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


@DATASETS.register("things-eeg2", aliases=("things_eeg2", "thingseeg2"))
class ThingsEEG2(BrainDataset):
    """THINGS-EEG2 in either published layout (``variant="250hz"`` or ``"100hz"``).

    Example::

        ds = ThingsEEG2("/data/things-eeg2", variant="250hz")
        train = ds.load(1, "train")                      # 4-repetition averages, float32
        test = ds.load(1, "test", repetitions="single")  # one row per repetition
        images = ds.images("test")                       # row order of ``test``
    """

    name = "things-eeg2"
    modality = "eeg"
    variants = ("250hz", "100hz")

    @classmethod
    def detect_variant(cls, root: Path) -> str | None:
        """The variant of a THINGS-EEG2 folder (see the module-level :func:`detect_variant`)."""
        return detect_variant(root)
    #: Preprocessing provenance shown on every THINGS-EEG2 task page ("Data caveats"; PROTOCOLS.md §6).
    caveats = ("The official preprocessing (Gifford et al. 2022; the OSF release, whose code the 250 Hz data of "
               "NICE/ATM reuse) whitens the EEG with multivariate noise normalisation (MVNN) whose covariance is "
               "averaged over the training and the test data of each session: test data inform the preprocessing "
               "of the training data. The effect is the same for every entry, but scores are not from a fully "
               "held-out pipeline.",)

    def __init__(self, root: Path, variant: str | None = "250hz", cache_dir: Path | None = None) -> None:
        variant = self.check_variant(variant, "THINGS-EEG2")
        super().__init__(root, variant, cache_dir)
        self._image_tables: dict[str, tuple[ImageSet, np.ndarray]] = {}

    @property
    def layout(self) -> Layout:
        return LAYOUTS[self.variant]

    # -- locations ------------------------------------------------------------------------------

    def _layout_hint(self) -> str:
        lay = self.layout
        return (f"expected the {lay.variant} layout ({lay.origin}): {lay.example('train')} and "
                f"{lay.example('test')}, with training_images/ and test_images/ beside it")

    def _check_root(self) -> Path:
        if not self.root.is_dir():
            raise DataError("THINGS-EEG2 root folder not found", where=self.root,
                            fix=f"{DOWNLOAD_HINT}; or simulate one: bench data simulate things-eeg2 --out DIR; "
                                f"{self._layout_hint()}")
        folder = self.root / self.layout.folder
        if not folder.is_dir():
            other = detect_variant(self.root)
            extra = f"; found {LAYOUTS[other].folder}/ instead: use variant='{other}'" if other else ""
            raise DataError(f"EEG folder '{self.layout.folder}' not found", where=folder,
                            fix=f"{self._layout_hint()}{extra}; {DOWNLOAD_HINT}")
        return folder

    def subjects(self) -> list[int]:
        folder = self._check_root()
        found = sorted(int(m.group(1)) for p in folder.iterdir()
                       if p.is_dir() and (m := re.fullmatch(r"sub-(\d+)", p.name)))
        if not found:
            raise DataError("no sub-XX folders", where=folder, fix=self._layout_hint())
        return found

    def files(self, subject: int, part: Part) -> list[Path]:
        self.check_part(part)
        return [self.root / self.layout.folder / f"sub-{int(subject):02d}" / FILE_NAMES[part]]

    def _data_file(self, subject: int, part: Part) -> Path:
        folder = self._check_root()
        sub = folder / f"sub-{int(subject):02d}"
        if not sub.is_dir():
            have = ", ".join(p.name for p in sorted(folder.iterdir()) if p.is_dir()) or "none"
            raise DataError(f"subject folder not found (subjects present: {have})", where=sub,
                            fix=f"{self._layout_hint()}; {DOWNLOAD_HINT}")
        path = sub / FILE_NAMES[part]
        if not path.is_file():
            raise DataError(f"{part} file not found", where=path, fix=f"{self._layout_hint()}; {DOWNLOAD_HINT}")
        return path

    # -- reading --------------------------------------------------------------------------------

    def read_file(self, subject: int, part: Part) -> EEGFile:
        """Open and validate one EEG file (keys, types, shapes, channels, times) without reading the data."""
        path = self._data_file(subject, part)
        lay = self.layout
        content = safe_load(path)
        fix_layout = (f"the file must hold {{'{DATA_KEY}': float array (images, repetitions, channels, times), "
                      f"'{CH_KEY}': list of channel names, '{TIMES_KEY}': array of sample times}} as in "
                      f"{lay.origin}; re-download it ({DOWNLOAD_HINT})")
        if not isinstance(content, dict):
            raise DataError(f"expected a dict, found {type(content).__name__}", where=path, fix=fix_layout)
        missing = [k for k in (DATA_KEY, CH_KEY, TIMES_KEY) if k not in content]
        if missing:
            raise DataError(f"missing key (keys present: {sorted(map(str, content))})", where=path,
                            field=missing[0], fix=fix_layout)
        data = content[DATA_KEY]
        if isinstance(data, np.ndarray) and data.dtype.hasobject:
            data = np.asarray(data.tolist())
        if not isinstance(data, (np.ndarray, LazyArray)):
            raise DataError(f"expected a numpy array, found {type(data).__name__}", where=path, field=DATA_KEY,
                            fix=fix_layout)
        if data.ndim != 4:
            raise DataError(f"has shape {tuple(data.shape)} (ndim {data.ndim}); expected 4 dimensions "
                            "(images, repetitions, channels, times)", where=path, field=DATA_KEY, fix=fix_layout)
        if data.dtype.kind != "f":
            raise DataError(f"has dtype {data.dtype}; expected floating point", where=path, field=DATA_KEY,
                            fix=fix_layout)
        n_img, n_rep, n_ch, n_t = data.shape
        if min(data.shape) == 0:
            raise DataError(f"has an empty dimension: shape {tuple(data.shape)}", where=path, field=DATA_KEY,
                            fix=fix_layout)
        ch_names = content[CH_KEY]
        if isinstance(ch_names, np.ndarray):
            ch_names = ch_names.tolist()
        if not isinstance(ch_names, (list, tuple)) or not all(isinstance(c, str) for c in ch_names):
            raise DataError("expected a list of channel-name strings", where=path, field=CH_KEY, fix=fix_layout)
        if len(ch_names) != n_ch:
            raise DataError(f"lists {len(ch_names)} channels but '{DATA_KEY}' has {n_ch} (shape "
                            f"{tuple(data.shape)})", where=path, field=CH_KEY, fix=fix_layout)
        times = np.asarray(content[TIMES_KEY])
        if times.ndim != 1 or times.dtype.kind not in "fiu":
            raise DataError(f"expected a 1-D numeric array, found shape {times.shape} dtype {times.dtype}",
                            where=path, field=TIMES_KEY, fix=fix_layout)
        if len(times) < n_t:
            raise DataError(f"has {len(times)} values but the data have {n_t} samples", where=path,
                            field=TIMES_KEY, fix=fix_layout)
        # The 250 Hz files store the 300 epoch times (-0.2..0.996 s) for data that are the last 250
        # samples (0..0.996 s): the published [..., 50:]. Keep the times that belong to the data.
        data_times = times[len(times) - n_t:].astype(np.float64)
        return EEGFile(path, data, list(ch_names), data_times, len(times))

    def load(self, subject: int, part: Part, *, repetitions: Repetitions = "average",
             channels: Sequence[str] | None = None, time_window: tuple[float, float] | None = None) -> BrainData:
        """Read one subject's train or test part as float32 :class:`BrainData`.

        repetitions: ``"average"`` (one row per image, repetitions averaged in float64, chunk by
            chunk) or ``"single"`` (one row per repetition, image ids repeated, rows image-major).
        channels: names to keep, in the given order (default: all, as stored).
        time_window: ``(tmin, tmax)`` in seconds, inclusive (default: all data samples).
        """
        self.check_part(part)
        if repetitions not in ("average", "single"):
            raise ConfigError(f"unknown repetitions mode '{repetitions}'", field="repetitions",
                              fix="use 'average' or 'single'")
        eeg = self.read_file(subject, part)
        images, concepts = self.image_table(part)
        n_img, n_rep, n_ch, n_t = eeg.shape
        if n_img != len(images):
            raise DataError(f"has {n_img} image rows but {IMAGE_FOLDERS[part]}/ holds {len(images)} images",
                            where=eeg.path, field=DATA_KEY,
                            fix=f"EEG row i is the i-th image in sorted order: the EEG file and "
                                f"{self.root / IMAGE_FOLDERS[part]} must come from the same release "
                                f"({n_img} rows expected; published: {PUBLISHED_SHAPES[part][0]})")
        ch_idx = pick_channels(eeg.ch_names, channels, where=eeg.path)
        t_sel = pick_times(eeg.times, time_window, where=eeg.path)
        # The same read as the previous unit's (another seed of this subject): its result, read-only.
        slot, key = f"{self.name}:{part}", last_read.file_key(eeg.path, tuple(ch_idx), t_sel.start, t_sel.stop,
                                                             t_sel.step, repetitions)
        signals, digest = last_read.remembered(slot, key, lambda: self._read(eeg, ch_idx, t_sel, repetitions))
        ids = np.asarray(images.ids)
        subj = np.full(len(signals), int(subject), dtype=np.int64)
        if repetitions == "single":
            ids, concepts = np.repeat(ids, n_rep), np.repeat(concepts, n_rep)
        times = eeg.times[t_sel]
        sfreq = float(round(1.0 / float(np.median(np.diff(eeg.times))), 6)) if n_t > 1 else None
        info = {"dataset": self.name, "variant": self.variant, "part": part, "repetitions": repetitions,
                "n_repetitions": n_rep, "file": str(eeg.path), "shape_on_disk": list(eeg.shape)}
        checksum = self._checksum(part, eeg.path, digest)
        return BrainData(signals, ids, np.asarray(concepts, dtype=np.int64), subj, checksum,
                         [eeg.ch_names[i] for i in ch_idx], times, sfreq, info)

    def _read(self, eeg: EEGFile, ch_idx: list[int], t_sel: slice, repetitions: Repetitions) -> tuple[np.ndarray, str]:
        """Read the selected signals and the file's checksum: remembered by (path, size, mtime) when it was
        hashed before (planning hashes it), else computed from the bytes as they are read (one pass)."""
        digest = cached_sha256(eeg.path, self.cache_dir)
        one_pass = digest is None and isinstance(eeg.data, LazyArray) and not eeg.data.fortran
        stat = eeg.path.stat() if one_pass else None                  # the file as it is before the read
        hasher = hashlib.sha256() if one_pass else None
        signals = _read_signals(eeg, ch_idx, t_sel, average=repetitions == "average", hasher=hasher)
        if hasher is not None and stat is not None:
            digest = hasher.hexdigest()
            remember_sha256(eeg.path, stat, digest, self.cache_dir)
        elif digest is None:
            digest = file_sha256(eeg.path, self.cache_dir)
        return signals, digest

    def checksum(self, subject: int, part: Part) -> str:
        """SHA-256 over the EEG file's bytes, the variant and the image row order (ids).

        Equal to ``load(subject, part).checksum``; both use the file's remembered digest
        (:mod:`bench.data.checksum`); without one ``load`` hashes the bytes as it reads them, this
        reads the file without loading it.
        """
        path = self._data_file(subject, part)
        return self._checksum(part, path, file_sha256(path, self.cache_dir))

    def _checksum(self, part: Part, path: Path, digest: str) -> str:
        from bench.data.checksum import combine

        images, _ = self.image_table(part)
        ids = hashlib.sha256("\n".join(images.ids).encode()).hexdigest()
        files = combine([f"{path.relative_to(self.root)}:{digest}"])  # = checksum.files_sha256([path], root=root)
        return combine([self.variant, files, ids])

    # -- images ---------------------------------------------------------------------------------

    def images(self, part: Part) -> ImageSet:
        return self.image_table(part)[0]

    def concept_centre_images(self, part: Part = "test") -> tuple[ImageSet, np.ndarray]:
        """The *other* THINGS images of each concept of ``part`` and, per image, the row of ``part``'s
        image whose concept it belongs to (NICE's concept centres; see the module docstring).

        Raises DataError naming every concept folder under ``object_images/`` that is missing or holds
        no image besides the test image itself.
        """
        images, _ = self.image_table(part)
        folder = self.root / OBJECT_IMAGES
        ids: list[str] = []
        paths: list[Path] = []
        owner: list[int] = []
        missing: list[str] = []
        for row, (image_id, path) in enumerate(zip(images.ids, images.paths)):
            concept = image_id.split("/")[0].split("_", 1)[-1]
            concept_dir = folder / concept
            files = (sorted(p for p in concept_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                            and p.name != path.name) if concept_dir.is_dir() else [])
            if not files:
                missing.append(f"{OBJECT_IMAGES}/{concept}/" + ("" if concept_dir.is_dir() else " (no folder)")
                               + (" (only the test image)" if concept_dir.is_dir() else ""))
            for f in files:
                ids.append(f"{concept}/{f.stem}")
                paths.append(f)
                owner.append(row)
        if missing:
            simulated = (self.root / "simulation.json").is_file()
            fix = ("a simulated dataset written before the simulator wrote object_images/ lacks them all: delete "
                   "the folder and run again (it is re-simulated); otherwise restore the folders listed" if simulated else
                   f"unpack the THINGS images database (https://osf.io/jum2f/) as {OBJECT_IMAGES}/<concept>/"
                   "<file>.jpg under the data root, or use 'gallery: stimulus'")
            raise DataError(f"concept-centre gallery: {len(missing)} of {len(images)} {part} concepts have no "
                            f"other THINGS image: {', '.join(missing)}", where=folder, field="protocol.gallery",
                            fix=fix)
        return (ImageSet(f"things-eeg2/{part}-concept-others", folder, tuple(ids), tuple(paths)),
                np.asarray(owner, dtype=np.int64))

    def image_table(self, part: Part) -> tuple[ImageSet, np.ndarray]:
        """The images of ``part`` in EEG row order and their concept labels (0-based)."""
        self.check_part(part)
        if part in self._image_tables:
            return self._image_tables[part]
        if not self.root.is_dir():
            self._check_root()
        folder = self.root / IMAGE_FOLDERS[part]
        if not folder.is_dir():
            raise DataError(f"image folder '{IMAGE_FOLDERS[part]}' not found", where=folder,
                            fix=f"put the THINGS-EEG2 image set under the data root "
                                f"({IMAGE_FOLDERS[part]}/<NNNNN_concept>/<file>.jpg); {DOWNLOAD_HINT}")
        ids: list[str] = []
        paths: list[Path] = []
        concepts: list[int] = []
        for concept_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            try:
                label = int(concept_dir.name.split("_")[0]) - 1
            except ValueError:
                raise DataError("concept folder name does not start with its number (NNNNN_concept)",
                                where=concept_dir, fix="keep the published folder names") from None
            for f in sorted(p for p in concept_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                ids.append(f"{concept_dir.name}/{f.stem}")
                paths.append(f)
                concepts.append(label)
        if not ids:
            raise DataError("no images found", where=folder,
                            fix=f"expected {IMAGE_FOLDERS[part]}/<NNNNN_concept>/<file>.jpg; {DOWNLOAD_HINT}")
        self._check_metadata(part, ids)
        table = (ImageSet(f"things-eeg2/{part}", folder, tuple(ids), tuple(paths)), np.asarray(concepts, np.int64))
        self._image_tables[part] = table
        return table

    def _check_metadata(self, part: str, ids: list[str]) -> None:
        path = self.root / METADATA_FILE
        if not path.is_file():
            return
        meta = safe_load(path)
        key_c, key_f = METADATA_KEYS[part]
        if not isinstance(meta, dict) or key_c not in meta or key_f not in meta:
            raise DataError(f"missing keys '{key_c}'/'{key_f}'", where=path,
                            field=key_c if isinstance(meta, dict) else None, fix="re-download image_metadata.npy or delete it (the folder listing is used then)")
        listed = [f"{c}/{Path(str(f)).stem}" for c, f in zip(list(meta[key_c]), list(meta[key_f]))]
        if listed != ids:
            first = next((i for i, (a, b) in enumerate(zip(listed, ids)) if a != b), min(len(listed), len(ids)))
            got = listed[first] if first < len(listed) else "<end>"
            have = ids[first] if first < len(ids) else "<end>"
            raise DataError(f"image order disagrees with {IMAGE_FOLDERS[part]}/ at row {first}: metadata "
                            f"says '{got}', folders give '{have}' ({len(listed)} vs {len(ids)} images)",
                            where=path, field=key_f,
                            fix="the image folders and image_metadata.npy come from different releases; "
                                "re-download the image set")

    # -- validation -----------------------------------------------------------------------------

    def validate(self, scan: bool = True) -> list[str]:
        """Every problem found, as messages (empty when the dataset is sound).

        Checks the layout, each subject's files (keys, shapes, channels, times, rows vs images) and,
        with ``scan``, NaN/Inf in the data (reads every file once, chunk by chunk).
        """
        problems: list[str] = []
        try:
            subjects = self.subjects()
        except DataError as exc:
            return [str(exc)]
        for part in ("train", "test"):
            try:
                self.image_table(part)
            except DataError as exc:
                problems.append(str(exc))
        for s in subjects:
            for part in ("train", "test"):
                try:
                    eeg = self.read_file(s, part)
                    images, _ = self.image_table(part)
                    if eeg.shape[0] != len(images):
                        problems.append(f"{eeg.path}: field '{DATA_KEY}': {eeg.shape[0]} image rows but "
                                        f"{IMAGE_FOLDERS[part]}/ holds {len(images)} images")
                    if list(eeg.ch_names) != list(self.layout.ch_names):
                        problems.append(f"{eeg.path}: field '{CH_KEY}': channels differ from the published "
                                        f"{self.layout.variant} list (not an error if intended)")
                    if scan:
                        _read_signals(eeg, list(range(eeg.shape[2])), slice(None), average=True)
                except DataError as exc:
                    problems.append(str(exc))
        return problems


def _read_signals(eeg: EEGFile, ch_idx: list[int], t_sel: slice, *, average: bool, hasher=None) -> np.ndarray:
    """Chunked read: float32 (images, ch, t) averages, or (images*reps, ch, t) single trials.

    ``hasher`` (a hashlib object) receives the file's bytes in order while they are read, so the
    file checksum costs no second pass; only when the data are not a :class:`LazyArray` (small
    in-memory arrays) is it left untouched, and the caller hashes the file itself. Raises
    DataError listing the first image rows with NaN/Inf in the selected channels/times.
    """
    data = eeg.data
    n_img, n_rep, n_ch, n_t = data.shape
    n_sel_t = len(range(n_t)[t_sel])
    all_ch = ch_idx == list(range(n_ch))
    out_rows = n_img if average else n_img * n_rep
    out = np.empty((out_rows, len(ch_idx), n_sel_t), dtype=np.float32)
    row_bytes = n_rep * n_ch * n_t * data.dtype.itemsize
    step = max(1, _CHUNK_BYTES // max(row_bytes, 1))
    bad: list[int] = []
    n_bad = 0
    lazy = isinstance(data, LazyArray) and not data.fortran
    fh = open(eeg.path, "rb") if lazy else None
    buf = None
    try:
        if hasher is not None and lazy:
            _hash_range(fh, 0, data.offset, hasher)
        for i0 in range(0, n_img, step):
            i1 = min(n_img, i0 + step)
            if lazy:
                if buf is None or len(buf) != i1 - i0:
                    buf = np.empty((i1 - i0, n_rep, n_ch, n_t), dtype=data.dtype)
                block = data.read(i0, i1, out=buf, fh=fh)
                if hasher is not None:
                    hasher.update(memoryview(block.reshape(-1)).cast("B"))
            else:
                block = np.asarray(data[i0:i1])
            if not all_ch:
                block = block[:, :, ch_idx]
            if t_sel != slice(None):
                block = block[..., t_sel]
            finite = np.isfinite(block).reshape(i1 - i0, -1).all(axis=1)
            if not finite.all():
                rows = np.flatnonzero(~finite) + i0
                n_bad += len(rows)
                bad.extend(int(r) for r in rows[: max(0, 10 - len(bad))])
                continue
            if average:
                out[i0:i1] = block.mean(axis=1, dtype=np.float64)
            else:
                out[i0 * n_rep:i1 * n_rep] = block.reshape(-1, len(ch_idx), n_sel_t)
        if hasher is not None and lazy:
            _hash_range(fh, data.offset + data.nbytes, None, hasher)
    finally:
        if fh is not None:
            fh.close()
    if n_bad:
        raise DataError(f"NaN or Inf values in {n_bad} image row(s); first item indices: {bad}",
                        where=eeg.path, field=DATA_KEY,
                        fix="re-download or re-create the file; if the rest is usable, drop these items "
                            "(or the channels/times holding them, via channels=/time_window=)")
    return out


def _hash_range(fh: BinaryIO, start: int, stop: int | None, hasher) -> None:
    """Feed bytes ``start:stop`` (``None``: to the end) of the open file to ``hasher``."""
    fh.seek(start)
    remaining = None if stop is None else stop - start
    while remaining is None or remaining > 0:
        chunk = fh.read(1 << 22 if remaining is None else min(1 << 22, remaining))
        if not chunk:
            break
        hasher.update(chunk)
        if remaining is not None:
            remaining -= len(chunk)


__all__ = ["ThingsEEG2", "OBJECT_IMAGES", "SafeUnpickler", "LazyArray", "EEGFile", "Layout", "LAYOUTS", "CH_NAMES_63",
           "CH_NAMES_17", "FILE_NAMES", "IMAGE_FOLDERS", "METADATA_FILE", "safe_load", "detect_variant"]
