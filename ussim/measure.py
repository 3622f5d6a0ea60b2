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


# --- speckle size on display images ---------------------------------------------------------
# DECISION: texture coarser than speckle is removed before the autocorrelation (gray minus its
# Gaussian blur of sigma 4 px), so that the widths measure the grain, not the anatomy; a region of
# fewer than 200 pixels in an image holds too few speckle cells and is skipped.
TEXTURE_SIGMA_PX = 4.0
MIN_REGION_PIXELS = 200


def half_height_width(correlation: np.ndarray) -> float:
    """Full width (samples) at half height of a one-sided autocorrelation starting at lag 0 (= 1),
    the crossing interpolated between lags (whole-lag widths 1, 3, 5 ... cannot tell a blur of
    half a pixel from none). NaN where it never falls below one half."""
    below = np.flatnonzero(np.asarray(correlation) < 0.5)
    if len(below) == 0 or below[0] == 0:
        return float("nan")
    k = below[0]
    return float(2 * (k - 1 + (correlation[k - 1] - 0.5) / (correlation[k - 1] - correlation[k])))


def region_autocorrelation(values: np.ndarray, region: np.ndarray, support: np.ndarray | None = None):
    """Autocorrelation of `values` over the boolean `region` (lag (0, 0) at index [0, 0], positive
    lags first), each lag normalised by the region's overlap with itself and the whole by lag 0;
    None where the region shows no variation. `support` (the region's own overlap, as a previous
    call returned it in `.support`) saves an FFT when the same region is measured again."""
    sums, support = region_autocorrelation_sums(values, region, support)
    correlation = sums / support
    if not correlation[0, 0] > 1e-9:
        return None, support
    return correlation / correlation[0, 0], support


def region_autocorrelation_sums(values: np.ndarray, region: np.ndarray, support: np.ndarray | None = None):
    """The sums behind `region_autocorrelation`: per lag, the products of the region's values (less
    their mean over the region) at that lag summed over the region, and the region's overlap with
    itself at that lag (at least 1). Sums rather than their ratio so that several regions can be
    pooled: lag by lag, the summed products over the summed overlaps.

    Zero-padded FFTs (Wiener-Khinchin) rather than scipy.signal.correlate: the normalisation by
    the region's overlap needs the same transform of the mask, and the padded size is shared."""
    region = np.asarray(region, bool)
    shape = [2 * n for n in region.shape]
    if support is None:
        support = np.maximum(np.fft.irfft2(np.abs(np.fft.rfft2(region.astype(np.float64), s=shape)) ** 2, s=shape),
                             1.0)
    detail = np.where(region, values, 0.0)
    detail[region] -= detail[region].mean()
    return np.fft.irfft2(np.abs(np.fft.rfft2(detail, s=shape)) ** 2, s=shape), support


def speckle_grain_px(images, regions, supports: dict | None = None,
                     texture_sigma_px: float | None = TEXTURE_SIGMA_PX) -> tuple[float, float]:
    """Mean speckle size (rows, columns) in px of display images over their boolean `regions`
    (one per image, e.g. a class inside the field of view): the widths at half height of the
    autocorrelation of the gray values less their smooth texture (Wagner et al., IEEE Trans.
    Sonics Ultrason. 30, 1983: the speckle cell is the width of the autocorrelation). Images whose
    region is smaller than MIN_REGION_PIXELS or flat are left out; NaN when none is left.
    `supports` (a dict kept by the caller) holds each image index's region overlap between calls
    on the same regions (a fit measures many candidate images on the same masks).

    The texture removal (`texture_sigma_px`; None: none) narrows the widths too, by about 10 % at a
    3 px grain and 20 % at 5 px (blurred white noise, tests/ussim/test_measure.py); real and
    simulated images are measured alike, so they compare, but read the widths as this measure's,
    not as the true autocorrelation widths."""
    def detail_of(gray, region):
        return gray - _within(gray, region, texture_sigma_px) if texture_sigma_px else gray
    return _mean_widths(images, regions, supports, detail_of)


# --- texture size on display images -----------------------------------------------------------
# DECISION: the texture is what remains of the gray values after averaging the speckle out (a
# Gaussian blur of sigma 1.5 px, about half a speckle grain of either organ's display images) and
# removing the region's own trend (its normalised blur of sigma 12 px, coarser than any texture the
# tables model and finer than the organ); its size is the half-height width of that remainder's
# autocorrelation, as for the grain. Measured by bench/realism.py on the ovary's held-out frames
# 12-23 (2026-12-02, bench/RESULTS.md "Realism after the fix"): real background 12.3 x 10.9 px,
# ussim at `mask` 7.8 x 7.2; blurred white noise of speckle size alone (sigma 0.8 px) reads about
# 5.4 px (tests/ussim/test_measure.py).
TEXTURE_SPECKLE_SIGMA_PX = 1.5
TEXTURE_TREND_SIGMA_PX = 12.0


