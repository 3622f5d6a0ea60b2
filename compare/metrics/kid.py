"""Kernel Inception Distance, exactly as torch-fidelity computes it.

Unbiased MMD² with the polynomial kernel k(x, y) = (x·y / d + 1)³, over `subsets` random subsets
of `subset_size` features of each set drawn without replacement; the result is the mean and the
(population) standard deviation of the subset MMD²s.
"""

from __future__ import annotations

import warnings

import numpy as np

from compare.metrics import MetricUndefined


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between two equally sized samples (the diagonals of K_xx, K_yy dropped)."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kid(real_features: np.ndarray, synthetic_features: np.ndarray, *, subsets: int = 100,
        subset_size: int = 1000, seed: int = 2020) -> tuple[float, float]:
    """(mean, std) of the subset MMD²s.

    DECISION: subsets are drawn as torch-fidelity draws them when called with the synthetic set
    as input1 and the real set as input2 (its convention): one `np.random.RandomState(seed)`,
    per subset first the synthetic indices, then the real ones, so the same seed gives identical
    subsets and identical numbers. A set smaller than `subset_size` shrinks the subsets to the
    smaller set's size, with a warning (torch-fidelity refuses; ARCHITECTURE: min(1000, n)).
    """
    real = np.asarray(real_features, np.float64)
    synthetic = np.asarray(synthetic_features, np.float64)
    smallest = min(len(real), len(synthetic))
    if smallest < 2:
        raise MetricUndefined(f"KID needs at least 2 images per set, got {len(real)} and {len(synthetic)}")
    if subsets < 1:
        raise MetricUndefined(f"KID needs at least one subset, got {subsets}")
    if smallest < subset_size:
        warnings.warn(f"KID subset size reduced from {subset_size} to {smallest}: a set has only {smallest} images",
                      stacklevel=2)
        subset_size = smallest
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        s = synthetic[rng.choice(len(synthetic), subset_size, replace=False)]
        r = real[rng.choice(len(real), subset_size, replace=False)]
        mmds[i] = mmd2_unbiased(s, r)
    return float(mmds.mean()), float(mmds.std())


class ResampledKID:
    """Unbiased MMD² (KID's kernel) of bootstrap resamples given by counts per row.

    DECISION: a resample's KID is the unbiased MMD² over the whole resample (what KID's subsets
    estimate, without their subsampling noise), with kernel matrices computed once. Copies of one
    image are the same image: pairs of copies are left out of the within-set sums, as the
    diagonal is, so a resample does not look more self-similar than the set it came from.
    """

    def __init__(self, real_features: np.ndarray, synthetic_features: np.ndarray):
        x = np.asarray(real_features, np.float64)
        y = np.asarray(synthetic_features, np.float64)
        self.kxx, self.kyy, self.kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)

    @staticmethod
    def _within(kernel: np.ndarray, w: np.ndarray) -> float:
        pairs = w.sum() ** 2 - (w ** 2).sum()
        return (w @ kernel @ w - (w ** 2) @ np.diagonal(kernel)) / pairs

    def __call__(self, real_counts: np.ndarray, synthetic_counts: np.ndarray) -> float:
        wx, wy = np.asarray(real_counts, np.float64), np.asarray(synthetic_counts, np.float64)
        if min(np.count_nonzero(wx), np.count_nonzero(wy)) < 2:
            raise MetricUndefined("KID needs at least 2 distinct images per set")
        cross = wx @ self.kxy @ wy / (wx.sum() * wy.sum())
        return float(self._within(self.kxx, wx) + self._within(self.kyy, wy) - 2 * cross)
