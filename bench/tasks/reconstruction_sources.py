"""Where reconstructions come from, and the checks every reconstruction passes before it is scored.

Used by the ``reconstruction`` task kind (:mod:`bench.tasks.reconstruction`); see its docstring for
the task. A submission names one source in ``reconstructions:`` (``bench/config/schema.py``):

**Folder** (``reconstructions: {folder: PATH}``). Test image ids contain one ``/`` (THINGS-EEG2:
``00001_aircraft_carrier/aircraft_carrier_06s``; ImageNet-EEG: ``n02951358/n02951358_31190``), so
the folder mirrors them::

    PATH/00001_aircraft_carrier/aircraft_carrier_06s.png        one sample per image, or
    PATH/00001_aircraft_carrier/aircraft_carrier_06s/0.png      several samples: 0.png, 1.png, ...
    PATH/00001_aircraft_carrier/aircraft_carrier_06s/1.png

- suffixes ``.png``, ``.jpg``, ``.jpeg`` (any case); sample files are named ``0 .. S-1`` with no gap;
  every image has the same number of samples S;
- every test image has a reconstruction (**missing** is an error), and nothing else is in the folder
  (**extra** files are an error: a stray file usually means ids that do not match); hidden files
  (``.DS_Store``) are ignored;
- every file opens with Pillow (**unreadable** is an error), is RGB (``mode == "RGB"``; RGBA, grey
  and palette images are refused: convert them), all files have the same size (W x H), and the
  shorter side is at least the task's ``protocol.min_size`` (default 64 px);
- ``{subject}`` in PATH is replaced by the unit's subject number (``recs/sub-{subject:02d}``), for
  per-subject reconstructions. Relative paths are relative to the working directory.

**Generator** (``reconstructions: {generator: "package.module:function", params: {...}}``)::

    images = function(brain_embeddings, test_image_ids, **context)

- ``brain_embeddings``: float32 (N, D), L2-normalised outputs of the submission's encoder, trained
  as in the retrieval task (selection on validation only), in the space of ``train_image_embeddings``;
- ``test_image_ids``: list of N ids, row order of ``brain_embeddings``;
- ``context`` (each passed only when the function's signature names it or takes ``**kwargs``):
  ``train_image_embeddings`` (M, D) float32 (the recipe's normalisation: centred by ``centre``
  when ``center-l2``, then L2), ``train_image_ids`` (M ids), ``train_image_paths`` (M paths),
  ``centre`` (D,), ``subject``, ``seed``, ``image_size`` (the task's ``min_size``), and every
  key of the submission's ``reconstructions.params``;
- returns N reconstructions in row order, as either a sequence of N items -- each a PIL image or
  an (H, W, 3) array, or a list of those (several samples) -- or one array (N, 3, H, W) /
  (N, S, 3, H, W). Arrays are uint8 (0-255) or float in [0, 1]. The same checks as for folders apply.

**Baselines**: ``retrieval-nearest-train`` (the training image whose image embedding has the
highest cosine similarity with the brain embedding; ties go to the lower row; honest and offline),
``ground-truth`` (the test images themselves: every metric at its ceiling) and
``shuffled-ground-truth`` (test image j is "reconstructed" by test image pi(j), pi a uniformly
random derangement seeded by the unit's seed: two-way metrics at chance).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bench.errors import ConfigError, DataError

RECON_SUFFIXES = (".png", ".jpg", ".jpeg")
CONTEXT_KEYS = ("train_image_embeddings", "train_image_ids", "train_image_paths", "centre", "subject", "seed",
                "image_size")
_SHOW = 5          # how many offending files/ids an error lists


# ------------------------------------------------------------------------------------ the result
@dataclass
class Reconstructions:
    """N test images x S samples of reconstructions, checked (RGB, one size, large enough).

    ``items[j][s]`` is a file path or an (H, W, 3) uint8/float array; ``origin[j]`` says where
    image j's samples came from (a path, the generator, or a training/test image id).
    """

    ids: list[str]
    items: list[list[Any]]
    origin: list[str]
    size: tuple[int, int] | None          # (width, height); None for dataset images (baselines)
    source: str                           # "folder", "generator", or the baseline's name
    info: dict[str, Any] = field(default_factory=dict)
    dataset_images: bool = False          # baselines: dataset files, converted to RGB, sizes may differ

    @property
    def n_samples(self) -> int:
        return len(self.items[0]) if self.items else 0

    def sample_arrays(self, s: int) -> list[np.ndarray]:
        """Sample ``s`` of every image as (H, W, 3) arrays (uint8, or float in [0, 1])."""
        return [read_rgb(x, self.ids[j], convert=self.dataset_images) if isinstance(x, Path) else x
                for j, x in enumerate(row[s] for row in self.items)]


def _list(things: Sequence[str]) -> str:
    shown = ", ".join(str(t) for t in things[:_SHOW])
    return shown + (f", ... ({len(things) - _SHOW} more)" if len(things) > _SHOW else "")


# ------------------------------------------------------------------------------------ image files
def read_rgb(path: Path, item_id: str, convert: bool = False) -> np.ndarray:
    """An RGB image file as an (H, W, 3) uint8 array; DataError naming the file and the test image id.

    ``convert``: convert other modes to RGB (dataset images) instead of refusing them (submissions).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "RGB":
                if not convert:
                    raise _not_rgb(path, item_id, im.mode)
                im = im.convert("RGB")
            return np.asarray(im, dtype=np.uint8).copy()
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read the reconstruction of test image '{item_id}': {exc}", where=path,
                        fix="re-save it as a PNG or JPEG file (Pillow must open it)") from exc


