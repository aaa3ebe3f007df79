"""Every shipped submission validates; weight-needing ones fail clearly without weights and run end to
end with random-init weights planted in the real layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import load_submission, load_task
from bench.runner import evaluate
from bench.validate import validate_file
from tests.runner.helpers import ROOT

SUBMISSIONS = sorted((ROOT / "submissions").glob("*.yaml"))
WEIGHTED = ("dreamsim", "open_clip", "timm")


def _needs_weights(path: Path) -> bool:
    return load_submission(path).spec.image_model.name in WEIGHTED


@pytest.mark.parametrize("path", SUBMISSIONS, ids=[p.stem for p in SUBMISSIONS])
def test_submission_validates(path):
    assert validate_file(path).name == path.stem


def _demo_variant(tmp: Path, path: Path, size: str | None = "micro") -> tuple[Path, Path, list[int] | None]:
    """The submission on the simulated demo of its first task, 1 subject, 1 seed, 1 epoch; and which
    subjects to run (None: all). One unit: under leave-one-subject-out, two subjects and one fold (the
    first held out, the second trained on)."""
    spec = load_submission(path).spec
    task = load_task(spec.tasks[0]).spec
    demo = ROOT / "tasks" / f"{task.name}-demo.yaml"
    assert demo.is_file(), f"no simulated demo variant for task {task.name}"
    demo_spec = load_task(demo).spec
    loso = demo_spec.scheme == "leave-one-subject-out"
    subjects = demo_spec.dataset.subjects[:2 if loso else 1]
    sim = f", simulation: {{size: {size}}}" if size and demo_spec.dataset.name == "things-eeg2" else ""
    task_file = tmp / f"{path.stem}-task.yaml"
    task_file.write_text(f"extends: {demo}\nname: {path.stem}-e2e\ndataset: {{subjects: {subjects}{sim}}}\n"
                         f"seeds: [{demo_spec.seeds[0]}]\n")
    sub_file = tmp / f"{path.stem}.yaml"
    sub_file.write_text(f"extends: {path}\nname: {path.stem}\ntasks: [{task_file}]\n"
                        f"recipe: {{epochs: 1, early_stopping_patience: null}}\n")
    return task_file, sub_file, (subjects[:1] if loso else None)


@pytest.mark.parametrize("path", [p for p in SUBMISSIONS if _needs_weights(p)],
                         ids=[p.stem for p in SUBMISSIONS if _needs_weights(p)])
def test_missing_weights_give_the_clear_error(path, tmp_path, settings):
    _, sub, subjects = _demo_variant(tmp_path, path)
    report = evaluate([str(sub)], subjects=subjects, settings=settings, progress=False)
    (record,) = report.records
    assert record.status == "failed"
    assert "weights" in record.error.lower() and str(settings.weights_dir) in record.error
    assert "fix" in record.error


def _plant(spec, weights_dir: Path) -> None:
    import torch

    from tests.images.fake_weights import plant_dreamsim, plant_open_clip, plant_timm

    params = spec.image_model.params
    if spec.image_model.name == "dreamsim":
        plant_dreamsim(weights_dir, params.get("dreamsim_type", "ensemble"), lora=params.get("aligned", True),
                       dtype=torch.float16)
    elif spec.image_model.name == "open_clip":
        plant_open_clip(weights_dir, params["model"], params.get("pretrained", "openai"), dtype=torch.float16)
    elif spec.image_model.name == "timm":
        plant_timm(weights_dir, params["model"], dtype=torch.float16)


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SUBMISSIONS if _needs_weights(p)],
                         ids=[p.stem for p in SUBMISSIONS if _needs_weights(p)])
def test_submission_runs_end_to_end_with_random_init_weights(path, tmp_path_factory, settings):
    weights = tmp_path_factory.getbasetemp() / "planted-weights"   # shared across parametrised cases
    settings = settings.with_(weights_dir=weights, cache_dir=tmp_path_factory.getbasetemp() / "e2e-cache")
    _, sub, subjects = _demo_variant(tmp_path_factory.mktemp(path.stem), path)
    _plant(load_submission(sub).spec, weights)
    report = evaluate([str(sub)], subjects=subjects, settings=settings, progress=False)
    (record,) = report.records
    assert record.finished, record.error
    headline = record.task_spec["headline_metric"]          # top1, eeg_top1 (Palazzo's joint embedding), ...
    assert 0.0 <= record.metrics[headline] <= 1.0 and record.chosen_epoch == 1
