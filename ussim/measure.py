"""Measurements on simulated envelopes, shared by the validation tests and the benchmarks.

Speckle statistics of fully developed speckle (Rayleigh envelope): mean/std = 1.913, Nakagami
m = 1, standard deviation of the log envelope = 5.57 dB.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def fwhm(profile: np.ndarray, step: float) -> float:
    """-6 dB full width of an envelope profile (same units as `step`), edges interpolated."""
    half = profile.max() / 2
    above = np.flatnonzero(profile >= half)
    lo, hi = above[0], above[-1]
    if lo == 0 or hi == profile.size - 1:
        raise ValueError("the profile does not fall below half its peak on both sides")
    left = lo - (profile[lo] - half) / (profile[lo] - profile[lo - 1])
    right = hi + (profile[hi] - half) / (profile[hi] - profile[hi + 1])
    return float((right - left) * step)


def speckle_statistics(region: np.ndarray, trend_samples: int = 41) -> dict:
    """Statistics of a (lines, samples) envelope region after removing its depth trend.

    The focal gain changes the mean brightness with depth; dividing by the mean-square
    profile over depth, smoothed over `trend_samples` depth samples, removes that trend (as
    TGC would). DECISION: smoothed rather than per sample, because one depth sample holds only
    a handful of independent speckle cells across the lines, and normalising each by its own
    RMS would remove real speckle variance (biasing m above 1).
    """
    trend = ndimage.uniform_filter1d(np.mean(region ** 2, axis=0), trend_samples, mode="nearest")
    envelope = (region / np.sqrt(trend)).ravel()
    intensity = envelope ** 2
    return {"mean_over_std": float(envelope.mean() / envelope.std()),
            "nakagami_m": float(intensity.mean() ** 2 / intensity.var()),
            "log_std_db": float(np.std(20 * np.log10(envelope)))}
