"""The THINGS-EEG2 loader: both variants, averaging, single trials, row order, selections,
checksums, memory-aware reading, and a clear DataError for every kind of bad input."""

from __future__ import annotations

import os
import pickle
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import bench.data.things_eeg2 as te2
from bench.data import DATASETS
from bench.data.simulate.things_eeg2 import SizeSpec, ThingsEEG2Simulation, write_things_eeg2
from bench.data.things_eeg2 import LazyArray, ThingsEEG2, safe_load
from bench.errors import ConfigError, DataError

MICRO = SizeSpec(train_concepts=10, images_per_concept=3, test_concepts=6, train_reps=4, test_reps=5, image_size=32)
KEY = "preprocessed_eeg_data"


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("things")
    return {"250hz": write_things_eeg2(base / "d250", size=MICRO, subjects=2, seed=5, variant="250hz"),
            "100hz": write_things_eeg2(base / "d100", size=MICRO, subjects=1, seed=5, variant="100hz")}


@pytest.fixture
def copy250(roots, tmp_path) -> Path:
    """A private copy of the 250 Hz dataset that a test may break."""
    return Path(shutil.copytree(roots["250hz"], tmp_path / "copy"))


def _raw(path: Path) -> dict:
    """Read a file the way the published code does (trusted input only)."""
    obj = np.load(path, allow_pickle=True)
    return obj.item() if isinstance(obj, np.ndarray) else obj


def _eeg_path(root: Path, subject: int = 1, part: str = "train", folder: str = "Preprocessed_data_250Hz") -> Path:
    name = "preprocessed_eeg_training.npy" if part == "train" else "preprocessed_eeg_test.npy"
    return root / folder / f"sub-{subject:02d}" / name


def _rewrite(path: Path, content: dict) -> None:
    with open(path, "wb") as fh:
        pickle.dump(content, fh, protocol=4)


# --------------------------------------------------------------------------------------------
# Reading both variants
# --------------------------------------------------------------------------------------------

def test_registered_and_reads_both_variants(roots):
    assert DATASETS.get("things-eeg2") is ThingsEEG2
    ds = ThingsEEG2(roots["250hz"], variant="250hz")
    assert ds.subjects() == [1, 2]
    train = ds.load(1, "train")
    assert train.signals.dtype == np.float32 and train.signals.shape == (MICRO.n_train, 63, 250)
    assert train.shape == {"n_chans": 63, "n_times": 250, "sfreq": 250.0}
    # BrainData.times are the 250 real sample times, not the 300 stored ones
    assert len(train.times) == 250 and train.times[0] == pytest.approx(0.0) and train.times[-1] == pytest.approx(0.996)
    assert train.ch_names[0] == "Fp1" and train.ch_names[-1] == "O2"
    assert set(train.subjects) == {1}
    assert ds.load(2, "test").signals.shape == (MICRO.test_concepts, 63, 250)

    ds100 = ThingsEEG2(roots["100hz"], variant="100hz")
    test = ds100.load(1, "test")
    assert test.signals.shape == (MICRO.test_concepts, 17, 100) and test.signals.dtype == np.float32
    assert test.sfreq == 100.0 and test.times[0] == pytest.approx(-0.2) and test.times[-1] == pytest.approx(0.79)
    assert test.ch_names == list(te2.CH_NAMES_17)
    assert ds.validate() == [] and ds100.validate() == []


def test_average_equals_numpy_mean_and_single_trials_match(roots):
    for variant, folder in (("250hz", "Preprocessed_data_250Hz"), ("100hz", "preprocessed_data")):
        ds = ThingsEEG2(roots[variant], variant=variant)
        for part in ("train", "test"):
            raw = _raw(_eeg_path(roots[variant], 1, part, folder))[KEY]
            avg = ds.load(1, part)
            assert np.array_equal(avg.signals, raw.mean(axis=1).astype(np.float32))
            single = ds.load(1, part, repetitions="single")
            n, reps = raw.shape[:2]
            assert single.signals.shape == (n * reps, *raw.shape[2:])
            assert np.array_equal(single.signals, raw.reshape(n * reps, *raw.shape[2:]).astype(np.float32))
            assert list(single.image_ids) == [i for i in avg.image_ids for _ in range(reps)]
            assert np.array_equal(single.concepts, np.repeat(avg.concepts, reps))


