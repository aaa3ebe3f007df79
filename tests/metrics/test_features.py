"""Feature extractors on random-init architectures saved under the official file names.

No real weights exist here: each test builds the torchvision / open_clip architecture with random
weights, saves its state dict where the extractor looks (or passes the path), and checks that the
extractor finds and loads it, produces the documented node shapes, and matches a reference forward
pass written directly with torchvision transforms; and that absent weights raise the promised
WeightsMissingError.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from bench.errors import WeightsMissingError
from bench.metrics.features import (MINDEYE_TABLE, AlexNetFeatures, ClipImageFeatures, EfficientNetB1Features,
                                    FeatureExtractor, ImageNetClassifier, InceptionV3Features, SwAVFeatures,
                                    alexnet2, effnet, inception_score_images, nway_top1, reconstruction_scores)
from bench.metrics.reconstruction import (correlation_distance, inception_score, n_way_top_k_accuracy, pixcorr,
                                          ssim, two_way_identification)
from bench.settings import load_settings

IN_NORM = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CLIP_NORM = transforms.Normalize([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])

FILES = {
    "alexnet": "alexnet-owt-7be5be79.pth",
    "inception": "inception_v3_google-0cc3c7bd.pth",
    "effnet": "efficientnet_b1-c27df63c.pth",
    "swav": "swav_800ep_pretrain.pth.tar",
    "resnet18": "resnet18-f37072fd.pth",
}


def _quiet_clip(name: str, **kwargs):
    import logging

    import open_clip

    logging.getLogger().setLevel(logging.ERROR)
    return open_clip.create_model(name, pretrained=None, **kwargs).eval()


@pytest.fixture(scope="module")
def nets():
    """Random-init reference networks (eval mode), one per architecture."""
    torch.manual_seed(0)
    out = {
        "alexnet": torchvision.models.alexnet(weights=None),
        "inception": torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=True,
                                                     init_weights=False),
        "effnet": torchvision.models.efficientnet_b1(weights=None),
        "swav": torchvision.models.resnet50(weights=None),
        "resnet18": torchvision.models.resnet18(weights=None),
        "clip": _quiet_clip("ViT-S-32", force_quick_gelu=True),
    }
    return {k: v.eval() for k, v in out.items()}


@pytest.fixture(scope="module")
def weights_root(tmp_path_factory, nets):
    """A weights_dir holding every random file under its official name (SwAV in its hub format)."""
    root = tmp_path_factory.mktemp("weights")
    tv = root / "torchvision"
    tv.mkdir()
    for key in ("alexnet", "inception", "effnet", "resnet18"):
        torch.save(nets[key].state_dict(), tv / FILES[key])
    swav = {f"module.{k}": v for k, v in nets["swav"].state_dict().items() if not k.startswith("fc.")}
    swav["module.projection_head.0.weight"] = torch.zeros(2048, 2048)
    swav["module.prototypes.weight"] = torch.zeros(3000, 128)
    torch.save(swav, tv / FILES["swav"])
    (root / "open_clip").mkdir()
    torch.save(nets["clip"].state_dict(), root / "open_clip" / "ViT-S-32.pt")
    return root


@pytest.fixture(scope="module")
def wsettings(weights_root):
    return load_settings(weights_dir=weights_root, cache_dir=weights_root / "cache", device="cpu")


@pytest.fixture(scope="module")
def loaded(wsettings):
    """Extractors loaded once per module (CPU warm-up of a fresh model costs seconds)."""
    return {"alexnet": AlexNetFeatures(settings=wsettings).load(),
            "inception_v3": InceptionV3Features(settings=wsettings).load(),
            "efficientnet_b1": EfficientNetB1Features(settings=wsettings).load(),
            "swav": SwAVFeatures(settings=wsettings).load(),
            "clip": ClipImageFeatures(model_name="ViT-S-32", settings=wsettings).load(),
            "classifier": ImageNetClassifier(arch="resnet18", settings=wsettings).load()}


@pytest.fixture(scope="module")
def feats(loaded, images):
    """(gt features, rec features or None) per extractor key; rec only where a test needs it."""
    gt, rec = images
    return {k: (ext.extract(gt), ext.extract(rec) if k in ("alexnet", "efficientnet_b1") else None)
            for k, ext in loaded.items()}


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    gt = rng.random((2, 3, 40, 52)).astype(np.float32)
    rec = (0.7 * gt + 0.3 * rng.random(gt.shape)).astype(np.float32)
    return gt, rec


def _ref_input(x: np.ndarray, size: int, norm=IN_NORM, interpolation=InterpolationMode.BILINEAR) -> torch.Tensor:
    """The MindEye preprocessing, written with torchvision transforms: 256 x 256, Resize(size), normalise."""
    t = transforms.Resize((256, 256), antialias=True)(torch.from_numpy(x))
    t = transforms.Resize(size, interpolation=interpolation, antialias=True)(t)
    if interpolation == InterpolationMode.BICUBIC:
        t = t.clamp(0, 1)
    return norm(t)


def _close(a, b, tol=1e-4):
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, atol=tol * scale, rtol=0)


# ----------------------------------------------------------------------------------- extractors
def test_alexnet_nodes_shapes_and_values(wsettings, nets, images, loaded, feats):
    gt, _ = images
    assert loaded["alexnet"].weights_path() == wsettings.weights_dir / "torchvision" / FILES["alexnet"]
    out = feats["alexnet"][0]
    assert out["features.4"].shape == (2, 192, 31, 31)      # 256 input, no crop
    assert out["features.11"].shape == (2, 256, 15, 15)
    with torch.no_grad():
        x = _ref_input(gt, 256)
        _close(out["features.4"], nets["alexnet"].features[:5](x))
        _close(out["features.11"], nets["alexnet"].features[:12](x))
    batched = AlexNetFeatures(settings=wsettings, batch_size=1).extract(gt)     # 1 + 1 images
    np.testing.assert_allclose(batched["features.11"], out["features.11"], atol=1e-5)


def test_inception_avgpool_logits_and_is_size(nets, images, loaded, feats):
    gt, _ = images
    out = feats["inception_v3"][0]
    assert out["avgpool"].shape == (2, 2048, 1, 1) and out["logits"].shape == (2, 1000)
    net = nets["inception"]
    pooled = {}
    hook = net.avgpool.register_forward_hook(lambda m, i, o: pooled.setdefault("x", o))
    try:
        with torch.no_grad():
            logits = net(_ref_input(gt, 342))
    finally:
        hook.remove()
    _close(out["avgpool"], pooled["x"])
    _close(out["logits"], logits)
    with torch.no_grad():                                # the IS pass runs at 299 x 299
        ref_is = inception_score(net(_ref_input(gt, 299)).numpy(), splits=1, from_logits=True)
    assert inception_score_images(gt, splits=1, extractor=loaded["inception_v3"]) == pytest.approx(ref_is, rel=1e-4)


def test_effnet_and_swav_avgpool(nets, images, feats):
    gt, _ = images
    out = feats["efficientnet_b1"][0]["avgpool"]
    assert out.shape == (2, 1280, 1, 1)
    with torch.no_grad():
        net = nets["effnet"]
        _close(out, net.avgpool(net.features(_ref_input(gt, 255))))
    out = feats["swav"][0]["avgpool"]
    assert out.shape == (2, 2048, 1, 1)
    with torch.no_grad():
        trunk = torch.nn.Sequential(*list(nets["swav"].children())[:-1])
        _close(out, trunk(_ref_input(gt, 224)))


def test_swav_rejects_a_file_missing_resnet_tensors(settings, nets):
    tv = settings.weights_dir / "torchvision"
    tv.mkdir(parents=True)
    state = {f"module.{k}": v for k, v in nets["swav"].state_dict().items() if k.startswith(("conv1", "bn1"))}
    torch.save(state, tv / FILES["swav"])
    with pytest.raises(WeightsMissingError, match="not a SwAV ResNet-50 checkpoint"):
        SwAVFeatures(settings=settings).load()


def test_clip_small_model_embedding(wsettings, nets, images, loaded, feats):
    gt, _ = images
    out = feats["clip"][0]["embedding"]
    assert out.shape == (2, 384)
    assert loaded["clip"].weights_path() == wsettings.weights_dir / "open_clip" / "ViT-S-32.pt"
    with torch.no_grad():
        _close(out, nets["clip"].encode_image(_ref_input(gt, 224, CLIP_NORM)))
        # QuickGELU matters: the same weights in a GELU model give other features
        gelu = ClipImageFeatures(model_name="ViT-S-32", quick_gelu=False, settings=wsettings).extract(gt[:1])
        assert not np.allclose(gelu["embedding"], out[:1], atol=1e-3)


def test_clip_reads_torchscript_archive(tmp_path, wsettings, nets, images):
    """OpenAI's ViT-L-14.pt is a TorchScript archive; the reader takes its tensors (same code path)."""
    gt, _ = images
    model = nets["clip"]

    class Holder(torch.nn.Module):        # the CLIP modules and tensors, with a trivial forward to trace
        def __init__(self):
            super().__init__()
            for name, child in model.named_children():
                self.add_module(name, child)
            for name, param in model.named_parameters(recurse=False):
                self.register_parameter(name, param)

        def forward(self, x):
            return x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(Holder(), torch.zeros(1))
    path = tmp_path / "ViT-S-32-jit.pt"
    traced.save(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ClipImageFeatures(path, model_name="ViT-S-32", settings=wsettings).extract(gt[:1])["embedding"]
    with torch.no_grad():
        _close(out, model.encode_image(_ref_input(gt[:1], 224, CLIP_NORM)))


@pytest.mark.slow
def test_clip_vit_l14_official_layout(tmp_path, images):
    """The real ViT-L/14 architecture (~430 M parameters) from the HF open_clip file name."""
    from safetensors.torch import save_file

    gt, _ = images
    torch.manual_seed(0)
    model = _quiet_clip("ViT-L-14", force_quick_gelu=True)
    folder = tmp_path / "weights" / "open_clip" / "vit_large_patch14_clip_224.openai"
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    settings = load_settings(weights_dir=tmp_path / "weights", device="cpu")
    ext = ClipImageFeatures(settings=settings)
    out = ext.extract(gt[:1])["embedding"]
    assert out.shape == (1, 768)
    with torch.no_grad():
        _close(out, model.encode_image(_ref_input(gt[:1], 224, CLIP_NORM)))


def test_classifier_by_name_and_nway(nets, images, loaded, feats):
    gt, rec = images
    clf = loaded["classifier"]
    assert clf.weights_file().filename == FILES["resnet18"]
    assert clf.input_size() == 224                     # the weights' crop size, reached by resizing
    logits = feats["classifier"][0]["logits"]
    assert logits.shape == (2, 1000)
    with torch.no_grad():
        ref_gt = nets["resnet18"](_ref_input(gt, 224))
        ref_rec = nets["resnet18"](_ref_input(rec, 224))
    assert n_way_top_k_accuracy(ref_gt.argmax(1).numpy(), ref_gt.numpy(), trials=None) == 1.0
    _close(logits, ref_gt)
    probs = torch.softmax(ref_rec.double(), dim=1).numpy()
    expected = n_way_top_k_accuracy(ref_gt.argmax(1).numpy(), probs, trials=50, seed=2, per_image=True)
    np.testing.assert_allclose(nway_top1(gt, rec, per_image=True, classifier=clf, trials=50, seed=2), expected)


def test_classifier_vit_arch_follows_weights_meta():
    clf = ImageNetClassifier(arch="vit_b_16", tag="IMAGENET1K_SWAG_E2E_V1")
    assert clf.weights_file().filename == "vit_b_16_swag-9ac1b537.pth"
    assert clf.input_size() == 384
    assert clf.normalization()[2] == "bicubic"
    assert clf.build().image_size == 384
    x = clf.preprocess(torch.rand(2, 3, 50, 60))
    assert tuple(x.shape) == (2, 3, 384, 384)


@pytest.mark.slow
def test_classifier_default_is_vit_h14_swag():
    clf = ImageNetClassifier()
    assert clf.weights_file().filename == "vit_h_14_swag-80465313.pth"
    assert clf.input_size() == 518 and clf.normalization()[2] == "bicubic"
    assert clf.build().image_size == 518


# --------------------------------------------------------------------------- missing weights
@pytest.mark.parametrize("make,filename,hint", [
    (lambda s: AlexNetFeatures(settings=s), FILES["alexnet"], "torchvision.models.alexnet(weights='IMAGENET1K_V1')"),
    (lambda s: InceptionV3Features(settings=s), FILES["inception"], "inception_v3(weights='IMAGENET1K_V1')"),
    (lambda s: EfficientNetB1Features(settings=s), FILES["effnet"], "efficientnet_b1(weights='IMAGENET1K_V2')"),
    (lambda s: SwAVFeatures(settings=s), FILES["swav"], "facebookresearch/swav"),
    (lambda s: ClipImageFeatures(settings=s), "ViT-L-14.pt", "pretrained='openai'"),
    (lambda s: ImageNetClassifier(settings=s), "vit_h_14_swag-80465313.pth",
     "vit_h_14(weights='IMAGENET1K_SWAG_E2E_V1')"),
])
def test_missing_weights_error_names_file_places_and_fix(settings, make, filename, hint):
    ext = make(settings)
    with pytest.raises(WeightsMissingError) as info:
        ext.load()
    msg = str(info.value)
    assert filename in msg and hint in msg
    subdir = "open_clip" if filename == "ViT-L-14.pt" else "torchvision"
    assert str(settings.weights_dir / subdir / filename) in msg
    assert str(Path(torch.hub.get_dir()) / "checkpoints" / filename) in msg
    assert "fix:" in msg and "weights=" in msg
    assert ext._model is None                        # nothing was built


def test_explicit_path_missing_and_torch_home_found(settings, nets, images, tmp_path):
    with pytest.raises(WeightsMissingError, match="given explicitly") as info:
        AlexNetFeatures(tmp_path / "nope.pth", settings=settings).load()
    assert str(tmp_path / "nope.pth") in str(info.value)
    hub = Path(torch.hub.get_dir()) / "checkpoints"     # $TORCH_HOME is a tmp folder in tests
    hub.mkdir(parents=True)
    torch.save(nets["alexnet"].state_dict(), hub / FILES["alexnet"])
    ext = AlexNetFeatures(settings=settings)
    assert ext.weights_path() == hub / FILES["alexnet"]
    assert ext.extract(images[0][:1])["features.4"].shape == (1, 192, 31, 31)


def test_wrong_file_is_refused(settings, nets):
    tv = settings.weights_dir / "torchvision"
    tv.mkdir(parents=True)
    torch.save(nets["resnet18"].state_dict(), tv / FILES["alexnet"])
    with pytest.raises(WeightsMissingError, match="does not match the AlexNet architecture"):
        AlexNetFeatures(settings=settings).load()
    (tv / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsMissingError, match="cannot read"):
        AlexNetFeatures(tv / "junk.pth", settings=settings).load()


# -------------------------------------------------------------------------- metric functions
def test_registered_feature_metrics_use_the_extractors(wsettings, images, loaded, feats):
    gt, rec = images
    (g, r) = feats["alexnet"]
    expected = two_way_identification(g["features.4"], r["features.4"], per_image=True)
    np.testing.assert_array_equal(alexnet2(gt, rec, per_image=True, settings=wsettings), expected)
    assert alexnet2(gt, gt, extractor=loaded["alexnet"]) == 1.0
    (g, r) = feats["efficientnet_b1"]
    expected = correlation_distance(g["avgpool"], r["avgpool"])
    assert effnet(gt, rec, extractor=loaded["efficientnet_b1"]) == pytest.approx(expected, abs=1e-12)


def test_reconstruction_scores_skip_and_error(settings, nets, images):
    gt, rec = images
    tv = settings.weights_dir / "torchvision"
    tv.mkdir(parents=True)
    torch.save(nets["alexnet"].state_dict(), tv / FILES["alexnet"])
    with pytest.raises(WeightsMissingError):
        reconstruction_scores(gt, rec, settings=settings)
    out = reconstruction_scores(gt, rec, settings=settings, missing="skip")
    assert list(out["scores"]) == ["pixcorr", "ssim", "alexnet2", "alexnet5"]
    assert set(out["missing"]) == {"inception", "clip", "effnet", "swav"}
    assert FILES["effnet"] in out["missing"]["effnet"] and "ViT-L-14.pt" in out["missing"]["clip"]
    assert out["weights"] == {"alexnet": str(tv / FILES["alexnet"])}
    assert out["n_images"] == 2 and all(v.shape == (2,) for v in out["per_image"].values())
    assert out["scores"]["pixcorr"] == pytest.approx(pixcorr(gt, rec), abs=1e-12)
    assert out["scores"]["ssim"] == pytest.approx(ssim(gt, rec), abs=1e-12)


class _Stub(FeatureExtractor):
    """A tiny stand-in extractor (conv + linear) exposing the named outputs: tests the table's wiring."""

    size = 32

    def __init__(self, outputs):
        super().__init__(device="cpu")
        self.stub_outputs = outputs

    def weights_path(self) -> Path:
        return Path("stub.pth")

    def load(self):
        if self._model is None:
            torch.manual_seed(len(self.stub_outputs))
            names = self.stub_outputs

            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = torch.nn.Conv2d(3, 4, 5, stride=4)
                    self.head = torch.nn.Linear(4 * 7 * 7, 1000)

                def forward(self, x):
                    y = torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 7)
                    out = {n: y * (i + 1) + i for i, n in enumerate(names) if n != "logits"}
                    if "logits" in names:
                        out["logits"] = 10 * self.head(y.flatten(1))
                    return out

            self._model = Net().eval()
        return self


