"""The "dreamsim" adapter on random-init backbones + peft LoRA planted in dreamsim's cache_dir layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bench.images import build_image_model
from tests.images.fake_weights import plant_dreamsim

# dreamsim itself (the reference calls below) wraps its model in peft twice and warns about it
pytestmark = pytest.mark.filterwarnings("ignore:Already found a `peft_config` attribute",
                                        "ignore:.*weight_norm.*is deprecated")


def _reference(cache_dir, dreamsim_type, images):
    """What dreamsim itself computes with its own preprocess, one image at a time."""
    from dreamsim import dreamsim

    saved = getattr(torch.hub, "_hub_dir", None)  # None = follow $TORCH_HOME; set_dir would pin it for later tests
    try:
        model, preprocess = dreamsim(pretrained=True, device="cpu", cache_dir=str(cache_dir),
                                     dreamsim_type=dreamsim_type)
    finally:
        torch.hub._hub_dir = saved
    with torch.inference_mode():
        return np.concatenate([model.embed(preprocess(im)).numpy() for im in images])


@pytest.fixture(scope="module")
def ds_settings(tmp_path_factory, session_weights, planted_dreamsim):
    from bench.settings import load_settings

    return load_settings(cache_dir=tmp_path_factory.mktemp("ds-cache"), weights_dir=session_weights, device="cpu")


@pytest.fixture(scope="module")
def aligned(ds_settings):
    return build_image_model("dreamsim", {"dreamsim_type": "open_clip_vitb32"}, ds_settings).load()


@pytest.fixture(scope="module")
def unaligned(ds_settings):
    return build_image_model("dreamsim", {"dreamsim_type": "open_clip_vitb32", "aligned": False}, ds_settings).load()


def test_aligned_matches_dreamsim(aligned, planted_dreamsim, image_set):
    images = [Image.open(p) for p in image_set.paths[:2]]
    out = aligned.embed(images)
    assert out.shape == (2, 512) and aligned.dim == 512
    np.testing.assert_allclose(out, _reference(planted_dreamsim, "open_clip_vitb32", images), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(aligned.embed(images[1:2]), out[1:2], rtol=1e-5, atol=1e-6)  # deterministic
    assert aligned.model_id == "dreamsim:open_clip_vitb32"
    assert aligned.normalisation() == "dreamsim-centre-l2"


def test_unaligned_is_the_backbone_without_lora(aligned, unaligned, image_set):
    images = [Image.open(p) for p in image_set.paths[2:4]]
    a, b = aligned.embed(images), unaligned.embed(images)
    assert b.shape == a.shape
    assert not np.allclose(a, b, atol=1e-4), "the LoRA changed nothing"
    assert unaligned.model_id == "dreamsim:open_clip_vitb32:unaligned"
    assert not any("lora" in str(p) for p in unaligned.weight_files())
    assert any("lora" in str(p) for p in aligned.weight_files())
    assert aligned.weights_checksum() != unaligned.weights_checksum()
    # the same backbone: un-aligned equals the aligned model with its adapter switched off
    with aligned._net.disable_adapter(), torch.inference_mode():
        x = torch.stack([aligned._transform(im.convert("RGB")) for im in images])
        np.testing.assert_allclose(aligned._net.embed(x).numpy(), b, rtol=1e-4, atol=1e-5)


def test_preprocessing_and_hub_state(aligned):
    names = [type(t).__name__ for t in aligned._transform.transforms]
    assert names == ["Resize", "ToTensor"]
    pre = aligned.preprocessing()
    assert pre["size"] == [224, 224] and pre["interpolation"] == "bicubic" and pre["backbones"] == ["open_clip_vitb32"]
    assert torch.hub.get_dir() != str(aligned.cache_dir), "dreamsim's torch.hub.set_dir leaked"


def test_unaligned_without_lora_files(tmp_path, settings, image_set):
    folder = plant_dreamsim(tmp_path / "w", "clip_vitb32", lora=False, dtype=torch.float16)
    assert not list(folder.glob("*_lora"))
    s = settings.with_(weights_dir=tmp_path / "w")
    model = build_image_model("dreamsim", {"dreamsim_type": "clip_vitb32", "aligned": False, "normalize": False}, s)
    out = model.embed([Image.open(p) for p in image_set.paths[:2]])
    assert out.shape == (2, 512)
    assert model.normalisation() == "none"
    from bench.errors import WeightsMissingError

    with pytest.raises(WeightsMissingError):
        build_image_model("dreamsim", {"dreamsim_type": "clip_vitb32"}, s).load()


@pytest.mark.slow
@pytest.mark.parametrize("dreamsim_type", ["dino_vitb16", "dinov2_vitb14", "synclr_vitb16", "clip_vitb32"])
def test_single_types(tmp_path, settings, dreamsim_type):
    """Every single-backbone type, aligned and not, incl. the torch-hub (DINO) path, offline."""
    folder = plant_dreamsim(tmp_path / "w", dreamsim_type, dtype=torch.float16)
    s = settings.with_(weights_dir=tmp_path / "w")
    images = [Image.new("RGB", (32, 32), (200, 40, 40)), Image.new("RGB", (40, 30), (40, 40, 200))]
    for aligned_flag in (True, False):
        model = build_image_model("dreamsim", {"dreamsim_type": dreamsim_type, "aligned": aligned_flag}, s)
        out = model.embed(images)
        assert out.shape == (2, model.dim) and np.isfinite(out).all()
    np.testing.assert_allclose(build_image_model("dreamsim", {"dreamsim_type": dreamsim_type}, s).embed(images),
                               _reference(folder, dreamsim_type, images), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_ensemble(tmp_path, settings):
    """The default type (DINO + CLIP + OpenCLIP ViT-B/16 + one LoRA), 1792-d, on 2 tiny images."""
    plant_dreamsim(tmp_path / "w", "ensemble", dtype=torch.float16)
    s = settings.with_(weights_dir=tmp_path / "w")
    model = build_image_model("dreamsim", {}, s)
    images = [Image.new("RGB", (24, 24), (10, 200, 10)), Image.new("RGB", (24, 24), (200, 10, 10))]
    out = model.embed(images)
    assert out.shape == (2, 1792) and model.model_id == "dreamsim:ensemble"
    assert model.preprocessing()["backbones"] == ["dino_vitb16", "clip_vitb16", "open_clip_vitb16"]
    np.testing.assert_allclose(out, _reference(tmp_path / "w" / "dreamsim", "ensemble", images), rtol=1e-4, atol=1e-5)