def test_rows_follow_sorted_image_order(roots):
    root = roots["250hz"]
    ds = ThingsEEG2(root)
    data = ds.load(1, "train")
    images = ds.images("train")
    listing = [f"{d.name}/{f.stem}" for d in sorted((root / "training_images").iterdir())
               for f in sorted(d.iterdir())]
    assert list(images.ids) == listing == list(data.image_ids)
    assert all(p.is_file() and p.suffix == ".jpg" for p in images.paths)
    assert list(data.concepts) == [int(i.split("_")[0]) - 1 for i in data.image_ids]
    test = ds.load(1, "test")
    assert list(test.concepts) == list(range(MICRO.test_concepts))  # test folders numbered 1..N on their own
    # EEG row i was generated from the features of the i-th image in that order
    sim = ThingsEEG2Simulation(MICRO, seed=5)
    assert [f"{c}/{Path(f).stem}" for c, f in sim.image_files("train")] == listing
    expected = sim.trials(1, "train", 0, MICRO.n_train, snr=float(_snr(root))).mean(axis=1).astype(np.float32)
    assert np.allclose(data.signals, expected, atol=1e-6)


def _snr(root: Path) -> float:
    import json

    return json.loads((root / "simulation.json").read_text())["snr"]


def test_channel_and_time_selection(roots):
    ds = ThingsEEG2(roots["250hz"])
    full = ds.load(1, "train")
    sub = ds.load(1, "train", channels=["Oz", "O1"], time_window=(0.1, 0.2))
    assert sub.ch_names == ["Oz", "O1"]
    assert sub.times[0] == pytest.approx(0.1) and sub.times[-1] == pytest.approx(0.2) and len(sub.times) == 26
    oz, o1 = full.ch_names.index("Oz"), full.ch_names.index("O1")
    t0 = int(np.argmin(np.abs(full.times - 0.1)))
    assert np.array_equal(sub.signals, full.signals[:, [oz, o1], t0:t0 + 26])
    with pytest.raises(ConfigError, match="channels"):
        ds.load(1, "train", channels=["Xyz"])
    with pytest.raises(ConfigError, match="time_window"):
        ds.load(1, "train", time_window=(2.0, 3.0))
    with pytest.raises(ConfigError, match="repetitions"):
        ds.load(1, "train", repetitions="median")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="variant"):
        ThingsEEG2(roots["250hz"], variant="500hz")


def test_checksum_covers_what_was_read(copy250):
    ds = ThingsEEG2(copy250)
    data = ds.load(1, "train")
    assert data.checksum == ds.checksum(1, "train") == ThingsEEG2(copy250).load(1, "train").checksum
    assert ds.checksum(1, "test") != data.checksum and ds.checksum(2, "train") != data.checksum
    assert ds.files(1, "train") == [_eeg_path(copy250)]
    path = _eeg_path(copy250)
    content = _raw(path)
    content[KEY][0, 0, 0, 0] += 1.0
    _rewrite(path, content)
    assert ThingsEEG2(copy250).checksum(1, "train") != data.checksum


def test_checksum_of_small_in_frame_arrays(tmp_path):
    """Arrays under 64 KB sit inside a pickle frame and are read eagerly: same checksum rules."""
    root = write_things_eeg2(tmp_path / "d", size=SizeSpec(2, 1, 2, 1, 1, 8), subjects=1, seed=0, variant="100hz")
    ds = ThingsEEG2(root, variant="100hz")
    assert not isinstance(safe_load(_eeg_path(root, folder="preprocessed_data"))[KEY], LazyArray)
    assert ds.load(1, "train").checksum == ds.checksum(1, "train")


def test_large_arrays_stay_on_disk_and_averaging_is_chunked(tmp_path, monkeypatch):
    root = write_things_eeg2(tmp_path / "d", size=SizeSpec(20, 5, 4, 4, 5, 16), subjects=1, seed=0)
    content = safe_load(_eeg_path(root))
    assert isinstance(content[KEY], LazyArray)  # located in the file, not read
    assert isinstance(content["times"], np.ndarray)  # small arrays are read normally
    raw = _raw(_eeg_path(root))[KEY]
    assert np.array_equal(np.asarray(content[KEY]), raw)
    assert np.array_equal(content[KEY].read(3, 7), raw[3:7])
    float64_bytes = raw.nbytes
    del raw
    monkeypatch.setattr(te2, "_CHUNK_BYTES", 1 << 20)
    ds = ThingsEEG2(root)
    ds.image_table("train")
    tracemalloc.start()
    data = ds.load(1, "train")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < data.signals.nbytes + 0.3 * float64_bytes, (peak, data.signals.nbytes, float64_bytes)


