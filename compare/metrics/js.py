"""Jensen–Shannon divergence between gray-value histograms of one label class (real vs synthetic).

Histograms have one bin per uint8 gray value (256). DECISION: they pool every pixel of the
class over every image of a set (one histogram per set and class, as the SpeckleGAN table), not
a mean of per-image divergences, which small class regions would bias upward. The divergence is
base 2 (0 = same distribution, 1 = disjoint): the square of scipy's Jensen–Shannon distance.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon

from compare.metrics import MetricUndefined

BINS = 256


def class_histograms(images: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Pixel counts (n_classes, 256) of each gray value per class index, over a block of images."""
    if images.dtype != np.uint8:
        raise TypeError(f"class histograms need uint8 images, got {images.dtype}")
    combined = labels.astype(np.int64).ravel() * BINS + images.ravel()
    return np.bincount(combined, minlength=n_classes * BINS)[: n_classes * BINS].reshape(n_classes, BINS)


def js_divergence(counts_a: np.ndarray, counts_b: np.ndarray) -> float:
    """JS divergence (base 2) of two histograms given as counts (normalised here)."""
    total_a, total_b = counts_a.sum(), counts_b.sum()
    if total_a == 0 or total_b == 0:
        raise MetricUndefined("JS divergence of a class needs pixels of that class in both sets")
    return float(jensenshannon(counts_a / total_a, counts_b / total_b, base=2) ** 2)
