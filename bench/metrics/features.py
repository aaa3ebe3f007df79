"""Feature extractors behind the named reconstruction metrics, and the MindEye table in one call.

Metric -> model (official weights file) -> node, input size and normalisation -> score:

- AlexNet(2) / AlexNet(5): torchvision AlexNet IMAGENET1K_V1 (``alexnet-owt-7be5be79.pth``),
  ``features.4`` / ``features.11``, 256, ImageNet -> two-way identification.
- Inception: torchvision Inception-v3 IMAGENET1K_V1 (``inception_v3_google-0cc3c7bd.pth``),
  ``avgpool``, 342, ImageNet -> two-way identification.
- CLIP: OpenAI CLIP ViT-L/14 through open_clip (``ViT-L-14.pt``), ``encode_image``, 224, CLIP ->
  two-way identification.
- EffNet-B: torchvision EfficientNet-B1 IMAGENET1K_V2 (``efficientnet_b1-c27df63c.pth``),
  ``avgpool``, 255, ImageNet -> correlation distance.
- SwAV: SwAV ResNet-50 (``swav_800ep_pretrain.pth.tar``, torch.hub facebookresearch/swav),
  ``avgpool``, 224, ImageNet -> correlation distance.
- N-way top-1: torchvision ViT-H/14 IMAGENET1K_SWAG_E2E_V1 (``vit_h_14_swag-80465313.pth``; any
  torchvision ImageNet classifier by name), logits, 518 bicubic, ImageNet -> mind-vis N-way.
- Inception Score: torchvision Inception-v3 IMAGENET1K_V1, ``fc`` logits, 299, ImageNet -> IS.

Preprocessing (PROTOCOLS.md section 4, MindEye1 ``Reconstruction_Metrics.py``): images float in
[0, 1], (N, 3, H, W); resized to 256 x 256 (bilinear), then ``Resize(size)`` (bilinear unless
stated; the shorter side, so square images stay square), then normalised (IN = ImageNet mean/std,
CLIP = OpenAI CLIP mean/std). **No crops.** The classifier for N-way is fed its evaluation size
directly (518 for ViT-H/14 SWAG, where mind-vis's Resize(518) + CenterCrop(518) is the same thing
on square images). ``antialias`` as in :mod:`bench.metrics.reconstruction`.

Weights are never downloaded. Each extractor looks, in order, at an explicit ``weights=`` path, then
``$TORCH_HOME/hub/checkpoints/<official file name>`` (torch.hub's cache, where torchvision puts
them), then ``<settings.weights_dir>/torchvision/<official file name>``; CLIP looks in
``<weights_dir>/open_clip/`` instead, then ``<weights_dir>/open_clip/vit_large_patch14_clip_224.openai/``
(the HF file names) and ``~/.cache/clip/`` (the OpenAI ``clip`` package cache). Missing
weights raise :class:`~bench.errors.WeightsMissingError` naming the file, every place looked at,
and how to get it. Files are read with ``torch.load(weights_only=True)`` (safetensors for
``.safetensors``; the OpenAI TorchScript archive with ``torch.jit.load``, tensors only kept).

Extractors follow scikit-learn's rule: the constructor only stores parameters; ``load()`` builds
the model (called by ``extract`` on first use). Inference runs in batches under
``torch.inference_mode`` on ``device`` (default: ``settings.device``, CPU here).
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

from bench.errors import WeightsMissingError
from bench.metrics import METRICS, MetricInfo
from bench.metrics._common import MetricInputError
from bench.metrics.reconstruction import (BASE_SIZE, as_images, correlation_distance, inception_score,
                                          n_way_top_k_accuracy, pixcorr, resize_images, ssim,
                                          two_way_identification)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_WHERE = "bench.metrics.features"


# ----------------------------------------------------------------------------------- weights
@dataclass(frozen=True)
class WeightsFile:
    """An official weights file: its name, origin, and how to fetch it on a machine with internet.

    filename:      the official file name (what torch.hub / clip save it as).
    url:           where it is published.
    obtain:        a command that downloads it (on a machine with internet).
    alternatives:  other accepted file names (same weights in another published format).
    subdir:        its folder under ``settings.weights_dir`` ("torchvision" mirrors torch.hub's
                   ``checkpoints/`` folder; "open_clip" for CLIP).
    downloaded_to: where ``obtain`` leaves it (default: the torch.hub cache).
    """

    filename: str
    url: str
    obtain: str
    alternatives: tuple[str, ...] = ()
    subdir: str = "torchvision"
    downloaded_to: str = ""

    @property
    def download_location(self) -> str:
        """Where ``obtain`` leaves the file on the machine that ran it."""
        return self.downloaded_to or f"~/.cache/torch/hub/checkpoints/{self.filename}"


def _torchvision_file(builder: str, tag: str) -> WeightsFile:
    import torchvision.models as tvm

    weights = tvm.get_model_weights(builder)[tag]
    return WeightsFile(filename=Path(weights.url).name, url=weights.url,
                       obtain=f'python -c "import torchvision; torchvision.models.{builder}(weights=\'{tag}\')"')


def _torch_hub_checkpoints() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def _settings(settings):
    if settings is not None:
        return settings
    from bench.settings import load_settings

    return load_settings()


def find_weights(spec: WeightsFile, *, settings=None, path: str | Path | None = None,
                 extra_dirs: Sequence[Path] = (), who: str = _WHERE) -> Path:
    """The local file holding ``spec``'s weights, or WeightsMissingError listing every place looked at.

    Order: ``path`` (when given, the only place), ``$TORCH_HOME/hub/checkpoints/``,
    ``<settings.weights_dir>/<spec.subdir>/``, then ``extra_dirs``; in each, the official name
    first, then ``spec.alternatives``.
    """
    settings = _settings(settings)
    hub = _torch_hub_checkpoints()
    target = Path(settings.weights_dir) / spec.subdir
    fix = (f"on a machine with internet run: {spec.obtain}\n  then copy {spec.download_location} to "
           f"{target}/ (or to {hub}/), or pass its path explicitly (weights=...). Source: {spec.url}")
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        raise WeightsMissingError(f"weights file '{spec.filename}' not found: looked at {p} (given explicitly)",
                                  where=who, fix=fix)
    names = (spec.filename, *spec.alternatives)
    candidates = [d / n for d in (hub, target, *extra_dirs) for n in names]
    for c in candidates:
        if c.is_file():
            return c
    looked = "\n    ".join(str(c) for c in candidates)
    raise WeightsMissingError(f"weights file '{spec.filename}' not found; looked at:\n    {looked}",
                              where=who, fix=fix)


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("constants.pkl") for n in zf.namelist())


def load_state_dict(path: Path) -> dict:
    """Tensors of a weights file: safetensors, a (possibly wrapped) state dict, or a TorchScript archive."""
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    if _is_torchscript(path):
        return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsMissingError(f"cannot read weights file {path}: {exc}", where=_WHERE,
                                  fix="re-download the official file; only tensor checkpoints are read "
                                      "(weights_only=True)") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsMissingError(f"{path} does not hold a state dict (found {type(obj).__name__})",
                                  where=_WHERE, fix="pass the official weights file")
    return obj


def _load_strict(model, state: dict, path: Path, who: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise WeightsMissingError(f"{path} does not match the {who} architecture: "
                                  f"{' '.join(first[:3])[:400]}", where=_WHERE,
                                  fix="pass the official weights file named in the docs of this extractor") from exc


# -------------------------------------------------------------------------------- extractors
class FeatureExtractor:
    """Base class: preprocessing (256 x 256, Resize(size), normalisation), lazy model, batched inference.

    Parameters
    ----------
    weights : explicit path of the weights file (else the standard places are searched).
    settings : :class:`bench.settings.Settings` (weights_dir, device); default ``load_settings()``.
    device : torch device string; default ``settings.torch_device()``.
    batch_size : images per forward pass.
    antialias : antialiased resizing (False reproduces MindEye1's torchvision 0.14 tensor resize).
    base_size : first resize to base_size x base_size (256, MindEye); None skips it.
    """

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    size: ClassVar[int] = 224
    interpolation: ClassVar[str] = "bilinear"
    mean: ClassVar[tuple[float, float, float]] = IMAGENET_MEAN
    std: ClassVar[tuple[float, float, float]] = IMAGENET_STD
    outputs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, weights: str | Path | None = None, *, settings=None, device: str | None = None,
                 batch_size: int = 32, antialias: bool = True, base_size: int | None = BASE_SIZE) -> None:
        self.weights = weights
        self.settings = settings
        self.device = device
        self.batch_size = batch_size
        self.antialias = antialias
        self.base_size = base_size
        self._model = None
        self._weights_path: Path | None = None

    # -- weights ----------------------------------------------------------------------------
    def weights_file(self) -> WeightsFile:
        raise NotImplementedError

    def extra_dirs(self) -> tuple[Path, ...]:
        return ()

    def weights_path(self) -> Path:
        """The weights file that will be (or was) loaded; WeightsMissingError when absent."""
        if self._weights_path is None:
            self._weights_path = find_weights(self.weights_file(), settings=self.settings, path=self.weights,
                                              extra_dirs=self.extra_dirs(), who=type(self).__name__)
        return self._weights_path

    # -- model ------------------------------------------------------------------------------
    def build(self):
        """The architecture (random init, eval mode), before loading weights."""
        raise NotImplementedError

    def load_weights(self, model, path: Path) -> None:
        _load_strict(model, load_state_dict(path), path, self.title)

    def wrap(self, model):
        """The module whose forward returns ``{output name: tensor}``."""
        raise NotImplementedError

    def load(self) -> "FeatureExtractor":
        """Find the weights, build the model and load them (idempotent). Returns self."""
        if self._model is None:
            path = self.weights_path()
            model = self.build()
            self.load_weights(model, path)
            model.eval().requires_grad_(False)
            self._model = self.wrap(model).eval().to(self._device())
        return self

    @property
    def model(self):
        return self.load()._model

    def _device(self) -> str:
        if self.device is not None:
            return self.device
        return _settings(self.settings).torch_device()

    # -- data -------------------------------------------------------------------------------
    def input_size(self) -> int:
        return self.size

    def preprocess(self, images, size: int | None = None):
        """Float (B, 3, H, W) in [0, 1] -> model input: 256 x 256, Resize(size), normalise."""
        import torch

        x = images
        if self.base_size is not None:
            x = resize_images(x, (self.base_size, self.base_size), antialias=self.antialias)
        mean, std, interpolation = self.normalization()
        x = resize_images(x, size or self.input_size(), antialias=self.antialias, mode=interpolation)
        mean_t = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean_t) / std_t

    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...], str]:
        """(mean, std, interpolation) of this extractor's preprocessing."""
        return self.mean, self.std, self.interpolation

    def extract(self, images, *, size: int | None = None) -> dict[str, np.ndarray]:
        """Features of ``images`` ((N, 3, H, W) in [0, 1], numpy or torch): ``{output: (N, ...) float32}``.

        ``size`` overrides the Resize size of this extractor (e.g. 299 for the IS logits).
        """
        import torch

        imgs = as_images(images, "images")
        model = self.model
        device = self._device()
        chunks: dict[str, list[np.ndarray]] = {}
        with torch.inference_mode():
            for s in range(0, imgs.shape[0], self.batch_size):
                x = self.preprocess(imgs[s:s + self.batch_size], size).to(device)
                for name, value in model(x).items():
                    chunks.setdefault(name, []).append(value.float().cpu().numpy())
        return {name: np.concatenate(v) for name, v in chunks.items()}


class _NodeExtractor(FeatureExtractor):
    """torchvision model + ``create_feature_extractor`` on named nodes."""

    nodes: ClassVar[Mapping[str, str]] = {}

    def wrap(self, model):
        from torchvision.models.feature_extraction import create_feature_extractor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # inception: "eval nodes are a subsequence of train nodes"
            return create_feature_extractor(model, return_nodes=dict(self.nodes))


class AlexNetFeatures(_NodeExtractor):
    """AlexNet IMAGENET1K_V1 ``features.4`` (AlexNet(2)) and ``features.11`` (AlexNet(5)).

    Input 256 x 256 (no crop), ImageNet normalisation. Output shapes at 256: ``features.4`` ->
    (N, 192, 31, 31), ``features.11`` -> (N, 256, 15, 15).
    """

    key = "alexnet"
    title = "AlexNet"
    size = 256
    nodes = {"features.4": "features.4", "features.11": "features.11"}
    outputs = ("features.4", "features.11")

    def weights_file(self) -> WeightsFile:
        return _torchvision_file("alexnet", "IMAGENET1K_V1")

    def build(self):
        from torchvision.models import alexnet

        return alexnet(weights=None)


class InceptionV3Features(_NodeExtractor):
    """Inception-v3 IMAGENET1K_V1: ``avgpool`` (N, 2048, 1, 1) for 2-way, ``logits`` (N, 1000) for IS.

    Built as torchvision builds it for these weights (``transform_input=True``, ``aux_logits=True``).
    Input 342 x 342 for the 2-way features (MindEye); the IS pass uses 299 x 299 (``size=299``).
    """

    key = "inception_v3"
    title = "Inception-v3"
    size = 342
    nodes = {"avgpool": "avgpool", "fc": "logits"}
    outputs = ("avgpool", "logits")

    def weights_file(self) -> WeightsFile:
        return _torchvision_file("inception_v3", "IMAGENET1K_V1")

    def build(self):
        from torchvision.models import inception_v3

        return inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)


