"""The image-model plug-in interface: a deterministic map from PIL images to float32 vectors.

An image model is built from a :class:`~bench.settings.Settings` and keyword parameters
(scikit-learn style: the constructor only stores them; nothing is read, imported or built until
:meth:`ImageModel.load`, which :meth:`ImageModel.embed` calls on first use). Everything that decides
what an embedding *is* is exposed so the embedding cache can key on it:

- ``model_id``           stable text naming the architecture, weights tag and every parameter that
                         changes the output (``"open_clip:ViT-B-32:openai"``, ``"dreamsim:ensemble"``,
                         ``"timm:resnet50.a1_in1k"``, ``"random-convnet:w16-s96-seed0"``).
- ``preprocessing()``    the eval transform as a dict (resize, interpolation, crop, mean, std, size).
- ``normalisation()``    what is done to the output vectors ("none", "l2", ...).
- ``weights_checksum()`` SHA-256 of the weight file(s), or a seed-derived id for weight-free models.

Embeddings are computed in eval mode under ``torch.inference_mode`` with deterministic transforms
only (resize / centre crop / normalise; never a random crop or flip), see PROTOCOLS.md §2.

Example::

    from bench.images import build_image_model
    model = build_image_model("random-convnet", {"seed": 0}, settings)
    vectors = model.embed([PIL.Image.open("a.jpg")])   # (1, model.dim) float32
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

import numpy as np

from bench.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from bench.settings import Settings


class ImageModel(ABC):
    """Base class of every image model (register subclasses in ``bench.images.IMAGE_MODELS``).

    Subclasses declare their parameters as keyword arguments of ``__init__`` (after ``settings``),
    store them as attributes of the same name and do nothing else there.
    """

    #: the registry name (set by each subclass to the name it registers under)
    name: ClassVar[str] = ""
    #: constructor parameters that cannot change the embeddings (left out of unit keys); a literal
    #: tuple, so planning code reads it without importing the model's libraries
    non_semantic_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: "Settings") -> None:
        self.settings = settings
        self._loaded = False

    # ----------------------------------------------------------------------------- parameters
    @classmethod
    def param_names(cls) -> list[str]:
        """Keyword parameters the constructor accepts (what ``--param k=v`` and configs may set)."""
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name not in ("self", "settings")
                and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters as stored (JSON-friendly values)."""
        out = {}
        for name in self.param_names():
            value = getattr(self, name)
            out[name] = str(value) if isinstance(value, Path) else value
        return out

    def check_params(self) -> None:
        """Raise :class:`~bench.errors.ConfigError` for an invalid parameter (cheap; no I/O).

        Called by :func:`bench.images.build_image_model` and at the start of :meth:`load`.
        """

    def _bad_param(self, field: str, what: str, fix: str) -> ConfigError:
        return ConfigError(f"image model '{self.name}': {what}", field=field, fix=fix)

    # ----------------------------------------------------------------------------- identity
    @property
    @abstractmethod
    def model_id(self) -> str:
        """Stable id of the architecture + weights tag + output-changing parameters."""

    @abstractmethod
    def preprocessing(self) -> dict[str, Any]:
        """The deterministic eval transform (part of the cache key); JSON-friendly values."""

    def normalisation(self) -> str:
        """What is applied to the output vectors (part of the cache key)."""
        return "none"

    @abstractmethod
    def weights_checksum(self) -> str:
        """SHA-256 of the weight file(s) (via the checksum cache), or a seed-derived id."""

    def weight_files(self) -> list[Path]:
        """The local weight files this model reads (empty for weight-free models)."""
        return []

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of one embedding vector."""

    def describe(self) -> dict[str, Any]:
        """Everything that identifies this model's embeddings, human-readable."""
        return {"name": self.name, "model_id": self.model_id, "params": self.get_params(),
                "preprocessing": self.preprocessing(), "normalisation": self.normalisation(),
                "weights_checksum": self.weights_checksum(),
                "weight_files": [str(p) for p in self.weight_files()]}

    # ----------------------------------------------------------------------------- work
    def load(self) -> "ImageModel":
        """Build the network / read the weights once (idempotent); returns ``self``."""
        if not self._loaded:
            self.check_params()
            self._load()
            self._loaded = True
        return self

    @abstractmethod
    def _load(self) -> None:
        """Build the network (subclasses); heavy imports go here."""

    def embed(self, images: Sequence["Image.Image"]) -> np.ndarray:
        """Embed PIL images: float32 array of shape ``(len(images), dim)``, finite values.

        Deterministic: the same image gives the same vector (eval mode, no random transforms).
        """
        self.load()
        images = list(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.ascontiguousarray(self._embed([im.convert("RGB") for im in images]), dtype=np.float32)
        if out.shape != (len(images), self.dim):
            raise RuntimeError(f"{self.model_id} returned shape {out.shape}, expected "
                               f"({len(images)}, {self.dim})")
        if not np.isfinite(out).all():
            raise RuntimeError(f"{self.model_id} produced NaN/Inf embeddings")
        return out

    @abstractmethod
    def _embed(self, images: list["Image.Image"]) -> np.ndarray:
        """Embed RGB PIL images (subclasses); called after :meth:`load`."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


class TorchImageModel(ImageModel):
    """Shared plumbing for torch networks: device choice, batched transform, inference mode.

    Subclasses set ``self._net`` (a module in eval mode) and ``self._transform`` (PIL -> CHW tensor)
    in ``_load`` and implement :meth:`_forward`.
    """

    device: str | None = None
    # where the weights are read and which device computes do not change the embeddings: the
    # weights' checksum is part of the unit key, and inference is deterministic
    non_semantic_params: ClassVar[tuple[str, ...]] = ("device", "weights")
    _net: Any = None
    _transform: Callable[[Any], Any] | None = None

    def torch_device(self) -> str:
        """``device`` parameter if given, else the settings' device."""
        return self.device or self.settings.torch_device()

    @abstractmethod
    def _forward(self, batch: Any) -> Any:
        """(B, 3, H, W) tensor on the device -> (B, D) tensor."""

    def _embed(self, images: list["Image.Image"]) -> np.ndarray:
        import torch

        assert self._transform is not None and self._net is not None
        batch = torch.stack([self._transform(im) for im in images]).to(self.torch_device())
        self._net.eval()
        with torch.inference_mode():
            out = self._forward(batch)
        return out.detach().float().cpu().numpy()


RANDOM_TRANSFORM_NAMES = ("Random", "ColorJitter", "Dropout", "AutoAugment", "RandAugment",
                          "TrivialAugment", "AugMix", "GaussianBlur", "ElasticTransform")


def check_deterministic_transform(transform: Any, where: str) -> None:
    """Raise if a torchvision transform pipeline contains a random op (random crop, flip, jitter...)."""
    for step in getattr(transform, "transforms", [transform]):
        name = type(step).__name__
        if any(r in name for r in RANDOM_TRANSFORM_NAMES):
            raise RuntimeError(f"{where}: eval transform contains the random op {name}; "
                               "image embeddings must use deterministic transforms only")