def test_reconstruction_scores_full_table(images):
    gt, rec = images
    stubs = {"alexnet": _Stub(("features.4", "features.11")), "inception_v3": _Stub(("avgpool", "logits")),
             "efficientnet_b1": _Stub(("avgpool",)), "swav": _Stub(("avgpool",)), "clip": _Stub(("embedding",)),
             "classifier": _Stub(("logits",))}
    gt4 = np.concatenate([gt, gt[:, :, ::-1]])
    rec4 = np.concatenate([rec, rec[:, :, ::-1]])
    out = reconstruction_scores(gt4, rec4, extractors=stubs, metrics=MINDEYE_TABLE + ("nway_top1", "inception_score"),
                                trials=20, is_splits=2)
    assert out["missing"] == {}
    assert list(out["scores"]) == list(MINDEYE_TABLE) + ["nway_top1", "inception_score", "inception_score_std"]
    assert set(out["per_image"]) == set(MINDEYE_TABLE) | {"nway_top1"}
    assert out["weights"]["clip"] == "stub.pth"
    for name, key, node in (("alexnet2", "alexnet", "features.4"), ("alexnet5", "alexnet", "features.11"),
                            ("inception", "inception_v3", "avgpool"), ("clip", "clip", "embedding")):
        g, r = stubs[key].extract(gt4)[node], stubs[key].extract(rec4)[node]
        np.testing.assert_allclose(out["per_image"][name], two_way_identification(g, r, per_image=True))
    for name, key in (("effnet", "efficientnet_b1"), ("swav", "swav")):
        g, r = stubs[key].extract(gt4)["avgpool"], stubs[key].extract(rec4)["avgpool"]
        assert out["scores"][name] == pytest.approx(correlation_distance(g, r), abs=1e-9)
    clf = stubs["classifier"]
    expected = n_way_top_k_accuracy(clf.extract(gt4)["logits"].argmax(1),
                                    torch.softmax(torch.from_numpy(clf.extract(rec4)["logits"]).double(), 1).numpy(),
                                    trials=20, per_image=True)
    np.testing.assert_allclose(out["per_image"]["nway_top1"], expected)
    mean, std = inception_score(stubs["inception_v3"].extract(rec4, size=299)["logits"], splits=2, from_logits=True)
    assert (out["scores"]["inception_score"], out["scores"]["inception_score_std"]) == pytest.approx((mean, std))
    with pytest.raises(ValueError, match="missing='maybe'"):
        reconstruction_scores(gt, rec, missing="maybe")
    with pytest.raises(ValueError, match="unknown reconstruction metric"):
        reconstruction_scores(gt, rec, metrics=("fid",))
