"""One channel/time selection rule for every loader (bench/data/selection.py) and the declared dataset interface."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from bench.data import selection
from bench.data.selection import pick_channels, pick_times
from bench.errors import ConfigError

TIMES = np.round(np.arange(-0.2, 0.8, 0.004), 6)        # THINGS-EEG2 250 Hz epochs, 250 samples


def test_doc_examples():
    assert doctest.testmod(selection).failed == 0


def test_channels_by_name_in_the_order_asked():
    names = ["Fp1", "Fz", "Cz", "Oz", "O1"]
    assert pick_channels(names, None) == [0, 1, 2, 3, 4]
    assert pick_channels(names, ["O1", "Fz"]) == [4, 1]
    with pytest.raises(ConfigError) as err:
        pick_channels(names, ["Xyz", "Fz"], where="f.npy", label="MEG channel")
    assert err.value.field == "dataset.channels" and "unknown MEG channel" in str(err.value) and "Oz" in str(err.value)
    with pytest.raises(ConfigError, match="empty"):
        pick_channels(names, [])


def test_time_window_inclusive_and_inside():
    sel = pick_times(TIMES, (0.1, 0.2))
    kept = TIMES[sel]
    assert kept[0] == pytest.approx(0.1) and kept[-1] == pytest.approx(0.2) and len(kept) == 26
    np.testing.assert_array_equal(kept, TIMES[(TIMES >= 0.1 - 1e-9) & (TIMES <= 0.2 + 1e-9)])
    assert pick_times(TIMES, None) == slice(None)
    assert TIMES[pick_times(TIMES, (-0.2, 0.796))].size == 250         # the whole epoch
    for bad in ((2.0, 3.0), (0.3, 0.1), (0.0, 1.0)):                   # outside, reversed, past the end
        with pytest.raises(ConfigError) as err:
            pick_times(TIMES, bad, where="f.npy")
        assert err.value.field == "dataset.time_window" and "-0.200" in str(err.value)


def test_interface_is_declared_on_the_base_class():
    """Inspection and class-label extras are declared once (base classes), not probed with hasattr."""
    from bench.data import DATASETS
    from bench.data.base import BrainDataset, LabelledDataset

    for name in DATASETS.names():
        cls = DATASETS.get(name)
        for method in ("read_file", "validate", "detect_variant"):
            assert callable(getattr(cls, method)), (name, method)
    assert issubclass(DATASETS.get("imagenet-eeg"), LabelledDataset)
    assert not issubclass(DATASETS.get("things-eeg2"), LabelledDataset)
    assert DATASETS.get("things-eeg2").detect_variant.__func__ is not BrainDataset.detect_variant.__func__