class EfficientNetB1Features(_NodeExtractor):
    """EfficientNet-B1 IMAGENET1K_V2 ``avgpool`` (N, 1280, 1, 1); input 255 x 255 (EffNet-B column)."""

    key = "efficientnet_b1"
    title = "EfficientNet-B1"
    size = 255
    nodes = {"avgpool": "avgpool"}
    outputs = ("avgpool",)

    def weights_file(self) -> WeightsFile:
        return _torchvision_file("efficientnet_b1", "IMAGENET1K_V2")

    def build(self):
        from torchvision.models import efficientnet_b1

        return efficientnet_b1(weights=None)


SWAV_FILE = WeightsFile(
    filename="swav_800ep_pretrain.pth.tar",
    url="https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar",
    obtain="python -c \"import torch; torch.hub.load('facebookresearch/swav:main', 'resnet50')\"")


class SwAVFeatures(_NodeExtractor):
    """SwAV ResNet-50 ``avgpool`` (N, 2048, 1, 1); input 224 x 224 (SwAV column).

    The checkpoint is what ``torch.hub.load('facebookresearch/swav:main', 'resnet50')`` loads: a
    torchvision ResNet-50 state dict with a ``module.`` prefix plus SwAV's projection head and
    prototypes, and no ``fc`` (left random, unused). Every other ResNet-50 tensor must be present.
    """

    key = "swav"
    title = "SwAV ResNet-50"
    size = 224
    nodes = {"avgpool": "avgpool"}
    outputs = ("avgpool",)

    def weights_file(self) -> WeightsFile:
        return SWAV_FILE

    def build(self):
        from torchvision.models import resnet50

        return resnet50(weights=None)

    def load_weights(self, model, path: Path) -> None:
        state = {k.replace("module.", "", 1) if k.startswith("module.") else k: v
                 for k, v in load_state_dict(path).items()}
        own = model.state_dict()
        missing = sorted(k for k in own if k not in state and not k.startswith("fc."))
        if missing:
            raise WeightsMissingError(f"{path} is not a SwAV ResNet-50 checkpoint: {len(missing)} ResNet-50 "
                                      f"tensors missing (e.g. {missing[:3]})", where=type(self).__name__,
                                      fix=f"pass the official {SWAV_FILE.filename}")
        kept = {k: v for k, v in state.items() if k in own}
        _load_strict(model, {**{k: own[k] for k in own if k.startswith("fc.")}, **kept}, path, self.title)


