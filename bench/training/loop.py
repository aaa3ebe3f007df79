"""The training loop: in-memory batches, validation-only model selection, early stopping.

>>> result = fit(encoder, train, val, recipe, seed=0)          # FitResult
>>> load_state(encoder, result.best_state)                      # strict: every key must match
>>> brain = embed(encoder, test_signals, test_subjects)          # (N, D) float32 on the CPU

What ``fit`` guarantees:

* **Deterministic for a seed.** The global RNG (dropout, token dropout) is seeded with ``seed``
  inside ``torch.random.fork_rng`` (the caller's RNG state is restored afterwards); batches are
  shuffled with a separate ``torch.Generator(seed)``; on the CPU deterministic algorithms are on
  during the fit (cheap there), on CUDA cuDNN runs deterministic, non-benchmark kernels (flags are
  restored afterwards). Weight initialisation is the caller's (``build_encoder(..., seed=)``).
* **Selection on validation only**: every epoch computes ``val_loss`` (the training loss over the
  validation rows in fixed, near-equal batches of about ``batch_size``) and ``val_top1``
  (retrieval of each validation row's image among the *distinct* validation images; ties count
  against). The chosen epoch minimises ``val_loss`` or maximises ``val_top1``; early stopping after
  ``recipe.early_stopping_patience`` epochs without improvement. Best and last weights are kept as
  CPU copies. Test data never enter ``fit``.
* The scheduler steps once per epoch, never with a loss value.
* Batches: the training rows are shuffled each epoch and cut into full batches of
  ``recipe.batch_size``; the incomplete remainder is dropped (a contrastive loss over a handful of
  rows is a different objective; every row is seen over epochs because the order changes). With
  fewer rows than ``batch_size``, one batch of all rows.
* Precision (``recipe.precision``): "auto"/"amp" run AMP on CUDA (bf16 autocast, or fp16 +
  GradScaler where bf16 is unsupported) and fp32 on the CPU; "fp32" everywhere fp32; "bf16" runs
  bf16 autocast on the CPU (AMX / AVX512-BF16) and on CUDA, and raises :class:`TrainingError` where
  the hardware has no bf16. Training steps and validation run under it; the loss is always computed
  in float32, weights and optimiser state stay float32, ``embed`` runs float32.
* A non-finite loss stops the fit with :class:`TrainingError` naming the epoch and what to change.

Epochs are numbered from 1; ``curves[name][e - 1]`` is epoch ``e``. Curves: ``train_loss``,
``val_loss``, ``val_top1``, ``temperature`` (NaN for triplet), ``lr`` (of the epoch),
``epoch_seconds`` (train + validation, wall), ``train_seconds`` (wall) and ``train_cpu_seconds``
(process CPU time of the training steps, all threads: a compute-cost record that contention on a
shared machine does not inflate).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from bench.config.schema import RecipeSpec
from bench.errors import BenchError
from bench.training.losses import TrainingLoss, build_loss
from bench.training.perf import bf16_supported

SELECTION_METRICS = ("val_loss", "val_top1")
FIT_CURVES = ("train_loss", "val_loss", "val_top1", "temperature", "epoch_seconds", "train_seconds",
              "train_cpu_seconds", "lr")


class TrainingError(BenchError):
    """Training diverged, or a checkpoint does not fit its encoder."""


@dataclass
class TrainingSet:
    """Everything one split needs, in memory, as tensors (rows aligned; no per-sample Python loading).

    signals:     (N, C, T) or (N, V) float (float32; float16/bfloat16 storage is cast per batch).
    targets:     (N, D) image embeddings, already normalised as the recipe says.
    image_index: (N,) long, which image each row shows (false-negative masking, val retrieval).
    concepts:    (N,) long concept labels.
    subjects:    (N,) long subject numbers.
    """

    signals: torch.Tensor
    targets: torch.Tensor
    image_index: torch.Tensor
    concepts: torch.Tensor
    subjects: torch.Tensor

    def __post_init__(self) -> None:
        n = len(self.signals)
        for name in ("targets", "image_index", "concepts", "subjects"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                value = torch.as_tensor(value)
                setattr(self, name, value)
            if len(value) != n:
                raise ValueError(f"TrainingSet.{name} has {len(value)} rows, signals has {n}")
        if not self.signals.is_floating_point():
            raise ValueError(f"TrainingSet.signals must be floating point, got {self.signals.dtype}")
        if self.targets.ndim != 2:
            raise ValueError(f"TrainingSet.targets must be (N, D), got shape {tuple(self.targets.shape)}")
        for name in ("image_index", "concepts", "subjects"):
            setattr(self, name, getattr(self, name).long())
        self.targets = self.targets.float()

    def __len__(self) -> int:
        return len(self.signals)

    def to(self, device: torch.device | str) -> "TrainingSet":
        return TrainingSet(*(t.to(device) for t in (self.signals, self.targets, self.image_index, self.concepts,
                                                    self.subjects)))


@dataclass
class FitResult:
    """What ``fit`` returns. ``best_state``/``last_state``: encoder state dicts (CPU copies)."""

    best_state: dict
    last_state: dict
    chosen_epoch: int
    last_epoch: int
    curves: dict[str, list[float]]
    stopped_early: bool
    loss_state: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- helpers
def state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module.state_dict()`` (safe to keep while training continues)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def load_state(encoder: nn.Module, state: dict[str, Any]) -> nn.Module:
    """Load ``state`` into ``encoder`` strictly: every key present, no extra key, same shapes.

    (NICE's public code used ``strict=False``, so a key mismatch silently loaded nothing and the
    last epoch was evaluated.) Raises :class:`TrainingError` listing what does not match.
    """
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TrainingError(f"checkpoint does not match {type(encoder).__name__}: {exc}",
                            fix="load a checkpoint saved from the same encoder with the same parameters and "
                                "data shape (keys must match exactly; no partial loading)") from exc
    return encoder


def make_optimizer(params: list[dict[str, Any]], recipe: RecipeSpec) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``params`` (param groups). Adam/AdamW use the fused kernel (same
    update, ~5 ms less per NICE step on the CPU) where every parameter is a float on CPU/CUDA."""
    opt = recipe.optimizer
    tensors = [p for g in params for p in g["params"]]
    fused = bool(tensors) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in tensors)
    if opt.name == "adam":
        return torch.optim.Adam(params, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay, fused=fused)
    if opt.name == "adamw":
        return torch.optim.AdamW(params, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay, fused=fused)
    # SGD: betas[0] is the momentum (OptimizerSpec has no separate field).
    return torch.optim.SGD(params, lr=opt.lr, momentum=opt.betas[0], weight_decay=opt.weight_decay)