def _not_rgb(path: Path | str, item_id: str, mode: str) -> DataError:
    return DataError(f"the reconstruction of test image '{item_id}' is not RGB (Pillow mode '{mode}')", where=path,
                     fix="save reconstructions as 3-channel RGB, e.g. Image.open(f).convert('RGB').save(f) "
                         "(alpha, grey and palette images are refused)")


def _header(path: Path, item_id: str) -> tuple[tuple[int, int], str]:
    """(size, mode) of an image file, verifying that Pillow can decode it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            size, mode = im.size, im.mode
            im.load()                        # decodes: catches truncated files, not only bad headers
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read the reconstruction of test image '{item_id}': {exc}", where=path,
                        fix="re-save it as a PNG or JPEG file (Pillow must open it)") from exc
    return size, mode


def check_sizes(sizes: Sequence[tuple[tuple[int, int], str, str]], min_size: int, where: str) -> tuple[int, int]:
    """All (size, item id, origin) share one size whose shorter side is >= ``min_size``; returns it."""
    first_size, first_id, first_origin = sizes[0]
    for size, item_id, origin in sizes:
        if size != first_size:
            raise DataError(f"reconstructions have inconsistent sizes: test image '{item_id}' is {size[0]}x{size[1]} "
                            f"({origin}) but '{first_id}' is {first_size[0]}x{first_size[1]} ({first_origin})",
                            where=where, fix="give every reconstruction (and every sample) the same width and height")
    if min(first_size) < min_size:
        raise DataError(f"reconstructions are {first_size[0]}x{first_size[1]}, smaller than the task's minimum "
                        f"{min_size} px (shorter side; e.g. test image '{first_id}', {first_origin})", where=where,
                        fix=f"produce reconstructions of at least {min_size}x{min_size} (the metrics resize to "
                            f"256x256; thumbnails are refused because they are almost always a mistake)")
    return first_size


# ------------------------------------------------------------------------------------ folder source
def folder_path(template: str, subject: int) -> Path:
    """``template`` with ``{subject}`` filled in (ConfigError for any other placeholder)."""
    try:
        text = template.format(subject=subject)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"folder '{template}' has a placeholder other than {{subject}} ({exc})",
                          field="reconstructions.folder",
                          fix="use only {subject} (e.g. recs/sub-{subject:02d}); double braces {{ }} for literal ones"
                          ) from None
    return Path(text).expanduser()


def scan_folder(root: Path, ids: Sequence[str], min_size: int) -> Reconstructions:
    """Match the files under ``root`` to the test image ids and check them (see the module docstring)."""
    if not root.is_dir():
        raise DataError("reconstruction folder not found", where=root,
                        fix="create it with one <test image id>.png per test image (or <id>/<k>.png samples); "
                            "check reconstructions.folder (relative paths are relative to the working directory)")
    expected = set(ids)
    single: dict[str, list[Path]] = {}
    samples: dict[str, list[tuple[str, Path]]] = {}
    extra: list[str] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.is_dir():
            continue
        is_image = path.suffix.lower() in RECON_SUFFIXES
        stem_id = rel.with_suffix("").as_posix()
        parent_id = rel.parent.as_posix()
        if is_image and stem_id in expected:
            single.setdefault(stem_id, []).append(path)
        elif is_image and parent_id in expected:
            samples.setdefault(parent_id, []).append((path.stem, path))
        else:
            extra.append(rel.as_posix())
    missing = [i for i in ids if i not in single and i not in samples]
    if missing:
        example = root / missing[0]
        raise DataError(f"{len(missing)} of the {len(ids)} test images have no reconstruction: {_list(missing)}",
                        where=root, fix=f"write one file per test image id, e.g. {example}.png (or samples "
                                        f"{example}/0.png, 1.png, ...); ids are '<folder>/<file stem>' of the "
                                        f"dataset's test images")
    if extra:
        raise DataError(f"{len(extra)} file(s) in the reconstruction folder match no test image id: {_list(extra)}",
                        where=root, fix="remove them (or move them elsewhere): every file must be "
                                        "<test image id>.png|.jpg or <test image id>/<k>.png; a stray file usually "
                                        "means the ids do not match the task's test images")
    items: list[list[Any]] = []
    origin: list[str] = []
    for item_id in ids:
        one, many = single.get(item_id, []), samples.get(item_id, [])
        if len(one) > 1 or (one and many):
            found = [p.relative_to(root).as_posix() for p in one] + [p.relative_to(root).as_posix() for _, p in many]
            raise DataError(f"test image '{item_id}' has ambiguous reconstructions: {_list(found)}", where=root,
                            fix="keep either one file <id>.png or a folder <id>/ of samples 0.png, 1.png, ...")
        if one:
            items.append([one[0]])
            origin.append(one[0].relative_to(root).as_posix())
            continue
        bad = [p.relative_to(root).as_posix() for stem, p in many if not stem.isdigit()]
        if bad:
            raise DataError(f"sample files of test image '{item_id}' must be named 0, 1, 2, ... (found {_list(bad)})",
                            where=root / item_id, fix="rename the samples <id>/0.png, <id>/1.png, ...")
        numbered = sorted(((int(stem), p) for stem, p in many), key=lambda t: t[0])
        numbers = [k for k, _ in numbered]
        if numbers != list(range(len(numbers))):
            raise DataError(f"samples of test image '{item_id}' are numbered {numbers}; expected 0..{len(numbers) - 1} "
                            "with no gap or duplicate", where=root / item_id,
                            fix="number the samples 0, 1, 2, ... (a gap usually means a sample failed to save)")
        items.append([p for _, p in numbered])
        origin.append((root / item_id).relative_to(root).as_posix() + "/")
    counts = {len(row) for row in items}
    if len(counts) > 1:
        by = {}
        for item_id, row in zip(ids, items):
            by.setdefault(len(row), item_id)
        detail = ", ".join(f"{n} (e.g. '{i}')" for n, i in sorted(by.items()))
        raise DataError(f"test images have different numbers of samples: {detail}", where=root,
                        fix="give every test image the same number of samples (or one file each)")
    sizes = []
    for item_id, row in zip(ids, items):
        for p in row:
            size, mode = _header(p, item_id)
            if mode != "RGB":
                raise _not_rgb(p, item_id, mode)
            sizes.append((size, item_id, str(p)))
    size = check_sizes(sizes, min_size, str(root))
    return Reconstructions(list(ids), items, origin, size, "folder", {"folder": str(root)})


def folder_files(root: Path) -> list[Path]:
    """Every non-hidden file under ``root`` in sorted order (what a folder source's checksum covers)."""
    if not root.is_dir():
        return []
    return [p for p in sorted(root.rglob("*")) if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(root).parts)]