class ClipImageFeatures(FeatureExtractor):
    """CLIP image embedding (``encode_image``, not normalised), OpenAI ViT-L/14 by default -> (N, 768).

    Built with ``open_clip.create_model(model_name, pretrained=None, force_quick_gelu=quick_gelu)``
    and the local file loaded into it (OpenAI's models use QuickGELU; a model built without it gives
    wrong features from OpenAI weights). Only the image tower is kept. Input 224 x 224 bilinear with
    CLIP normalisation (MindEye; its fp16 CUDA inference is not reproduced: we run float32).

    Accepted files, in the standard places plus ``<weights_dir>/open_clip/`` and ``~/.cache/clip/``:
    ``ViT-L-14.pt`` (OpenAI's TorchScript archive, as ``clip.load`` / open_clip download it), or the
    HF ``timm/vit_large_patch14_clip_224.openai`` files ``open_clip_model.safetensors`` /
    ``open_clip_pytorch_model.bin``. ``model_name`` selects another open_clip architecture (the
    tests use a small one); its file is then ``<model_name>.pt`` (a state dict).
    """

    key = "clip"
    title = "CLIP"
    size = 224
    mean = CLIP_MEAN
    std = CLIP_STD
    outputs = ("embedding",)

    def __init__(self, weights: str | Path | None = None, *, model_name: str = "ViT-L-14", quick_gelu: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(weights, **kwargs)
        self.model_name = model_name
        self.quick_gelu = quick_gelu

    def weights_file(self) -> WeightsFile:
        if self.model_name == "ViT-L-14":
            return WeightsFile(
                filename="ViT-L-14.pt",
                url=("https://openaipublic.azureedge.net/clip/models/"
                     "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt"),
                obtain="python -c \"import clip; clip.load('ViT-L/14', device='cpu')\" (pip install "
                       "git+https://github.com/openai/CLIP), or python -c \"import open_clip; "
                       "open_clip.create_model('ViT-L-14-quickgelu', pretrained='openai')\"",
                alternatives=("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
                subdir="open_clip",
                downloaded_to=("~/.cache/clip/ViT-L-14.pt (clip), or open_clip_model.safetensors from "
                               "~/.cache/huggingface/hub/models--timm--vit_large_patch14_clip_224.openai/"
                               "snapshots/*/ (open_clip: keep that name, in "
                               "<weights_dir>/open_clip/vit_large_patch14_clip_224.openai/)"))
        return WeightsFile(filename=f"{self.model_name}.pt", url="(local)", subdir="open_clip",
                           obtain=f"save the open_clip '{self.model_name}' state dict with torch.save",
                           downloaded_to=f"{self.model_name}.pt")

    def extra_dirs(self) -> tuple[Path, ...]:
        wd = Path(_settings(self.settings).weights_dir) / "open_clip"
        return (wd / "vit_large_patch14_clip_224.openai", Path.home() / ".cache" / "clip")

    def build(self):
        import logging

        import open_clip

        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)   # "No pretrained weights loaded" is expected here
        try:
            return open_clip.create_model(self.model_name, pretrained=None, force_quick_gelu=self.quick_gelu)
        finally:
            logging.getLogger().setLevel(level)

    def load_weights(self, model, path: Path) -> None:
        state = load_state_dict(path)
        for key in ("input_resolution", "context_length", "vocab_size"):
            state.pop(key, None)
        if next(iter(state)).startswith("module."):
            state = {k[len("module."):]: v for k, v in state.items()}
        transient = {name for name, _ in model.named_buffers()} - set(model.state_dict())
        state = {k: v for k, v in state.items() if k not in transient}      # e.g. attn_mask in TorchScript files
        _load_strict(model, state, path, f"open_clip {self.model_name}")

    def input_size(self) -> int:
        size = self._model.image_size if self._model is not None else self.size
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    def wrap(self, model):
        import torch

        class _Visual(torch.nn.Module):
            def __init__(self, visual):
                super().__init__()
                self.visual = visual
                self.image_size = getattr(visual, "image_size", 224)

            def forward(self, x):
                return {"embedding": self.visual(x)}

        return _Visual(model.visual)


class ImageNetClassifier(FeatureExtractor):
    """Any torchvision ImageNet classifier by name: ``logits`` (N, C). Default ViT-H/14 SWAG (mind-vis).

    ``arch`` is a torchvision builder name (``vit_h_14``, ``resnet50``, ``alexnet``, ...) and ``tag``
    one of its weights (default: the builder's DEFAULT). Preprocessing follows the weights' own
    transforms (interpolation, mean, std) but without cropping: the 256 x 256 image is resized to
    the weights' crop size (518 bicubic for ViT-H/14 SWAG E2E, which equals mind-vis's
    Resize(518) + CenterCrop(518) on square images).
    """

    key = "classifier"
    title = "ImageNet classifier"
    outputs = ("logits",)

    def __init__(self, weights: str | Path | None = None, *, arch: str = "vit_h_14", tag: str | None = None,
                 model_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(weights, **kwargs)
        self.arch = arch
        self.tag = tag
        self.model_kwargs = dict(model_kwargs or {})

    def _weights_enum(self):
        import torchvision.models as tvm

        try:
            enum = tvm.get_model_weights(self.arch)
        except (ValueError, KeyError) as exc:
            raise MetricInputError(f"unknown torchvision classifier '{self.arch}'", where=_WHERE, field="arch",
                                   fix="use a name from torchvision.models.list_models(torchvision.models)") from exc
        try:
            return enum.DEFAULT if self.tag is None else enum[self.tag]
        except KeyError as exc:
            raise MetricInputError(f"'{self.arch}' has no weights '{self.tag}'", where=_WHERE, field="tag",
                                   fix=f"use one of {[w.name for w in enum]}") from exc

    def weights_file(self) -> WeightsFile:
        return _torchvision_file(self.arch, self._weights_enum().name)

    def _transform(self):
        return self._weights_enum().transforms()

    def input_size(self) -> int:
        return int(self._transform().crop_size[0])

    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...], str]:
        t = self._transform()
        return tuple(t.mean), tuple(t.std), "bicubic" if "BICUBIC" in str(t.interpolation) else "bilinear"

    def build(self):
        import torchvision.models as tvm

        weights = self._weights_enum()
        kwargs: dict[str, Any] = {"num_classes": len(weights.meta["categories"])}
        if self.arch.startswith("vit_"):
            kwargs["image_size"] = weights.meta["min_size"][0]
        if self.arch in ("inception_v3", "googlenet"):
            kwargs.update(transform_input=True, aux_logits=True, init_weights=False)
        kwargs.update(self.model_kwargs)
        return tvm.get_model(self.arch, weights=None, **kwargs)

    def wrap(self, model):
        import torch

        class _Logits(torch.nn.Module):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, x):
                return {"logits": self.net(x)}

        return _Logits(model)


