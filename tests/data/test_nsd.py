"""NSD: the simulated MindEye2-style layout, the loader's items (N from the data), and clear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from bench.data import DATASETS
from bench.data.nsd import BETAS_KEY, NSD, RESPONSES_TEMPLATE, SHARED_FILE, image_id
from bench.data.simulate import SIMULATORS
from bench.data.simulate.nsd import SIZES, n_voxels, write_nsd
from bench.errors import ConfigError, DataError

SPEC = SIZES["micro"]


@pytest.fixture(scope="module")
def nsd_root(tmp_path_factory):
    return write_nsd(tmp_path_factory.mktemp("nsd") / "nsd", size="micro", subjects=2, seed=1, snr=2.0)


def _copy(root, tmp_path):
    dst = tmp_path / "nsd"
    shutil.copytree(root, dst)
    return dst


def _betas(root, subject):
    return root / f"betas_all_subj{subject:02d}_fp32_renorm.hdf5"


def test_registered():
    assert DATASETS.get("nsd") is NSD
    assert SIMULATORS.get("nsd") is write_nsd


def test_layout_and_per_subject_voxels(nsd_root, tmp_path):
    import h5py

    ds = NSD(nsd_root, cache_dir=tmp_path)
    assert ds.subjects() == [1, 2]
    for s in (1, 2):
        with h5py.File(_betas(nsd_root, s), "r") as fh:
            assert fh[BETAS_KEY].dtype == np.float32 and fh[BETAS_KEY].shape[1] == n_voxels(SPEC, s)
        table = pd.read_csv(nsd_root / RESPONSES_TEMPLATE.format(subject=s), sep="\t")
        assert {"SUBJECT", "SESSION", "73KID"} <= set(table.columns)
    assert n_voxels(SPEC, 1) != n_voxels(SPEC, 2)
    mask = np.load(nsd_root / SHARED_FILE)
    assert mask.dtype == np.bool_ and mask.sum() == SPEC.shared


def test_items_follow_the_protocol(nsd_root, tmp_path):
    ds = NSD(nsd_root, cache_dir=tmp_path)
    test = ds.load(1, "test")
    n_test = SPEC.shared - SPEC.shared_withheld            # shared images with betas: computed, not assumed
    assert test.signals.shape == (n_test, n_voxels(SPEC, 1)) and test.signals.dtype == np.float32
    assert test.shape == {"n_chans": n_voxels(SPEC, 1), "n_times": None, "sfreq": None}
    assert test.info["n_repetitions"] == SPEC.shared_reps and test.info["n_trials_without_betas"] > 0
    single_test = ds.load(1, "test", repetitions="single")
    assert len(single_test) == n_test * SPEC.shared_reps
    means = np.stack([single_test.signals[single_test.image_ids == i].mean(0) for i in test.image_ids])
    np.testing.assert_allclose(means, test.signals, atol=1e-5)
    train = ds.load(1, "train", repetitions="single")
    train_avg = ds.load(1, "train")
    assert len(np.unique(train.image_ids)) == len(train_avg) == SPEC.train_images
    assert len(train) >= SPEC.train_images * SPEC.train_reps
    assert not set(train.image_ids) & set(test.image_ids)
    np.testing.assert_array_equal(train_avg.concepts, [int(i[3:]) - 1 for i in train_avg.image_ids])
    assert list(train.image_ids) == sorted(train.image_ids)
    # subject 2: its own voxels and training images, the same shared test images
    test2, train2 = ds.load(2, "test"), ds.load(2, "train")
    assert test2.signals.shape[1] == n_voxels(SPEC, 2)
    assert list(test2.image_ids) == list(test.image_ids)
    assert not set(train2.image_ids) & set(train_avg.image_ids)


def test_images_are_extracted_losslessly(nsd_root, tmp_path):
    import h5py
    from PIL import Image

    ds = NSD(nsd_root, cache_dir=tmp_path)
    gallery = ds.images("test")
    assert list(gallery.ids) == list(ds.load(1, "test").image_ids)
    train_set = ds.images("train")
    assert len(train_set) == 2 * SPEC.train_images                     # union over subjects
    assert str(gallery.paths[0]).startswith(str(tmp_path / "nsd-images"))
    with h5py.File(nsd_root / "coco_images_224_float16.hdf5", "r") as fh:
        k = int(gallery.ids[3][3:]) - 1
        expected = np.round(np.clip(np.transpose(fh["images"][k].astype(np.float32), (1, 2, 0)), 0, 1) * 255)
    np.testing.assert_array_equal(np.asarray(Image.open(gallery.paths[3])), expected.astype(np.uint8))
    # reused, not rewritten, by a second instance
    mtime = gallery.paths[0].stat().st_mtime_ns
    assert NSD(nsd_root, cache_dir=tmp_path).images("test").paths[0].stat().st_mtime_ns == mtime


def test_official_stimulus_file_is_accepted(nsd_root, tmp_path):
    import h5py

    root = _copy(nsd_root, tmp_path)
    with h5py.File(root / "coco_images_224_float16.hdf5", "r") as fh:
        pixels = np.round(np.clip(np.transpose(fh["images"][:].astype(np.float32), (0, 2, 3, 1)), 0, 1) * 255)
    (root / "coco_images_224_float16.hdf5").unlink()
    with h5py.File(root / "nsd_stimuli.hdf5", "w") as fh:
        fh.create_dataset("imgBrick", data=pixels.astype(np.uint8))
    gallery = NSD(root, cache_dir=tmp_path / "c").images("test")
    assert len(gallery) == SPEC.shared - SPEC.shared_withheld and gallery.paths[0].is_file()


def test_fmri_has_no_channels_or_times(nsd_root, tmp_path):
    ds = NSD(nsd_root, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="voxels"):
        ds.load(1, "train", channels=["V1"])
    with pytest.raises(ConfigError, match="no time axis"):
        ds.load(1, "train", time_window=(0.0, 1.0))


def test_missing_inputs_are_clear(nsd_root, tmp_path):
    with pytest.raises(DataError, match="root folder not found"):
        NSD(tmp_path / "nope").subjects()
    with pytest.raises(DataError, match="betas of subject 5 not found"):
        NSD(nsd_root).load(5, "train")
    root = _copy(nsd_root, tmp_path)
    (root / RESPONSES_TEMPLATE.format(subject=2)).unlink()
    with pytest.raises(DataError, match="behaviour table of subject 2"):
        NSD(root).load(2, "test")
    (root / SHARED_FILE).unlink()
    with pytest.raises(DataError, match="shared-image mask not found"):
        NSD(root).load(1, "test")


def test_bad_tables_are_clear(nsd_root, tmp_path):
    import h5py

    root = _copy(nsd_root, tmp_path)
    responses = root / RESPONSES_TEMPLATE.format(subject=1)
    table = pd.read_csv(responses, sep="\t")
    table.rename(columns={"73KID": "KID"}).to_csv(responses, sep="\t", index=False)
    with pytest.raises(DataError, match="no column '73KID'"):
        NSD(root).load(1, "train")
    table.iloc[:10].to_csv(responses, sep="\t", index=False)            # fewer trials than betas
    with pytest.raises(DataError, match="trials in the behaviour table"):
        NSD(root).load(1, "train")
    table.to_csv(responses, sep="\t", index=False)
    with h5py.File(_betas(root, 1), "r") as fh:
        betas = fh[BETAS_KEY][:]
    with h5py.File(_betas(root, 1), "w") as fh:                          # cut inside a session
        fh.create_dataset(BETAS_KEY, data=betas[:-5])
    with pytest.raises(DataError, match="middle of session"):
        NSD(root).load(1, "train")
    np.save(root / SHARED_FILE, np.flatnonzero(np.load(nsd_root / SHARED_FILE)))
    with pytest.raises(DataError, match="boolean mask"):
        NSD(root).load(2, "test")


def test_nan_betas_are_clear(nsd_root, tmp_path):
    import h5py

    root = _copy(nsd_root, tmp_path)
    ds = NSD(root)
    row = int(np.flatnonzero(ds.trial_table(1).shared)[0])
    with h5py.File(_betas(root, 1), "r+") as fh:
        fh[BETAS_KEY][row, 7] = np.nan
    ds = NSD(root)
    ds.load(1, "train")
    with pytest.raises(DataError, match=f"first rows: \\[{row}\\]"):
        ds.load(1, "test")


def test_image_ids():
    assert image_id(0) == "nsd00001" and image_id(72999) == "nsd73000"


def test_full_size_simulation_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="too many voxels"):
        write_nsd(tmp_path / "x", size="full")


def test_the_next_seed_of_a_subject_reuses_the_last_read(nsd_root, tmp_path, count_calls):
    """Another seed of the same subject gets the kept result (read-only); a change of any file the
    load reads -- the shared-image mask too -- or of the repetition mode reads again."""
    import os

    import bench.data.nsd as nsd
    from bench.data import last_read

    last_read.clear()
    root = _copy(nsd_root, tmp_path)
    reads = count_calls(nsd, "_read_rows")
    first = NSD(root).load(1, "train")
    again = NSD(root).load(1, "train")
    assert len(reads) == 1 and again.signals is first.signals and again.checksum == first.checksum
    assert again.info == first.info and again.info is not first.info
    with pytest.raises(ValueError, match="read-only"):
        first.signals[0, 0] = 0.0
    assert len(NSD(root).load(1, "train", repetitions="single")) > len(first) and len(reads) == 2
    NSD(root).load(1, "train")
    assert len(reads) == 3
    mask_path = root / SHARED_FILE
    mask = np.load(mask_path)
    np.save(mask_path, mask)                                     # the same values, rewritten: a new mtime
    os.utime(mask_path, ns=(1, 1))
    NSD(root).load(1, "train")
    assert len(reads) == 4
    last_read.clear()
