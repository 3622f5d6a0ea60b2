"""`texture-v1`: a weights-free, handcrafted texture backbone (60 features per image), fast on CPU.

For offline use and quick checks where the Inception weights are absent or a CPU is all there
is. Its features describe what distinguishes ultrasound sources: the gray-value distribution,
speckle grain (local contrast, gradients and autocorrelation at several scales) and co-occurrence
texture. Its numbers are comparable only with other `texture-v1` numbers.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, stats
from skimage.feature import graycomatrix, graycoprops
from skimage.transform import resize

# DECISION: every image is first resized to 256 x 256 (bilinear, anti-aliased), as Inception
# resizes to 299, so that grain and texture features compare across image sets of other sizes.
SIZE = 256
HISTOGRAM_BINS = 16
SCALES = (1.0, 2.0, 4.0, 8.0)       # Gaussian sigmas (px) for local contrast and gradients
LAGS = (1, 2, 4, 8)                 # autocorrelation lags (px), axial and lateral
GLCM_LEVELS = 32
GLCM_DISTANCES = (1, 2, 4)
GLCM_ANGLES = (0.0, np.pi / 2)
GLCM_PROPS = ("contrast", "homogeneity", "energy", "correlation")
FEATURE_DIM = (HISTOGRAM_BINS + 4 + 2 * len(SCALES) + 2 * len(LAGS)
               + len(GLCM_DISTANCES) * len(GLCM_ANGLES) * len(GLCM_PROPS))


class TextureBackbone:
    name = "texture-v1"
    cache_key = "texture-v1.v1"
    dim = FEATURE_DIM

    def features(self, images: np.ndarray) -> np.ndarray:
        return np.stack([image_features(image) for image in images]).astype(np.float32)


def image_features(image: np.ndarray) -> np.ndarray:
    """The 60 texture features of one uint8 gray image."""
    gray = image.astype(np.float64) / 255
    if gray.shape != (SIZE, SIZE):
        gray = resize(gray, (SIZE, SIZE), order=1, anti_aliasing=True, mode="reflect")
    histogram = np.histogram(gray, bins=HISTOGRAM_BINS, range=(0, 1))[0] / gray.size
    flat = gray.ravel()
    moments = [flat.mean(), flat.std(), stats.skew(flat), stats.kurtosis(flat)]
    moments = [0.0 if not np.isfinite(m) else m for m in moments]  # a constant image has no skew
    contrast, gradients = [], []
    for sigma in SCALES:
        mean = ndimage.gaussian_filter(gray, sigma)
        local_var = np.maximum(ndimage.gaussian_filter(gray ** 2, sigma) - mean ** 2, 0)
        contrast.append(np.sqrt(local_var).mean())
        gradients.append(ndimage.gaussian_gradient_magnitude(gray, sigma).mean())
    centred = gray - gray.mean()
    power = max(float(np.mean(centred ** 2)), 1e-12)
    correlation = [np.mean(centred[lag:] * centred[:-lag]) / power for lag in LAGS]
    correlation += [np.mean(centred[:, lag:] * centred[:, :-lag]) / power for lag in LAGS]
    quantized = np.minimum((gray * GLCM_LEVELS).astype(np.uint8), GLCM_LEVELS - 1)
    glcm = graycomatrix(quantized, GLCM_DISTANCES, GLCM_ANGLES, levels=GLCM_LEVELS, symmetric=True, normed=True)
    cooccurrence = [graycoprops(glcm, prop).ravel() for prop in GLCM_PROPS]
    cooccurrence[0] = cooccurrence[0] / (GLCM_LEVELS - 1) ** 2  # contrast to [0, 1], like the other features
    # graycoprops' correlation is NaN for a constant image; 1 is its limit for a uniform texture.
    cooccurrence = np.nan_to_num(np.concatenate(cooccurrence), nan=1.0)
    return np.concatenate([histogram, moments, contrast, gradients, correlation, cooccurrence])
