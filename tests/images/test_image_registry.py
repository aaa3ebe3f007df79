"""The image-model registry, the factory and the plug-in contract every model must meet."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.errors import ConfigError, RegistryError
from bench.images import IMAGE_MODELS, ImageModel, build_image_model

EXPECTED = {"dreamsim", "open_clip", "timm", "pixels-colour-texture", "random-convnet"}


def test_registered_models():
    assert EXPECTED <= set(IMAGE_MODELS.names())
    for name in IMAGE_MODELS.names():
        cls = IMAGE_MODELS.get(name)
        assert issubclass(cls, ImageModel)
        assert cls.name == name, f"{cls.__name__}.name must be its registry name"


def test_every_registered_model_has_a_test_case():
    """Completeness (braindecode style): a new image model needs a test module naming it."""
    import pathlib

    here = pathlib.Path(__file__)
    text = "".join(p.read_text() for p in here.parent.glob("test_*.py") if p != here)
    for name in IMAGE_MODELS.names():
        assert f'"{name}"' in text, f"no test module builds image model '{name}'"


def test_discovery_imports_no_heavy_library():
    code = ("import sys; from bench.images import IMAGE_MODELS; IMAGE_MODELS.names(); "
            "heavy = [m for m in ('torch', 'open_clip', 'timm', 'dreamsim', 'skimage', 'peft') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_build_unknown_name_lists_known(settings):
    with pytest.raises(RegistryError) as info:
        build_image_model("clip-xl", {}, settings)
    assert "random-convnet" in str(info.value)


def test_build_unknown_param_lists_accepted(settings):
    with pytest.raises(ConfigError) as info:
        build_image_model("random-convnet", {"sed": 1}, settings)
    assert "sed" in str(info.value) and "seed" in info.value.fix


@pytest.mark.parametrize("name, params, field", [
    ("random-convnet", {"seed": -1}, "seed"),
    ("pixels-colour-texture", {"size": 30}, "size"),
    ("dreamsim", {"dreamsim_type": "dino_vits8"}, "dreamsim_type"),
    ("open_clip", {"model": "ViT-Q-99"}, "model"),
    ("timm", {"model": "not_a_net"}, "model"),
])
def test_invalid_params_raise_config_error(settings, name, params, field):
    with pytest.raises(ConfigError) as info:
        build_image_model(name, params, settings)
    assert info.value.field == field


def test_constructor_only_stores(settings, tmp_path):
    """scikit-learn style: building a model reads no file and builds no network."""
    model = build_image_model("dreamsim", {"dreamsim_type": "ensemble", "weights": str(tmp_path / "nowhere")}, settings)
    assert model.get_params()["dreamsim_type"] == "ensemble"
    assert model._net is None
    assert model.model_id == "dreamsim:ensemble"
    assert build_image_model("dreamsim", {"aligned": False}, settings).model_id == "dreamsim:ensemble:unaligned"
