"""THINGS-MEG: the MNE-written simulated layout, the loader's items, and clear errors on bad inputs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bench.data import DATASETS
from bench.data.simulate import SIMULATORS
from bench.data.simulate.things_meg import SIZES, write_things_meg
from bench.data.things_meg import CATCH_EVENT, COLUMNS, ThingsMEG
from bench.errors import ConfigError, DataError

SPEC = SIZES["micro"]


@pytest.fixture(scope="module")
def meg_root(tmp_path_factory):
    return write_things_meg(tmp_path_factory.mktemp("meg") / "things-meg", size="micro", subjects=2, seed=3, snr=2.0)


def _copy(root, tmp_path):
    dst = tmp_path / "things-meg"
    shutil.copytree(root, dst)
    return dst


def _rewrite(path, *, metadata="keep", data_fn=None):
    """Re-save the epochs file at ``path`` with changed metadata and/or data (via MNE)."""
    import mne

    ep = mne.read_epochs(path, preload=True, verbose="error")
    data = ep.get_data()
    if data_fn is not None:
        data_fn(data, ep.metadata)
    md = ep.metadata if isinstance(metadata, str) else metadata
    new = mne.EpochsArray(data, ep.info, events=ep.events, tmin=ep.tmin, metadata=md, baseline=None, verbose="error")
    new.save(path, fmt="single", overwrite=True, verbose="error")


def test_registered():
    assert DATASETS.get("things-meg") is ThingsMEG
    assert SIMULATORS.get("things-meg") is write_things_meg


def test_simulated_files_are_real_mne_epochs(meg_root):
    import mne

    ep = mne.read_epochs(meg_root / "preprocessed_P1-epo.fif", preload=False, verbose="error")
    assert len(ep.ch_names) == 271 and set(ep.get_channel_types()) == {"mag"}
    assert ep.info["sfreq"] == 200.0 and len(ep.times) == 281
    assert ep.times[0] == pytest.approx(-0.1) and ep.times[-1] == pytest.approx(1.3)
    assert set(COLUMNS) <= set(ep.metadata.columns)
    assert set(ep.metadata["trial_type"]) == {"exp", "test", "catch"}
    catch = ep.metadata["trial_type"].to_numpy() == "catch"
    assert (ep.events[catch, 2] == CATCH_EVENT).all() and not (ep.events[~catch, 2] == CATCH_EVENT).any()
    assert len(ep) == SPEC.n_trials
    assert (meg_root / "simulation.json").is_file()


def test_items_follow_the_protocol(meg_root):
    ds = ThingsMEG(meg_root)
    assert ds.subjects() == [1, 2]
    train, test = ds.load(1, "train"), ds.load(1, "test")
    n_train = (SPEC.concepts - SPEC.test_concepts) * SPEC.images_per_concept
    assert train.signals.shape == (n_train, 271, 201) and train.signals.dtype == np.float32
    assert test.signals.shape == (SPEC.test_concepts, 271, 201)
    assert train.times[0] == pytest.approx(0.0) and train.times[-1] == pytest.approx(1.0)
    assert train.shape == {"n_chans": 271, "n_times": 201, "sfreq": 200.0}
    # no test concept is trained on; catch trials are gone; counts are reported
    assert not set(train.concepts) & set(test.concepts)
    assert train.info["n_test_concept_trials_removed"] == SPEC.test_concepts * SPEC.images_per_concept
    assert train.info["n_catch_trials"] == SPEC.catch_trials
    assert all(i.startswith("images_meg/") for i in train.image_ids)
    assert all(i.startswith("images_test_meg/") for i in test.image_ids)
    assert test.info["n_repetitions"] == test.info["min_repetitions"] == SPEC.test_reps
    # the test rows are the means of their repetitions; exp images are shown once
    single = ds.load(1, "test", repetitions="single")
    assert single.signals.shape[0] == SPEC.test_concepts * SPEC.test_reps
    means = single.signals.reshape(SPEC.test_concepts, SPEC.test_reps, 271, 201).mean(axis=1)
    np.testing.assert_allclose(means, test.signals, atol=1e-5)
    np.testing.assert_array_equal(ds.load(1, "train", repetitions="single").signals, train.signals)
    # rows are in the order of the image sets, whose files exist
    for part, data in (("train", train), ("test", test)):
        images = ds.images(part)
        assert list(images.ids) == list(data.image_ids)
        assert all(p.is_file() for p in images.paths)
        np.testing.assert_array_equal(images.index_of(data.image_ids), np.arange(len(data)))
    # participants differ (own noise, mixing) but see the same images
    other = ds.load(2, "test")
    assert list(other.image_ids) == list(test.image_ids) and not np.allclose(other.signals, test.signals)


def test_evoked_signal_survives_averaging(meg_root):
    """12-repetition-like averages keep an image-specific response: each test image's mean over the
    two participants correlates better with itself across participants than with other images."""
    ds = ThingsMEG(meg_root)
    a, b = ds.load(1, "test").signals, ds.load(2, "test").signals
    a = (a - a.mean(0)).reshape(len(a), -1)
    b = (b - b.mean(0)).reshape(len(b), -1)
    corr = np.corrcoef(a, b)[: len(a), len(a):]
    assert np.mean(np.diag(corr)) > np.mean(corr[~np.eye(len(a), dtype=bool)])


def test_channel_and_time_selection(meg_root):
    ds = ThingsMEG(meg_root)
    names = ds.load(1, "test").ch_names
    part = ds.load(1, "test", channels=[names[5], names[0]], time_window=(0.1, 0.2))
    assert part.ch_names == [names[5], names[0]] and part.signals.shape == (SPEC.test_concepts, 2, 21)
    full = ds.load(1, "test")
    np.testing.assert_allclose(part.signals[:, 1], full.signals[:, 0, 20:41], atol=1e-6)
    with pytest.raises(ConfigError, match="unknown MEG channel"):
        ds.load(1, "test", channels=["Cz"])
    with pytest.raises(ConfigError, match="time window"):
        ds.load(1, "test", time_window=(0.0, 2.0))


def test_files_and_checksums(meg_root):
    ds = ThingsMEG(meg_root)
    assert ds.files(1, "train") == [meg_root / "preprocessed_P1-epo.fif"]
    assert ds.checksum(1, "train") != ds.checksum(2, "train")
    summary = ds.read_file(1, "test")
    assert summary.shape == (SPEC.test_concepts * SPEC.test_reps, 271, 281)


def test_split_parts_are_part_of_the_files(meg_root, tmp_path):
    """MNE splits files over 2 GB into <stem>-1.fif, <stem>-2.fif ...: they are checksummed in order."""
    root = tmp_path / "split"
    root.mkdir()
    for name in ("preprocessed_P1-epo.fif", "preprocessed_P1-epo-10.fif", "preprocessed_P1-epo-2.fif",
                 "preprocessed_P1-epo-1.fif", "preprocessed_P1-epo-x.fif", "preprocessed_P11-epo.fif"):
        (root / name).write_bytes(b"")
    assert [p.name for p in ThingsMEG(root).files(1, "test")] == [
        "preprocessed_P1-epo.fif", "preprocessed_P1-epo-1.fif", "preprocessed_P1-epo-2.fif",
        "preprocessed_P1-epo-10.fif"]
    assert ThingsMEG(root).subjects() == [1, 11]


def test_missing_inputs_are_clear(meg_root, tmp_path):
    with pytest.raises(DataError, match="root folder not found"):
        ThingsMEG(tmp_path / "nope").subjects()
    with pytest.raises(DataError, match="participant 3 not found"):
        ThingsMEG(meg_root).load(3, "train")
    with pytest.raises(ConfigError, match="unknown THINGS-MEG variant"):
        ThingsMEG(meg_root, variant="100hz")
    root = _copy(meg_root, tmp_path)
    victim = sorted((root / "images_test_meg").iterdir())[0]
    victim.unlink()
    with pytest.raises(DataError, match="test images named in the epochs' metadata") as err:
        ThingsMEG(root).images("test")
    assert victim.name in str(err.value)


def test_bad_metadata_is_clear(meg_root, tmp_path):
    root = _copy(meg_root, tmp_path)
    path = root / "preprocessed_P1-epo.fif"
    _rewrite(path, metadata=None)
    with pytest.raises(DataError, match="no metadata") as err:
        ThingsMEG(root).load(1, "train")
    assert "preprocessed_P1-epo.fif" in str(err.value)

    root2 = _copy(meg_root, tmp_path / "b")
    import mne

    md = mne.read_epochs(root2 / "preprocessed_P1-epo.fif", preload=False, verbose="error").metadata
    _rewrite(root2 / "preprocessed_P1-epo.fif", metadata=md.drop(columns=["things_category_nr"]))
    with pytest.raises(DataError, match="things_category_nr"):
        ThingsMEG(root2).load(1, "test")


def test_nan_data_is_clear(meg_root, tmp_path):
    root = _copy(meg_root, tmp_path)

    def poison(data, metadata):
        k = int(np.flatnonzero(metadata["trial_type"].to_numpy() == "test")[0])
        data[k, 3, 50] = np.nan

    _rewrite(root / "preprocessed_P1-epo.fif", data_fn=poison)
    ds = ThingsMEG(root)
    ds.load(1, "train")                                   # the NaN is in a test trial
    with pytest.raises(DataError, match="NaN or Inf"):
        ds.load(1, "test")


def test_full_size_simulation_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="in memory"):
        write_things_meg(tmp_path / "x", size="full")


def test_the_next_seed_of_a_participant_reuses_the_last_read(meg_root, tmp_path, monkeypatch, count_calls):
    """Another seed of the same participant (a fresh dataset object, as the next unit makes) gets the
    kept result: read-only arrays, its own metadata containers; any change of a file or an argument
    that shapes the result reads again; BENCH_REHASH=1 bypasses it."""
    import os

    import bench.data.things_meg as tm
    from bench.data import last_read

    last_read.clear()
    root = _copy(meg_root, tmp_path)
    reads = count_calls(tm, "_read_rows")
    first = ThingsMEG(root).load(1, "train")
    again = ThingsMEG(root).load(1, "train")
    assert len(reads) == 1 and again.signals is first.signals and again.checksum == first.checksum
    assert again.info == first.info and again.info is not first.info and again.ch_names is not first.ch_names
    with pytest.raises(ValueError, match="read-only"):
        first.signals[0, 0, 0] = 0.0
    ds = ThingsMEG(root)
    test = ds.load(1, "test")
    assert len(reads) == 2 and ds.load(1, "train").signals is first.signals    # one slot per part
    single = ds.load(1, "test", repetitions="single")            # test images repeat, training ones don't
    assert len(single) > len(test) and len(reads) == 3
    picked = ds.load(1, "train", channels=first.ch_names[:3])
    assert picked.signals.shape[1] == 3 and len(reads) == 4
    ds.load(1, "train", channels=first.ch_names[:3], time_window=(0.0, 0.5))
    assert len(reads) == 5
    ds.load(2, "train")
    ds.load(1, "train")
    assert len(reads) == 7                                       # another participant replaced the slot
    path = root / "preprocessed_P1-epo.fif"
    _rewrite(path, data_fn=lambda data, md: data.__setitem__((0, 0, 0), data[0, 0, 0] + 1.0))
    os.utime(path, ns=(1, 1))                                    # a different mtime, whatever the clock's step
    changed = ThingsMEG(root).load(1, "train")
    assert len(reads) == 8 and changed.checksum != first.checksum
    monkeypatch.setenv("BENCH_REHASH", "1")
    ThingsMEG(root).load(1, "train")
    assert len(reads) == 9
    last_read.clear()
