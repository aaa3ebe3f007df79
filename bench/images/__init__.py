"""Image models: pretrained networks (open_clip, dreamsim, timm) and weight-free offline extractors.

Plug-ins register in :data:`IMAGE_MODELS` by name (one file each in this package); configs and the
``bench embed`` command select them by that name plus keyword parameters::

    from bench.images import build_image_model, embed_image_set
    model = build_image_model("dreamsim", {"dreamsim_type": "ensemble"}, settings)
    vectors = embed_image_set(model, dataset.images("test"), settings)   # cached on disk

Weights are never downloaded: see :mod:`bench.images.weights` for the layout under
``Settings.weights_dir`` and the error that explains what is missing.
"""

from bench.images.base import ImageModel, TorchImageModel
from bench.registry import Registry

IMAGE_MODELS: Registry[type[ImageModel]] = Registry("image model", "bench.images", base=ImageModel,
                                                    group="image_models", symbol="IMAGE_MODELS")

from bench.images.cache import (  # noqa: E402  (needs IMAGE_MODELS defined first)
    EMBEDDING_FORMAT_VERSION,
    CacheEntry,
    build_image_model,
    cache_entry,
    compute_embeddings,
    embed_image_set,
)
from bench.images.folders import image_set_from_folder  # noqa: E402

__all__ = [
    "EMBEDDING_FORMAT_VERSION",
    "IMAGE_MODELS",
    "CacheEntry",
    "ImageModel",
    "TorchImageModel",
    "build_image_model",
    "cache_entry",
    "compute_embeddings",
    "embed_image_set",
    "image_set_from_folder",
]
