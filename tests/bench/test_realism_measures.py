"""The realism benchmark's measurements (bench/realism_measures.py) on scenes with known answers."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import realism_measures as measures  # noqa: E402

from ussim import phantom, tissue  # noqa: E402
from ussim import probe as probes  # noqa: E402
from ussim.errors import UsageError  # noqa: E402


def test_split_keeps_tuning_and_held_out_frames_apart():
    splits = measures.split_frames(30, 12)
    np.testing.assert_array_equal(splits["tuning"], np.arange(12))
    np.testing.assert_array_equal(splits["held_out"], np.arange(12, 24))
    small = measures.split_frames(9, 12)  # K shrinks to what the archive holds
    assert len(small["tuning"]) == len(small["held_out"]) == 4
    assert not set(small["tuning"]) & set(small["held_out"])
    with pytest.raises(UsageError, match="--frames 1"):
        measures.split_frames(30, 1)


@pytest.mark.parametrize("text", ["1", "0", "-3", "x", "2.5"])
def test_a_bad_frames_argument_is_one_argparse_line(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="at least 2 tuning frames"):
        measures.frames_argument(text)
    assert measures.frames_argument("36") == 36


def test_footprint_is_the_varying_disc_not_the_constant_fill():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:96, :96]
    disc = np.hypot(y - 48, x - 48) < 40
    images = np.where(disc, rng.integers(40, 255, (20, 96, 96)), 30).astype(np.uint8)  # IVUS-like gray fill
    fov = measures.footprint(images)
    assert (fov & ~disc).sum() == 0
    assert (disc & ~fov).sum() < 0.03 * disc.sum()


def speckle(n, sigma_rows, sigma_cols, seed=0, size=128):
    noise = np.random.default_rng(seed).standard_normal((n, size, size))
    smooth = ndimage.gaussian_filter(noise, (0, sigma_rows, sigma_cols))
    return np.clip(128 + 40 * smooth / smooth.std(), 0, 255).astype(np.uint8)


def test_speckle_size_follows_the_beam():
    """Grain elongated along the rows reads as long along a beam from far above, across one from the side."""
    images = speckle(4, 2.5, 1.0)
    inside = np.ones(images.shape, bool)
    along, across = measures.speckle_size_px(images, inside, origin=(-1e5, 64.0))
    assert along > 1.8 * across
    side_along, side_across = measures.speckle_size_px(images, inside, origin=(64.0, -1e5))
    assert side_across > 1.8 * side_along
    iso_along, iso_across = measures.speckle_size_px(speckle(4, 1.5, 1.5), inside, origin=(-1e5, 64.0))
    assert iso_along == pytest.approx(iso_across, rel=0.15)


def test_speckle_size_is_the_interiors_not_the_border_step():
    """A class above a constant fill (IVUS's catheter disk, a sector's outside): the gray step at its
    border runs across the beam, and measured up to it, it would widen the grain across the beam."""
    images = speckle(4, 1.5, 1.5)
    inside = np.zeros(images.shape, bool)
    inside[:, 8:72, 8:120] = True
    free_along, free_across = measures.speckle_size_px(images, inside, origin=(-1e5, 64.0))
    stepped = images.copy()
    stepped[:, 72:] = 20  # the fill, dark against the class's mean of 128
    along, across = measures.speckle_size_px(stepped, inside, origin=(-1e5, 64.0))
    assert across == pytest.approx(free_across, rel=0.1)
    assert along == pytest.approx(free_along, rel=0.1)


def test_speckle_size_of_too_small_a_class_is_nan():
    images = speckle(2, 1.0, 1.0)
    inside = np.zeros(images.shape, bool)
    inside[:, :10, :10] = True
    assert np.isnan(measures.speckle_size_px(images, inside, (0.0, 0.0))).all()


def test_class_js_interval_is_near_zero_for_one_population_and_far_from_it_for_two():
    rng = np.random.default_rng(1)
    labels = np.zeros((10, 32, 32), np.uint8)
    labels[:, 16:] = 1
    same = [rng.normal(100, 20, (10, 32, 32)).clip(0, 255).astype(np.uint8) for _ in range(2)]
    brighter = rng.normal(140, 20, (10, 32, 32)).clip(0, 255).astype(np.uint8)
    histograms = [measures.class_histograms(images, labels, 2) for images in (*same, brighter)]
    alike = measures.class_js(histograms[0], histograms[1], seed=0, replicates=200)
    assert np.all(alike["high"] < 0.02)  # the plug-in divergence of finite histograms is never exactly 0
    assert np.all((alike["low"] <= alike["value"]) & (alike["value"] <= alike["high"]))
    apart = measures.class_js(histograms[0], histograms[2], seed=0, replicates=200)
    assert np.all(apart["low"] > 0.2)


def test_beam_origin_is_the_convex_centre_above_the_image():
    table = tissue.load("ovary")
    grid = phantom.display_grid(table, (256, 256))
    probe = probes.load(table.probe)
    row, col = measures.beam_origin_px("ovary", grid, probe)
    assert col == pytest.approx(127.5)
    assert row == pytest.approx((-probe.radius - grid.z[0]) / (grid.z[1] - grid.z[0]))  # pixel centres from row 0
    ivus_grid = phantom.display_grid(tissue.load("ivus"), (256, 256))
    assert measures.beam_origin_px("ivus", ivus_grid, probes.load("ivus-20")) == pytest.approx((127.5, 127.5))


def test_montage_places_each_set_in_its_column():
    a, b = np.zeros((3, 8, 8), np.uint8), np.full((3, 8, 8), 200, np.uint8)
    picture = measures.montage([a, b], np.arange(2))
    assert picture.shape == (2 * 8 + 4, 2 * 8 + 4)
    assert picture[:8, :8].max() == 0 and picture[:8, 12:].min() == 200


def test_local_skewness_tells_dark_holes_from_bright_grains():
    """Log-compressed Rayleigh speckle (a gray field with dark holes) skews to the dark; the same
    field with sparse strong scatterers skews to the bright; the value is scipy's skewness of the
    pooled standardised grays, its interval around it."""
    rng = np.random.default_rng(0)
    shape = (4, 96, 96)
    amplitudes = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    field = ndimage.gaussian_filter(amplitudes.real, (0, 1, 1)) + 1j * ndimage.gaussian_filter(amplitudes.imag, (0, 1, 1))
    envelope = np.abs(field)                                  # fully developed speckle, grains of a few pixels
    strong = amplitudes * np.where(rng.random(shape) < 0.02, 30.0, 1.0)
    strong = np.abs(ndimage.gaussian_filter(strong.real, (0, 1, 1)) + 1j * ndimage.gaussian_filter(strong.imag, (0, 1, 1)))
    inside = np.ones(shape, bool)

    def shown(values):
        return np.clip(128 + 3 * 20 * np.log10(values / np.median(values)), 0, 255)
    holes = measures.local_skewness(shown(envelope), inside)
    grains = measures.local_skewness(shown(strong), inside)
    assert holes["value"] < -0.2 and grains["value"] > holes["value"] + 0.5
    for result in (holes, grains):
        assert result["low"] <= result["value"] <= result["high"]
    gray = shown(envelope)
    pooled = []
    for image in gray:
        keep = ndimage.binary_erosion((image > 5) & (image < 250), iterations=measures.SKEW_EROSION_PX)
        mean = ndimage.gaussian_filter(image, measures.TEXTURE_SIGMA_PX)
        spread = np.sqrt(ndimage.gaussian_filter(image ** 2, measures.TEXTURE_SIGMA_PX) - mean ** 2)
        pooled.append(((image - mean) / spread)[keep])
    assert holes["value"] == pytest.approx(stats.skew(np.concatenate(pooled)), rel=1e-9)


def test_speckle_size_pools_the_images_so_a_small_region_does_not_lead():
    """Three large regions of a fine grain and one small region of a coarse one: the pooled widths
    stay near the fine grain's (a mean of per-image widths would move by the coarse one's quarter),
    and the bootstrap interval holds the value."""
    fine = speckle(3, 1.0, 1.0)
    coarse = speckle(1, 4.0, 4.0, seed=1)
    inside = np.ones((4, 128, 128), bool)
    inside[3] = False
    inside[3, 30:70, 30:70] = True  # 28 x 28 px once eroded, against 116 x 116
    images = np.concatenate([fine, coarse])
    alone = measures.speckle_size_px(fine, inside[:3], origin=(-1e5, 64.0))
    coarse_alone = measures.speckle_size_px(coarse, inside[3:], origin=(-1e5, 64.0))
    pooled = measures.speckle_size_px(images, inside, origin=(-1e5, 64.0))
    assert coarse_alone[1] > 2 * alone[1]
    mean_of_images = (3 * alone[1] + coarse_alone[1]) / 4
    assert abs(pooled[1] - alone[1]) < 0.5 * abs(mean_of_images - alone[1])
    sized = measures.speckle_size_interval(images, inside, (-1e5, 64.0), seed=0)
    for axis, value in zip(("along", "across"), pooled, strict=True):
        assert sized[axis]["value"] == pytest.approx(value)
        assert sized[axis]["low"] <= value <= sized[axis]["high"]


def test_surroundings_contrast_sees_per_frame_what_pooled_histograms_do_not():
    """A disc 40 gray darker than the tissue around it reads -40. Two sets with the same pooled class
    histograms: discs that stand out (40 in 80, then 80 in 40) and discs like their surroundings
    (40 in 40, then 80 in 80) read the same mean, 0, and spreads of 40 against 0. A frame whose disc
    lies outside the field of view is left out."""
    size, rng = 96, np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    label = ((yy - 48) ** 2 + (xx - 48) ** 2 < 15 ** 2).astype(np.uint8)
    labels, fov = np.stack([label] * 8), np.ones((size, size), bool)

    def frames(pairs):
        return np.clip([np.where(label == 1, disc, around) + rng.normal(0, 3, (size, size))
                        for disc, around in pairs], 0, 255).astype(np.uint8)
    darker = frames([(40, 80)] * 8)
    standing_out, alike = frames([(40, 80), (80, 40)] * 4), frames([(40, 40), (80, 80)] * 4)
    pooled = [measures.class_histograms(images, labels, 2).sum(axis=0) for images in (standing_out, alike)]
    pooled = [counts / counts.sum(axis=1, keepdims=True) for counts in pooled]
    assert np.abs(pooled[0] - pooled[1]).max() < 0.01
    dark = measures.surroundings_contrast(darker, labels, 1, fov)
    assert abs(dark["value"] + 40) < 1 and dark["low"] <= dark["value"] <= dark["high"] and dark["frames"] == 8
    spread, flat = (measures.surroundings_contrast(images, labels, 1, fov) for images in (standing_out, alike))
    assert abs(spread["value"]) < 1 and abs(flat["value"]) < 1
    assert abs(spread["std"] - 40) < 1 and flat["std"] < 1
    outside = fov.copy()
    outside[30:66, 30:66] = False
    assert measures.surroundings_contrast(darker, labels, 1, outside)["frames"] == 0
