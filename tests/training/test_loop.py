"""fit(): deterministic, validation-only selection, early stopping, learning, strict checkpoint loading."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bench.config.schema import ComponentSpec, RecipeSpec
from bench.encoders import build_encoder
from bench.training import TrainingError, TrainingSet, build_loss, embed, fit, load_state

C, T, D = 8, 80, 16
TIMING = {"epoch_seconds", "train_seconds", "train_cpu_seconds"}


def make_set(n_images: int, reps: int, seed: int, *, offset: int = 0, noise: float = 0.5,
             shuffle_targets: bool = False) -> TrainingSet:
    """Signals = a fixed linear image of each image's embedding + noise (learnable, linear problem)."""
    mix = torch.randn(D, C, T, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    emb = F.normalize(torch.randn(n_images, D, generator=g), dim=1)
    image = torch.arange(n_images).repeat_interleave(reps)
    signals = torch.einsum("nd,dct->nct", emb[image], mix) + noise * torch.randn(len(image), C, T, generator=g)
    targets = emb[image]
    if shuffle_targets:
        targets = emb[torch.randperm(n_images, generator=g)][image]
    return TrainingSet(signals, targets, image + offset, (image + offset) // 3,
                       torch.full((len(image),), 1, dtype=torch.long))


@pytest.fixture(scope="module")
def data():
    return make_set(96, 2, seed=0), make_set(24, 2, seed=1, offset=1000)


def mlp(seed=0):
    return build_encoder(ComponentSpec(name="brain-mlp", params={"hidden": 64, "n_blocks": 1}),
                         {"n_chans": C, "n_times": T, "sfreq": 100.0}, D, seed=seed)


RECIPE = RecipeSpec(epochs=6, batch_size=32, optimizer={"lr": 1e-3}, temperature={"initial": 0.1},
                    early_stopping_patience=None)


def test_deterministic_for_a_seed(data):
    train, val = data
    runs = [fit(mlp(), train, val, RECIPE, seed=5, progress=False) for _ in range(2)]
    for key in runs[0].curves.keys() - TIMING:
        assert runs[0].curves[key] == runs[1].curves[key], key
    for k, v in runs[0].best_state.items():
        assert torch.equal(v, runs[1].best_state[k]), k
    other = fit(mlp(), train, val, RECIPE, seed=6, progress=False)
    assert other.curves["train_loss"] != runs[0].curves["train_loss"]


def test_learns_a_tiny_problem_with_nice(data):
    train, val = data
    enc = build_encoder(ComponentSpec(name="nice"), {"n_chans": C, "n_times": T, "sfreq": 100.0}, D, seed=0)
    recipe = RecipeSpec(epochs=12, batch_size=32, optimizer={"lr": 1e-3}, temperature={"initial": 0.1},
                        early_stopping_patience=None)
    result = fit(enc, train, val, recipe, seed=0, progress=False, selection_metric="val_top1")
    chance = 1 / 24
    assert result.curves["val_top1"][0] < 0.5
    assert max(result.curves["val_top1"]) > 10 * chance
    assert result.curves["val_loss"][-1] < result.curves["val_loss"][0]


def test_chooses_the_best_validation_epoch(data):
    train, val = data
    enc = mlp()
    recipe = RECIPE.model_copy(update={"batch_size": 64})
    result = fit(enc, train, val, recipe, seed=0, progress=False)
    losses = result.curves["val_loss"]
    assert result.chosen_epoch == losses.index(min(losses)) + 1
    assert result.last_epoch == recipe.epochs and not result.stopped_early
    # The kept best state reproduces the chosen epoch's validation loss (val fits in one batch).
    load_state(enc, result.best_state)
    brain = embed(enc, val.signals, val.subjects)
    loss = build_loss(recipe)(brain, val.targets, val.image_index, val.concepts)
    assert float(loss) == pytest.approx(losses[result.chosen_epoch - 1], rel=1e-5)
    load_state(enc, result.last_state)
    loss = build_loss(recipe)(embed(enc, val.signals, val.subjects), val.targets)
    assert float(loss) == pytest.approx(losses[-1], rel=1e-5)


def test_selection_on_top1(data):
    train, val = data
    result = fit(mlp(), train, val, RECIPE, seed=0, progress=False, selection_metric="val_top1")
    top1 = result.curves["val_top1"]
    assert result.chosen_epoch == top1.index(max(top1)) + 1


def test_early_stops_on_validation_without_improvement(data):
    train, val = data
    # An SGD step too small to change float32 weights: validation never improves after epoch 1.
    recipe = RecipeSpec(epochs=20, batch_size=32, optimizer={"name": "sgd", "lr": 1e-30},
                        early_stopping_patience=3)
    result = fit(mlp(), train, val, recipe, seed=0, progress=False)
    assert result.stopped_early
    assert result.chosen_epoch == 1 and result.last_epoch == 4
    assert len(result.curves["val_loss"]) == 4


def test_early_stopping_with_unrelated_validation_targets(data):
    train, _ = data
    val = make_set(24, 2, seed=1, offset=1000, shuffle_targets=True)
    recipe = RecipeSpec(epochs=40, batch_size=32, optimizer={"lr": 3e-3}, early_stopping_patience=2)
    result = fit(mlp(), train, val, recipe, seed=0, progress=False)
    losses = result.curves["val_loss"]
    assert result.chosen_epoch == losses.index(min(losses)) + 1
    if result.stopped_early:
        assert result.last_epoch == result.chosen_epoch + 2


def test_on_epoch_gets_metrics_and_its_exceptions_propagate(data):
    train, val = data
    seen = []

    class Pruned(Exception):
        pass

    def on_epoch(epoch, metrics):
        seen.append((epoch, metrics))
        if epoch == 2:
            raise Pruned

    state = torch.random.get_rng_state()
    with pytest.raises(Pruned):
        fit(mlp(), train, val, RECIPE, seed=0, progress=False, on_epoch=on_epoch)
    assert [e for e, _ in seen] == [1, 2]
    assert {"train_loss", "val_loss", "val_top1", "temperature", "epoch_seconds"} <= set(seen[0][1])
    assert torch.equal(torch.random.get_rng_state(), state)          # the caller's RNG is untouched
    assert not torch.are_deterministic_algorithms_enabled()          # global flags restored
    assert torch.utils.deterministic.fill_uninitialized_memory


def test_nan_loss_names_the_epoch_and_the_fix(data):
    train, val = data
    bad = TrainingSet(train.signals.clone(), train.targets, train.image_index, train.concepts, train.subjects)
    bad.signals[0, 0, 0] = float("nan")
    recipe = RECIPE.model_copy(update={"batch_size": len(bad)})
    with pytest.raises(TrainingError, match=r"epoch 1[\s\S]*learning rate"):
        fit(mlp(), bad, val, recipe, seed=0, progress=False)


def test_load_state_is_strict(data):
    enc = mlp()
    state = enc.state_dict()
    load_state(mlp(seed=1), state)
    missing = dict(state)
    missing.pop(next(iter(missing)))
    with pytest.raises(TrainingError, match="Missing key"):
        load_state(mlp(), missing)
    with pytest.raises(TrainingError, match="Unexpected key"):
        load_state(mlp(), {**state, "extra.weight": torch.zeros(1)})
    with pytest.raises(TrainingError):
        load_state(mlp(), {})
    other = build_encoder(ComponentSpec(name="brain-mlp", params={"hidden": 32, "n_blocks": 1}),
                          {"n_chans": C, "n_times": T, "sfreq": 100.0}, D)
    with pytest.raises(TrainingError, match="size mismatch"):
        load_state(other, state)


def test_embed_is_inference_only_and_restores_mode(data):
    _, val = data
    enc = mlp().train()
    out = embed(enc, val.signals, val.subjects, batch_size=7)
    assert out.shape == (len(val), D) and out.dtype == torch.float32 and not out.requires_grad
    assert enc.training
    enc.eval()
    with torch.no_grad():
        torch.testing.assert_close(out, enc(val.signals))
    assert embed(enc, val.signals[:0], None).shape == (0, D)


def test_cosine_schedule_and_learnable_temperature(data):
    train, val = data
    recipe = RecipeSpec.model_validate({**RECIPE.model_dump(), "scheduler": "cosine",
                                        "temperature": {"initial": 0.2, "learnable": True}})
    result = fit(mlp(), train, val, recipe, seed=0, progress=False)
    lrs = result.curves["lr"]
    assert lrs[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(lrs, lrs[1:]))
    temps = result.curves["temperature"]
    assert temps[-1] != pytest.approx(0.2)
    assert "temperature.log_scale" in result.loss_state
    assert math.exp(-float(result.loss_state["temperature.log_scale"])) == pytest.approx(temps[-1], rel=1e-5)


def test_triplet_recipe_runs(data):
    train, val = data
    recipe = RecipeSpec(loss="triplet", epochs=2, batch_size=16, optimizer={"name": "adam", "lr": 1e-3})
    result = fit(mlp(), train, val, recipe, seed=0, progress=False)
    assert all(math.isnan(t) for t in result.curves["temperature"])
    assert all(math.isfinite(v) for v in result.curves["val_loss"])


def test_bad_inputs():
    train = make_set(4, 1, seed=0)
    with pytest.raises(ValueError, match="selection_metric"):
        fit(mlp(), train, train, RECIPE, seed=0, progress=False, selection_metric="test_top1")
    with pytest.raises(ValueError, match="dims"):
        fit(build_encoder(ComponentSpec(name="brain-mlp", params={"hidden": 8}),
                          {"n_chans": C, "n_times": T, "sfreq": 100.0}, D + 1), train, train, RECIPE, seed=0,
            progress=False)
    with pytest.raises(ValueError, match="rows"):
        TrainingSet(train.signals, train.targets[:2], train.image_index, train.concepts, train.subjects)


@pytest.mark.slow
def test_compiled_training_matches_eager(data):
    train, val = data
    recipe = RecipeSpec(epochs=2, batch_size=32, optimizer={"lr": 1e-3}, early_stopping_patience=None)
    def no_dropout():  # compiled code draws dropout masks from its own generator
        return build_encoder(ComponentSpec(name="brain-mlp", params={"hidden": 64, "n_blocks": 1, "input_dropout": 0.0,
                                                                    "dropout": 0.0}),
                             {"n_chans": C, "n_times": T, "sfreq": 100.0}, D, seed=0)

    eager = fit(no_dropout(), train, val, recipe, seed=0, progress=False)
    enc = no_dropout()
    compiled = fit(enc, train, val, recipe, seed=0, progress=False, compile=True)
    assert compiled.best_state.keys() == eager.best_state.keys() == enc.state_dict().keys()
    for a, b in zip(eager.curves["val_loss"], compiled.curves["val_loss"]):
        assert a == pytest.approx(b, rel=1e-3)


@pytest.mark.skipif(not __import__("bench.training.perf", fromlist=["x"]).bf16_supported("cpu"),
                    reason="this CPU has no bf16 matmul units")
def test_bf16_precision_runs_under_autocast_and_stays_close_to_fp32(data, monkeypatch):
    train, val = data
    seen = []
    real_autocast = torch.autocast

    def spy(device_type, dtype=None, enabled=True, **kw):   # record what fit asks autocast for
        seen.append((device_type, dtype, enabled))
        return real_autocast(device_type, dtype=dtype, enabled=enabled, **kw)

    monkeypatch.setattr(torch, "autocast", spy)
    bf16 = fit(mlp(), train, val, RECIPE.model_copy(update={"precision": "bf16"}), seed=3, progress=False)
    monkeypatch.setattr(torch, "autocast", real_autocast)
    fp32 = fit(mlp(), train, val, RECIPE.model_copy(update={"precision": "fp32"}), seed=3, progress=False)
    assert ("cpu", torch.bfloat16, True) in seen
    assert all(v.dtype == torch.float32 for v in bf16.best_state.values() if v.is_floating_point())
    assert bf16.curves["train_loss"] != fp32.curves["train_loss"]          # it did run in bf16
    for a, b in zip(bf16.curves["train_loss"], fp32.curves["train_loss"]):
        assert abs(a - b) < 0.05 * abs(b)                                     # and learns the same way
    assert bf16.curves["val_top1"][-1] >= fp32.curves["val_top1"][-1] - 0.15


def test_bf16_precision_without_hardware_is_a_clear_error(data, monkeypatch):
    import bench.training.loop as loop

    monkeypatch.setattr(loop, "bf16_supported", lambda device: False)
    train, val = data
    with pytest.raises(TrainingError, match="bf16") as err:
        fit(mlp(), train, val, RECIPE.model_copy(update={"precision": "bf16"}), seed=0, progress=False)
    assert "recipe.precision: fp32" in str(err.value)
    # the default stays fp32 on the CPU, whatever the hardware
    fit(mlp(), train, val, RECIPE.model_copy(update={"epochs": 1}), seed=0, progress=False)


def test_precision_is_part_of_the_submission_hash():
    from bench.config import spec_hash
    from bench.config.schema import SubmissionSpec

    base = SubmissionSpec(name="s", tasks=["t"], encoder={"name": "nice"}, image_model={"name": "random-convnet"})
    bf16 = base.model_copy(update={"recipe": base.recipe.model_copy(update={"precision": "bf16"})})
    fp32 = base.model_copy(update={"recipe": base.recipe.model_copy(update={"precision": "fp32"})})
    assert len({spec_hash(base), spec_hash(bf16), spec_hash(fp32)}) == 3


@pytest.mark.integration
def test_deterministic_flags_set_and_restored_without_importing_inductor():
    """``fit``'s determinism context turns torch's deterministic algorithms on (warn-only) and back off
    without importing ``torch._inductor`` (1.4 s per process); with ``compile`` it uses the public call,
    so inductor's own ``deterministic`` option is set too. In a fresh interpreter (imports are global)."""
    import subprocess
    import sys

    code = """
import sys, torch
from bench.training.loop import _determinism
cpu = torch.device("cpu")
with _determinism(cpu, None):
    inside = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
print(inside, torch.are_deterministic_algorithms_enabled(), "torch._inductor.config" in sys.modules)
with _determinism(cpu, None, compile=True):
    import torch._inductor.config as c
    inside = (torch.are_deterministic_algorithms_enabled(), c.deterministic)
print(inside, torch.are_deterministic_algorithms_enabled(), c.deterministic)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "(True, True) False False"
    assert out[1] == "(True, True) False False"


def test_embedding_read_only_signals_hands_torch_a_writable_copy(monkeypatch):
    """Kept loads (bench.data.last_read) are read-only; torch warns when it shares one, so embed copies them."""
    import numpy as np
    import torch

    from bench.training.encoder import TrainedEncoder

    class Mean(torch.nn.Module):
        def forward(self, x, subjects):
            return x.mean(dim=2)

    seen = []
    real = torch.from_numpy
    monkeypatch.setattr(torch, "from_numpy", lambda a: seen.append(a.flags.writeable) or real(a))
    signals = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    signals.flags.writeable = False
    out = TrainedEncoder(Mean(), None, "cpu").embed(signals, np.array([1, 1]))
    np.testing.assert_allclose(out, signals.mean(axis=2))
    assert seen and all(seen)
