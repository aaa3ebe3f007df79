"""ImageNet-EEG classification: the controls detect the simulated block confound and sit at chance
on a randomized design; the task runs end to end (records, MLflow, comparison) on simulated data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data.imagenet_eeg import ImageNetEEG
from bench.data.simulate.imagenet_eeg import write_imagenet_eeg
from bench.tasks.controls import (ControlsSpec, adjacency_predictions, binomial_p, confound_verdict, drift_features,
                                  permutation_chance, run_controls)
from bench.tasks.joint import LinearClassifier

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_roots(tmp_path_factory) -> dict[str, Path]:
    """Simulated tiny ImageNet-EEG, block design and randomized design (``<root>/imagenet-eeg``)."""
    base = tmp_path_factory.mktemp("imagenet-eeg-designs")
    for design in ("block", "randomized"):
        write_imagenet_eeg(base / design / "imagenet-eeg", size="tiny", subjects=2, seed=0, design=design)
    return {d: base / d for d in ("block", "randomized")}


def _controls(root: Path, model_pred=None) -> dict[str, float]:
    ds, hg = ImageNetEEG(root / "imagenet-eeg", "5-95"), ImageNetEEG(root / "imagenet-eeg", "55-95")
    parts = {p: ds.load_subjects([1, 2], p) for p in ("train", "val", "test")}
    labels = {p: d.concepts for p, d in parts.items()}
    pred = labels["test"] if model_pred is None else model_pred
    return run_controls(ControlsSpec(high_gamma="band-power"), signals={p: d.signals for p, d in parts.items()},
                        labels=labels, subjects={p: d.subjects for p, d in parts.items()},
                        order={p: np.asarray(d.info["list_index"]) for p, d in parts.items()}, n_classes=ds.n_classes,
                        eeg_pred=pred, seed=0,
                        high_gamma={p: hg.load_subjects([1, 2], p).signals for p in ("train", "val", "test")})


def test_controls_detect_the_block_confound(data_roots):
    m = _controls(data_roots["block"])
    for name in ("drift_probe", "adjacency"):
        assert m[f"control/{name}_top1"] > 0.8 and m[f"control/{name}_p"] < 1e-6, (name, m)
    assert m["control/high_gamma_eeg_top1"] > 0.5 and m["control/high_gamma_p"] < 1e-4
    verdict = confound_verdict(m, eeg_top1=0.9)
    assert verdict.flag and {r.split(":")[0] for r in verdict.reasons} == {"drift_probe", "adjacency", "high_gamma"}


def test_controls_are_at_chance_on_a_randomized_design(data_roots):
    m = _controls(data_roots["randomized"])
    for name in ("drift_probe", "adjacency", "high_gamma"):
        assert m[f"control/{name}_p"] > 0.01, (name, m)
    assert m["control/chance"] == pytest.approx(0.1)
    assert not confound_verdict(m, eeg_top1=0.6).flag


def test_control_building_blocks():
    # drift features: exact mean and (standardised-time) slope per channel
    t = np.arange(100.0)
    x = np.stack([np.stack([2 + 0 * t, 3 * (t - t.mean()) / t.std()])])
    f = drift_features(x)
    np.testing.assert_allclose(f[0], [2.0, 0.0, 0.0, 3.0], atol=1e-5)
    # adjacency: nearest reference trial of the same subject in recording order (ties -> earlier)
    pred = adjacency_predictions(np.array([1, 1, 1, 2]), np.array([0, 4, 9, 5]), np.array([7, 8, 9, 3]),
                                 np.array([1, 1, 2, 1]), np.array([2, 8, 100, 6]))
    assert pred.tolist() == [7, 9, 3, 8]
    # permutation chance of a constant prediction is the frequency of that class
    true = np.array([0] * 30 + [1] * 70)
    perm = permutation_chance(np.ones(100, int), true, permutations=200, seed=0)
    assert perm["permutation_chance"] == pytest.approx(0.7) and perm["permutation_p"] == 1.0
    assert binomial_p(10, 10, 0.1) < 1e-9 and binomial_p(0, 10, 0.1) == 1.0
    # the softmax probe separates separable data and chooses its L2 on validation only
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 30)
    xs = rng.standard_normal((120, 5)) + 3 * np.eye(5)[y]
    clf = LinearClassifier(4).fit(xs[::2], y[::2], xs[1::2], y[1::2])
    assert (clf.predict(xs) == y).mean() > 0.95 and clf.chosen_l2 in clf.l2_grid


def test_confound_rule():
    m = {"control/drift_probe_top1": 0.3, "control/drift_probe_p": 1e-5, "control/adjacency_top1": 0.9,
         "control/adjacency_p": 0.2, "control/permutation_p": 0.001}
    assert confound_verdict(m, eeg_top1=0.5).flag              # 0.3 >= 0.5 x 0.5, significant
    assert not confound_verdict(m, eeg_top1=0.9).flag          # the drift probe explains < half
    assert confound_verdict(m, eeg_top1=0.9).above_chance


# ----------------------------------------------------------------------------------------- end to end
def _write_specs(tmp: Path, *, high_gamma: str = "band-power", seeds=(0,), epochs: int = 6) -> tuple[Path, list[Path]]:
    task = tmp / "ie40-task.yaml"
    task.write_text(f"extends: {ROOT / 'tasks' / 'imagenet-eeg-40-demo.yaml'}\nname: ie40-test\n"
                    f"dataset: {{source: real}}\nseeds: {list(seeds)}\n"
                    f"protocol: {{controls: {{high_gamma: {high_gamma}, permutations: 200}}}}\n")
    subs = []
    for base, ep in (("demo_palazzo_nice", epochs), ("demo_palazzo", 2)):
        sub = tmp / f"{base}-test.yaml"
        sub.write_text(f"extends: {ROOT / 'submissions' / (base + '.yaml')}\nname: {base}-test\n"
                       f"tasks: [{task}]\nrecipe: {{epochs: {ep}}}\n")
        subs.append(sub)
    return task, subs


def test_classification_end_to_end_with_controls(data_roots, tmp_path, settings):
    from bench.records.mlflow_store import RecordStore
    from bench.runner import evaluate
    from bench.stats import compare

    _, subs = _write_specs(tmp_path)
    settings = settings.with_(data_root=data_roots["block"])
    report = evaluate([str(s) for s in subs], settings=settings, progress=False)
    assert not report.failed, report.failed[0].error
    by_name = {r.submission: r for r in report.records}
    nice = by_name["demo_palazzo_nice-test"]
    assert nice.split == "pooled" and nice.subject == 0
    m = nice.metrics
    assert m["eeg_top1"] > 0.5 and m["image_top1"] > 0.3                 # the block confound is learnable
    assert {"eeg_top1/sub-01", "eeg_top1/sub-02", "last_epoch/eeg_top1", "last_epoch/image_top1"} <= set(m)
    for key in ("drift_probe_top1", "drift_probe_p", "high_gamma_eeg_top1", "adjacency_top1", "permutation_chance",
                "permutation_p", "confound_flag"):
        assert f"control/{key}" in m, key
    assert m["control/confound_flag"] == 1.0 and nice.info["confound_flag"] is True
    assert nice.info["confound_reasons"] and nice.info["chance"]["eeg_top1"] == pytest.approx(0.1)
    n = nice.info["n_test"]
    assert len(nice.per_item["item_id"]) == n and set(nice.per_item) >= {"subject", "label", "eeg_pred", "eeg_correct"}
    assert np.mean(nice.per_item["eeg_correct"]) == pytest.approx(m["eeg_top1"])
    assert 1 <= nice.chosen_epoch <= nice.info["last_epoch"]
    assert nice.provenance["data_checksum"] and nice.provenance["weights_checksum"]

    run = RecordStore(settings.tracking_uri).client.get_run(nice.run_id)
    assert run.data.tags["bench.key"] == nice.key and "control/drift_probe_top1" in run.data.metrics

    comparison = compare(report.records, "ie40-test", "demo_palazzo_nice-test", "demo_palazzo-test", metric="eeg_top1")
    assert comparison.n_units == 1 and comparison.mean_a == pytest.approx(m["eeg_top1"])
    again = evaluate([str(s) for s in subs], settings=settings, progress=False)
    assert len(again.skipped) == 2 and not again.records


@pytest.mark.slow
def test_high_gamma_control_runs_the_pipeline_on_the_55_95_file(data_roots, tmp_path, settings):
    from bench.runner import evaluate

    _, subs = _write_specs(tmp_path, high_gamma="pipeline", seeds=(0, 1))
    report = evaluate([str(subs[0])], settings=settings.with_(data_root=data_roots["randomized"]), progress=False)
    assert not report.failed, report.failed[0].error
    for record in report.records:
        m = record.metrics
        assert "control/high_gamma_eeg_top1" in m
        assert m["control/drift_probe_p"] > 0.01 and m["control/adjacency_p"] > 0.01
        assert record.info["confound_flag"] is False


@pytest.mark.slow
def test_finetune_mode_trains_the_timm_backbone(data_roots, tmp_path):
    """recipe.image_encoder = finetune (set programmatically while the schema lacks the field)."""
    import torch

    from bench.config import load_submission
    from bench.settings import load_settings
    from bench.tasks.palazzo import fit_classifiers, load_joint_data, train_joint
    from bench.tasks.saliency import suppression_map
    from bench.tasks.joint import load_input
    from tests.images.fake_weights import plant_timm

    settings = load_settings(cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights", device="cpu",
                             tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    plant_timm(tmp_path / "weights", "resnet18")
    sub = load_submission("demo_palazzo_nice", {"image_model": {"name": "timm", "params": {"model": "resnet18"}},
                                                "recipe": {"epochs": 1, "batch_size": 32}}).spec
    sub = sub.model_copy(update={"recipe": sub.recipe.model_copy(update={"image_encoder": "finetune"})})
    ds = ImageNetEEG(data_roots["block"] / "imagenet-eeg")
    data = load_joint_data(ds, [1, 2])
    trained = train_joint(sub, data, settings, seed=0)
    assert trained.mode == "finetune"
    before = {k: v for k, v in trained.result.last_state.items() if k.startswith("tower.backbone")}
    trained.use("last")
    image_model_net = trained.image_model._net
    assert any(p.requires_grad for p in image_model_net.parameters())
    clf = fit_classifiers(trained, data, settings)
    test = ds.load_subjects([1, 2], "test")
    assert clf.eeg.predict(trained.eeg_embedding(test.signals, test.subjects)).shape == (len(test),)
    x, _ = load_input(ds.images("test").paths[0], trained.spec)
    brain = trained.brain_vectors(trained.eeg_embedding(test.signals[:1], test.subjects[:1]))
    smap = suppression_map(lambda b: trained.similarity(brain, trained.image_vectors(b)).mean(0), x, [33, 65],
                           stride=32, batch_size=16, fill=trained.spec.fill)
    assert smap.shape == (224, 224) and np.isfinite(smap).all()
    from safetensors.torch import load_file

    # the backbone moved away from the planted weights

    planted = load_file(str(tmp_path / "weights" / "timm" / "resnet18.a1_in1k" / "model.safetensors"))
    key = "conv1.weight"
    assert not torch.equal(before[f"tower.backbone.{key}"], planted[key])
