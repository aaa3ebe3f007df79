"""Fixtures for image-model tests: small stimulus folders and random-init weights planted once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.images.synthetic_images import write_image_folder


@pytest.fixture
def image_dir(tmp_path) -> Path:
    """4 concepts x 2 images, 48 px JPEGs in THINGS layout."""
    return write_image_folder(tmp_path / "images", n_concepts=4, per_concept=2, size=48, seed=0)


@pytest.fixture
def image_set(image_dir):
    from bench.images import image_set_from_folder

    return image_set_from_folder(image_dir, name="tiny")


@pytest.fixture(scope="session")
def session_weights(tmp_path_factory) -> Path:
    """A weights_dir shared by this session's tests; builders plant into it on demand."""
    return tmp_path_factory.mktemp("weights")


@pytest.fixture
def weights_settings(tmp_path, session_weights):
    """Settings whose weights_dir is the session's planted weights (cache in this test's tmp)."""
    from bench.settings import load_settings

    return load_settings(cache_dir=tmp_path / "cache", weights_dir=session_weights, device="cpu",
                         tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.fixture(scope="session")
def planted_timm(session_weights) -> Path:
    from tests.images.fake_weights import plant_timm

    return plant_timm(session_weights, "test_vit")


@pytest.fixture(scope="session")
def planted_open_clip(session_weights) -> Path:
    from tests.images.fake_weights import plant_open_clip

    return plant_open_clip(session_weights, "ViT-S-32", "random-test")


@pytest.fixture(scope="session")
def planted_dreamsim(session_weights) -> Path:
    from tests.images.fake_weights import plant_dreamsim

    return plant_dreamsim(session_weights, "open_clip_vitb32")