_optimizer = make_optimizer          # the name ci/bench_training.py imports


def epoch_loop(model: nn.Module, recipe: RecipeSpec, run_epoch: Callable[[int], dict[str, float]], *,
               curve_names: tuple[str, ...], selection_metric: str = "val_loss",
               on_epoch: Callable[[int, dict[str, float]], None] | None = None,
               after_epoch: Callable[[int, dict[str, float], int], None] | None = None) -> FitResult:
    """The one epoch loop of every trainer: validation-only selection, early stopping, best/last state.

    run_epoch(epoch):  trains one epoch and validates; returns the epoch's metrics (every name of
                       ``curve_names``, among them ``selection_metric``).
    Each epoch appends ``curve_names`` to the curves; the chosen epoch minimises ``val_loss`` or
    maximises ``val_top1`` (``model``'s weights then are kept as a CPU copy); ``after_epoch(epoch,
    metrics, chosen_epoch)`` (a progress bar) and ``on_epoch(epoch, metrics)`` are called; after
    ``recipe.early_stopping_patience`` epochs without improvement the loop stops. ``model`` is left
    in eval mode with the last weights (``last_state``).
    """
    if selection_metric not in SELECTION_METRICS:
        raise ValueError(f"selection_metric must be one of {SELECTION_METRICS}, got {selection_metric!r}")
    maximise = selection_metric == "val_top1"
    curves: dict[str, list[float]] = {k: [] for k in curve_names}
    best_value = math.inf if not maximise else -math.inf
    best_state = state_copy(model)
    chosen_epoch = since_best = epoch = 0
    stopped_early = False
    for epoch in range(1, recipe.epochs + 1):
        metrics = run_epoch(epoch)
        for key in curve_names:
            curves[key].append(float(metrics[key]))
        value = metrics[selection_metric]
        if (value > best_value) if maximise else (value < best_value):
            best_value, chosen_epoch, since_best = value, epoch, 0
            best_state = state_copy(model)
        else:
            since_best += 1
        if after_epoch is not None:
            after_epoch(epoch, metrics, chosen_epoch)
        if on_epoch is not None:
            on_epoch(epoch, dict(metrics))
        if recipe.early_stopping_patience is not None and since_best >= recipe.early_stopping_patience:
            stopped_early = epoch < recipe.epochs
            break
    model.eval()
    return FitResult(best_state=best_state, last_state=state_copy(model), chosen_epoch=chosen_epoch,
                     last_epoch=epoch, curves=curves, stopped_early=stopped_early)


