"""ImageSet from a folder in THINGS layout: sorted concept folders, sorted files, ids without suffix."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.errors import DataError
from bench.images import image_set_from_folder


def _img(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path)


def test_things_layout_order_and_ids(tmp_path):
    for rel in ("00002_bee/bee_02s.jpg", "00001_aardvark/aardvark_10s.jpg", "00001_aardvark/aardvark_01b.jpg",
                "00002_bee/bee_01b.png", "00002_bee/notes.txt", "00001_aardvark/.hidden.jpg"):
        if rel.endswith(".txt"):
            (tmp_path / rel).write_text("x")
        else:
            _img(tmp_path / rel)
    images = image_set_from_folder(tmp_path, name="things-test")
    assert images.name == "things-test" and images.root == tmp_path
    assert images.ids == ("00001_aardvark/aardvark_01b", "00001_aardvark/aardvark_10s",
                          "00002_bee/bee_01b", "00002_bee/bee_02s")
    assert images.paths[2] == tmp_path / "00002_bee" / "bee_01b.png"
    assert image_set_from_folder(tmp_path).name == tmp_path.name


def test_flat_folder(tmp_path):
    for name in ("b.jpg", "a.jpeg"):
        _img(tmp_path / name)
    assert image_set_from_folder(tmp_path).ids == ("a", "b")


@pytest.mark.parametrize("case", ["missing", "empty", "duplicate"])
def test_errors(tmp_path, case):
    if case == "empty":
        (tmp_path / "c").mkdir()
    if case == "duplicate":
        _img(tmp_path / "c" / "x.jpg")
        _img(tmp_path / "c" / "x.png")
    with pytest.raises(DataError) as info:
        image_set_from_folder(tmp_path / "nope" if case == "missing" else tmp_path)
    assert info.value.fix
