"""The embedding cache: computed once, keyed by content, readable names, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.images import EMBEDDING_FORMAT_VERSION, build_image_model, cache_entry, embed_image_set, image_set_from_folder
from bench.images.offline import RandomConvNet


@pytest.fixture
def counting(monkeypatch):
    """Count the images every image model embeds (patches the base class)."""
    from bench.images.base import ImageModel

    calls = {"images": 0, "batches": 0}
    original = ImageModel.embed

    def embed(self, images):
        images = list(images)
        calls["images"] += len(images)
        calls["batches"] += 1
        return original(self, images)

    monkeypatch.setattr(ImageModel, "embed", embed)
    return calls


def test_second_call_computes_nothing(settings, image_set, counting):
    model = build_image_model("random-convnet", {"seed": 2}, settings)
    first = embed_image_set(model, image_set, settings, batch_size=3, progress=False)
    assert counting == {"images": len(image_set), "batches": 3}
    again = embed_image_set(build_image_model("random-convnet", {"seed": 2}, settings), image_set, settings,
                            progress=False)
    assert counting["images"] == len(image_set), "the second call embedded images"
    assert np.array_equal(first, again) and again.dtype == np.float32
    # rows follow the image set's order
    direct = model.embed([Image.open(image_set.paths[5])])
    np.testing.assert_allclose(first[5], direct[0], rtol=1e-5, atol=1e-6)


def test_names_and_sidecar_say_what_is_inside(settings, image_set):
    model = build_image_model("pixels-colour-texture", {}, settings)
    embed_image_set(model, image_set, settings, progress=False)
    entry = cache_entry(model, image_set, settings)
    assert entry.npy.parent == settings.embedding_cache / "pixels-colour-texture_s64-g2-shape-v1"
    assert entry.npy.name.startswith(f"tiny-n{len(image_set)}-") and entry.npy.name.endswith(".npy")
    meta = json.loads(entry.sidecar.read_text())
    assert meta["key"] == entry.key and meta["key_sha256"] == entry.digest
    assert set(meta["key"]) == {"format_version", "model_id", "weights_checksum", "preprocessing",
                                "normalisation", "image_set"}
    assert meta["key"]["format_version"] == EMBEDDING_FORMAT_VERSION
    assert meta["key"]["image_set"] == {"content_hash": image_set.content_hash(settings.cache_dir),
                                        "n": len(image_set)}
    assert meta["shape"] == [len(image_set), model.dim]
    assert meta["image_set"]["first_ids"][0] == image_set.ids[0]
    assert meta["model"]["params"] == {"size": 64, "grid": 2, "shape": True}
    assert not list(entry.npy.parent.glob("*.tmp")), "temporary files left behind"


def test_key_changes_with_image_bytes(settings, image_dir, counting):
    model = build_image_model("pixels-colour-texture", {}, settings)
    before = image_set_from_folder(image_dir)
    embed_image_set(model, before, settings, progress=False)
    digest_before = cache_entry(model, before, settings).digest
    path = before.paths[0]
    Image.new("RGB", (48, 48), (0, 255, 0)).save(path)
    after = image_set_from_folder(image_dir)
    assert cache_entry(model, after, settings).digest != digest_before
    out = embed_image_set(model, after, settings, progress=False)
    assert counting["images"] == 2 * len(before)
    np.testing.assert_allclose(out[0], model.embed([Image.open(path)])[0], rtol=1e-5, atol=1e-6)


def test_key_changes_with_params_preprocessing_and_weights(settings, image_set, monkeypatch):
    a = cache_entry(build_image_model("random-convnet", {"seed": 0}, settings), image_set, settings)
    b = cache_entry(build_image_model("random-convnet", {"seed": 1}, settings), image_set, settings)
    c = cache_entry(build_image_model("random-convnet", {"size": 64}, settings), image_set, settings)
    assert len({a.digest, b.digest, c.digest}) == 3
    # same model id, but the weights checksum changed (e.g. a replaced weight file)
    monkeypatch.setattr(RandomConvNet, "weights_checksum", lambda self: "something-else")
    d = cache_entry(build_image_model("random-convnet", {"seed": 0}, settings), image_set, settings)
    assert d.npy.parent == a.npy.parent and d.digest != a.digest
    # a preprocessing change alone changes the key
    monkeypatch.setattr(RandomConvNet, "preprocessing", lambda self: {"size": [96, 96], "crop": "none"})
    e = cache_entry(build_image_model("random-convnet", {"seed": 0}, settings), image_set, settings)
    assert e.digest != d.digest


def test_damaged_entry_is_recomputed(settings, image_set, counting):
    model = build_image_model("random-convnet", {}, settings)
    first = embed_image_set(model, image_set, settings, progress=False)
    entry = cache_entry(model, image_set, settings)
    entry.npy.write_bytes(b"not an array")
    again = embed_image_set(model, image_set, settings, progress=False)
    assert counting["images"] == 2 * len(image_set)
    assert np.array_equal(first, again)
    # a sidecar for another key does not validate the array
    meta = json.loads(entry.sidecar.read_text())
    meta["key_sha256"] = "0" * 64
    entry.sidecar.write_text(json.dumps(meta))
    assert entry.load() is None


def test_progress_bar_shows_rate_and_eta(settings, image_set, capsys):
    embed_image_set(build_image_model("random-convnet", {}, settings), image_set, settings, progress=True)
    err = capsys.readouterr().err
    assert "img/s" in err and f"{len(image_set)}/{len(image_set)}" in err and "<" in err


def test_unreadable_image_names_the_file(settings, image_dir):
    from bench.errors import DataError

    bad = next(image_dir.rglob("*.jpg"))
    bad.write_bytes(b"garbage")
    with pytest.raises(DataError) as info:
        embed_image_set(build_image_model("random-convnet", {}, settings), image_set_from_folder(image_dir),
                        settings, progress=False)
    assert info.value.where == str(bad)