EXTRACTORS: dict[str, type[FeatureExtractor]] = {
    cls.key: cls for cls in (AlexNetFeatures, InceptionV3Features, EfficientNetB1Features, SwAVFeatures,
                             ClipImageFeatures, ImageNetClassifier)
}

IS_SIZE = 299                    # Inception-v3's native input size, used for the IS logits


# ------------------------------------------------------------------------- registered metrics
@dataclass(frozen=True)
class _FeatureMetric:
    name: str
    extractor: str
    output: str
    kind: str                    # "two_way" or "distance"
    title: str


FEATURE_METRICS: dict[str, _FeatureMetric] = {m.name: m for m in (
    _FeatureMetric("alexnet2", "alexnet", "features.4", "two_way", "AlexNet(2)"),
    _FeatureMetric("alexnet5", "alexnet", "features.11", "two_way", "AlexNet(5)"),
    _FeatureMetric("inception", "inception_v3", "avgpool", "two_way", "Inception"),
    _FeatureMetric("clip", "clip", "embedding", "two_way", "CLIP"),
    _FeatureMetric("effnet", "efficientnet_b1", "avgpool", "distance", "EffNet-B"),
    _FeatureMetric("swav", "swav", "avgpool", "distance", "SwAV"),
)}

MINDEYE_TABLE = ("pixcorr", "ssim", "alexnet2", "alexnet5", "inception", "clip", "effnet", "swav")
ALL_METRICS = MINDEYE_TABLE + ("nway_top1", "inception_score")


