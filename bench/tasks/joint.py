"""The Palazzo et al. 2020 siamese EEG/image model, shared by the classification and saliency tasks.

Two towers map an EEG item ``e`` and an image ``v`` into a joint space (D = ``recipe.embed_dim``,
128 by default as in the paper): ``phi(e)`` (the submission's brain encoder) and ``theta(v)`` (the
image encoder). The compatibility ``F(e, v)`` is the training loss's similarity (dot product for
the triplet loss, Palazzo's choice; cosine for InfoNCE). Two declared image-encoder modes:

- ``frozen`` (default): ``theta(v) = W^T g(v)`` with ``g`` the registered image model's cached,
  deterministic features (normalised as ``recipe.normalise`` says) and ``W`` learned. Because
  ``F = phi(e) . W^T g(v) = (W phi(e)) . g(v)``, training folds ``W`` into the brain side:
  :class:`JointEncoder` outputs ``W phi(e)`` and is trained against the fixed features by the
  shared loop (:func:`bench.training.fit`: seeded, validation-only selection, early stopping).
- ``finetune``: a timm backbone (the submission's ``image_model``, ``name: timm``) plus a linear
  head to D, trained end to end with the brain encoder (:func:`fit_two_tower`), with the paper's
  10-crop augmentation (4 corners + centre, each optionally flipped, one drawn per image and step).

After training, softmax classifiers (multinomial logistic regression, L2 chosen on validation) are
fitted on the joint embeddings ``phi(e)`` (EEG) and ``theta(v)`` (images) of the training split
(:mod:`bench.tasks.palazzo` holds that pipeline).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
from torch import nn

from bench.errors import ConfigError

DEFAULT_JOINT_DIM = 128
ImageEncoderMode = Literal["frozen", "finetune"]


def image_encoder_mode(recipe: Any) -> ImageEncoderMode:
    """The declared image-encoder mode of a recipe (``recipe.image_encoder``; ``frozen`` when the
    schema has no such field)."""
    mode = getattr(recipe, "image_encoder", None) or "frozen"
    if mode not in ("frozen", "finetune"):
        raise ConfigError(f"unknown image encoder mode '{mode}'", field="recipe.image_encoder",
                          fix="use 'frozen' (cached features + learned projection) or 'finetune' (timm backbone)")
    return mode  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------
# Softmax classifiers on fixed embeddings
# ------------------------------------------------------------------------------------------------

class LinearClassifier:
    """Multinomial logistic regression on standardised features; the L2 weight is chosen on validation.

    ``fit(x_train, y_train, x_val, y_val)`` trains one model per ``l2`` in ``l2_grid`` (full-batch
    L-BFGS from zero, so deterministic) and keeps the one with the best validation accuracy (ties:
    lower validation cross-entropy). Test data never enter.
    """

    def __init__(self, n_classes: int, l2_grid: Sequence[float] = (1e-4, 1e-3, 1e-2, 1e-1), max_iter: int = 100) -> None:
        self.n_classes = int(n_classes)
        self.l2_grid = tuple(float(x) for x in l2_grid)
        self.max_iter = int(max_iter)
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.mean: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None
        self.chosen_l2: float | None = None
        self.val_accuracy: float | None = None

    def _standardise(self, x: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
        assert self.mean is not None and self.scale is not None
        return (x - self.mean.to(x.device)) / self.scale.to(x.device)

    def fit(self, x_train: Any, y_train: Any, x_val: Any, y_val: Any) -> "LinearClassifier":
        xt = torch.as_tensor(np.asarray(x_train, dtype=np.float64))
        yt = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
        self.mean = xt.mean(0).float()
        self.scale = xt.std(0).clamp(min=1e-6).float()
        xt = ((xt.float() - self.mean) / self.scale).double()
        xv = self._standardise(x_val).double()
        yv = torch.as_tensor(np.asarray(y_val, dtype=np.int64))
        best: tuple[float, float] | None = None
        with torch.enable_grad():
            for l2 in self.l2_grid:
                w = torch.zeros(xt.shape[1], self.n_classes, dtype=torch.float64, requires_grad=True)
                b = torch.zeros(self.n_classes, dtype=torch.float64, requires_grad=True)
                opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=self.max_iter, history_size=20,
                                        line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-10)

                def closure() -> torch.Tensor:
                    opt.zero_grad()
                    loss = nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w * w).sum()
                    loss.backward()
                    return loss

                opt.step(closure)
                with torch.no_grad():
                    logits = xv @ w + b
                    acc = float((logits.argmax(1) == yv).double().mean())
                    ce = float(nn.functional.cross_entropy(logits, yv))
                if best is None or (acc, -ce) > best:
                    best = (acc, -ce)
                    self.weight, self.bias = w.detach().float(), b.detach().float()
                    self.chosen_l2, self.val_accuracy = l2, acc
        return self

    def logits(self, x: Any) -> torch.Tensor:
        assert self.weight is not None and self.bias is not None, "fit() first"
        xs = self._standardise(x)
        return xs @ self.weight.to(xs.device) + self.bias.to(xs.device)

    def predict(self, x: Any) -> np.ndarray:
        with torch.no_grad():
            return self.logits(x).argmax(1).cpu().numpy()

    def log_proba(self, x: Any) -> torch.Tensor:
        return torch.log_softmax(self.logits(x), dim=1)


# The towers are models: they live in bench/encoders/joint.py (re-exported here for existing imports).
from bench.encoders.joint import ImageTower, JointEncoder  # noqa: E402,F401

# ------------------------------------------------------------------------------------------------
# Image inputs (for fine-tuning and for saliency's masked forward passes)
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InputSpec:
    """How a model sees an image: shortest side to ``size / crop_pct``, centre crop ``size``,
    ``(x - mean) / std``. ``mean``/``std`` None: the tensor stays in [0, 1]."""

    size: int
    crop_pct: float = 1.0
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The crop ``(x0, y0, x1, y1)`` in the original image's pixels."""
        side = min(width, height) * min(1.0, self.crop_pct)
        x0, y0 = (width - side) / 2, (height - side) / 2
        return (x0, y0, x0 + side, y0 + side)

    @property
    def fill(self) -> torch.Tensor:
        """The value of a suppressed (zeroed) pixel: 0 of the normalised input (the mean colour)."""
        if self.mean is None:
            return torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
        return torch.zeros(3, 1, 1)