# ------------------------------------------------------------------------------------ generator source
def resolve_generator(ref: str) -> Callable[..., Any]:
    """The function ``"package.module:function"`` names (ConfigError when it cannot be imported)."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import generator module '{module_name}': {exc}", field="reconstructions.generator",
                          fix="install the package or put the module on PYTHONPATH; the form is "
                              "'package.module:function'") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"module '{module_name}' has no function '{attr}'", field="reconstructions.generator",
                          fix=f"define {attr}(brain_embeddings, test_image_ids, **context) in {module_name}")
    return fn


def generator_origin(ref: str) -> Path | None:
    """The source file of the generator's module, without importing it (for the unit's checksum)."""
    try:
        spec = importlib.util.find_spec(ref.partition(":")[0])
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and Path(spec.origin).is_file() else None


def call_generator(fn: Callable[..., Any], brain: np.ndarray, ids: list[str], context: dict[str, Any],
                   params: dict[str, Any]) -> Any:
    """Call ``fn(brain, ids, **kwargs)`` with the context keys its signature accepts plus ``params``."""
    clash = sorted(set(params) & set(CONTEXT_KEYS))
    if clash:
        raise ConfigError(f"reconstructions.params {clash} clash with the context the harness passes",
                          field="reconstructions.params", fix=f"rename them (reserved: {', '.join(CONTEXT_KEYS)})")
    try:
        sig = inspect.signature(fn)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        names = set(sig.parameters)
    except (TypeError, ValueError):
        takes_any, names = True, set()
    kwargs = {k: v for k, v in context.items() if takes_any or k in names}
    return fn(brain, list(ids), **kwargs, **params)


def _as_hwc(x: Any, item_id: str, where: str) -> np.ndarray:
    """One generated image as an (H, W, 3) uint8 or float32 [0, 1] array."""
    if type(x).__module__.startswith("PIL"):
        if x.mode != "RGB":
            raise _not_rgb(where, item_id, x.mode)
        return np.asarray(x, dtype=np.uint8).copy()
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise DataError(f"the reconstruction of test image '{item_id}' has shape {arr.shape}; expected an RGB image "
                        "(H, W, 3) or (3, H, W)", where=where,
                        fix="return RGB images (PIL images, or arrays with 3 colour channels)")
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"the reconstruction of test image '{item_id}' has dtype {arr.dtype}", where=where,
                        fix="return uint8 (0-255) or float images in [0, 1]")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all() or arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise DataError(f"the reconstruction of test image '{item_id}' has values outside [0, 1] or NaN "
                        f"(range {np.nanmin(arr):.3g}..{np.nanmax(arr):.3g})", where=where,
                        fix="map outputs to [0, 1] (e.g. (x / 2 + 0.5).clip(0, 1)) or return uint8")
    return arr.clip(0.0, 1.0)


def from_generator_output(out: Any, ids: list[str], min_size: int, where: str) -> Reconstructions:
    """Check a generator's return value (see the module docstring) and wrap it."""
    if type(out).__module__.startswith("torch") and hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    if isinstance(out, np.ndarray):
        if out.ndim == 4:
            rows = [[x] for x in out]
        elif out.ndim == 5:
            rows = [list(x) for x in out]
        else:
            raise DataError(f"the generator returned an array of shape {out.shape}; expected (N, 3, H, W) or "
                            "(N, S, 3, H, W)", where=where, fix="see the generator contract in "
                                                                "bench/tasks/reconstruction_sources.py")
    elif isinstance(out, (list, tuple)):
        rows = [list(x) if isinstance(x, (list, tuple)) else [x] for x in out]
    else:
        raise DataError(f"the generator returned a {type(out).__name__}; expected a list of N images (or of lists "
                        "of samples) or an array", where=where,
                        fix="see the generator contract in bench/tasks/reconstruction_sources.py")
    if len(rows) != len(ids):
        raise DataError(f"the generator returned {len(rows)} reconstructions for {len(ids)} test images", where=where,
                        fix="return one reconstruction (or one list of samples) per test image, in row order")
    counts = {len(r) for r in rows}
    if len(counts) != 1 or 0 in counts:
        raise DataError(f"the generator returned different (or zero) numbers of samples per image: {sorted(counts)}",
                        where=where, fix="return the same number of samples (>= 1) for every test image")
    items = [[_as_hwc(x, item_id, where) for x in row] for item_id, row in zip(ids, rows)]
    sizes = [((x.shape[1], x.shape[0]), item_id, where) for item_id, row in zip(ids, items) for x in row]
    size = check_sizes(sizes, min_size, where)
    return Reconstructions(list(ids), items, [where] * len(ids), size, "generator", {"generator": where})


