"""A small labelled speckle set made in milliseconds, for the demo and tests without real data.

It is the classic multiplicative speckle model, not the physical simulator: a complex Gaussian
field low-pass filtered to a speckle grain, whose magnitude is a Rayleigh envelope (fully
developed speckle), scaled per class by an echogenicity and log-compressed against a fixed
reference. Masks are random ellipses in a background.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from ussim import imageset

CLASS_NAMES = ("background", "inclusion")
ECHOGENICITY_DB = (0.0, -12.0)  # DECISION: a hypoechoic inclusion 12 dB below its background
DYNAMIC_RANGE_DB = 50.0
GRAIN_PX = 1.5  # Gaussian sigma of the speckle grain in pixels


def ellipse_mask(size: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """Label map with `count` random ellipses (class 1) in a background (class 0)."""
    y, x = np.mgrid[:size, :size] + 0.5
    label = np.zeros((size, size), np.uint8)
    for _ in range(count):
        cy, cx = rng.uniform(0.2, 0.8, 2) * size
        ry, rx = rng.uniform(0.06, 0.18, 2) * size
        angle = rng.uniform(0, np.pi)
        u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
        v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        label[(u / rx) ** 2 + (v / ry) ** 2 <= 1] = 1
    return label


def speckle_envelope(label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rayleigh envelope with a speckle grain, scaled per class by its echogenicity."""
    field = rng.standard_normal(label.shape) + 1j * rng.standard_normal(label.shape)
    field = ndimage.gaussian_filter(field.real, GRAIN_PX) + 1j * ndimage.gaussian_filter(field.imag, GRAIN_PX)
    amplitude = 10 ** (np.asarray(ECHOGENICITY_DB)[label] / 20)
    return (np.abs(field) * amplitude).astype(np.float32)


def toy_imageset(n: int = 16, size: int = 128, seed: int = 0, max_ellipses: int = 3):
    """`n` samples of size x size; sample i is made from seed `seed + i` alone."""
    if n <= 0 or size < 16:
        raise ValueError(f"toy_imageset needs n >= 1 and size >= 16, got n={n}, size={size}")
    images, labels, envelopes, seconds = [], [], [], []
    # Fixed reference: the background's expected RMS envelope, identical for every image.
    reference = float(np.sqrt(2) * _grain_gain())
    for i in range(n):
        start = time.perf_counter()
        rng = np.random.default_rng(seed + i)
        label = ellipse_mask(size, rng, int(rng.integers(1, max_ellipses + 1)))
        envelope = speckle_envelope(label, rng)
        db = 20 * np.log10(np.maximum(envelope, 1e-12) / reference)
        image = np.clip((db + DYNAMIC_RANGE_DB) / DYNAMIC_RANGE_DB * 255, 0, 255).astype(np.uint8)
        images.append(image)
        labels.append(label)
        envelopes.append(envelope)
        seconds.append(time.perf_counter() - start)
    params = {"generator": "ussim.examples.toy_imageset", "n": n, "size": size, "seed": seed,
              "max_ellipses": max_ellipses, "echogenicity_db": ECHOGENICITY_DB,
              "dynamic_range_db": DYNAMIC_RANGE_DB, "grain_px": GRAIN_PX}
    return imageset.make(np.stack(images), np.stack(labels), envelope=np.stack(envelopes),
                         class_names=CLASS_NAMES, organ="phantom", method="toy:rayleigh", params=params,
                         seed=np.arange(seed, seed + n, dtype=np.int64),
                         seconds=np.array(seconds, np.float32),
                         sample_id=[f"toy-{seed + i:06d}" for i in range(n)])


def _grain_gain() -> float:
    """Standard deviation of unit white noise after the Gaussian grain filter (per component)."""
    return 1 / (2 * np.sqrt(np.pi) * GRAIN_PX)