def _make_feature_metric(spec: _FeatureMetric) -> Callable[..., Any]:
    score = two_way_identification if spec.kind == "two_way" else correlation_distance

    def metric(gt_images, rec_images, per_image: bool = False, *, extractor: FeatureExtractor | None = None,
               weights: str | Path | None = None, settings=None, device: str | None = None,
               batch_size: int = 32, antialias: bool = True):
        ext = extractor or EXTRACTORS[spec.extractor](weights, settings=settings, device=device,
                                                      batch_size=batch_size, antialias=antialias)
        gt = ext.extract(gt_images)[spec.output]
        rec = ext.extract(rec_images)[spec.output]
        return score(gt, rec, per_image)

    what = ("two-way identification (chance 0.5, higher is better)" if spec.kind == "two_way"
            else "mean correlation distance 1 - r (lower is better)")
    cls = EXTRACTORS[spec.extractor]
    metric.__name__ = metric.__qualname__ = spec.name
    metric.__doc__ = (f"{spec.title}: {what} on {cls.title} ``{spec.output}`` features.\n\n"
                      f"gt_images, rec_images: (N, 3, H, W) float in [0, 1]. Extractor: "
                      f":class:`{cls.__name__}` (pass ``extractor=`` to reuse a loaded one, or ``weights=`` "
                      f"for an explicit file). Returns a float, or the (N,) per-image array.")
    return metric


