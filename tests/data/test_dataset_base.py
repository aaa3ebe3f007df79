"""What every dataset shares (``bench.data.base.BrainDataset``): part and variant checks with the fix named."""

from __future__ import annotations

import pytest

from bench.data.imagenet_eeg import ImageNetEEG
from bench.data.nsd import NSD
from bench.data.things_eeg2 import ThingsEEG2
from bench.data.things_meg import ThingsMEG
from bench.errors import ConfigError


@pytest.mark.parametrize("cls,parts", [(ThingsEEG2, "'train' or 'test'"), (ThingsMEG, "'train' or 'test'"),
                                       (NSD, "'train' or 'test'"), (ImageNetEEG, "'train', 'val' or 'test'")])
def test_unknown_part_names_the_accepted_ones(tmp_path, cls, parts):
    ds = cls(tmp_path)
    for part in cls.parts:
        ds.check_part(part)
    with pytest.raises(ConfigError) as err:
        ds.images("validation")
    assert err.value.field == "part" and f"use {parts}" in str(err.value) and "'validation'" in str(err.value)


@pytest.mark.parametrize("cls,title", [(ThingsEEG2, "THINGS-EEG2"), (ThingsMEG, "THINGS-MEG"), (NSD, "NSD")])
def test_variant_is_lower_cased_defaulted_and_checked(tmp_path, cls, title):
    assert cls(tmp_path).variant == cls.variants[0]
    assert cls(tmp_path, variant=cls.variants[-1].upper()).variant == cls.variants[-1]
    with pytest.raises(ConfigError) as err:
        cls(tmp_path, variant="500hz")
    assert err.value.field == "dataset.variant" and f"unknown {title} variant '500hz'" in str(err.value)
    assert all(v in str(err.value) for v in cls.variants)
