"""Generalized contrast-to-noise ratio (Rodriguez-Molares et al. 2019) between two regions.

gCNR = 1 - overlap of the two regions' gray-value probability densities, estimated with one bin
per uint8 gray value: 0 when the regions are indistinguishable, 1 when their values never overlap.
"""

from __future__ import annotations

import numpy as np

from compare.metrics import MetricUndefined

BINS = 256


def gcnr(values_a: np.ndarray, values_b: np.ndarray) -> float:
    """gCNR of two uint8 pixel samples."""
    if values_a.size == 0 or values_b.size == 0:
        raise MetricUndefined("gCNR needs pixels in both regions")
    pa = np.bincount(np.asarray(values_a, np.uint8).ravel(), minlength=BINS) / values_a.size
    pb = np.bincount(np.asarray(values_b, np.uint8).ravel(), minlength=BINS) / values_b.size
    return float(1 - np.minimum(pa, pb).sum())
