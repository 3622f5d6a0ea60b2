"""ussim.measure's speckle size on display images: the one measure of the fits, the benchmark and
the mask+image condition."""

import numpy as np
import pytest
from scipy import ndimage

from ussim import measure, side_scatterers


def blurred_noise(sigma_rows, sigma_cols, n=3, size=128, seed=0):
    noise = np.random.default_rng(seed).standard_normal((n, size, size))
    smooth = ndimage.gaussian_filter(noise, (0, sigma_rows, sigma_cols))
    return 128 + 30 * smooth / smooth.std()


def test_grain_of_blurred_noise_is_the_gaussian_autocorrelation_width():
    """White noise blurred by a Gaussian of sigma s has a Gaussian autocorrelation of sigma s * sqrt(2),
    so a full width at half height of 2 sqrt(2 ln 2) sqrt(2) s = 3.33 s; the 4 px texture removal
    narrows it (by 5-25 % at these sizes, as the docstring says)."""
    images = blurred_noise(1.0, 1.6, n=4, size=192)
    regions = np.ones(images.shape, bool)
    rows, columns = measure.speckle_grain_px(images, regions, texture_sigma_px=None)
    width = 2 * np.sqrt(2 * np.log(2)) * np.sqrt(2)
    assert rows == pytest.approx(width * 1.0, rel=0.05)
    assert columns == pytest.approx(width * 1.6, rel=0.05)
    narrowed_rows, narrowed_columns = measure.speckle_grain_px(images, regions)
    assert 0.75 * rows < narrowed_rows < 0.95 * rows
    assert 0.75 * columns < narrowed_columns < 0.95 * columns


def test_grain_resolves_blurs_below_a_pixel():
    """Interpolated crossings: a quarter pixel more blur gives a wider grain (whole-lag widths tie)."""
    regions = np.ones((3, 128, 128), bool)
    widths = [measure.speckle_grain_px(blurred_noise(s, s), regions)[0] for s in (0.6, 0.85, 1.1)]
    assert widths[0] < widths[1] < widths[2]


def test_grain_skips_small_and_flat_regions():
    images = blurred_noise(1.0, 1.0)
    small = np.zeros(images.shape, bool)
    small[:, :10, :10] = True
    assert np.isnan(measure.speckle_grain_px(images, small)).all()
    assert np.isnan(measure.speckle_grain_px(np.full((2, 64, 64), 90.0), np.ones((2, 64, 64), bool))).all()


def test_supports_cache_gives_the_same_widths():
    images, regions = blurred_noise(1.2, 0.8), np.ones((3, 128, 128), bool)
    regions[:, 40:60, 30:90] = False
    supports = {}
    first = measure.speckle_grain_px(images, regions, supports)
    assert set(supports) == {0, 1, 2}
    assert measure.speckle_grain_px(images, regions, supports) == first == measure.speckle_grain_px(images, regions)


def test_one_image_grain_leaves_out_clipped_and_outside_pixels():
    """The mask+image condition's measure: the scanner's fill outside the field of view (and clipped
    black or white pixels) must not widen the grain."""
    image = np.clip(blurred_noise(1.0, 1.0, n=1)[0], 1, 254)
    inside = np.zeros(image.shape, bool)
    inside[16:112, 16:112] = True
    framed = np.where(inside, image, 30.0)
    assert side_scatterers.speckle_grain_px(framed, inside) == pytest.approx(
        measure.speckle_grain_px([image], [inside]), rel=1e-9)
    assert side_scatterers.speckle_grain_px(np.full((64, 64), 255.0)) is None


def test_texture_length_grows_with_the_texture_and_sees_through_the_speckle():
    """Texture (blurred noise of sigma s rows x 1.5 s columns) under speckle of the same variance:
    the texture size grows with s in both directions and keeps its aspect; speckle alone is
    shorter than any of them."""
    regions = np.ones((4, 160, 160), bool)
    speckle = blurred_noise(0.8, 0.8, n=4, size=160, seed=1) - 128
    alone = measure.texture_length_px(128 + speckle, regions)
    sizes = [measure.texture_length_px(blurred_noise(s, 1.5 * s, n=4, size=160) + speckle, regions) for s in (2, 3, 4)]
    rows, columns = np.array(sizes).T
    assert alone[0] < rows[0] and alone[1] < columns[0]
    assert np.all(np.diff(rows) > 0.5) and np.all(np.diff(columns) > 0.5)
    assert np.all(columns > 1.1 * rows)


def test_band_contrast_equals_the_direct_computation_on_a_whole_image():
    rng = np.random.default_rng(6)
    image = ndimage.gaussian_filter(rng.standard_normal((96, 96)), 1.0) * 40 + 100
    region = np.ones(image.shape, bool)
    core = ndimage.binary_erosion(region, iterations=measure.BAND_MARGIN_PX)
    fine_blur, coarse_blur = ndimage.gaussian_filter(image, 2.0), ndimage.gaussian_filter(image, 8.0)
    expected = [np.std((image - fine_blur)[core]), np.std((fine_blur - coarse_blur)[core]), np.std(coarse_blur[core])]
    np.testing.assert_allclose(measure.band_contrast([image], [region]), expected, rtol=1e-9)


def test_band_contrast_puts_each_scale_in_its_band_and_skips_small_regions():
    rows, columns = np.mgrid[0:128, 0:128]
    noise = np.random.default_rng(7).standard_normal((128, 128)) * 10   # pixel-scale: fine
    waves = 30 * np.sin(2 * np.pi * columns / 128)                      # 128 px period: coarse
    region = np.ones((128, 128), bool)
    fine, mid, coarse = measure.band_contrast([noise], [region])
    assert fine > 3 * mid and fine > 3 * coarse
    fine, mid, coarse = measure.band_contrast([waves], [region])
    assert coarse > 5 * mid and coarse > 5 * fine
    small = (rows < 10) & (columns < 10)
    assert np.isnan(measure.band_contrast([noise], [small])).all()
