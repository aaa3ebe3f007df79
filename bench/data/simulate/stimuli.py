"""Procedural stimulus images drawn from latent features, grouped into concepts.

Each image is rendered *deterministically from its feature vector* (no other randomness), so an
image model can in principle recover the features the simulated brain responds to. The 16
standardised features (:data:`FEATURE_NAMES`) come in two groups:

- ``"concept"`` (0-7): shared by the images of one concept (with a small per-image jitter): the
  object's shape (number of lobes, lobe depth, aspect ratio, inner hole, edge softness), the
  layout (one, two or three objects) and the concept's colour (hue, saturation).
- ``"low"`` (8-15): per image, partly correlated with the concept: background lightness, texture
  contrast, orientation (of the object and its grating), spatial frequency, position and size.

Concepts get pronounceable pseudo-word names (``"bamoku"``), unique per dataset.
"""

from __future__ import annotations

import colorsys
from math import erf, sqrt
from pathlib import Path

import numpy as np

FEATURE_NAMES: tuple[str, ...] = (
    "lobes", "lobe_depth", "aspect", "layout", "hole", "softness", "hue_x", "hue_y",            # concept
    "bg_lightness", "contrast", "orient_x", "orient_y", "spatial_freq", "pos_x", "pos_y", "size",  # low
)
N_FEATURES = len(FEATURE_NAMES)
FEATURE_GROUPS: dict[str, tuple[int, ...]] = {"concept": tuple(range(0, 8)), "low": tuple(range(8, 16))}

CONCEPT_JITTER = 0.3   # per-image deviation of the concept features (in s.d. units)
LOW_FROM_CONCEPT = 0.6  # share of a low-level feature explained by the concept's mean


def concept_means(n_concepts: int, rng: np.random.Generator) -> np.ndarray:
    """(n_concepts, N_FEATURES) concept prototypes, N(0, 1)."""
    return rng.standard_normal((n_concepts, N_FEATURES))


