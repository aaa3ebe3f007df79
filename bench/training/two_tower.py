"""Fine-tune mode of the Palazzo et al. 2020 siamese model: both towers trained end to end.

The epochs run in the shared loop (:func:`bench.training.loop.epoch_loop`: validation-only
selection, early stopping, chosen and last state, curves); this module defines one epoch's
training steps (with the paper's 10-crop augmentation) and its validation.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
from torch import nn

from bench.training.image_inputs import InputSpec, crop_view
from bench.training.loop import FitResult, epoch_loop, make_optimizer

TWO_TOWER_CURVES = ("train_loss", "val_loss", "val_top1", "epoch_seconds")


def fit_two_tower(brain: nn.Module, tower: nn.Module, train: dict[str, torch.Tensor], val: dict[str, torch.Tensor],
                  resized: dict[str, list[torch.Tensor]], spec: InputSpec, recipe: Any, *, seed: int,
                  device: str = "cpu", selection_metric: str = "val_loss", augment: bool = True,
                  on_epoch: Callable | None = None, progress: bool = False) -> FitResult:
    """Train both towers end to end (fine-tune mode); choose the epoch on validation only.

    train/val: ``signals`` (N, C, T), ``image`` (N,) index into ``resized[part]``, ``concepts``,
    ``subjects``. resized: ``{"train": [...], "val": [...]}`` uint8 images from
    :func:`~bench.training.image_inputs.load_resized`. Training views: with ``augment``, one of the
    10 crops (5 positions x flip) drawn per row and step (Palazzo's 10-crop augmentation); validation
    uses the centre crop. Loss: the recipe's (triplet: the dot-product hinge without margin). The
    states are those of ``ModuleDict({"brain", "tower"})``.
    """
    from tqdm.auto import tqdm

    from bench.training.losses import build_loss

    dev = torch.device(device)
    model = nn.ModuleDict({"brain": brain, "tower": tower}).to(dev)
    loss_fn = build_loss(recipe).to(dev)
    params = [p for p in model.parameters() if p.requires_grad] + [p for p in loss_fn.parameters() if p.requires_grad]
    optimizer = make_optimizer([{"params": params}], recipe)
    n = len(train["signals"])
    bs = recipe.batch_size
    n_batches = max(1, n // bs)

    def train_views(img: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if augment:
            view = torch.randint(0, 10, (len(img),), generator=gen).tolist()
            return torch.stack([crop_view(resized["train"][int(i)], spec, v % 5, v >= 5) for i, v in zip(img, view)])
        return torch.stack([crop_view(resized["train"][int(i)], spec) for i in img])

    @torch.inference_mode()
    def validate() -> tuple[float, float]:
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
        return val_loss, float(((scores >= true).sum(1) == 1).float().mean())

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        bar = tqdm(total=recipe.epochs, desc="train (two towers)", disable=not progress)

        def run_epoch(epoch: int) -> dict[str, float]:
            t0 = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=gen)
            total = 0.0
            for k in range(n_batches):
                idx = order[k * bs:(k + 1) * bs] if n >= bs else order
                img = train["image"][idx]
                x_img = train_views(img, gen)
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
            val_loss, val_top1 = validate()
            return {"train_loss": total / n_batches, "val_loss": val_loss, "val_top1": val_top1,
                    "epoch_seconds": time.perf_counter() - t0}

        with bar:
            return epoch_loop(model, recipe, run_epoch, curve_names=TWO_TOWER_CURVES,
                              selection_metric=selection_metric, on_epoch=on_epoch,
                              after_epoch=lambda *_: bar.update(1))


__all__ = ["TWO_TOWER_CURVES", "fit_two_tower"]