# --------------------------------------------------------------------------------------------
# Clear errors
# --------------------------------------------------------------------------------------------

def _err(excinfo) -> str:
    return str(excinfo.value)


def test_missing_root_folder_subject_and_file(roots, tmp_path, copy250):
    with pytest.raises(DataError) as exc:
        ThingsEEG2(tmp_path / "nowhere").load(1, "train")
    msg = _err(exc)
    assert "nowhere" in msg and "root folder not found" in msg and "osf.io" in msg
    assert "Preprocessed_data_250Hz/sub-01/preprocessed_eeg_training.npy" in msg
    with pytest.raises(DataError) as exc:  # the other variant's layout is there: say so
        ThingsEEG2(roots["100hz"], variant="250hz").load(1, "train")
    assert "Preprocessed_data_250Hz" in _err(exc) and "variant='100hz'" in _err(exc)
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(7, "train")
    assert "sub-07" in _err(exc) and "sub-01" in _err(exc)
    _eeg_path(copy250, 2, "test").unlink()
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(2, "test")
    assert "preprocessed_eeg_test.npy" in _err(exc) and "not found" in _err(exc) and "fix:" in _err(exc)
    shutil.rmtree(copy250 / "test_images")
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(1, "test")
    assert "test_images" in _err(exc)


def test_wrong_key(copy250):
    path = _eeg_path(copy250)
    content = _raw(path)
    content["eeg"] = content.pop(KEY)
    _rewrite(path, content)
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(1, "train")
    msg = _err(exc)
    assert str(path) in msg and f"field '{KEY}'" in msg and "missing key" in msg and "'eeg'" in msg


def test_wrong_shape_and_channel_count(copy250):
    path = _eeg_path(copy250)
    content = _raw(path)
    good = content[KEY]
    content[KEY] = good.mean(axis=1)  # repetitions already averaged: 3-D
    _rewrite(path, content)
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(1, "train")
    assert f"field '{KEY}'" in _err(exc) and "ndim 3" in _err(exc) and str(path) in _err(exc)
    content[KEY] = good
    content["ch_names"] = content["ch_names"][:-1]
    _rewrite(path, content)
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(1, "train")
    assert "field 'ch_names'" in _err(exc) and "62 channels" in _err(exc)


def test_rows_must_match_images(copy250):
    path = _eeg_path(copy250)
    content = _raw(path)
    content[KEY] = content[KEY][:-1]
    _rewrite(path, content)
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(1, "train")
    msg = _err(exc)
    assert f"{MICRO.n_train - 1} image rows" in msg and f"{MICRO.n_train} images" in msg and "training_images" in msg


def test_nan_and_inf_name_the_items(copy250):
    path = _eeg_path(copy250)
    content = _raw(path)
    content[KEY][3, 1, 5, 10] = np.nan
    content[KEY][7, 0, 0, 0] = np.inf
    _rewrite(path, content)
    ds = ThingsEEG2(copy250)
    with pytest.raises(DataError) as exc:
        ds.load(1, "train")
    msg = _err(exc)
    assert "NaN or Inf" in msg and "[3, 7]" in msg and "2 image row(s)" in msg and str(path) in msg
    # a selection that avoids the bad values loads
    assert ds.load(1, "train", channels=["Fp2"], time_window=(0.1, 0.5)).signals.shape[0] == MICRO.n_train
    assert any("NaN" in p for p in ds.validate())


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(copy250, tmp_path):
    marker = tmp_path / "pwned"
    path = _eeg_path(copy250)
    content = _raw(path)
    content["times"] = _Exploit(marker)
    _rewrite(path, content)
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(1, "train")
    msg = _err(exc)
    assert "refused" in msg and "system" in msg and str(path) in msg
    assert not marker.exists()
    # the np.save container (100 Hz layout) is checked the same way
    bad = tmp_path / "bad.npy"
    np.save(bad, {"x": _Exploit(marker)}, allow_pickle=True)
    with pytest.raises(DataError, match="refused"):
        safe_load(bad)
    assert not marker.exists()
    # other code-running globals are refused too
    for module, name in (("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load"),
                         ("numpy.testing", "rundocs")):
        payload = f"c{module}\n{name}\n(S'1'\ntR.".encode()
        (tmp_path / "g.pkl").write_bytes(payload)
        with pytest.raises(DataError, match="refused"):
            safe_load(tmp_path / "g.pkl")