def image_features(means: np.ndarray, concept_of_image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n_images, N_FEATURES) standardised features of images of the given concepts.

    Concept features: ``sqrt(1-j^2) * mean + j * noise`` (j = CONCEPT_JITTER); low-level features:
    ``a * mean + sqrt(1-a^2) * noise`` (a = LOW_FROM_CONCEPT). Every feature is N(0, 1) marginally.
    """
    mu = means[np.asarray(concept_of_image)]
    eps = rng.standard_normal(mu.shape)
    out = np.empty_like(mu)
    c = list(FEATURE_GROUPS["concept"])
    lo = list(FEATURE_GROUPS["low"])
    j, a = CONCEPT_JITTER, LOW_FROM_CONCEPT
    out[:, c] = np.sqrt(1 - j ** 2) * mu[:, c] + j * eps[:, c]
    out[:, lo] = a * mu[:, lo] + np.sqrt(1 - a ** 2) * eps[:, lo]
    return out


_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


def concept_names(n: int, rng: np.random.Generator, exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """``n`` distinct pseudo-words (2-3 consonant-vowel syllables), none in ``exclude``."""
    names: list[str] = []
    seen = set(exclude)
    while len(names) < n:
        k = int(rng.integers(2, 4))
        word = "".join(_CONSONANTS[rng.integers(len(_CONSONANTS))] + _VOWELS[rng.integers(len(_VOWELS))]
                       for _ in range(k))
        if word not in seen:
            seen.add(word)
            names.append(word)
    return names


def _phi(x: float) -> float:
    """Standard normal CDF: maps a feature to (0, 1)."""
    return 0.5 * (1.0 + erf(x / sqrt(2.0)))


_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in _GRIDS:
        c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
        _GRIDS[size] = (c[None, :].repeat(size, 0), c[:, None].repeat(size, 1))
    return _GRIDS[size]


def render(features: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB image drawn from one feature vector (see the module docstring)."""
    f = [float(v) for v in features]
    n_lobes = min(7, 3 + int(5 * _phi(f[0])))
    depth = 0.05 + 0.3 * _phi(f[1])
    aspect = float(np.exp(0.3 * np.tanh(f[2])))
    n_obj = min(3, 1 + int(3 * _phi(f[3])))
    hole = max(0.0, 0.75 * _phi(f[4]) - 0.25)
    soft = 0.004 + 0.03 * _phi(f[5])
    hue = (np.arctan2(f[7], f[6]) / (2 * np.pi)) % 1.0
    sat = 0.35 + 0.6 * (1 - np.exp(-(f[6] ** 2 + f[7] ** 2) / 2))
    bg_light = 0.2 + 0.6 * _phi(f[8])
    contrast = 0.1 + 0.8 * _phi(f[9])
    theta = float(np.arctan2(f[11], f[10]) / 2)
    freq = 1.5 + 6.0 * _phi(f[12])
    x0, y0 = 0.25 * np.tanh(f[13]), 0.25 * np.tanh(f[14])
    scale = 0.5 * float(np.exp(0.3 * np.tanh(f[15])))

    u, v = _grid(size)
    cos_t, sin_t = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    # background: complementary hue, low saturation, gradient across the orientation
    bg_rgb = np.array(colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.25, 1.0), dtype=np.float32)
    ramp = bg_light * (1 + 0.25 * (-u * sin_t + v * cos_t))
    img = ramp[..., None] * bg_rgb
    # objects
    if n_obj == 1:
        offsets, obj_scale = [(0.0, 0.0)], scale
    elif n_obj == 2:
        offsets, obj_scale = [(-0.5, 0.0), (0.5, 0.0)], 0.62 * scale
    else:
        offsets, obj_scale = [(0.0, -0.5), (-0.5, 0.4), (0.5, 0.4)], 0.5 * scale
    alpha = np.zeros_like(u)
    reach = obj_scale * (1 + depth) * max(aspect, 1 / aspect) + 8 * soft  # beyond it alpha < 4e-4
    for ox, oy in offsets:
        cx = x0 + scale * (ox * cos_t - oy * sin_t)
        cy = y0 + scale * (ox * sin_t + oy * cos_t)
        # work on the object's bounding box only
        c0 = [max(0, int((c - reach + 1) / 2 * size)) for c in (cx, cy)]
        c1 = [min(size, int(np.ceil((c + reach + 1) / 2 * size))) for c in (cx, cy)]
        if c1[0] <= c0[0] or c1[1] <= c0[1]:
            continue
        box = (slice(c0[1], c1[1]), slice(c0[0], c1[0]))
        du, dv = u[box] - np.float32(cx), v[box] - np.float32(cy)
        ru = (du * cos_t + dv * sin_t) / np.float32(aspect)
        rv = (-du * sin_t + dv * cos_t) * np.float32(aspect)
        rho = np.sqrt(ru * ru + rv * rv)
        radius = obj_scale * (1 + depth * np.cos(n_lobes * np.arctan2(rv, ru)))
        a = 1 / (1 + np.exp(np.clip((rho - radius) / soft, -30, 30)))
        if hole > 0:
            a *= 1 / (1 + np.exp(np.clip(-(rho - hole * radius) / soft, -30, 30)))
        alpha[box] = 1 - (1 - alpha[box]) * (1 - a)
    grating = 0.5 + 0.5 * contrast * np.sin(2 * np.pi * freq * (u * cos_t + v * sin_t) / scale)
    obj_rgb = np.array(colorsys.hsv_to_rgb(hue, sat, 1.0), dtype=np.float32)
    obj = (0.35 + 0.6 * grating)[..., None] * obj_rgb
    img = img * (1 - alpha[..., None]) + obj * alpha[..., None]
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_jpeg(pixels: np.ndarray, path: Path, quality: int = 90) -> None:
    """Save an RGB uint8 array as a baseline JPEG (deterministic bytes for the same pixels)."""
    from PIL import Image

    Image.fromarray(pixels, "RGB").save(path, format="JPEG", quality=quality)
