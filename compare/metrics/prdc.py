"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Each feature's neighbourhood radius is the distance to its k-th nearest neighbour within its own
set (itself excluded). Precision: the fraction of synthetic features inside some real feature's
ball; recall: the fraction of real features inside some synthetic feature's ball (both with
`<=`, as torch-fidelity). Density: the mean number of real balls that contain a synthetic
feature, divided by k; coverage: the fraction of real features whose ball holds at least one
synthetic feature (both with `<`, as Naeem et al.'s `prdc`). DECISION: each pair of metrics keeps
its reference's comparison, so that both can be checked against their references (ties between
real-valued distances are measure-zero anyway).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from compare.metrics import MetricUndefined


def _radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each feature to its k-th nearest neighbour in the same set (itself excluded)."""
    distances = cdist(features, features)
    return np.partition(distances, k, axis=1)[:, k]  # column 0 is the feature itself


def _check(real: np.ndarray, synthetic: np.ndarray, k: int, what: str) -> None:
    if k < 1 or min(len(real), len(synthetic)) <= k:
        raise MetricUndefined(f"{what} with k = {k} needs more than {k} images per set, "
                              f"got {len(real)} and {len(synthetic)}")


def precision_recall(real_features, synthetic_features, k: int = 3) -> tuple[float, float]:
    real = np.asarray(real_features, np.float64)
    synthetic = np.asarray(synthetic_features, np.float64)
    _check(real, synthetic, k, "precision/recall")
    synthetic_to_real = cdist(synthetic, real)
    precision = np.mean(np.any(synthetic_to_real <= _radii(real, k)[None, :], axis=1))
    recall = np.mean(np.any(synthetic_to_real.T <= _radii(synthetic, k)[None, :], axis=1))
    return float(precision), float(recall)


def density_coverage(real_features, synthetic_features, k: int = 5) -> tuple[float, float]:
    real = np.asarray(real_features, np.float64)
    synthetic = np.asarray(synthetic_features, np.float64)
    _check(real, synthetic, k, "density/coverage")
    radii = _radii(real, k)
    real_to_synthetic = cdist(real, synthetic)
    density = np.sum(real_to_synthetic < radii[:, None]) / (k * len(synthetic))
    coverage = np.mean(real_to_synthetic.min(axis=1) < radii)
    return float(density), float(coverage)


class Resampled:
    """Precision/recall and density/coverage of bootstrap resamples given as row indices (with repeats).

    Distances are computed once. DECISION: in a resample, copies of one image are that image: a
    feature's k-th neighbour is sought among the other images (copies of itself excluded, copies
    of others counted), so duplicates do not shrink every radius to zero.
    """

    def __init__(self, real_features: np.ndarray, synthetic_features: np.ndarray):
        real = np.asarray(real_features, np.float64)
        synthetic = np.asarray(synthetic_features, np.float64)
        self.real_real, self.synthetic_synthetic = cdist(real, real), cdist(synthetic, synthetic)
        self.synthetic_real = cdist(synthetic, real)

    @staticmethod
    def _radii(distances: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
        within = distances[np.ix_(rows, rows)].copy()
        within[rows[:, None] == rows[None, :]] = np.inf
        if k > len(rows) - 1 or not np.isfinite(np.partition(within, k - 1, axis=1)[:, k - 1]).all():
            raise MetricUndefined(f"k = {k} needs more than {k} distinct images in a resample")
        return np.partition(within, k - 1, axis=1)[:, k - 1]

    def precision_recall(self, real_rows: np.ndarray, synthetic_rows: np.ndarray, k: int) -> tuple[float, float]:
        between = self.synthetic_real[np.ix_(synthetic_rows, real_rows)]
        precision = np.mean(np.any(between <= self._radii(self.real_real, real_rows, k)[None, :], axis=1))
        recall = np.mean(np.any(between.T <= self._radii(self.synthetic_synthetic, synthetic_rows, k)[None, :],
                                axis=1))
        return float(precision), float(recall)

    def density_coverage(self, real_rows: np.ndarray, synthetic_rows: np.ndarray, k: int) -> tuple[float, float]:
        radii = self._radii(self.real_real, real_rows, k)
        real_to_synthetic = self.synthetic_real[np.ix_(synthetic_rows, real_rows)].T
        density = np.sum(real_to_synthetic < radii[:, None]) / (k * len(synthetic_rows))
        coverage = np.mean(real_to_synthetic.min(axis=1) < radii)
        return float(density), float(coverage)
