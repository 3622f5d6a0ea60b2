"""Fréchet Inception Distance, exactly as pytorch-fid computes it.

Gaussians are fitted to the two feature sets in float64 (mean, and `np.cov` with the unbiased
N - 1 normalisation); the distance is |mu1 - mu2|² + Tr(S1 + S2 - 2 sqrtm(S1 S2)) with
`scipy.linalg.sqrtm`. When the product is singular and sqrtm is not finite, a diagonal offset of
1e-6 is added to both covariances; a complex result with a significant imaginary diagonal is an
error, a negligible one is dropped (both as pytorch-fid).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from compare.metrics import MetricUndefined

EPS = 1e-6
IMAGINARY_ATOL = 1e-3


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64) of features (n, d), as pytorch-fid."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise MetricUndefined(f"FID needs at least 2 images per set, got {len(features)}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = EPS) -> float:
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        warnings.warn(f"FID: the covariance product is singular; adding {eps} to the diagonals", stacklevel=2)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        imaginary = np.max(np.abs(np.diagonal(covmean).imag))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAGINARY_ATOL):
            raise MetricUndefined(f"FID: sqrtm of the covariance product has an imaginary part of {imaginary:.3g} "
                                  f"(too few images for the feature dimension?)")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(real_features: np.ndarray, synthetic_features: np.ndarray) -> float:
    """FID between two feature sets (n1, d) and (n2, d)."""
    mu1, sigma1 = statistics(real_features)
    mu2, sigma2 = statistics(synthetic_features)
    if min(len(real_features), len(synthetic_features)) <= mu1.size:
        warnings.warn(f"FID from {len(real_features)} and {len(synthetic_features)} images of {mu1.size} "
                      f"features: covariances are rank-deficient and FID is biased upward; compare FIDs "
                      f"only at equal image counts", stacklevel=2)
    return frechet_distance(mu1, sigma1, mu2, sigma2)
