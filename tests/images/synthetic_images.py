"""Small procedurally drawn stimuli in THINGS layout, for image-model tests and benchmarks.

Each concept is a (shape, colour, texture) triple; its images vary position, size, rotation and
background, so a useful image model puts images of one concept near each other.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS = ((220, 40, 40), (40, 170, 60), (40, 80, 220), (230, 200, 40), (160, 60, 200), (240, 130, 30))
TEXTURES = ("plain", "stripes", "dots")


def _polygon(shape: str, cx: float, cy: float, r: float, rot: float) -> list[tuple[float, float]]:
    if shape == "square":
        pts = [(math.cos(rot + math.pi / 4 + k * math.pi / 2), math.sin(rot + math.pi / 4 + k * math.pi / 2)) for k in range(4)]
    elif shape == "triangle":
        pts = [(math.cos(rot + k * 2 * math.pi / 3), math.sin(rot + k * 2 * math.pi / 3)) for k in range(3)]
    elif shape == "star":
        pts = [((1.0 if k % 2 == 0 else 0.45) * math.cos(rot + k * math.pi / 5),
                (1.0 if k % 2 == 0 else 0.45) * math.sin(rot + k * math.pi / 5)) for k in range(10)]
    elif shape == "cross":
        w = 0.35
        base = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)]
        c, s = math.cos(rot), math.sin(rot)
        pts = [(x * c - y * s, x * s + y * c) for x, y in base]
    else:
        pts = [(math.cos(k * 2 * math.pi / 32), math.sin(k * 2 * math.pi / 32)) for k in range(32)]
    return [(cx + r * x, cy + r * y) for x, y in pts]


def draw(concept: int, rng: np.random.Generator, size: int = 96):
    """One image of ``concept`` (PIL RGB)."""
    from PIL import Image, ImageDraw

    shape = SHAPES[concept % len(SHAPES)]
    colour = COLOURS[(concept // len(SHAPES)) % len(COLOURS)]
    texture = TEXTURES[(concept // (len(SHAPES) * len(COLOURS))) % len(TEXTURES)]
    bg = tuple(int(v) for v in rng.integers(90, 170, size=3))
    img = Image.new("RGB", (size, size), bg)
    pix = np.asarray(img).copy()
    pix = np.clip(pix + rng.normal(0, 8, pix.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(pix)
    r = size * rng.uniform(0.22, 0.34)
    cx, cy = size / 2 + rng.uniform(-0.15, 0.15) * size, size / 2 + rng.uniform(-0.15, 0.15) * size
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(_polygon(shape, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=255)
    fg = np.zeros((size, size, 3), np.uint8) + np.array(colour, np.uint8)
    if texture == "stripes":
        yy, xx = np.mgrid[:size, :size]
        fg[((xx + yy) // 5) % 2 == 0] = (fg[((xx + yy) // 5) % 2 == 0] * 0.4).astype(np.uint8)
    elif texture == "dots":
        yy, xx = np.mgrid[:size, :size]
        fg[((xx % 8) < 3) & ((yy % 8) < 3)] = 255
    img.paste(Image.fromarray(fg), (0, 0), mask)
    return img


def write_image_folder(root: Path, n_concepts: int = 4, per_concept: int = 2, size: int = 64,
                       seed: int = 0, fmt: str = "jpg", only: list[int] | None = None) -> Path:
    """Write ``<root>/<NNNNN_concept>/<concept>_<k>.<fmt>`` images; returns ``root``.

    Concept c is shape ``c % 5``, colour ``(c // 5) % 6``, texture ``(c // 30) % 3``; ``only`` keeps
    a subset of concept numbers.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    for c in range(n_concepts):
        if only is not None and c not in only:
            continue
        folder = root / f"{c + 1:05d}_concept{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_concept):
            img = draw(c, rng, size)
            path = folder / f"concept{c}_{k:02d}.{fmt}"
            if fmt == "jpg":
                img.save(path, quality=90)
            else:
                img.save(path)
    return root


def knn_concept_accuracy(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out 1-nearest-neighbour (cosine) concept accuracy: a quick informativeness check."""
    x = embeddings - embeddings.mean(0)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    return float((labels[sim.argmax(1)] == labels).mean())
