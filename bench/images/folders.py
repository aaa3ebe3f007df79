"""An :class:`~bench.data.base.ImageSet` from a plain folder of images.

THINGS layout: ``<dir>/<concept>/<file>.jpg``, ordered by sorted concept folder then sorted file name
(the row order of THINGS-EEG2). Image files directly in ``<dir>`` are accepted too (they come first,
sorted). An image's id is its path relative to ``<dir>`` without the suffix, e.g.
``00001_aardvark/aardvark_01b``.
"""

from __future__ import annotations

from pathlib import Path

from bench.data.base import ImageSet
from bench.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def image_set_from_folder(path: str | Path, name: str | None = None) -> ImageSet:
    """The images under ``path`` (flat, or one level of concept folders) in sorted order.

    ``name`` defaults to the folder's name. Raises DataError when the folder is missing or holds no
    image, or when two files map to the same id (e.g. ``a.jpg`` and ``a.png``).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError("image folder not found", where=root,
                        fix="pass a folder holding <concept>/<file>.jpg images (THINGS layout)")
    files = sorted(p for p in root.iterdir() if _is_image(p))
    for concept in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files.extend(sorted(p for p in concept.iterdir() if _is_image(p)))
    if not files:
        raise DataError("no images found (looked for " + ", ".join(IMAGE_SUFFIXES) + " files in the folder "
                        "and its sub-folders)", where=root,
                        fix="pass a folder holding <concept>/<file>.jpg images (THINGS layout)")
    ids = [p.relative_to(root).with_suffix("").as_posix() for p in files]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"two image files share the id '{dup}' (same name, different suffix)", where=root,
                        fix="keep one file per image")
    return ImageSet(name=name or root.name, root=root, ids=tuple(ids), paths=tuple(files))
