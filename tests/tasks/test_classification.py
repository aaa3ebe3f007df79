"""ImageNet-EEG classification: the task runs end to end with its controls (records, MLflow,
comparison) on simulated data; flagged on a block design, clean on a randomized one. The controls
themselves are tested in test_controls.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.data.imagenet_eeg import ImageNetEEG
from bench.data.simulate.imagenet_eeg import write_imagenet_eeg
from bench.tasks.controls import binomial_p, confound_verdict, permutation_chance
from bench.training.classifier import LinearClassifier

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_roots(tmp_path_factory) -> dict[str, Path]:
    """Simulated tiny ImageNet-EEG, block design and randomized design (``<root>/imagenet-eeg``)."""
    base = tmp_path_factory.mktemp("imagenet-eeg-designs")
    for design in ("block", "randomized"):
        write_imagenet_eeg(base / design / "imagenet-eeg", size="tiny", subjects=2, seed=0, design=design)
    return {d: base / d for d in ("block", "randomized")}


def test_parsed_files_are_an_object_the_dataset_is_given(data_roots):
    """Parsed EEG/split files are memoised in the ParsedFiles object a dataset is given (issue #12.3)."""
    from bench.data.imagenet_eeg import PARSED_FILES, ParsedFiles, clear_cache

    clear_cache()
    own = ParsedFiles(eeg_files=1)
    ds = ImageNetEEG(data_roots["block"] / "imagenet-eeg", parsed_files=own)
    eeg = ds.read_eeg()
    assert ds.read_eeg() is eeg and not PARSED_FILES.entries
    high_gamma = ds.with_variant("55-95")
    assert high_gamma.parsed_files is own
    assert high_gamma.read_eeg() is not eeg
    assert sum(k[3] == "eeg" for k in own.entries) == 1           # at most eeg_files parsed EEG files
    assert ds.read_eeg() is not eeg                                # evicted, so parsed again
    assert ImageNetEEG(data_roots["block"] / "imagenet-eeg").parsed_files is PARSED_FILES


def test_control_building_blocks():
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
    m = {"control/drift_probe_top1": 0.3, "control/drift_probe_p": 1e-5, "control/band_power_top1": 0.9,
         "control/band_power_p": 0.2, "control/permutation_p": 0.001, "control/design_p": 0.001}
    assert confound_verdict(m, eeg_top1=0.5).flag              # 0.3 >= 0.5 x 0.5, significant, blocked design
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
    # the 5-95 Hz file keeps the stimulus-driven class response and only the block-wise power of the
    # confound (offsets are filtered out, as in a real recording): well above chance (0.1), below the
    # raw-file probes that read the block offsets
    assert 0.3 < m["eeg_top1"] <= 1.0 and 0.0 <= m["image_top1"] <= 1.0
    assert m["control/drift_probe_top1"] > m["eeg_top1"]
    assert {"eeg_top1/sub-01", "eeg_top1/sub-02", "last_epoch/eeg_top1", "last_epoch/image_top1"} <= set(m)
    for key in ("design_adjacent_same", "design_p", "drift_probe_top1", "drift_probe_p", "band_power_top1",
                "high_gamma_eeg_top1", "permutation_chance", "permutation_p", "confound_flag"):
        assert f"control/{key}" in m, key
    assert m["control/confound_flag"] == 1.0 and nice.info["confound_flag"] is True
    assert nice.info["confound_reasons"] and nice.info["chance"]["eeg_top1"] == pytest.approx(0.1)
    assert nice.info["design_blocked"] is True and m["control/drift_probe_top1"] > 0.8   # read from the raw file
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
        assert m["control/design_p"] > 0.01 and m["control/design_blocked"] == 0.0
        assert record.info["confound_flag"] is False


@pytest.mark.slow
def test_finetune_mode_trains_the_timm_backbone(data_roots, tmp_path):
    """recipe.image_encoder = finetune (set programmatically while the schema lacks the field)."""
    import torch

    from bench.config import load_submission
    from bench.settings import load_settings
    from bench.tasks.palazzo import load_joint_data
    from bench.tasks.saliency import suppression_map
    from bench.training.image_inputs import load_input
    from bench.training.joint import fit_classifiers, train_joint
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
