"""ImageNet-EEG loader on simulated files: published conventions, safe loading, clear errors, fixations."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import DATASETS
from bench.data.imagenet_eeg import (CROP, LENGTH_RANGE, SPLIT_FILES, VARIANT_FILES, Fixations, ImageNetEEG,
                                     clear_cache, read_fixation_csv)
from bench.data.simulate import SIMULATORS
from bench.data.simulate.imagenet_eeg import SIZES, ImageNetEEGSimulation, planted_objects, write_imagenet_eeg
from bench.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory) -> Path:
    return write_imagenet_eeg(tmp_path_factory.mktemp("imagenet-eeg") / "imagenet-eeg", size="tiny", subjects=2, seed=0)


def _copy(root: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(root, out)
    clear_cache()
    return out


# ------------------------------------------------------------------------------------------ layout
def test_simulator_writes_the_published_layout(sim_root):
    for name in [*VARIANT_FILES.values(), *SPLIT_FILES.values(), "fixations/fixations.csv", "simulation.json"]:
        assert (sim_root / name).is_file(), name
    raw = torch.load(sim_root / "eeg_5_95_std.pth", weights_only=True)
    assert set(raw) >= {"dataset", "labels", "images"}
    item = raw["dataset"][0]
    assert set(item) == {"eeg", "image", "label", "subject"}
    assert item["eeg"].dtype == torch.float32 and item["eeg"].shape[0] == SIZES["tiny"].n_chans
    lengths = [d["eeg"].shape[1] for d in raw["dataset"]]
    assert min(lengths) < LENGTH_RANGE[0] and max(lengths) > LENGTH_RANGE[1]      # the filter has work to do
    assert all(raw["images"][d["image"]].startswith(raw["labels"][d["label"]]) for d in raw["dataset"])
    splits = torch.load(sim_root / SPLIT_FILES["all"], weights_only=True)["splits"]
    assert set(splits[0]) == {"train", "val", "test"}
    assert "imagenet-eeg" in SIMULATORS and DATASETS.get("imagenet-eeg") is ImageNetEEG


def test_loader_applies_the_published_conventions(sim_root):
    ds = ImageNetEEG(sim_root)
    raw = torch.load(sim_root / "eeg_5_95_std.pth", weights_only=True)["dataset"]
    split = torch.load(sim_root / SPLIT_FILES["all"], weights_only=True)["splits"][0]
    assert ds.subjects() == [1, 2] and ds.n_classes == 10
    parts = {p: ds.load_subjects([1, 2], p) for p in ("train", "val", "test")}
    for p, data in parts.items():
        idx = np.asarray(data.info["list_index"])
        expected = [i for i in split[p] if LENGTH_RANGE[0] <= raw[i]["eeg"].shape[1] <= LENGTH_RANGE[1]]
        assert sorted(idx.tolist()) == sorted(expected)
        assert data.signals.shape[1:] == (SIZES["tiny"].n_chans, CROP[1] - CROP[0])
        assert data.signals.dtype == np.float32
        k = 3
        np.testing.assert_array_equal(data.signals[k], raw[idx[k]]["eeg"][:, 20:460].numpy())
        assert data.concepts[k] == raw[idx[k]]["label"] and data.subjects[k] == raw[idx[k]]["subject"]
    assert parts["train"].sfreq == 1000.0 and parts["train"].times[0] == pytest.approx(0.020)
    # split by image: 80 / 10 / 10 images, no image in two parts
    images = {p: set(d.image_ids) for p, d in parts.items()}
    assert [len(ds.images(p)) for p in ("train", "val", "test")] == [80, 10, 10]
    assert not (images["train"] & images["test"]) and not (images["train"] & images["val"])
    assert images["test"] <= set(ds.images("test").ids)
    assert ds.validate() == []
    # per-subject rows are the pooled rows of that subject
    one = ds.load(2, "test")
    assert set(one.subjects) == {2} and len(one) == int((parts["test"].subjects == 2).sum())
    path = ds.images("test").paths[0]
    assert path.suffix == ".JPEG" and path.parent.name == path.stem.split("_")[0]


def test_single_split_file_filters_subjects_first(sim_root):
    ds = ImageNetEEG(sim_root, split_file="single")
    single = torch.load(sim_root / SPLIT_FILES["single"], weights_only=True)["splits"][0]["test"]
    raw = torch.load(sim_root / "eeg_5_95_std.pth", weights_only=True)["dataset"]
    members = [i for i, d in enumerate(raw) if d["subject"] == 2]
    expected = [members[i] for i in single if 450 <= raw[members[i]]["eeg"].shape[1] <= 600]
    assert ds.load(2, "test").info["list_index"] == expected
    assert set(ds.load(2, "test").image_ids) <= set(ImageNetEEG(sim_root).images("test").ids)


def test_variants_read_their_band_file(sim_root):
    a, b = ImageNetEEG(sim_root, "5-95").load(1, "test"), ImageNetEEG(sim_root, "55-95").load(1, "test")
    assert a.info["variant"] == "5-95" and b.info["variant"] == "55-95"
    np.testing.assert_array_equal(a.image_ids, b.image_ids)
    assert not np.allclose(a.signals, b.signals)
    assert ImageNetEEG(sim_root, "raw").load(1, "test").signals.std() > 0
    with pytest.raises(ConfigError, match="variant"):
        ImageNetEEG(sim_root, "1-40")


def test_simulation_is_deterministic(tmp_path):
    sim_a, sim_b = ImageNetEEGSimulation("tiny", seed=3), ImageNetEEGSimulation("tiny", seed=3)
    np.testing.assert_array_equal(sim_a.render(5), sim_b.render(5))
    np.testing.assert_array_equal(sim_a.order, sim_b.order)
    np.testing.assert_array_equal(sim_a.block_signature(1, 500), sim_b.block_signature(1, 500))
    assert not np.array_equal(ImageNetEEGSimulation("tiny", seed=4).order, sim_a.order)
    block = ImageNetEEGSimulation("tiny", seed=3).order
    labels = sim_a.labels[block]
    assert all(len(set(labels[i:i + 10])) == 1 for i in range(0, 100, 10))          # one class per block
    rand = ImageNetEEGSimulation("tiny", seed=3, design="randomized")
    assert np.mean([len(set(rand.labels[rand.order][i:i + 10])) for i in range(0, 100, 10)]) > 4


# ------------------------------------------------------------------------------------------ safety
class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_malicious_pickle_is_refused_without_running(sim_root, tmp_path):
    root = _copy(sim_root, tmp_path)
    marker = tmp_path / "pwned"
    content = torch.load(root / "eeg_5_95_std.pth", weights_only=True)
    content["dataset"][0]["eeg"] = _Evil(str(marker))
    torch.save(content, root / "eeg_5_95_std.pth")
    with pytest.raises(DataError, match="refused to load") as err:
        ImageNetEEG(root).load(1, "train")
    assert not marker.exists()
    assert "weights_only" in str(err.value) and "fix:" in str(err.value)


def test_plain_pickle_of_code_is_refused(tmp_path):
    import pickle

    root = tmp_path / "ds"
    root.mkdir()
    marker = tmp_path / "pwned2"
    with open(root / "eeg_5_95_std.pth", "wb") as fh:
        pickle.dump({"dataset": [_Evil(str(marker))]}, fh)
    torch.save({"splits": [{"train": [], "val": [], "test": []}]}, root / SPLIT_FILES["all"])
    with pytest.raises(DataError, match="refused"):
        ImageNetEEG(root).subjects()
    assert not marker.exists()


@pytest.mark.parametrize("mutate, match, field", [
    (lambda c: c.pop("labels"), "missing key", "labels"),
    (lambda c: c["dataset"][4].pop("subject"), "has no key 'subject'", "dataset[4].subject"),
    (lambda c: c["dataset"][2].update(eeg=torch.zeros(5)), "2-D float tensor", "dataset[2].eeg"),
    (lambda c: c["dataset"][3].update(label=99), "outside 0..9", "dataset[3].label"),
    (lambda c: c["dataset"][6].update(eeg=c["dataset"][6]["eeg"][:-1]), "channels", "dataset[6].eeg"),
    (lambda c: c["dataset"][7]["eeg"].__setitem__((0, 100), float("nan")), "NaN or Inf", "dataset[7].eeg"),
    (lambda c: c["dataset"][8].update(eeg=torch.zeros(c["dataset"][8]["eeg"].shape[0], 455)),
     "shorter than the crop end", "dataset[8].eeg"),
    (lambda c: c.update(dataset=[]), "non-empty list", "dataset"),
])
def test_malformed_eeg_files_give_clear_errors(sim_root, tmp_path, mutate, match, field):
    root = _copy(sim_root, tmp_path)
    content = torch.load(root / "eeg_5_95_std.pth", weights_only=True)
    mutate(content)
    torch.save(content, root / "eeg_5_95_std.pth")
    with pytest.raises(DataError, match=match) as err:
        ImageNetEEG(root).load(1, "train")
    assert err.value.field == field and err.value.fix
    assert str(root / "eeg_5_95_std.pth") in str(err.value)


def test_split_and_missing_file_errors(sim_root, tmp_path):
    root = _copy(sim_root, tmp_path)
    torch.save({"splits": [{"train": [0, 10_000], "val": [], "test": []}]}, root / SPLIT_FILES["all"])
    with pytest.raises(DataError, match="index 10000"):
        ImageNetEEG(root).load(1, "train")
    torch.save({"folds": []}, root / SPLIT_FILES["all"])
    with pytest.raises(DataError, match="missing key"):
        ImageNetEEG(root).load(1, "train")
    with pytest.raises(ConfigError, match="split 3 does not exist"):
        ImageNetEEG(sim_root, split_index=3).load(1, "train")
    (root / "eeg_55_95_std.pth").unlink()
    with pytest.raises(DataError, match="not found") as err:
        ImageNetEEG(root, "55-95").subjects()
    assert "eeg_55_95_std.pth" in str(err.value)
    with pytest.raises(ConfigError, match="unknown part"):
        ImageNetEEG(sim_root).load(1, "holdout")
    shutil.rmtree(root / "images" / ImageNetEEG(sim_root).images("test").ids[0].split("/")[0])
    with pytest.raises(DataError, match="missing"):
        ImageNetEEG(root).images("test")


# ------------------------------------------------------------------------------------------ fixations
def test_fixations_csv_and_maps(sim_root, tmp_path):
    ds = ImageNetEEG(sim_root)
    fix = ds.fixations("test")
    assert set(fix) == set(ds.images("test").ids)
    objects = planted_objects(sim_root)
    for image_id, f in fix.items():
        assert f.size == (64, 64) and len(f.points) == SIZES["tiny"].fixations_per_image
        cx, cy, r = objects[image_id]
        near = np.hypot(f.points[:, 0] - cx, f.points[:, 1] - cy) < 2 * r
        assert near.mean() > 0.6                               # fixations cluster on the planted object
        m = f.binary_map()
        assert m.shape == (64, 64) and m.dtype == bool and 1 <= m.sum() <= len(f.points)
    # binary fixation-map images are read when the CSV has no entry
    root = _copy(sim_root, tmp_path)
    (root / "fixations" / "fixations.csv").unlink()
    (root / "fixations" / "maps").mkdir()
    from PIL import Image

    first = ds.images("test").ids[0]
    arr = np.zeros((48, 40), np.uint8)
    arr[10, 20] = arr[30, 5] = 255
    Image.fromarray(arr).save(root / "fixations" / "maps" / f"{first.split('/')[1]}.png")
    got = ImageNetEEG(root).fixations("test")
    assert list(got) == [first] and got[first].size == (48, 40)
    assert got[first].binary_map()[10, 20] and got[first].binary_map().sum() == 2


def test_fixation_csv_errors(tmp_path):
    path = tmp_path / "fixations.csv"
    path.write_text("image,x,y,width,height\nn01_1,10,5,20,10\nn01_1,19.5,9.9,20,10\n")
    fix = read_fixation_csv(path)
    assert isinstance(fix["n01_1"], Fixations) and fix["n01_1"].binary_map()[9, 19]
    path.write_text("image,x,y,width,height\nn01_1,25,5,20,10\n")
    with pytest.raises(DataError, match="outside the 20x10 image"):
        read_fixation_csv(path)
    path.write_text("image,x,y\nn01_1,1,1\n")
    with pytest.raises(DataError, match="missing column"):
        read_fixation_csv(path)


def test_simulation_json_records_design(sim_root):
    info = json.loads((sim_root / "simulation.json").read_text())
    assert info["design"] == "block" and len(info["planted_objects"]) == 100
