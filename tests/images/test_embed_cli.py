"""``bench embed``: precompute embeddings into the cache from the command line."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.cli.embed import parse_params
from bench.errors import ConfigError, DataError


def _run(*args):
    return CliRunner().invoke(app, ["embed", *args])


def test_embed_then_cached(image_dir, tmp_path):
    args = ["--model", "random-convnet", "--param", "seed=1", "--param", "width=8", "--images", str(image_dir),
            "--cache-dir", str(tmp_path / "cache"), "--batch-size", "3", "--no-progress", "--name", "tiny"]
    first = _run(*args)
    assert first.exit_code == 0, first.output
    assert "random-convnet:w8-s96-seed1-v1" in first.output and "computed in" in first.output
    npy = re.search(r"(/\S+\.npy)", first.output).group(1)
    assert "/embeddings/random-convnet_w8-s96-seed1-v1/tiny-n8-" in npy
    assert np.load(npy).shape == (8, 8 * 46)
    second = _run(*args)
    assert second.exit_code == 0 and "already cached" in second.output


def test_pixels_colour_texture_from_cli(image_dir, tmp_path):
    out = _run("--model", "pixels-colour-texture", "--images", str(image_dir), "--cache-dir", str(tmp_path / "c"),
               "--no-progress")
    assert out.exit_code == 0, out.output
    assert "8 x 667 float32" in out.output


def test_bad_inputs_raise_bench_errors(image_dir, tmp_path):
    result = _run("--model", "random-convnet", "--param", "seed", "--images", str(image_dir))
    assert isinstance(result.exception, ConfigError)
    result = _run("--model", "random-convnet", "--images", str(tmp_path / "no-such-thing"))
    assert isinstance(result.exception, DataError) and "neither an image folder nor a dataset" in str(result.exception)


def test_parse_params():
    assert parse_params(["seed=3", "aligned=false", "model=ViT-B-32", "weights=/a=b", "x="]) == \
        {"seed": 3, "aligned": False, "model": "ViT-B-32", "weights": "/a=b", "x": ""}
    with pytest.raises(ConfigError):
        parse_params(["=3"])
