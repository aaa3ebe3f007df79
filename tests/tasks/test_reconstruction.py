"""Reconstruction task end to end on the embedded default (tiny simulated THINGS-EEG2 / ImageNet-EEG).

No real weights exist here: every feature network of the metric table is planted with random-init
weights under its official file name (CLIP as a small ViT-S-32, a labelled test variant); the
numbers are meaningless but the wiring is exercised exactly. What is checked:

- the offline retrieval-nearest-train baseline writes one MLflow run per unit with every metric,
  the per-image outcomes, and the chosen and last epoch;
- ground truth as reconstruction sits at every metric's ceiling; shuffled ground truth at chance for
  the two-way metrics (the sanity bracket);
- folder sources: naming, several samples averaged, and one clear error per kind of bad input;
- generator sources follow the documented contract;
- per-image paired comparisons between submissions;
- the ImageNet-EEG variant scores 50-way top-1 and the Inception Score.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from bench.config import load_submission
from bench.errors import ConfigError, DataError
from bench.records.mlflow_store import RecordStore
from bench.runner import evaluate
from bench.settings import load_settings
from bench.tasks import reconstruction_sources as rs
from bench.tasks.reconstruction import MemoExtractor, clear_feature_cache

ROOT = Path(__file__).resolve().parents[2]
TWO_WAY = ("alexnet2", "alexnet5", "inception", "clip")
DISTANCES = ("effnet", "swav")
TABLE = ("pixcorr", "ssim") + TWO_WAY + DISTANCES
FAST = ("pixcorr", "ssim", "alexnet2", "alexnet5", "clip")          # AlexNet and a small CLIP: seconds on a CPU
# The bracket on tiny data (50 images) with every metric (Inception-v3 at 342 px, EfficientNet-B1,
# ResNet-50) takes a minute or two on 2 cores: slow. The retrieval baseline scores every metric on micro data.
EVERY = [pytest.param(FAST, id="fast"), pytest.param(TABLE, id="every-metric", marks=pytest.mark.slow)]
FILES = {"alexnet": "alexnet-owt-7be5be79.pth", "inception_v3": "inception_v3_google-0cc3c7bd.pth",
         "efficientnet_b1": "efficientnet_b1-c27df63c.pth", "swav": "swav_800ep_pretrain.pth.tar",
         "resnet18": "resnet18-f37072fd.pth"}


# ------------------------------------------------------------------------------------ fixtures
def _net(key: str):
    import open_clip

    if key == "clip":
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)
        try:
            return open_clip.create_model("ViT-S-32", pretrained=None, force_quick_gelu=True)
        finally:
            logging.getLogger().setLevel(level)
    if key == "inception_v3":
        return torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=True,
                                               init_weights=False)
    return {"alexnet": torchvision.models.alexnet, "efficientnet_b1": torchvision.models.efficientnet_b1,
            "swav": torchvision.models.resnet50, "resnet18": torchvision.models.resnet18}[key](weights=None)


def plant_metric_weights(root: Path, keys=("alexnet", "inception_v3", "efficientnet_b1", "swav", "resnet18",
                                            "clip")) -> Path:
    """Random-init networks behind the metric table, saved (float16, to halve the files; the loaders copy
    into float32) under their official names where ``bench.metrics.features`` looks in ``weights_dir``:
    AlexNet, Inception-v3, EfficientNet-B1, SwAV ResNet-50 (hub format), ResNet-18 (N-way) and a small
    CLIP (ViT-S-32, selected by the tasks' ``protocol.extractors``). Keys already planted are kept."""
    for key in keys:
        target = root / ("open_clip/ViT-S-32.pt" if key == "clip" else f"torchvision/{FILES[key]}")
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            state = _net(key).state_dict()
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        if key == "swav":
            state = {f"module.{k}": v for k, v in state.items() if not k.startswith("fc.")}
        torch.save(state, target)
    return root


FAST_KEYS = ("alexnet", "clip")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A weights dir (planted on demand) and a cache dir (simulated data, embeddings) shared by this module."""
    clear_feature_cache()
    root = tmp_path_factory.mktemp("recon")
    plant_metric_weights(root / "weights", FAST_KEYS)
    yield root
    clear_feature_cache()


@pytest.fixture
def wsettings(shared, tracking_uri):
    return load_settings(cache_dir=shared / "cache", weights_dir=shared / "weights", tracking_uri=tracking_uri,
                         device="cpu")


def write_task(tmp: Path, name: str, *, base: str = "things-eeg2-reconstruction-demo", metrics=TABLE,
               extra: str = "", size: str = "micro", dataset: str = "") -> Path:
    """A one-subject, one-seed variant of ``base`` with the small CLIP and the given metrics; ``micro``
    simulated data (10 test images) unless ``size`` says otherwise."""
    path = tmp / f"{name}.yaml"
    path.write_text(f"extends: {ROOT / 'tasks' / (base + '.yaml')}\nname: {name}\n"
                    f"dataset: {{subjects: [1], simulation: {{size: {size}}}{dataset}}}\nseeds: [0]\n"
                    f"protocol:\n  metrics: {list(metrics)}\n  extractors: {{clip: {{model_name: ViT-S-32}}, "
                    f"classifier: {{arch: resnet18}}}}\n{extra}")
    return path


def write_submission(tmp: Path, name: str, task: Path, reconstructions: str, *, base: str = "demo",
                     epochs: int = 2) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(f"extends: {ROOT / 'submissions' / (base + '.yaml')}\nname: {name}\ntasks: [{task}]\n"
                    f"recipe: {{epochs: {epochs}}}\nreconstructions: {reconstructions}\n")
    return path


# ------------------------------------------------------------------------------------ end to end
def _plant_for(metrics, shared) -> None:
    from bench.metrics.features import FEATURE_METRICS

    keys = {FEATURE_METRICS[m].extractor for m in metrics if m in FEATURE_METRICS}
    keys |= {"resnet18"} if "nway_top1" in metrics else set()
    keys |= {"inception_v3"} if "inception_score" in metrics else set()
    plant_metric_weights(shared / "weights", sorted(keys))


def test_retrieval_baseline_writes_every_metric_to_mlflow(tmp_path, wsettings, shared):
    metrics = TABLE                                   # on micro data (10 test images) the whole table is cheap
    _plant_for(metrics, shared)
    task = write_task(tmp_path, "recon-fast", metrics=metrics)
    sub = write_submission(tmp_path, "nearest", task, "{baseline: retrieval-nearest-train}")
    report = evaluate([str(sub)], settings=wsettings, progress=False)
    assert not report.failed, report.failed[0].error
    (record,) = report.records
    assert set(metrics) <= set(record.metrics), record.metrics
    assert all(f"last_epoch/{m}" in record.metrics for m in metrics)
    assert record.info["missing_metrics"] == {} and record.info["source"] == "retrieval-nearest-train"
    assert 1 <= record.chosen_epoch <= record.info["last_epoch"]
    n = record.info["n_test"]
    assert n == 10 and len(record.per_item["item_id"]) == n
    assert all(len(record.per_item[m]) == n for m in metrics)
    assert record.metrics["alexnet2"] == pytest.approx(np.mean(record.per_item["alexnet2"]))
    # the baseline returns training images (test concepts are disjoint from training concepts)
    assert all(not o.startswith(i.split("/")[0]) for o, i in zip(record.per_item["origin"], record.per_item["item_id"]))
    assert record.provenance["data_checksum"] and record.provenance["weights_checksum"]

    store = RecordStore(wsettings.tracking_uri)
    run = store.client.get_run(record.run_id)
    assert set(metrics) <= set(run.data.metrics)
    assert run.data.params["submission.reconstructions.baseline"] == "retrieval-nearest-train"
    artifacts = {a.path for a in store.client.list_artifacts(record.run_id)}
    assert {"record.json", "per_item.csv"} <= artifacts
    assert len(evaluate([str(sub)], settings=wsettings, progress=False).skipped) == 1   # resume


@pytest.mark.parametrize("metrics", EVERY)
def test_ground_truth_at_ceiling_and_shuffled_at_chance(tmp_path, wsettings, shared, metrics):
    _plant_for(metrics, shared)
    task = write_task(tmp_path, "recon-bracket", metrics=metrics, size="tiny")   # 50 images: chance is stable
    gt = write_submission(tmp_path, "gt", task, "{baseline: ground-truth}")
    shuffled = write_submission(tmp_path, "shuffled", task, "{baseline: shuffled-ground-truth}")
    report = evaluate([str(gt), str(shuffled)], tasks=[str(task)], settings=wsettings, progress=False)
    assert not report.failed, report.failed[0].error
    by = {r.submission: r for r in report.records}
    ceiling = by["gt"].metrics
    assert set(ceiling) == set(metrics)
    for m in ("pixcorr", "ssim") + TWO_WAY:
        if m in metrics:
            assert ceiling[m] == pytest.approx(1.0, abs=1e-6), (m, ceiling[m])
    for m in set(DISTANCES) & set(metrics):
        assert ceiling[m] == pytest.approx(0.0, abs=1e-5), (m, ceiling[m])
    chance = by["shuffled"].metrics
    for m in set(TWO_WAY) & set(metrics):
        assert abs(chance[m] - 0.5) < 0.12, (m, chance[m])
    assert abs(chance["pixcorr"]) < 0.3 and chance["ssim"] < 0.95
    assert all(chance[m] > ceiling[m] + 1e-6 for m in set(DISTANCES) & set(metrics))  # random-init: small, > 0
    perm = by["shuffled"].per_item
    assert all(o != i for o, i in zip(perm["origin"], perm["item_id"]))   # a derangement
    assert sorted(perm["origin"]) == sorted(perm["item_id"])
    assert by["shuffled"].info["seed_use"].startswith("seeded metrics only")


def _write_folder(root: Path, ids, source_paths, samples: int = 1, size: int = 64) -> None:
    for k, (i, p) in enumerate(zip(ids, source_paths)):
        img = Image.open(p).convert("RGB").resize((size, size))
        for s in range(samples):
            noisy = np.clip(np.asarray(img, dtype=np.int16) + np.random.default_rng(k * 7 + s).integers(
                -40, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            target = root / i / f"{s}.png" if samples > 1 else root / f"{i}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(noisy).save(target)


def test_folder_samples_are_averaged_and_paired_per_image(tmp_path, wsettings):
    from bench.data.locate import open_dataset
    from bench.config import load_task
    from bench.stats.items import compare_items

    task = write_task(tmp_path, "recon-pix", metrics=("pixcorr",))
    ds = open_dataset(load_task(str(task)).spec.dataset, wsettings)
    images = ds.images("test")
    folder = tmp_path / "recs" / "sub-01"
    _write_folder(folder, images.ids, images.paths, samples=2)
    noisy = write_submission(tmp_path, "noisy", task, f"{{folder: '{tmp_path}/recs/sub-{{subject:02d}}'}}")
    shuffled = write_submission(tmp_path, "shuffled", task, "{baseline: shuffled-ground-truth}")
    report = evaluate([str(noisy), str(shuffled)], tasks=[str(task)], settings=wsettings, progress=False)
    assert not report.failed, report.failed[0].error
    rec = next(r for r in report.records if r.submission == "noisy")
    assert rec.info["n_samples"] == 2 and rec.per_item["n_samples"][0] == 2
    assert rec.info["reconstruction_size"] == [64, 64]
    assert 0.5 < rec.metrics["pixcorr"] < 1.0
    # several samples: the per-image value is the mean over the samples' scores
    from bench.metrics.reconstruction import pixcorr
    from bench.tasks.reconstruction import to_base_tensor

    ids = rec.per_item["item_id"][:3]
    gt = to_base_tensor([rs.read_rgb(images.paths[images.ids.index(i)], i, convert=True) for i in ids])
    per_sample = [pixcorr(gt, to_base_tensor([rs.read_rgb(folder / i / f"{s}.png", i) for i in ids]), per_image=True)
                  for s in (0, 1)]
    np.testing.assert_allclose(rec.per_item["pixcorr"][:3], np.mean(per_sample, axis=0), atol=1e-9)

    res = compare_items(report.records, task.stem, "noisy", "shuffled", "pixcorr", n_boot=500)
    assert res.n_items == 10 and res.n_units == 1 and not res.unmatched
    assert res.mean_diff > 0.3 and res.p_t < 1e-3 and res.p_wilcoxon < 0.01 and res.ci_low > 0
    assert res.mean_a == pytest.approx(rec.metrics["pixcorr"])


def nearest_blurred(brain_embeddings, test_image_ids, *, train_image_embeddings, train_image_paths, strength=1.0):
    """Test generator (the documented contract): the nearest training image, blurred, two samples each."""
    from PIL import ImageFilter

    rows = rs.nearest_train(brain_embeddings, train_image_embeddings)
    out = []
    for r in rows:
        img = Image.open(train_image_paths[r]).convert("RGB")
        out.append([img, np.asarray(img.filter(ImageFilter.GaussianBlur(strength)), dtype=np.float32) / 255])
    return out


def test_generator_contract(tmp_path, wsettings):
    task = write_task(tmp_path, "recon-gen", metrics=("pixcorr",),
                      extra="selection: {report_last_epoch: false}\n")
    sub = write_submission(tmp_path, "gen", task, "{generator: 'tests.tasks.test_reconstruction:nearest_blurred', "
                                                  "params: {strength: 2.0}}", epochs=1)
    report = evaluate([str(sub)], settings=wsettings, progress=False)
    assert not report.failed, report.failed[0].error
    (rec,) = report.records
    assert rec.info["source"] == "generator" and rec.info["n_samples"] == 2
    assert -1 < rec.metrics["pixcorr"] < 1 and "last_epoch/pixcorr" not in rec.metrics
    bad = write_submission(tmp_path, "bad", task, "{generator: 'tests.tasks.test_reconstruction:nearest_blurred', "
                                                  "params: {seed: 3}}", epochs=1)
    (failed,) = evaluate([str(bad)], settings=wsettings, progress=False).records
    assert not failed.finished and "clash" in failed.error


def test_imagenet_eeg_variant_scores_nway_and_inception_score(tmp_path, wsettings, shared):
    plant_metric_weights(shared / "weights", ("resnet18", "inception_v3"))
    task = write_task(tmp_path, "recon-inet", base="imagenet-eeg-reconstruction",
                      metrics=("ssim", "nway_top1", "inception_score"),
                      extra="  is_splits: 2\n  trials: 100\n", size="tiny, n_subjects: 1", dataset=", source: simulated")
    gt = write_submission(tmp_path, "gt", task, "{baseline: ground-truth}")
    (rec,) = evaluate([str(gt)], settings=wsettings, progress=False).records
    assert rec.finished, rec.error
    assert rec.metrics["nway_top1"] == pytest.approx(1.0) and rec.metrics["ssim"] == pytest.approx(1.0)
    assert rec.metrics["inception_score"] >= 1.0 and "inception_score_std" in rec.metrics
    assert "inception_score" not in rec.per_item and len(rec.per_item["nway_top1"]) == rec.info["n_test"]
    assert rec.info["chance"]["nway_top1"] == pytest.approx(1 / 50)


def test_missing_weights_skip_or_error(tmp_path, tracking_uri, shared):
    """The demo scores the weight-free metrics and records why the others are missing; 'error' fails clearly."""
    empty = load_settings(cache_dir=shared / "cache", weights_dir=tmp_path / "none", tracking_uri=tracking_uri,
                          device="cpu")
    task = write_task(tmp_path, "recon-skip", metrics=("pixcorr", "alexnet2"))
    gt = write_submission(tmp_path, "gt", task, "{baseline: ground-truth}")
    (rec,) = evaluate([str(gt)], settings=empty, progress=False).records
    assert rec.finished and set(rec.metrics) == {"pixcorr"}
    assert "alexnet-owt-7be5be79.pth" in rec.info["missing_metrics"]["alexnet2"] and "alexnet2" in rec.info["note"]
    strict = write_task(tmp_path, "recon-strict", metrics=("pixcorr", "alexnet2"),
                        extra="  missing_weights: error\n")
    gt2 = write_submission(tmp_path, "gt2", strict, "{baseline: ground-truth}")
    (failed,) = evaluate([str(gt2)], settings=empty, progress=False).records
    assert not failed.finished and "alexnet-owt-7be5be79.pth" in failed.error and "fix:" in failed.error


# ------------------------------------------------------------------------------------ folder errors
IDS = ["00001_cat/cat_01s", "00002_dog/dog_01s", "00003_owl/owl_01s"]


def _png(path: Path, size=(64, 64), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color=(10, 200, 30) if mode in ("RGB", "RGBA") else 100).save(path)
    return path


def _folder(tmp: Path, n=3, **kwargs) -> Path:
    root = tmp / "f"
    for i in IDS[:n]:
        _png(root / f"{i}.png", **kwargs)
    return root


def test_folder_naming_single_and_samples(tmp_path):
    root = _folder(tmp_path)
    (root / ".DS_Store").write_text("ignored")
    recs = rs.scan_folder(root, IDS, min_size=64)
    assert recs.n_samples == 1 and recs.size == (64, 64) and recs.origin[0] == f"{IDS[0]}.png"
    assert recs.sample_arrays(0)[0].shape == (64, 64, 3)
    multi = tmp_path / "m"
    for i in IDS:
        for k in range(3):
            _png(multi / i / f"{k}.jpg")
    assert rs.scan_folder(multi, IDS, min_size=64).n_samples == 3
    assert rs.folder_path("recs/sub-{subject:02d}", 3) == Path("recs/sub-03")
    with pytest.raises(ConfigError, match="placeholder"):
        rs.folder_path("recs/{model}", 1)


@pytest.mark.parametrize("case, match", [
    ("missing", r"1 of the 3 test images have no reconstruction: 00003_owl/owl_01s"),
    ("extra", r"1 file\(s\) in the reconstruction folder match no test image id: 00009_bat/bat_01s.png"),
    ("unreadable", r"cannot read the reconstruction of test image '00002_dog/dog_01s'"),
    ("not-rgb", r"'00002_dog/dog_01s' is not RGB \(Pillow mode 'RGBA'\)"),
    ("grey", r"'00002_dog/dog_01s' is not RGB \(Pillow mode 'L'\)"),
    ("sizes", r"inconsistent sizes: test image '00002_dog/dog_01s' is 80x64"),
    ("small", r"32x32, smaller than the task's minimum 64 px"),
    ("ambiguous", r"'00001_cat/cat_01s' has ambiguous reconstructions"),
    ("gap", r"numbered \[0, 2\]"),
    ("counts", r"different numbers of samples"),
    ("no-folder", r"reconstruction folder not found"),
])
def test_folder_errors_name_file_id_and_fix(tmp_path, case, match):
    root = _folder(tmp_path, n=2 if case == "missing" else 3, size=(32, 32) if case == "small" else (64, 64))
    dog = root / f"{IDS[1]}.png"
    if case == "extra":
        _png(root / "00009_bat/bat_01s.png")
    elif case == "unreadable":
        dog.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    elif case == "not-rgb":
        _png(dog, mode="RGBA")
    elif case == "grey":
        _png(dog, mode="L")
    elif case == "sizes":
        _png(dog, size=(80, 64))
    elif case == "ambiguous":
        _png(root / f"{IDS[0]}.jpg")
    elif case in ("gap", "counts"):
        dog.unlink()
        for k in ((0, 2) if case == "gap" else (0, 1)):
            _png(root / IDS[1] / f"{k}.png")
    elif case == "no-folder":
        root = tmp_path / "nowhere"
    with pytest.raises(DataError, match=match) as info:
        rs.scan_folder(root, IDS, min_size=64)
    assert "fix:" in str(info.value) and str(root) in str(info.value)
    if case in ("unreadable", "not-rgb", "grey"):
        assert str(dog) in str(info.value)


def test_generator_output_checks():
    ids = IDS[:2]
    ok = rs.from_generator_output(np.zeros((2, 3, 64, 64), np.float32), ids, 64, "g")
    assert ok.n_samples == 1 and ok.size == (64, 64)
    assert rs.from_generator_output(np.zeros((2, 4, 3, 64, 64), np.uint8), ids, 64, "g").n_samples == 4
    assert rs.from_generator_output([Image.new("RGB", (70, 64))] * 2, ids, 64, "g").size == (70, 64)
    for out, match in [(np.zeros((3, 3, 64, 64)), "returned 3 reconstructions for 2"),
                       ([np.zeros((64, 64))] * 2, "expected an RGB image"),
                       ([Image.new("L", (64, 64))] * 2, "not RGB"),
                       (np.full((2, 3, 64, 64), 2.0), r"outside \[0, 1\]"),
                       ([[Image.new("RGB", (64, 64))], []], "numbers of samples"),
                       ([Image.new("RGB", (64, 64)), Image.new("RGB", (64, 66))], "inconsistent sizes"),
                       ("images", "returned a str")]:
        with pytest.raises(DataError, match=match):
            rs.from_generator_output(out, ids, 64, "g")


def test_derangement_and_nearest_train():
    for seed in range(5):
        p = rs.derangement(7, seed)
        assert sorted(p) == list(range(7)) and not np.any(p == np.arange(7))
    np.testing.assert_array_equal(rs.derangement(9, 3), rs.derangement(9, 3))
    train = np.eye(3, dtype=np.float32)
    assert rs.nearest_train(np.array([[0.1, 0.9, 0], [1, 1, 0]], np.float32), train).tolist() == [1, 0]


def test_memo_extractor_matches_inner_and_computes_each_image_once():
    class Counting:
        calls = 0

        def load(self):
            return self

        def weights_path(self):
            return Path("x")

        def extract(self, images, *, size=None):
            Counting.calls += len(images)
            return {"f": images.reshape(len(images), -1)[:, :4].numpy() * (size or 1)}

    clear_feature_cache()
    memo = MemoExtractor(Counting(), "counting")
    x = torch.rand(4, 3, 8, 8)
    first = memo.extract(torch.cat([x, x[:2]]))["f"]
    np.testing.assert_array_equal(first, Counting().extract(torch.cat([x, x[:2]]))["f"])
    Counting.calls = 0
    np.testing.assert_array_equal(memo.extract(x[[3, 1]])["f"], first[[3, 1]])
    assert Counting.calls == 0
    assert memo.extract(x[:1], size=2)["f"][0, 0] == pytest.approx(2 * float(x[0, 0, 0, 0])) and Counting.calls == 1
    clear_feature_cache()

    # a memo passed as an object is separate from the process-wide one and keeps its byte budget
    from bench.tasks.reconstruction import FEATURES, FeatureMemo

    own = FeatureMemo(budget=2 * 4 * 4)                 # two rows of four float32 features
    isolated = MemoExtractor(Counting(), "counting", own)
    Counting.calls = 0
    np.testing.assert_array_equal(isolated.extract(x)["f"], first[:4])
    assert Counting.calls == 4 and len(own.rows) == 2 and own.nbytes == 32 and not FEATURES.rows
    isolated.extract(x[2:])                              # the two most recent rows are still memoised
    assert Counting.calls == 4


def test_submission_schema_and_task_validation(tmp_path):
    from bench.config import load_task
    from bench.config.schema import SubmissionSpec
    from bench.tasks import task_kind

    demo = load_submission("demo").spec
    assert "reconstructions" not in demo.model_dump(mode="json")        # absent: hash unchanged
    data = demo.model_dump(mode="json")
    for bad in ({}, {"folder": "a", "baseline": "ground-truth"}, {"baseline": "ground-truth", "params": {"a": 1}},
                {"generator": "no colon"}, {"baseline": "best-of-n"}):
        with pytest.raises(ValueError):
            SubmissionSpec.model_validate({**data, "reconstructions": bad})
    kind = task_kind(load_task("things-eeg2-reconstruction-demo").spec)
    with pytest.raises(ConfigError, match="declares none"):
        kind.validate_submission(demo)
    gen = SubmissionSpec.model_validate({**data, "reconstructions": {"generator": "no_such_module_x:f"}})
    with pytest.raises(ConfigError, match="cannot be found"):
        kind.validate_submission(gen)
    for name in ("recon_retrieval_baseline_demo", "recon_ground_truth_demo", "recon_shuffled_ground_truth_demo"):
        kind.validate_submission(load_submission(name).spec)
    bad_task = tmp_path / "t.yaml"
    bad_task.write_text(f"extends: {ROOT / 'tasks/things-eeg2-reconstruction-demo.yaml'}\nname: t\n"
                        "protocol: {metrics: [pixcorr, fid]}\n")
    with pytest.raises(ConfigError, match="metrics"):
        task_kind(load_task(str(bad_task)).spec)
    assert json.dumps(kind.chance())