# ------------------------------------------------------------------------------------ baselines
def nearest_train(brain: np.ndarray, train_embeddings: np.ndarray) -> np.ndarray:
    """Row of the most cosine-similar training image for each brain embedding (ties: the lower row).

    The built-in ``retrieval-nearest-train`` reconstructor; also usable as a generator's core.
    """
    b = brain / np.maximum(np.linalg.norm(brain, axis=1, keepdims=True), 1e-12)
    t = train_embeddings / np.maximum(np.linalg.norm(train_embeddings, axis=1, keepdims=True), 1e-12)
    return np.argmax(b.astype(np.float64) @ t.astype(np.float64).T, axis=1)


def derangement(n: int, seed: int) -> np.ndarray:
    """A uniformly random permutation of range(n) with no fixed point (rejection sampling; n >= 2)."""
    if n < 2:
        raise DataError(f"cannot shuffle {n} test image(s) without fixed points", where="shuffled-ground-truth",
                        fix="the shuffled ground truth needs at least 2 test images")
    rng = np.random.default_rng([int(seed), 7919])
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def from_paths(ids: list[str], paths: Sequence[Path], origin: list[str], source: str) -> Reconstructions:
    """Reconstructions that are dataset images (the baselines): read lazily, converted to RGB, not size-checked
    (the dataset's own images may differ in size, e.g. ImageNet)."""
    return Reconstructions(list(ids), [[Path(p)] for p in paths], origin, None, source, dataset_images=True)


__all__ = ["CONTEXT_KEYS", "RECON_SUFFIXES", "Reconstructions", "call_generator", "check_sizes", "derangement",
           "folder_files", "folder_path", "from_generator_output", "from_paths", "generator_origin", "nearest_train",
           "read_rgb", "resolve_generator", "scan_folder"]
