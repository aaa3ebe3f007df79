"""Image embeddings computed once per (image model, image set) and cached on disk.

The cache key is the SHA-256 of a JSON document naming everything that decides the vectors
(PROTOCOLS.md §2):

    {"format_version": EMBEDDING_FORMAT_VERSION,          # this module's on-disk format
     "model_id": "dreamsim:ensemble",                     # architecture + tag + output-changing params
     "weights_checksum": "<sha256 of the weight files>",  # or a seed-derived id for weight-free models
     "preprocessing": {...},                              # resize / interpolation / crop / mean / std
     "normalisation": "dreamsim-centre-l2",
     "image_set": {"content_hash": "<sha256 of ids + file bytes, in order>", "n": 200}}

Layout: ``<cache_dir>/embeddings/<model_id>/<image set name>-n<N>-<key[:16]>.npy`` (float32, N x D, row
i = image i of the set) plus a ``.json`` sidecar with the key document, the full key, the shape, the
model's parameters and weight files, and timings. Names encode what they contain; the key decides
validity (a changed weight file, transform or image gives a new file, never a stale one). Files are
written to a temporary name and renamed, the sidecar last, so a reader never sees a partial entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from bench.errors import ConfigError, DataError
from bench.images import IMAGE_MODELS
from bench.images.base import ImageModel

if TYPE_CHECKING:  # pragma: no cover
    from bench.data.base import ImageSet
    from bench.settings import Settings

#: bump when the stored format or the meaning of a stored embedding changes
EMBEDDING_FORMAT_VERSION = 1

log = logging.getLogger(__name__)


def build_image_model(name: str, params: Mapping[str, Any] | None, settings: "Settings") -> ImageModel:
    """The registered image model ``name`` built with ``params`` (checked; nothing loaded yet).

    Unknown names raise RegistryError listing the known ones; unknown or invalid parameters raise
    ConfigError listing the accepted ones.
    """
    cls = IMAGE_MODELS.get(name)
    params = dict(params or {})
    accepted = cls.param_names()
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(f"image model '{name}' has no parameter(s) {', '.join(unknown)}",
                          field=unknown[0], fix=f"accepted parameters: {', '.join(accepted)}")
    model = cls(settings, **params)
    model.check_params()
    return model


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_") or "x"


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True)
class CacheEntry:
    """Where one (model, image set) embedding lives, and the key that makes it valid."""

    npy: Path
    sidecar: Path
    key: dict[str, Any]
    digest: str

    def load(self) -> np.ndarray | None:
        """The cached array if this entry is present and valid for ``key``; None otherwise."""
        if not (self.npy.is_file() and self.sidecar.is_file()):
            return None
        try:
            meta = json.loads(self.sidecar.read_text())
            if meta.get("key_sha256") != self.digest:
                return None
            array = np.load(self.npy, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable embedding cache entry %s: %s", self.npy, exc)
            return None
        n = self.key["image_set"]["n"]
        if array.dtype != np.float32 or array.ndim != 2 or array.shape[0] != n \
                or list(array.shape) != meta.get("shape"):
            log.warning("ignoring embedding cache entry %s with shape %s dtype %s", self.npy, array.shape, array.dtype)
            return None
        return array

    def exists(self) -> bool:
        return self.load() is not None


def cache_entry(model: ImageModel, images: "ImageSet", settings: "Settings") -> CacheEntry:
    """The cache entry (paths + key) for ``model`` on ``images``; computes checksums, no embeddings."""
    key = {
        "format_version": EMBEDDING_FORMAT_VERSION,
        "model_id": model.model_id,
        "weights_checksum": model.weights_checksum(),
        "preprocessing": model.preprocessing(),
        "normalisation": model.normalisation(),
        "image_set": {"content_hash": images.content_hash(settings.cache_dir), "n": len(images)},
    }
    digest = hashlib.sha256(_canonical(key).encode()).hexdigest()
    folder = Path(settings.embedding_cache) / _slug(model.model_id)
    stem = f"{_slug(images.name)}-n{len(images)}-{digest[:16]}"
    return CacheEntry(folder / f"{stem}.npy", folder / f"{stem}.json", key, digest)


def _read_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image: {exc}", where=path,
                        fix="replace or remove the file, then run again") from exc


_LIBRARIES = ("numpy", "pillow", "torch", "torchvision", "open_clip_torch", "timm", "dreamsim", "peft",
              "scikit-image")


def _library_versions() -> dict[str, str]:
    """Versions of the libraries that compute embeddings (recorded in the sidecar, not in the key)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _harness_version() -> str:
    import bench

    version = getattr(bench, "HARNESS_VERSION", None)
    if version is None:  # e.g. an editable install made before bench/__init__.py existed
        from importlib.metadata import PackageNotFoundError, version as dist_version

        try:
            version = dist_version("brainvis-bench")
        except PackageNotFoundError:
            version = "unknown"
    return str(version)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def compute_embeddings(model: ImageModel, images: "ImageSet", batch_size: int = 32,
                       progress: bool = True) -> np.ndarray:
    """Embed every image of ``images`` in order (no cache): float32 (N, D). Images are read per batch."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ConfigError(f"batch size must be >= 1, got {batch_size}", field="batch_size", fix="use e.g. 32")
    model.load()
    out = np.empty((len(images), model.dim), dtype=np.float32)
    with tqdm(total=len(images), unit="img", desc=f"embed {model.model_id} | {images.name}",
              disable=not progress, dynamic_ncols=True, smoothing=0.1) as bar:
        for start in range(0, len(images), batch_size):
            paths = images.paths[start:start + batch_size]
            out[start:start + len(paths)] = model.embed([_read_image(p) for p in paths])
            bar.update(len(paths))
    return out


def embed_image_set(model: ImageModel, images: "ImageSet", settings: "Settings", batch_size: int = 32,
                    progress: bool = True) -> np.ndarray:
    """Embeddings of ``images`` (row i = image i) by ``model``: from the cache, or computed and cached.

    Returns float32 (N, model.dim). A second call with the same model, weights, preprocessing and image
    bytes reads the cached file and computes nothing. ``progress`` shows a tqdm bar (rate, ETA).
    """
    entry = cache_entry(model, images, settings)
    cached = entry.load()
    if cached is not None:
        log.info("embedding cache hit: %s", entry.npy)
        return cached
    t0 = time.perf_counter()
    model.load()
    load_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    array = compute_embeddings(model, images, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - t0
    _atomic_write(entry.npy, lambda fh: np.save(fh, array, allow_pickle=False))
    meta = {
        "what": f"{model.model_id} embeddings of image set '{images.name}' ({len(images)} images)",
        "key_sha256": entry.digest,
        "key": entry.key,
        "shape": list(array.shape),
        "dtype": "float32",
        "rows": "row i = image i of the image set, in its order",
        "image_set": {"name": images.name, "root": str(images.root),
                      "first_ids": list(images.ids[:3]), "last_id": images.ids[-1] if len(images) else None},
        "model": {"name": model.name, "params": model.get_params(),
                  "weight_files": [str(p) for p in model.weight_files()]},
        "library_versions": _library_versions(),
        "computed": {"load_seconds": round(load_seconds, 3), "embed_seconds": round(seconds, 3), "images_per_second": round(len(images) / max(seconds, 1e-9), 2),
                     "batch_size": batch_size, "harness_version": _harness_version(),
                     "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    }
    _atomic_write(entry.sidecar, lambda fh: fh.write((json.dumps(meta, indent=2, sort_keys=True) + "\n").encode()))
    log.info("embedded %d images with %s in %.1fs (+%.1fs loading) -> %s", len(images), model.model_id, seconds,
             load_seconds, entry.npy)
    return array
