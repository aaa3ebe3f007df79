"""``bench embed``: precompute (and cache) the image embeddings of one image model on one image set."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from bench.cli.common import CacheDir, DataRoot, Device, WeightsDir, make_settings
from bench.errors import ConfigError, DataError


def parse_params(items: List[str] | None) -> dict:
    """``["seed=1", "aligned=false", "model=ViT-B-32"]`` -> ``{"seed": 1, "aligned": False, ...}`` (YAML scalars)."""
    import yaml

    params: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param '{item}' is not KEY=VALUE", field="--param", fix="write e.g. --param seed=1")
        try:
            params[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            params[key.strip()] = value
    return params


def resolve_images(images: str, part: str, settings, name: Optional[str] = None):
    """An ImageSet from a folder (THINGS layout) or from a dataset name under the data root."""
    from bench.images.folders import image_set_from_folder

    path = Path(images).expanduser()
    if path.is_dir():
        return image_set_from_folder(path, name=name)
    from bench.data import DATASETS

    if images not in DATASETS:
        raise DataError(f"'{images}' is neither an image folder nor a dataset name",
                        fix=f"pass a folder of <concept>/<file>.jpg images, or one of: {', '.join(DATASETS.names())} "
                            "with --data-root")
    if settings.data_root is None:
        raise DataError(f"no data root is set for dataset '{images}'",
                        fix=f"pass --data-root DIR where DIR/{images}/ holds the files, or pass the image folder itself")
    root = Path(settings.data_root) / images
    if not root.is_dir():
        raise DataError(f"dataset folder '{root}' does not exist", where=settings.data_root,
                        fix=f"put the {images} files in {root}/ or pass the image folder itself")
    dataset = DATASETS.get(images)(root, cache_dir=settings.cache_dir)
    return dataset.images(part)  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    @app.command("embed")
    def embed_cmd(
        model: str = typer.Option(..., "--model", help="image model name (e.g. dreamsim, open_clip, timm, "
                                                        "pixels-colour-texture, random-convnet)"),
        param: Optional[List[str]] = typer.Option(None, "--param", help="model parameter KEY=VALUE (repeatable), "
                                                                        "e.g. --param dreamsim_type=ensemble"),
        images: str = typer.Option(..., "--images", help="folder of images (<concept>/<file>.jpg, sorted) or a "
                                                         "dataset name"),
        part: str = typer.Option("test", "--part", help="train or test (dataset names only)"),
        name: Optional[str] = typer.Option(None, "--name", help="image set name used in the cache file name "
                                                                "(default: the folder's name)"),
        batch_size: int = typer.Option(32, "--batch-size", min=1),
        no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
        data_root: Optional[Path] = DataRoot, cache_dir: Optional[Path] = CacheDir,
        weights_dir: Optional[Path] = WeightsDir, device: Optional[str] = Device,
    ) -> None:
        """Compute the embeddings of an image set with one image model, once, into the embedding cache."""
        import time

        from bench.images import build_image_model, cache_entry, embed_image_set

        if part not in ("train", "test"):
            raise ConfigError(f"--part must be train or test, not '{part}'", field="--part", fix="use --part test")
        settings = make_settings(None, data_root, cache_dir, weights_dir, device)
        image_model = build_image_model(model, parse_params(param), settings)
        image_set = resolve_images(images, part, settings, name)
        entry = cache_entry(image_model, image_set, settings)
        cached = entry.exists()
        typer.echo(f"model   {image_model.model_id}  (weights {image_model.weights_checksum()})")
        typer.echo(f"images  {image_set.name}: {len(image_set)} from {image_set.root}")
        t0 = time.perf_counter()
        if not cached:
            image_model.load()
            typer.echo(f"loaded  in {time.perf_counter() - t0:.1f}s")
            t0 = time.perf_counter()
        array = embed_image_set(image_model, image_set, settings, batch_size=batch_size, progress=not no_progress)
        seconds = time.perf_counter() - t0
        state = "already cached" if cached else f"computed in {seconds:.1f}s ({len(image_set) / max(seconds, 1e-9):.1f} img/s)"
        typer.echo(f"embeddings {array.shape[0]} x {array.shape[1]} float32, {state}")
        typer.echo(f"  {entry.npy}")
        typer.echo(f"  {entry.sidecar}")