def _register_feature_metrics() -> dict[str, Callable[..., Any]]:
    out = {}
    for spec in FEATURE_METRICS.values():
        fn = _make_feature_metric(spec)
        two_way = spec.kind == "two_way"
        cls = EXTRACTORS[spec.extractor]
        METRICS.register(spec.name)(MetricInfo(
            name=spec.name, fn=fn, higher_is_better=two_way, chance=0.5 if two_way else 1.0,
            ceiling=1.0 if two_way else 0.0,
            description=f"{spec.title}: {'two-way identification' if two_way else 'correlation distance'} "
                        f"on {cls.title} {spec.output}",
            recipe=f"MindEye1 src/Reconstruction_Metrics.py: Resize(256x256) -> Resize({cls.size}"
                   f"{', bilinear' if cls.interpolation == 'bilinear' else ''}) -> "
                   f"{'CLIP' if spec.extractor == 'clip' else 'ImageNet'} norm -> {cls.title} {spec.output} -> "
                   f"{'np.corrcoef two-way, exhaustive, ties fail' if two_way else 'scipy correlation distance, mean'}",
            inputs="gt_images, rec_images: (N, 3, H, W) float in [0, 1]"))
        out[spec.name] = fn
    return out


_FEATURE_FNS = _register_feature_metrics()
alexnet2 = _FEATURE_FNS["alexnet2"]
alexnet5 = _FEATURE_FNS["alexnet5"]
inception = _FEATURE_FNS["inception"]
clip = _FEATURE_FNS["clip"]
effnet = _FEATURE_FNS["effnet"]
swav = _FEATURE_FNS["swav"]


def _softmax(logits: np.ndarray) -> np.ndarray:
    from scipy.special import softmax

    return softmax(logits.astype(np.float64), axis=1)


