"""Edge sketches: the Canny edges of a B-mode image, the side information of the `mask+sketch` level.

One implementation for the whole toolkit: ganlab's Sgan and PGSgan receive these sketches
(ganlab.sketch re-exports `edge_sketch` and `edge_sketches`) and ussim turns the same edges into
reflectors (ussim.side_scatterers), so physics and GANs see exactly the same input.

The parameters are in pixels of the image the sketch is drawn from: the GANs draw at their
model's size, sigma 2 px at 256 px and 4 px at 512 px (ganlab.presets CANNY_256, CANNY_512), the
same physical smoothing at both. `canny_for_size` gives those settings at any size.
"""

from __future__ import annotations

import numpy as np
from skimage.feature import canny

# DECISION: Canny sigma 2 px at 256 px (4 px at 512), thresholds 0.1 and 0.2 on 0..1 gray: on
# the OTU-2D ovary images sigma 1 draws the speckle itself, sigma 3 loses the tissue layers; the
# PGSgan paper names Canny without parameters. (Moved here from ganlab.presets, which holds the
# same numbers per preset; tests/ussim/test_conditions.py checks that they agree.)
SIGMA_PX_AT_256 = 2.0
LOW_THRESHOLD = 0.1
HIGH_THRESHOLD = 0.2


def canny_for_size(size: int) -> dict:
    """The GANs' Canny settings for a square image of `size` px: sigma scales with the size."""
    return {"sigma": SIGMA_PX_AT_256 * size / 256, "low": LOW_THRESHOLD, "high": HIGH_THRESHOLD}


def edge_sketch(image: np.ndarray, *, sigma: float, low: float, high: float) -> np.ndarray:
    """Canny edges of a uint8 image as a uint8 0/1 map (scikit-image, thresholds on 0..1 gray).

    The edges cover the whole image; the GANs' condition (ganlab.sketch.condition) and ussim's
    reflectors keep only those outside the objects, so an edited mask reuses the sketch of the
    image it came from.
    """
    gray = np.asarray(image, dtype=np.float64) / 255.0
    return canny(gray, sigma=sigma, low_threshold=low, high_threshold=high).astype(np.uint8)


def edge_sketches(images: np.ndarray, *, sigma: float, low: float, high: float, progress=None) -> np.ndarray:
    """`edge_sketch` of every image of a (n, y, x) uint8 stack."""
    out = np.empty(images.shape, np.uint8)
    for i in range(images.shape[0]):
        out[i] = edge_sketch(images[i], sigma=sigma, low=low, high=high)
        if progress is not None:
            progress.update(1)
    return out
