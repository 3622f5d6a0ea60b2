"""Mean and 95 % interval of a segmentation score over training seeds and test images.

A row's number is the mean over seeds of the mean over test images. Two things make it vary:
the training (initial weights, the real subset drawn, batches: the seed) and which images the
test set happens to hold. DECISION: the interval adds the two variance components,
    var_seed  = variance of the per-seed means / S         (training noise; same images each seed)
    var_image = variance of the seed-averaged per-image scores / n   (test sampling)
and takes Student's t with Welch-Satterthwaite degrees of freedom. Why not a bootstrap: with the
default 3 seeds a percentile bootstrap over seeds has at most 10 distinct resamples and shrinks
the spread by (S - 1) / S, so its interval is too narrow exactly where seeds are few; a t-interval
over seeds alone ignores the test images. Here, when training noise dominates, the degrees of
freedom fall towards S - 1 = 2 (t = 4.3) and the interval is as wide as 3 seeds deserve. The
per-image scores also carry some training noise, so var_image errs on the wide side.

A comparison with real-only uses the same formula on the paired differences (same seed, so the
same real subset and batches; same test image). DECISION: a row is called better or worse than
real-only only when that difference's interval excludes 0; otherwise "not resolved at this
sample size". The paired difference, not the overlap of two marginal intervals, is the right
test of a paired design (overlapping marginal intervals can hide a consistent difference).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

LEVEL = 0.95
STATS = ("mean", "low", "high")


def summarise(scores: np.ndarray) -> np.ndarray:
    """scores (seeds, images, ...) with NaN where left out -> (3, ...): mean, low, high."""
    scores = np.asarray(scores, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
        seed_means = np.nanmean(scores, axis=1)
        image_means = np.nanmean(scores, axis=0)
        mean = np.nanmean(seed_means, axis=0)
        n_seeds = np.isfinite(seed_means).sum(axis=0)
        n_images = np.isfinite(image_means).sum(axis=0)
        var_seed = np.nanvar(seed_means, axis=0, ddof=1) / n_seeds
        var_image = np.nanvar(image_means, axis=0, ddof=1) / n_images
        total = var_seed + var_image
        df = total ** 2 / (var_seed ** 2 / (n_seeds - 1) + var_image ** 2 / (n_images - 1))
        half = stats.t.ppf(0.5 + LEVEL / 2, df) * np.sqrt(total)
    half = np.where(total == 0, 0.0, half)  # every seed and image scored alike: no spread to show
    half = np.where((n_seeds >= 2) & (n_images >= 2), half, np.nan)
    return np.stack([mean, mean - half, mean + half])


def verdict(low: float, high: float, higher_is_better: bool) -> str:
    """'better', 'worse' or 'not resolved' from the interval of (row - real-only)."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high:
        return "not resolved"
    return "better" if (low > 0) == higher_is_better else "worse"
