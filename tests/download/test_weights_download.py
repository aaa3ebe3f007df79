"""`bench weights download`: Hugging Face endpoint redirected to the loopback server; dreamsim and the metric
extractors through the "already present" / "wrong checksum" paths on random-init weights in the real layout."""

from __future__ import annotations

import json

import pytest
import torch

from bench.download.http import DownloadError
from bench.download.weights import RECORD, download_weights
from tests.download.server import MirrorServer

pytestmark = pytest.mark.server


@pytest.fixture
def wsettings(tmp_path):
    from bench.settings import load_settings

    return load_settings(weights_dir=tmp_path / "weights", cache_dir=tmp_path / "cache", device="cpu")


@pytest.fixture
def hub(tmp_path):
    srv = MirrorServer(tmp_path / "mirror").start()
    yield srv
    srv.stop()


def _quiet(name, params, settings, **kw):
    return download_weights(name, params, settings, progress=False, echo=lambda s: None, **kw)


def test_timm_through_the_hub_lands_where_the_harness_loads_it(hub, tmp_path, wsettings):
    from tests.images.fake_weights import plant_timm

    published = plant_timm(tmp_path / "publisher", "test_resnet")        # random-init, real format (timm's tiny test net)
    served = hub.root / "huggingface.co/timm/test_resnet.r160_in1k/resolve/main/model.safetensors"
    served.parent.mkdir(parents=True)
    served.write_bytes(published.read_bytes())
    report = _quiet("timm", {"model": "test_resnet"}, wsettings, mirror=hub.url)
    entry = report.entries[0]
    dest = wsettings.weights_dir / "timm/test_resnet.r160_in1k/model.safetensors"
    assert entry["action"] == "downloaded" and dest.read_bytes() == published.read_bytes()
    from bench.images import build_image_model

    model = build_image_model("timm", {"model": "test_resnet"}, wsettings)
    assert model.weight_files() == [dest] and entry["checksum"] == model.weights_checksum()
    import numpy as np

    model.load()
    out = model._forward(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, model._net.num_features) and np.isfinite(out.numpy()).all()
    records = json.loads((wsettings.weights_dir / RECORD).read_text())
    assert records["timm:test_resnet.r160_in1k"]["checksum"] == entry["checksum"]


def test_open_clip_present_noop_then_wrong_checksum_refetched(hub, wsettings):
    from safetensors.torch import save_file

    served = hub.root / "huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/open_clip_model.safetensors"
    served.parent.mkdir(parents=True)
    save_file({"w": torch.arange(1000, dtype=torch.float32)}, str(served))
    params = {"model": "ViT-B-32", "pretrained": "openai"}
    first = _quiet("open_clip", params, wsettings, mirror=hub.url).entries[0]
    dest = wsettings.weights_dir / "open_clip/ViT-B-32/openai/open_clip_model.safetensors"
    assert first["action"] == "downloaded" and dest.read_bytes() == served.read_bytes()
    hub.log.clear()
    again = _quiet("open_clip", params, wsettings, mirror=hub.url).entries[0]
    assert again["action"] == "already present" and again["checksum"] == first["checksum"] and hub.log == []
    dest.write_bytes(dest.read_bytes()[:-8] + b"\0" * 8)                  # corrupted in place
    fixed = _quiet("open_clip", params, wsettings, mirror=hub.url).entries[0]
    assert fixed["action"] == "re-downloaded" and "re-fetched" in fixed["note"]
    assert dest.read_bytes() == served.read_bytes() and not list(dest.parent.glob("*.mismatch"))
    # wrong checksum and the host cannot serve it: one clear error, the file put back as it was
    dest.write_bytes(b"\1" * 100)
    hub.faults["/huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/open_clip_model.safetensors"] = \
        {"status": 404}
    with pytest.raises(DownloadError, match="do not match the recorded checksum"):
        _quiet("open_clip", params, wsettings, mirror=hub.url)
    assert dest.read_bytes() == b"\1" * 100