def input_spec(image_model: Any) -> InputSpec:
    """The :class:`InputSpec` of a registered image model, from its declared preprocessing."""
    pre = image_model.preprocessing()
    size = pre.get("size", 224)
    size = int(size[0] if isinstance(size, (list, tuple)) else size)
    crop_pct = float(pre.get("crop_pct") or 1.0)
    mean, std = pre.get("mean"), pre.get("std")
    return InputSpec(size, crop_pct, tuple(mean) if mean else None, tuple(std) if std else None)


def load_resized(path: Any, spec: InputSpec) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(uint8 (3, h', w') resized so the shortest side is size / crop_pct, (height, width) of the original)``."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = spec.size / spec.crop_pct / min(w, h)
        nw, nh = max(spec.size, round(w * scale)), max(spec.size, round(h * scale))
        im = im.resize((nw, nh), Image.BICUBIC)
        arr = torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()
    return arr, (h, w)


def crop_view(resized: torch.Tensor, spec: InputSpec, crop: int = 0, flip: bool = False) -> torch.Tensor:
    """A (3, size, size) float model input from :func:`load_resized` output.

    crop: 0 = centre (the eval view), 1-4 = top-left, top-right, bottom-left, bottom-right (with
    ``flip``, the paper's 10-crop augmentation for fine-tuning).
    """
    _, nh, nw = resized.shape
    s = spec.size
    top, left = {0: ((nh - s) // 2, (nw - s) // 2), 1: (0, 0), 2: (0, nw - s), 3: (nh - s, 0),
                 4: (nh - s, nw - s)}[int(crop)]
    arr = resized[:, top:top + s, left:left + s].float() / 255.0
    if flip:
        arr = arr.flip(-1)
    if spec.mean is not None and spec.std is not None:
        arr = (arr - torch.tensor(spec.mean).view(3, 1, 1)) / torch.tensor(spec.std).view(3, 1, 1)
    return arr.contiguous()


def load_input(path: Any, spec: InputSpec) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(eval input (3, size, size), (height, width) of the original)`` for an image file."""
    resized, hw = load_resized(path, spec)
    return crop_view(resized, spec), hw


def feature_function(image_model: Any, device: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``g``: a batch of model inputs (B, 3, S, S) -> raw features (B, G), no gradient.

    Torch image models run their network directly; others (numpy extractors) get PIL images.
    """
    from bench.images.base import TorchImageModel

    image_model.load()
    if isinstance(image_model, TorchImageModel):
        def torch_features(batch: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return image_model._forward(batch.to(image_model.torch_device())).float().to(device)
        return torch_features

    def pil_features(batch: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        images = [Image.fromarray((x.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8))
                  for x in batch]
        return torch.from_numpy(image_model.embed(images)).to(device)
    return pil_features


def normalise_features(features: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """``recipe.normalise`` applied to raw features: subtract ``centre`` (zeros for 'l2'), then L2."""
    return nn.functional.normalize(features.float() - centre.to(features.device), dim=-1)


# ------------------------------------------------------------------------------------------------
# Fine-tune mode training loop (frozen mode uses bench.training.fit)
# ------------------------------------------------------------------------------------------------

@dataclass
class TwoTowerResult:
    best_state: dict
    last_state: dict
    chosen_epoch: int
    last_epoch: int
    curves: dict[str, list[float]]
    stopped_early: bool


def fit_two_tower(brain: nn.Module, tower: ImageTower, train: dict[str, torch.Tensor], val: dict[str, torch.Tensor],
                  resized: dict[str, list[torch.Tensor]], spec: InputSpec, recipe: Any, *, seed: int,
                  device: str = "cpu", selection_metric: str = "val_loss", augment: bool = True,
                  on_epoch: Callable | None = None, progress: bool = False) -> TwoTowerResult:
    """Train both towers end to end (fine-tune mode); choose the epoch on validation only.

    train/val: ``signals`` (N, C, T), ``image`` (N,) index into ``resized[part]``, ``concepts``,
    ``subjects``. resized: ``{"train": [...], "val": [...]}`` uint8 images from :func:`load_resized`.
    Training views: with ``augment``, one of the 10 crops (5 positions x flip) drawn per row and
    step (Palazzo's 10-crop augmentation); validation uses the centre crop. Loss: the recipe's
    (triplet: the dot-product hinge without margin). Same guarantees as :func:`bench.training.fit`
    for seeds, validation-only selection, early stopping and the chosen/last states.
    """
    from tqdm.auto import tqdm

    from bench.training.loop import _optimizer, state_copy
    from bench.training.losses import build_loss

    dev = torch.device(device)
    model = nn.ModuleDict({"brain": brain, "tower": tower}).to(dev)
    loss_fn = build_loss(recipe).to(dev)
    params = [p for p in model.parameters() if p.requires_grad] + [p for p in loss_fn.parameters() if p.requires_grad]
    optimizer = _optimizer([{"params": params}], recipe)
    maximise = selection_metric == "val_top1"
    curves: dict[str, list[float]] = {k: [] for k in ("train_loss", "val_loss", "val_top1", "epoch_seconds")}
    best_value = -math.inf if maximise else math.inf
    best_state, chosen, since, stopped, epoch = state_copy(model), 0, 0, False, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        n = len(train["signals"])
        bs = recipe.batch_size
        n_batches = max(1, n // bs)
        for epoch in tqdm(range(1, recipe.epochs + 1), desc="train (two towers)", disable=not progress):
            t0 = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for k in range(n_batches):
                idx = order[k * bs:(k + 1) * bs] if n >= bs else order
                img = train["image"][idx]
                if augment:
                    view = torch.randint(0, 10, (len(idx),), generator=gen).tolist()
                    x_img = torch.stack([crop_view(resized["train"][int(i)], spec, v % 5, v >= 5)
                                         for i, v in zip(img, view)])
                else:
                    x_img = torch.stack([crop_view(resized["train"][int(i)], spec) for i in img])
                e = brain(train["signals"][idx].to(dev).float(), train["subjects"][idx].to(dev))
                v = tower(x_img.to(dev).float())
                loss = loss_fn(e, v, img.to(dev), train["concepts"][idx].to(dev))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
                optimizer.step()
                loss_fn.temperature.clamp_()
                total += float(loss.detach())
            model.eval()
            with torch.inference_mode():
                e = torch.cat([brain(val["signals"][i:i + 256].to(dev).float(), val["subjects"][i:i + 256].to(dev))
                               for i in range(0, len(val["signals"]), 256)])
                uniq, inverse = torch.unique(val["image"], return_inverse=True)
                gallery = torch.cat([tower(torch.stack([crop_view(resized["val"][int(j)], spec)
                                                        for j in uniq[i:i + 64]]).to(dev))
                                     for i in range(0, len(uniq), 64)])
                v = gallery[inverse.to(dev)]
                val_loss = float(loss_fn(e, v, val["image"].to(dev), val["concepts"].to(dev)))
                scores = loss_fn.similarity(e, gallery)
                true = scores.gather(1, inverse.to(dev)[:, None])
                val_top1 = float(((scores >= true).sum(1) == 1).float().mean())
            metrics = {"train_loss": total / n_batches, "val_loss": val_loss, "val_top1": val_top1,
                       "epoch_seconds": time.perf_counter() - t0}
            for key, value in metrics.items():
                curves[key].append(float(value))
            value = metrics[selection_metric]
            if (value > best_value) if maximise else (value < best_value):
                best_value, chosen, since, best_state = value, epoch, 0, state_copy(model)
            else:
                since += 1
            if on_epoch is not None:
                on_epoch(epoch, dict(metrics))
            if recipe.early_stopping_patience is not None and since >= recipe.early_stopping_patience:
                stopped = epoch < recipe.epochs
                break
    model.eval()
    return TwoTowerResult(best_state, state_copy(model), chosen, epoch, curves, stopped)


__all__ = ["DEFAULT_JOINT_DIM", "ImageTower", "InputSpec", "JointEncoder", "LinearClassifier", "TwoTowerResult",
           "crop_view", "feature_function", "fit_two_tower", "image_encoder_mode", "input_spec", "load_input",
           "load_resized", "normalise_features"]