def test_corrupt_and_truncated_files(copy250):
    path = _eeg_path(copy250)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(1, "train")
    assert "truncated" in _err(exc) and str(path) in _err(exc)
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).load(1, "train")
    assert "cannot read" in _err(exc)
    _rewrite(path, [1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="expected a dict"):
        ThingsEEG2(copy250).load(1, "train")


def test_metadata_must_agree_with_folders(copy250):
    meta = np.load(copy250 / "image_metadata.npy", allow_pickle=True).item()
    meta["train_img_files"] = list(reversed(meta["train_img_files"]))
    np.save(copy250 / "image_metadata.npy", meta, allow_pickle=True)
    with pytest.raises(DataError) as exc:
        ThingsEEG2(copy250).images("train")
    assert "image_metadata.npy" in _err(exc) and "row 0" in _err(exc)


# --------------------------------------------------------------------------------------------
# The safe unpickler reads what numpy and the published files use
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_load_reads_numpy_pickles_of_every_protocol(tmp_path, protocol):
    rng = np.random.default_rng(0)
    content = {KEY: rng.standard_normal((40, 2, 9, 30)), "ch_names": ["a", "b"],
               "times": np.arange(5) / 10.0, "fortran": np.asfortranarray(rng.standard_normal((70, 130))),
               "small": np.arange(3, dtype=np.int16), "scalar": np.float64(2.5), "nested": [np.zeros(2)]}
    path = tmp_path / "x.pkl"
    with open(path, "wb") as fh:
        pickle.dump(content, fh, protocol=protocol)
    loaded = safe_load(path)
    assert set(loaded) == set(content)
    for key in (KEY, "times", "fortran", "small"):
        arr = np.asarray(loaded[key])
        assert arr.dtype == content[key].dtype and np.array_equal(arr, content[key]), key
    assert loaded["scalar"] == 2.5 and loaded["ch_names"] == ["a", "b"]
    assert np.array_equal(loaded["nested"][0], np.zeros(2))


def test_safe_load_reads_numpy_1x_module_paths(tmp_path):
    """Files written by numpy 1.x name numpy.core.multiarray (not numpy._core)."""
    content = {KEY: np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4), "ch_names": ["a"], "times": np.zeros(4)}
    raw = pickle.dumps(content, protocol=2)
    raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in raw
    (tmp_path / "old.npy").write_bytes(raw)
    loaded = safe_load(tmp_path / "old.npy")
    assert np.array_equal(loaded[KEY], content[KEY])


# --------------------------------------------------------------------------------------------
# The last read kept for the next unit of the same subject
# --------------------------------------------------------------------------------------------

def test_the_next_seed_of_a_subject_reuses_the_last_read(copy250, monkeypatch, count_calls):
    from bench.data import last_read

    last_read.clear()
    reads = count_calls(te2, "_read_signals")
    ds = ThingsEEG2(copy250)
    first = ds.load(1, "train")
    again = ThingsEEG2(copy250).load(1, "train")            # a fresh dataset object, as the next unit makes
    assert len(reads) == 1 and again.signals is first.signals and again.checksum == first.checksum
    with pytest.raises(ValueError, match="read-only"):
        first.signals[0, 0, 0] = 0.0                          # nobody can change the next unit's data
    ds.load(1, "test")
    assert len(reads) == 2 and ds.load(1, "train").signals is first.signals   # one slot per part
    # whatever shaped the result is part of the key
    assert ds.load(1, "train", repetitions="single").signals.shape[0] == 4 * first.signals.shape[0]
    assert ds.load(1, "train", channels=["Oz", "O1"]).signals.shape[1] == 2
    assert len(reads) == 4
    # another subject replaces the slot; coming back reads again
    ds.load(2, "train")
    ds.load(1, "train")
    assert len(reads) == 6
    # a changed file is read again (a new mtime), and its checksum follows it
    path = _eeg_path(copy250)
    content = _raw(path)
    content[KEY][0, 0, 0, 0] += 1.0
    _rewrite(path, content)
    os.utime(path, ns=(1, 1))                                  # a different mtime, whatever the clock's step
    changed = ds.load(1, "train")
    assert len(reads) == 7 and changed.checksum != first.checksum
    # BENCH_REHASH=1 (re-read everything) bypasses it
    monkeypatch.setenv("BENCH_REHASH", "1")
    ds.load(1, "train")
    assert len(reads) == 8
    last_read.clear()