def texture_length_px(images, regions, supports: dict | None = None,
                      speckle_sigma_px: float = TEXTURE_SPECKLE_SIGMA_PX,
                      trend_sigma_px: float = TEXTURE_TREND_SIGMA_PX) -> tuple[float, float]:
    """Mean texture size (rows, columns) in px of display images over their boolean `regions`: the
    widths at half height of the autocorrelation of the gray values blurred by `speckle_sigma_px`
    less their trend within the region (`trend_sigma_px`). Skips regions as `speckle_grain_px`
    does; NaN when none is left. Read the widths as this measure's (the blur widens them, the
    trend removal narrows them): real and simulated images measured alike compare."""
    def detail_of(gray, region):
        smooth = _within(gray, region, speckle_sigma_px)
        return smooth - _within(smooth, region, trend_sigma_px)
    return _mean_widths(images, regions, supports, detail_of)


def _mean_widths(images, regions, supports, detail_of) -> tuple[float, float]:
    """Mean half-height widths (rows, columns) of the autocorrelation of `detail_of(gray, region)`
    over the images whose region is large enough and not flat; see `speckle_grain_px`."""
    widths = []
    for index, (image, region) in enumerate(zip(images, regions, strict=True)):
        region = np.asarray(region, bool)
        if region.sum() < MIN_REGION_PIXELS:
            continue
        detail = detail_of(np.asarray(image, np.float64), region)
        correlation, support = region_autocorrelation(detail, region, None if supports is None
                                                      else supports.get(index))
        if supports is not None:
            supports[index] = support
        if correlation is None:
            continue
        widths.append([half_height_width(correlation[:, 0]), half_height_width(correlation[0, :])])
    widths = np.asarray(widths, np.float64).reshape(-1, 2)
    if not np.isfinite(widths).any():
        return float("nan"), float("nan")
    return tuple(float(np.nanmean(column)) if np.isfinite(column).any() else float("nan") for column in widths.T)


def _within(values: np.ndarray, region: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of `values` over `region` only (normalised convolution): what lies outside it
    (the scanner's fill, another class) does not leak in along its border."""
    weight = ndimage.gaussian_filter(region.astype(np.float64), sigma_px)
    return ndimage.gaussian_filter(np.where(region, values, 0.0), sigma_px) / np.maximum(weight, 1e-12)


# --- contrast by scale on display images ------------------------------------------------------
# DECISION: three bands split by Gaussian blurs of 2 and 8 px: below 2 px the speckle grain (3-4 px
# in both archives), 2-8 px the texture the tables model, beyond 8 px the anatomy. On the ovary's
# tuning frames 0-11 (deeper than 3 mm) the real background reads 10.0 / 10.7 / 38.7 gray (fine /
# mid / coarse), ussim's (fast engine, before the display chain's speckle reduction) 19.3 / 16.8 /
# 27.6, with equal gray histograms (JS 0.006): the simulated variance sat in speckle where the real
# one sits in anatomy, which the histogram alone cannot tell apart (bench/RESULTS.md, "Contrast by
# scale").
BAND_EDGES_PX = (2.0, 8.0)
# pixels closer to the region's border than this are left out: the blurs reach across it
BAND_MARGIN_PX = 4


def band_contrast(images, regions, edges_px: tuple[float, float] = BAND_EDGES_PX) -> tuple[float, float, float]:
    """Standard deviation (gray) of display images in three bands of scale over their boolean
    `regions` (one per image), pooled: fine (image less its blur of edges_px[0]), mid (the blur of
    edges_px[0] less that of edges_px[1]) and coarse (the blur of edges_px[1], about its mean).
    Blurs are normalised within the region (the outside does not leak in), and only pixels at
    least BAND_MARGIN_PX inside it count; NaN when no image has MIN_REGION_PIXELS of them."""
    bands = [[], [], []]
    for image, region in zip(images, regions, strict=True):
        region = np.asarray(region, bool)
        core = ndimage.binary_erosion(region, iterations=BAND_MARGIN_PX)
        if core.sum() < MIN_REGION_PIXELS:
            continue
        gray = np.asarray(image, np.float64)
        fine_blur, coarse_blur = (_within(gray, region, sigma) for sigma in edges_px)
        for band, values in zip(bands, (gray - fine_blur, fine_blur - coarse_blur, coarse_blur), strict=True):
            band.append(values[core])
    if not bands[0]:
        return float("nan"), float("nan"), float("nan")
    return tuple(float(np.std(np.concatenate(band))) for band in bands)