@METRICS.register("nway_top1", higher_is_better=True, chance=1 / 50, ceiling=1.0,
                  description="50-way top-1 accuracy of reconstructions under an ImageNet classifier (mind-vis)",
                  recipe="mind-vis eval_metrics.get_n_way_top_k_acc: class = argmax of ViT-H/14 SWAG on the "
                         "ground truth; 1000 seeded trials of (true + 49 random classes) per reconstruction; "
                         "ties fail",
                  inputs="gt_images, rec_images: (N, 3, H, W) float in [0, 1]")
def nway_top1(gt_images, rec_images, per_image: bool = False, *, classifier: ImageNetClassifier | None = None,
              n_way: int = 50, top_k: int = 1, trials: int | None = 1000, seed: int = 0,
              weights: str | Path | None = None, settings=None, device: str | None = None, batch_size: int = 8,
              antialias: bool = True):
    """N-way top-k accuracy of reconstructions (mind-vis): see :func:`n_way_top_k_accuracy` for the protocol.

    The ground-truth class of image j is the classifier's argmax on ground truth j; the
    reconstruction's class probabilities are the softmax of its logits. Default classifier:
    ``ImageNetClassifier("vit_h_14")`` (SWAG E2E, 518 x 518 input; heavy on a CPU).
    """
    clf = classifier or ImageNetClassifier(weights, settings=settings, device=device, batch_size=batch_size,
                                           antialias=antialias)
    gt_class = clf.extract(gt_images)["logits"].argmax(axis=1)
    rec_probs = _softmax(clf.extract(rec_images)["logits"])
    return n_way_top_k_accuracy(gt_class, rec_probs, n_way=n_way, top_k=top_k, trials=trials, seed=seed,
                                per_image=per_image)


@METRICS.register("inception_score", higher_is_better=True, chance=None, ceiling=1000.0,
                  description="Inception Score of the reconstructions (torchvision Inception-v3 IMAGENET1K_V1)",
                  recipe="softmax of torchvision Inception-v3 IMAGENET1K_V1 logits at 299 x 299 (256 x 256 -> "
                         "299 bilinear, ImageNet norm); 10 seeded splits; exp(mean KL(p(y|x) || p(y))), "
                         "mean and std (torch-fidelity's split protocol)",
                  inputs="images: (N, 3, H, W) float in [0, 1], N >= splits")
def inception_score_images(images, splits: int = 10, seed: int = 0, *, extractor: InceptionV3Features | None = None,
                           weights: str | Path | None = None, settings=None, device: str | None = None,
                           batch_size: int = 32, antialias: bool = True) -> tuple[float, float]:
    """Inception Score of a set of images: (mean, std) over ``splits`` (see :func:`inception_score`).

    Weights: torchvision Inception-v3 IMAGENET1K_V1 (``inception_v3_google-0cc3c7bd.pth``), input
    256 x 256 -> 299 x 299 bilinear, ImageNet normalisation (the model's ``transform_input`` applies
    as torchvision configures it for these weights). Not torch-fidelity's FID Inception weights.
    """
    ext = extractor or InceptionV3Features(weights, settings=settings, device=device, batch_size=batch_size,
                                           antialias=antialias)
    logits = ext.extract(images, size=IS_SIZE)["logits"]
    return inception_score(logits, splits=splits, seed=seed, from_logits=True)