@pytest.mark.slow   # planting a random-init ViT-B and building dreamsim takes ~30 s on 2 busy cores
def test_dreamsim_through_its_own_downloader_redirected(hub, tmp_path, wsettings):
    from bench.images.weights import DREAMSIM_URLS
    from tests.download.remote import local
    from tests.images.fake_weights import plant_dreamsim

    published = plant_dreamsim(tmp_path / "publisher", "open_clip_vitb32", dtype=torch.float16)  # random init
    zip_path = local(hub.root, DREAMSIM_URLS["open_clip_vitb32"])
    zip_path.parent.mkdir(parents=True)
    zip_path.write_bytes(_zip_flat(published))
    params = {"dreamsim_type": "open_clip_vitb32", "aligned": True}
    entry = _quiet("dreamsim", params, wsettings, mirror=hub.url).entries[0]   # dreamsim(...) downloads + loads
    folder = wsettings.weights_dir / "dreamsim"
    backbone = folder / "open_clip_vitb32_pretrain.pth.tar"
    assert entry["action"] == "downloaded" and backbone.read_bytes() == (published / backbone.name).read_bytes()
    assert not (folder / "pretrained.zip").exists()
    from bench.images import build_image_model

    assert entry["checksum"] == build_image_model("dreamsim", params, wsettings).weights_checksum()
    hub.log.clear()
    assert _quiet("dreamsim", params, wsettings, mirror=hub.url).entries[0]["action"] == "already present"
    assert hub.log == []
    backbone.write_bytes(backbone.read_bytes()[:-4] + b"\0\0\0\0")           # wrong checksum -> fetched again
    assert _quiet("dreamsim", params, wsettings, mirror=hub.url).entries[0]["action"] == "re-downloaded"
    assert backbone.read_bytes() == (published / backbone.name).read_bytes()
    backbone.write_bytes(b"broken")
    hub.faults["/" + str(zip_path.relative_to(hub.root))] = {"status": 404}
    with pytest.raises(DownloadError, match="do not match the recorded checksum"):
        _quiet("dreamsim", params, wsettings, mirror=hub.url)
    assert backbone.read_bytes() == b"broken"                                   # put back, nothing lost


def _zip_flat(folder):
    """dreamsim's release zips hold the checkpoint files and the *_lora/ folder at their top level."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            zf.write(f, f.relative_to(folder).as_posix())
    return buf.getvalue()


def test_metric_extractor_files(hub, wsettings):
    tv = wsettings.weights_dir / "torchvision"
    tv.mkdir(parents=True)
    (tv / "alexnet-owt-7be5be79.pth").write_bytes(b"planted")
    from typer.testing import CliRunner

    from bench.cli import app

    result = CliRunner().invoke(app, ["weights", "download", "metrics", "--param", "extractors=alexnet",
                                      "--weights-dir", str(wsettings.weights_dir), "--mirror", hub.url, "--quiet"])
    assert result.exit_code == 0, result.output
    assert "metrics:alexnet:alexnet-owt-7be5be79.pth: already present" in result.output and hub.log == []
    swav = hub.root / "dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar"
    swav.parent.mkdir(parents=True)
    swav.write_bytes(b"swav" * 1000)
    entry = _quiet("metrics", {"extractors": "swav"}, wsettings, mirror=hub.url).entries[0]
    assert entry["action"] == "downloaded" and (tv / "swav_800ep_pretrain.pth.tar").read_bytes() == b"swav" * 1000
    effnet = hub.root / "download.pytorch.org/models/efficientnet_b1-c27df63c.pth"
    effnet.parent.mkdir(parents=True)
    effnet.write_bytes(b"not the published weights")
    with pytest.raises(DownloadError, match="c27df63c"):                # torch.hub's file-name hash is checked
        _quiet("metrics", {"extractors": "efficientnet_b1"}, wsettings, mirror=hub.url)
    assert not (tv / "efficientnet_b1-c27df63c.pth").exists()


HUBCONF = '''dependencies = ["torch"]
import torch


def tiny(pretrained=True):
    model = torch.nn.Linear(2, 2)
    if pretrained:
        model.load_state_dict(torch.hub.load_state_dict_from_url(
            "https://dl.fbaipublicfiles.com/dino/tiny/tiny_pretrain.pth", map_location="cpu"))
    return model
'''


def test_torch_hub_repo_and_checkpoint_through_the_mirror(hub, tmp_path):
    """What dreamsim's DINO types do: torch.hub.load('facebookresearch/dino:main', ...) + the hub checkpoint."""
    import io
    import zipfile

    import torch.hub

    from bench.download.weights import torch_hub_downloads
    from tests.download.remote import local

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:                        # GitHub's zipball: its top folder first
        zf.writestr("facebookresearch-dino-7c446df/", "")
        zf.writestr("facebookresearch-dino-7c446df/hubconf.py", HUBCONF)
    zball = local(hub.root, "https://github.com/facebookresearch/dino/zipball/main")
    zball.parent.mkdir(parents=True)
    zball.write_bytes(buf.getvalue())
    state = {"weight": torch.arange(4.0).reshape(2, 2), "bias": torch.ones(2)}
    ckpt = local(hub.root, "https://dl.fbaipublicfiles.com/dino/tiny/tiny_pretrain.pth")
    ckpt.parent.mkdir(parents=True)
    torch.save(state, ckpt)
    saved = getattr(torch.hub, "_hub_dir", None)   # None = follow $TORCH_HOME; get_dir() would pin it
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        with torch_hub_downloads(hub.url, progress=False):
            model = torch.hub.load("facebookresearch/dino:main", "tiny", trust_repo=True)
    finally:
        torch.hub._hub_dir = saved
    assert torch.equal(model.weight, state["weight"]) and torch.equal(model.bias, state["bias"])
    assert (tmp_path / "hub/facebookresearch_dino_main/hubconf.py").is_file()
    assert (tmp_path / "hub/checkpoints/tiny_pretrain.pth").read_bytes() == ckpt.read_bytes()
    assert torch.hub.download_url_to_file.__module__ == "torch.hub"     # restored afterwards