def _set_deterministic_algorithms(mode: bool, warn_only: bool, compile: bool) -> None:
    """``torch.use_deterministic_algorithms``, without its import of ``torch._inductor`` (~1.4 s per
    process) when nothing is compiled: besides the global flag it sets inductor's ``deterministic``
    option, which only ``torch.compile`` reads. When compiling, or once inductor is loaded, the public call."""
    if compile or "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


@contextlib.contextmanager
def _determinism(device: torch.device, deterministic: bool | None, compile: bool = False) -> Iterator[None]:
    prev_alg = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    prev_fill = torch.utils.deterministic.fill_uninitialized_memory
    try:
        if deterministic is not False:
            if device.type == "cpu" or deterministic:
                _set_deterministic_algorithms(True, warn_only=True, compile=compile)
                # A debugging aid that NaN-fills every new allocation (~5% of a NICE step); the
                # results do not depend on it.
                torch.utils.deterministic.fill_uninitialized_memory = False
            if device.type == "cuda":
                torch.backends.cudnn.deterministic = True
                torch.backends.cudnn.benchmark = False
        yield
    finally:
        _set_deterministic_algorithms(prev_alg, warn_only=prev_warn, compile=compile)
        torch.utils.deterministic.fill_uninitialized_memory = prev_fill
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev_cudnn