# ----------------------------------------------------------------------------- the whole table
def reconstruction_scores(gt_images, rec_images, *, metrics: Sequence[str] = MINDEYE_TABLE, settings=None,
                          weights: Mapping[str, str | Path] | None = None,
                          extractors: Mapping[str, FeatureExtractor] | None = None,
                          missing: str = "error", device: str | None = None, batch_size: int = 32,
                          antialias: bool = True, n_way: int = 50, top_k: int = 1, trials: int | None = 1000,
                          seed: int = 0, is_splits: int = 10) -> dict[str, Any]:
    """The MindEye reconstruction table (and optionally N-way and IS) for one set of reconstructions.

    Parameters
    ----------
    gt_images, rec_images : (N, 3, H, W) float in [0, 1], reconstruction j of ground truth j.
    metrics : names among ``ALL_METRICS``; default the MindEye table (PixCorr, SSIM, AlexNet(2),
        AlexNet(5), Inception, CLIP, EffNet-B, SwAV). Add "nway_top1" and "inception_score" to get
        the mind-vis columns.
    settings : where weights are looked for (``weights_dir``) and the default device.
    weights : explicit weights paths by extractor key ("alexnet", "inception_v3", "efficientnet_b1",
        "swav", "clip", "classifier").
    extractors : ready extractor instances by the same keys (reused; e.g. a non-default classifier).
    missing : "error" (default) raises WeightsMissingError when a model's weights are absent;
        "skip" leaves its metrics out and reports why under ``"missing"``.
    antialias, n_way, top_k, trials, seed, is_splits : as in the underlying functions.

    Returns
    -------
    dict with keys
        ``scores``     {metric: float} (plus ``inception_score_std`` when IS is computed),
        ``per_image``  {metric: (N,) float64 array} (not for IS, a set-level score),
        ``missing``    {metric: reason} for metrics skipped because weights are absent,
        ``weights``    {extractor key: path of the weights file used},
        ``n_images``   N, and ``config`` (antialias, n_way, top_k, trials, seed, is_splits).

    Example
    -------
    >>> out = reconstruction_scores(gt, rec, missing="skip")          # doctest: +SKIP
    >>> out["scores"]["pixcorr"], out["missing"].get("clip")          # doctest: +SKIP
    """
    if missing not in ("error", "skip"):
        raise MetricInputError(f"missing='{missing}' must be 'error' or 'skip'", where=_WHERE, field="missing",
                               fix="use missing='skip' to report absent weights instead of failing")
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise MetricInputError(f"unknown reconstruction metric(s) {unknown}", where=_WHERE, field="metrics",
                               fix=f"use names among {list(ALL_METRICS)}")
    gt = as_images(gt_images, "gt_images")
    rec = as_images(rec_images, "rec_images")
    if gt.shape[0] != rec.shape[0]:
        raise MetricInputError(f"'gt_images' has {gt.shape[0]} images but 'rec_images' has {rec.shape[0]}",
                               where=_WHERE, fix="pass one reconstruction per ground-truth image, in the same order")
    weights = dict(weights or {})
    given = dict(extractors or {})
    scores: dict[str, float] = {}
    per_image: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    used: dict[str, str] = {}

    for name, fn in (("pixcorr", pixcorr), ("ssim", ssim)):
        if name in metrics:
            per_image[name] = fn(gt, rec, per_image=True, antialias=antialias, batch_size=batch_size)

    needs: dict[str, list[str]] = {}
    for m in metrics:
        key = (FEATURE_METRICS[m].extractor if m in FEATURE_METRICS else
               "classifier" if m == "nway_top1" else "inception_v3" if m == "inception_score" else None)
        if key is not None:
            needs.setdefault(key, []).append(m)

    for key, names in needs.items():
        ext = given.get(key)
        if ext is None:
            kwargs = dict(settings=settings, device=device, batch_size=batch_size, antialias=antialias)
            if key == "classifier":
                kwargs["batch_size"] = min(batch_size, 8)
            ext = EXTRACTORS[key](weights.get(key), **kwargs)
        try:
            ext.load()
        except WeightsMissingError as exc:
            if missing == "error":
                raise
            for m in names:
                skipped[m] = str(exc)
            continue
        used[key] = str(ext.weights_path())
        feature_names = [m for m in names if m in FEATURE_METRICS]
        if feature_names:
            gt_f, rec_f = ext.extract(gt), ext.extract(rec)
            for m in feature_names:
                spec = FEATURE_METRICS[m]
                score = two_way_identification if spec.kind == "two_way" else correlation_distance
                per_image[m] = score(gt_f[spec.output], rec_f[spec.output], per_image=True)
        if "nway_top1" in names:
            per_image["nway_top1"] = nway_top1(gt, rec, per_image=True, classifier=ext, n_way=n_way, top_k=top_k,
                                               trials=trials, seed=seed)
        if "inception_score" in names:
            mean, std = inception_score_images(rec, splits=is_splits, seed=seed, extractor=ext)
            scores["inception_score"], scores["inception_score_std"] = mean, std

    for m, values in per_image.items():
        scores[m] = float(values.mean())
    order = {m: i for i, m in enumerate(ALL_METRICS)}
    scores = dict(sorted(scores.items(), key=lambda kv: order.get(kv[0], len(order))))
    return {"scores": scores, "per_image": per_image, "missing": skipped, "weights": used,
            "n_images": int(gt.shape[0]),
            "config": {"antialias": antialias, "n_way": n_way, "top_k": top_k, "trials": trials, "seed": seed,
                       "is_splits": is_splits}}


__all__ = ["ALL_METRICS", "AlexNetFeatures", "ClipImageFeatures", "EXTRACTORS", "EfficientNetB1Features",
           "FEATURE_METRICS", "FeatureExtractor", "ImageNetClassifier", "InceptionV3Features", "MINDEYE_TABLE",
           "SwAVFeatures", "WeightsFile", "alexnet2", "alexnet5", "clip", "effnet", "find_weights",
           "inception", "inception_score_images", "load_state_dict", "nway_top1", "reconstruction_scores", "swav"]
