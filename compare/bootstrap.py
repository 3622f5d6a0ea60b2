"""95 % intervals by bootstrap: over held-out images, and over training seeds when a method has several.

ARCHITECTURE ("intervals"): every metric carries a 95 % interval. One replicate resamples, with
replacement and a seeded generator:
  * the reference set's images (shared by every method within the replicate),
  * for a method trained with S seeds, S seeds with replacement (two-level bootstrap: seeds,
    then images within each drawn seed's set), and each drawn set's images,
  * the pairs of paired metrics (SSIM, MS-SSIM: the pair is the unit, paired resampling) and the
    random image pairs of diversity MS-SSIM.
Set-level metrics (FID, KID, precision/recall, density/coverage, FRD, JS) are recomputed on
every resample of both sets. A method's replicate value is the mean over its drawn seeds, as its
point estimate is the mean over its seeds.
DECISION: percentile intervals (Efron's), 1000 replicates by default: no normality assumption
for bounded or skewed metrics (JS, SSIM, FID); with fewer than 95 % of replicates defined (a
resample with one distinct image has no FID) the interval is not reported, with a note.
DECISION: plug-in distances between sets (FID, FRD, JS) are biased upward at small sets, and more
so in a resample, which holds only ~63 % distinct images: their replicates sit above the point
estimate, often entirely. Their percentile interval is shifted down by the bootstrap estimate of
that bias, mean(replicates) - estimate (Efron & Tibshirani 1993, ch. 10), and clipped at 0 where
the distance cannot be negative (FID, JS; not FRD, a logarithm), so it covers the estimate and,
for two samples of one population, the true distance 0 (tests/compare/test_bootstrap.py).
"""

from __future__ import annotations

import warnings

import numpy as np

CONFIDENCE = 0.95
MIN_DEFINED = 0.95  # share of replicates that must give a value for an interval to be reported


def resample_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """How often each of n items is drawn in one resample of size n (multinomial counts)."""
    return np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)


def rows(counts: np.ndarray) -> np.ndarray:
    """The drawn row indices (with repeats) of a resample given by counts."""
    return np.repeat(np.arange(len(counts)), counts.astype(np.int64))


def resample_seeds(rng: np.random.Generator, n_seeds: int) -> np.ndarray:
    """Which training seeds a replicate uses: all of a single-seed method, else S draws with replacement."""
    return np.zeros(1, np.int64) if n_seeds == 1 else rng.integers(0, n_seeds, n_seeds)


def percentile_interval(replicates: np.ndarray, estimate: np.ndarray | None = None,
                        bias_corrected: np.ndarray | None = None, nonnegative: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, share defined) along axis 0 of the replicates; NaN where too few are defined.

    Where `bias_corrected` (broadcast like one replicate) is true, the interval is shifted by
    mean(replicates) - `estimate`, and clipped at 0 where `nonnegative` is (module docstring).
    """
    replicates = np.asarray(replicates, np.float64)
    finite = np.isfinite(replicates)
    share = finite.mean(axis=0)
    tail = (1 - CONFIDENCE) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: metrics a set cannot give
        low, high = np.nanpercentile(replicates, [tail, 100 - tail], axis=0)
        if bias_corrected is not None:
            bias = np.nanmean(replicates, axis=0) - estimate
            shift = np.where(np.broadcast_to(bias_corrected, bias.shape) & np.isfinite(bias), bias, 0.0)
            floor = np.where(np.broadcast_to(nonnegative, bias.shape), 0.0, -np.inf)
            low, high = (np.where(shift != 0, np.maximum(bound - shift, floor), bound) for bound in (low, high))
    enough = share >= MIN_DEFINED
    return np.where(enough, low, np.nan), np.where(enough, high, np.nan), share