def _amp(device: torch.device, precision: str) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, use GradScaler). ``bf16``: bf16 autocast on any device with bf16
    matmul hardware, a :class:`TrainingError` elsewhere (never a silent fallback)."""
    if precision == "bf16":
        if not bf16_supported(device):
            what = ("this CUDA device has no bf16 support" if device.type == "cuda" else
                    f"this {device.type} has no bf16 matmul units (AMX or AVX512-BF16)")
            raise TrainingError(f"recipe.precision is bf16 but {what}",
                                fix="use recipe.precision: fp32 (or auto), or run on a device with bf16 "
                                    "(Intel Sapphire Rapids or later, NVIDIA Ampere or later)")
        return torch.bfloat16, False
    if device.type != "cuda" or precision == "fp32":
        return None, False
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, False
    return torch.float16, True


def _check_sets(encoder: nn.Module, train: TrainingSet, val: TrainingSet, recipe: RecipeSpec,
                selection_metric: str) -> None:
    if selection_metric not in SELECTION_METRICS:
        raise ValueError(f"selection_metric must be one of {SELECTION_METRICS}, got {selection_metric!r}")
    if len(train) < 2:
        raise ValueError(f"need at least 2 training rows, got {len(train)}")
    if len(val) < 2:
        raise ValueError(f"need at least 2 validation rows (selection is on validation only), got {len(val)}")
    d = getattr(encoder, "n_outputs", None)
    for name, part in (("train", train), ("val", val)):
        if d is not None and part.targets.shape[1] != d:
            raise ValueError(f"{name}.targets have {part.targets.shape[1]} dims but the encoder outputs {d}")
        if part.signals.shape[1:] != train.signals.shape[1:]:
            raise ValueError(f"{name}.signals rows have shape {tuple(part.signals.shape[1:])}, "
                             f"train has {tuple(train.signals.shape[1:])}")


def _fits_on_device(device: torch.device, *sets: TrainingSet) -> bool:
    if device.type != "cuda":
        return True
    need = sum(t.nbytes for s in sets for t in (s.signals, s.targets))
    free, _ = torch.cuda.mem_get_info(device)
    return need < 0.5 * free


@torch.inference_mode()
def _embed_rows(encoder: nn.Module, data: TrainingSet, device: torch.device, batch_size: int,
                amp_dtype: torch.dtype | None) -> torch.Tensor:
    outs = []
    for start in range(0, len(data), batch_size):
        x = data.signals[start:start + batch_size].to(device, dtype=torch.float32, non_blocking=True)
        s = data.subjects[start:start + batch_size].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            outs.append(encoder(x, s).float())
    return torch.cat(outs)


@torch.inference_mode()
def retrieval_top1(scores: torch.Tensor, true_col: torch.Tensor) -> float:
    """Fraction of rows whose true column scores strictly above every other column (ties fail)."""
    true = scores.gather(1, true_col[:, None])
    rank = (scores >= true).sum(1)
    return float((rank == 1).float().mean())


@torch.inference_mode()
def _validate(encoder: nn.Module, loss_fn: TrainingLoss, val: TrainingSet, device: torch.device,
              batch_size: int, amp_dtype: torch.dtype | None) -> tuple[float, float]:
    encoder.eval()
    brain = _embed_rows(encoder, val, device, max(batch_size, 256), amp_dtype)
    targets = val.targets.to(device)
    image_index = val.image_index.to(device)
    concepts = val.concepts.to(device)
    n = len(val)
    total = 0.0
    for chunk in torch.tensor_split(torch.arange(n, device=device), max(1, math.ceil(n / batch_size))):
        total += float(loss_fn(brain[chunk], targets[chunk], image_index[chunk], concepts[chunk])) * len(chunk)
    val_loss = total / n
    # Gallery: the distinct validation images; each row's target is its image's embedding.
    uniq, inverse = torch.unique(image_index, return_inverse=True)
    first = torch.full((len(uniq),), n, dtype=torch.long, device=device).scatter_reduce(
        0, inverse, torch.arange(n, device=device), reduce="amin")
    gallery = targets[first]
    correct = 0.0
    for chunk in torch.split(torch.arange(n, device=device), 4096):
        correct += retrieval_top1(loss_fn.similarity(brain[chunk], gallery), inverse[chunk]) * len(chunk)
    return val_loss, correct / n


# -------------------------------------------------------------------------------------------- fit
def fit(encoder: nn.Module, train: TrainingSet, val: TrainingSet, recipe: RecipeSpec, *, seed: int,
        device: str = "cpu", selection_metric: str = "val_loss",
        on_epoch: Callable[[int, dict[str, float]], None] | None = None, progress: bool = True,
        progress_position: int | None = None, progress_leave: bool | None = None, progress_desc: str = "train",
        deterministic: bool | None = None, compile: bool = False,
        data_on_device: bool | None = None) -> FitResult:
    """Train ``encoder`` on ``train`` with ``recipe``; choose the epoch on ``val`` only.

    seed:              drives dropout and the batch order (see the module docstring).
    device:            "cpu", "cuda", "cuda:1", ...
    selection_metric:  "val_loss" (min) or "val_top1" (max).
    on_epoch:          called after each epoch with (epoch, metrics); exceptions it raises (e.g.
                       ``optuna.TrialPruned``) propagate.
    progress*:         tqdm bar over epochs (rate/ETA); ``progress_position``/``progress_leave`` nest it
                       under an outer bar.
    deterministic:     None: deterministic algorithms on CPU, deterministic cuDNN on CUDA; True: also
                       ``use_deterministic_algorithms`` on CUDA (warn-only); False: leave global flags.
    compile:           run training steps through ``torch.compile(encoder)`` (same weights/state keys;
                       validation runs eager). 8-20% faster per NICE step on the CPU after a
                       15-50 s compilation; dropout masks then come from inductor's generator, so a
                       compiled run differs from an eager one (each is deterministic for its seed).
    data_on_device:    keep the sets on the accelerator (None: when they take < 50% of free memory).

    Returns :class:`FitResult`; ``encoder`` holds the *last* weights afterwards (in eval mode): use
    ``load_state(encoder, result.best_state)`` for the chosen epoch.
    """
    from tqdm.auto import tqdm

    _check_sets(encoder, train, val, recipe, selection_metric)
    dev = torch.device(device)
    amp_dtype, use_scaler = _amp(dev, recipe.precision)
    rng_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []

    with _determinism(dev, deterministic, compile), torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        encoder.to(dev)
        loss_fn = build_loss(recipe).to(dev)
        groups = [{"params": [p for p in encoder.parameters() if p.requires_grad]}]
        loss_params = [p for p in loss_fn.parameters() if p.requires_grad]
        if loss_params:
            groups.append({"params": loss_params, "weight_decay": 0.0})
        optimizer = make_optimizer(groups, recipe)
        scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
                     if recipe.scheduler == "cosine" else None)
        scaler = torch.amp.GradScaler(dev.type, enabled=use_scaler)
        on_dev = _fits_on_device(dev, train, val) if data_on_device is None else data_on_device
        train_d = train.to(dev) if on_dev else train
        val_d = val.to(dev) if on_dev else val
        if not on_dev and dev.type == "cuda":
            train_d = TrainingSet(*(t.pin_memory() for t in (train.signals, train.targets, train.image_index,
                                                              train.concepts, train.subjects)))
        step_model = torch.compile(encoder) if compile else encoder
        params = [p for g in groups for p in g["params"]]

        n = len(train_d)
        bs = recipe.batch_size
        n_batches = n // bs if n >= bs else 1

        def run_epoch(epoch: int) -> dict[str, float]:
            t0, c0 = time.perf_counter(), time.process_time()
            encoder.train()
            order = torch.randperm(n, generator=gen)
            if on_dev:
                order = order.to(dev)
            loss_sum = torch.zeros((), device=dev)
            for k in range(n_batches):
                idx = order[k * bs:(k + 1) * bs] if n >= bs else order
                x = train_d.signals.index_select(0, idx).to(dev, dtype=torch.float32, non_blocking=True)
                y = train_d.targets.index_select(0, idx).to(dev, non_blocking=True)
                img = train_d.image_index.index_select(0, idx).to(dev, non_blocking=True)
                con = train_d.concepts.index_select(0, idx).to(dev, non_blocking=True)
                subj = train_d.subjects.index_select(0, idx).to(dev, non_blocking=True)
                with torch.autocast(dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    out = step_model(x, subj)
                loss = loss_fn(out.float(), y, img, con)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if recipe.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                loss_fn.temperature.clamp_()
                loss_sum += loss.detach()
            train_loss = float(loss_sum) / n_batches
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            train_seconds = time.perf_counter() - t0
            train_cpu_seconds = time.process_time() - c0
            if not math.isfinite(train_loss):
                raise TrainingError(
                    f"training loss is {train_loss} in epoch {epoch}",
                    fix=f"lower the learning rate (recipe.optimizer.lr = {recipe.optimizer.lr:g}), set "
                        "recipe.grad_clip, or use recipe.precision: fp32; check the inputs for NaN/Inf")
            val_loss, val_top1 = _validate(encoder, loss_fn, val_d, dev, bs, amp_dtype)
            if not math.isfinite(val_loss):
                raise TrainingError(f"validation loss is {val_loss} in epoch {epoch}",
                                    fix=f"lower the learning rate (recipe.optimizer.lr = {recipe.optimizer.lr:g})"
                                        " or set recipe.grad_clip")
            lr = optimizer.param_groups[0]["lr"]
            if scheduler is not None:
                scheduler.step()
            return {"train_loss": train_loss, "val_loss": val_loss, "val_top1": val_top1,
                    "temperature": loss_fn.tau, "epoch_seconds": time.perf_counter() - t0,
                    "train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds, "lr": lr}

        bar = tqdm(total=recipe.epochs, desc=progress_desc, unit="epoch", disable=not progress,
                   position=progress_position, leave=progress_leave, dynamic_ncols=True)

        def show(epoch: int, metrics: dict[str, float], chosen_epoch: int) -> None:
            bar.set_postfix(loss=f"{metrics['train_loss']:.4f}", val_loss=f"{metrics['val_loss']:.4f}",
                            top1=f"{metrics['val_top1']:.3f}", best=chosen_epoch, refresh=False)
            bar.update(1)

        with bar:
            result = epoch_loop(encoder, recipe, run_epoch, curve_names=FIT_CURVES, selection_metric=selection_metric,
                                on_epoch=on_epoch, after_epoch=show)
        result.loss_state = state_copy(loss_fn)
        return result


@torch.inference_mode()
def embed(encoder: nn.Module, signals: torch.Tensor, subjects: torch.Tensor | None, *, batch_size: int = 512,
          device: str = "cpu") -> torch.Tensor:
    """Brain embeddings (N, D) float32 on the CPU: eval mode, inference mode, no autograd.

    The encoder's train/eval mode is restored afterwards; it is moved to ``device``.
    """
    dev = torch.device(device)
    was_training = encoder.training
    encoder.to(dev).eval()
    try:
        outs = []
        for start in range(0, len(signals), batch_size):
            x = signals[start:start + batch_size].to(dev, dtype=torch.float32, non_blocking=True)
            s = subjects[start:start + batch_size].to(dev) if subjects is not None else None
            outs.append(encoder(x, s).float().cpu())
        if not outs:
            return torch.empty(0, getattr(encoder, "n_outputs", 0))
        return torch.cat(outs)
    finally:
        encoder.train(was_training)
