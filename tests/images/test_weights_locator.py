"""Missing weights give the promised error: the file(s), every place looked, how to obtain them."""

from __future__ import annotations

import pytest

from bench.errors import WeightsMissingError
from bench.images import build_image_model


def _error(settings, name, params) -> WeightsMissingError:
    model = build_image_model(name, params, settings)
    with pytest.raises(WeightsMissingError) as info:
        model.load()
    return info.value


def test_open_clip_missing(settings):
    err = _error(settings, "open_clip", {"model": "ViT-B-32", "pretrained": "openai"})
    folder = settings.weights_dir / "open_clip" / "ViT-B-32" / "openai"
    text = str(err)
    assert "open_clip_model.safetensors" in text
    assert str(folder / "open_clip_model.safetensors") in text and str(folder / "open_clip_pytorch_model.bin") in text
    assert err.looked_in == [folder / "open_clip_model.safetensors", folder / "open_clip_pytorch_model.bin"]
    assert "open_clip.create_model('ViT-B-32', pretrained='openai')" in err.fix
    assert f"{folder}/open_clip_model.safetensors" in err.fix
    assert "hf download timm/vit_base_patch32_clip_224.openai" in err.fix


def test_open_clip_explicit_path_missing(settings, tmp_path):
    err = _error(settings, "open_clip", {"model": "ViT-B-32", "pretrained": "openai",
                                         "weights": str(tmp_path / "my.safetensors")})
    assert err.looked_in == [tmp_path / "my.safetensors"]
    assert "parameter 'weights'" in str(err)


def test_timm_missing(settings):
    err = _error(settings, "timm", {"model": "resnet50"})
    folder = settings.weights_dir / "timm" / "resnet50.a1_in1k"
    assert folder / "model.safetensors" in err.looked_in
    assert settings.weights_dir / "timm" / "resnet50" / "model.safetensors" in err.looked_in
    assert "timm.create_model('resnet50.a1_in1k', pretrained=True)" in err.fix
    assert "hf download timm/resnet50.a1_in1k" in err.fix


def test_dreamsim_missing_names_every_file(settings):
    err = _error(settings, "dreamsim", {"dreamsim_type": "ensemble"})
    folder = settings.weights_dir / "dreamsim"
    for name in ("dino_vitb16_pretrain.pth", "open_clip_vitb16_pretrain.pth.tar", "clip_vitb16_pretrain.pth.tar",
                 "ensemble_lora/adapter_config.json", "facebookresearch_dino_main/hubconf.py",
                 "checkpoints/dino_vitbase16_pretrain.pth"):
        assert folder / name in err.looked_in, name
    assert "dreamsim_ensemble_checkpoint.zip" in err.fix
    assert f"cache_dir='{folder}'" in err.fix and "dreamsim_type='ensemble'" in err.fix


def test_dreamsim_unaligned_needs_no_lora(settings):
    err = _error(settings, "dreamsim", {"dreamsim_type": "clip_vitb32", "aligned": False})
    assert [p.name for p in err.looked_in] == ["clip_vitb32_pretrain.pth.tar"]


def test_dreamsim_missing_lora_weights_never_downloads(settings, monkeypatch):
    """Backbone and adapter_config.json present, adapter weights absent: error, and no download attempt."""
    import torch.hub

    def fail(*args, **kwargs):  # pragma: no cover - must not be called
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    folder = settings.weights_dir / "dreamsim"
    (folder / "clip_vitb32_single_lora").mkdir(parents=True)
    (folder / "clip_vitb32_single_lora" / "adapter_config.json").write_text("{}")
    (folder / "clip_vitb32_pretrain.pth.tar").write_bytes(b"x")
    err = _error(settings, "dreamsim", {"dreamsim_type": "clip_vitb32"})
    assert err.looked_in == [folder / "clip_vitb32_single_lora" / "adapter_model.safetensors",
                             folder / "clip_vitb32_single_lora" / "adapter_model.bin"]


def test_offline_guard_blocks_hub_and_restores_state(tmp_path):
    import torch.hub

    from bench.images.dreamsim_model import offline_torch_hub

    before = (torch.hub.get_dir(), torch.hub.download_url_to_file, torch.hub.urlopen)
    with offline_torch_hub("dreamsim:test", "  (how)\n"):
        torch.hub.set_dir(str(tmp_path))
        with pytest.raises(WeightsMissingError) as info:
            torch.hub.load_state_dict_from_url("https://example.org/x/weights.pth")
        assert info.value.looked_in == [tmp_path / "checkpoints" / "weights.pth"]
        with pytest.raises(RuntimeError, match="no internet"):
            torch.hub.load("facebookresearch/dinov2", "dinov2_vitb14")  # branch lookup refused, no cache
    assert (torch.hub.get_dir(), torch.hub.download_url_to_file, torch.hub.urlopen) == before


def test_cli_prints_missing_weights_without_traceback(tmp_path, image_dir):
    import os
    import subprocess
    import sys

    env = dict(os.environ, BENCH_WEIGHTS_DIR=str(tmp_path / "w"), BENCH_CACHE_DIR=str(tmp_path / "c"))
    out = subprocess.run([sys.executable, "-c", "from bench.cli import main; main()", "embed", "--model", "dreamsim",
                          "--param", "dreamsim_type=open_clip_vitb32", "--images", str(image_dir), "--no-progress"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "open_clip_vitb32_pretrain.pth.tar" in out.stderr and "fix:" in out.stderr
