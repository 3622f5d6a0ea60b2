"""The classifier two-sample test against known answers, its split by image, and its seed."""

import numpy as np
import pytest
from scipy import ndimage

from compare.metrics import c2st
from ussim.errors import UsageError


def speckle_images(n: int, grain: float, seed: int, size: int = 64) -> np.ndarray:
    """uint8 images of smoothed noise with a grain of about `grain` px (mean 128, std ~30)."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.standard_normal((n, size, size)), (0, grain, grain))
    noise /= noise.std(axis=(1, 2), keepdims=True)
    return np.clip(128 + 30 * noise, 0, 255).astype(np.uint8)


def patches_of(images, seed):
    return c2st.extract_patches(images, np.ones(images.shape[1:], bool), np.random.default_rng(seed))


# 6 epochs, not the metric's 20: the answers below hold with margin (measured 2026-12-03: 0.50 and
# 0.95 [0.90, ...], against 0.50 and 1.00 at 20), at a third of the suite's time
TEST_EPOCHS = 6


def test_identical_distributions_are_indistinguishable():
    a, b = speckle_images(12, 1.5, seed=1), speckle_images(12, 1.5, seed=2)
    result = c2st.c2st(patches_of(a, 0), patches_of(b, 1), seed=0, epochs=TEST_EPOCHS)
    assert result.low <= 0.5 <= result.high
    assert 0.35 <= result.accuracy <= 0.65


def test_clearly_different_speckle_is_told_apart():
    a, b = speckle_images(12, 1.0, seed=1), speckle_images(12, 2.5, seed=2)
    result = c2st.c2st(patches_of(a, 0), patches_of(b, 1), seed=0, epochs=TEST_EPOCHS)
    assert result.accuracy > 0.9
    assert result.low > 0.75


def test_no_image_gives_patches_to_both_sides():
    folds = c2st.folds_by_image(9, 7, 4, np.random.default_rng(3))
    per_image = 5
    image_of_patch = np.repeat(np.arange(16), per_image)
    tested = []
    for fold in range(4):
        train, test = c2st.split(folds, per_image, fold)
        assert not set(image_of_patch[train]) & set(image_of_patch[test])
        assert len(train) + len(test) == 16 * per_image
        assert {0, 1} <= {int(i >= 9) for i in image_of_patch[test]}  # both sets in every test fold
        tested.extend(image_of_patch[test])
    assert sorted(set(tested)) == list(range(16)) and len(tested) == 16 * per_image  # each image tested once


def test_reproducible_with_a_seed():
    a, b = speckle_images(8, 1.0, seed=1), speckle_images(8, 1.6, seed=2)
    pa, pb = patches_of(a, 0), patches_of(b, 1)
    first, again = (c2st.c2st(pa, pb, seed=5, epochs=3) for _ in range(2))
    assert (first.accuracy, first.low, first.high) == (again.accuracy, again.low, again.high)
    np.testing.assert_array_equal(first.folds, again.folds)


def test_patches_lie_wholly_inside_the_field_of_view():
    y, x = np.mgrid[:64, :64]
    fov = np.hypot(y - 32, x - 32) < 28
    corners = c2st.inside_positions(fov, 16)
    assert len(corners) > 0
    for r, c in corners:
        assert fov[r:r + 16, c:c + 16].all()
    image = np.where(fov, 200, 0).astype(np.uint8)[None]
    patches = c2st.extract_patches(image, fov, np.random.default_rng(0), size=16, per_image=50)
    assert np.all(patches == pytest.approx(200 / 255))


def test_refuses_a_field_of_view_too_small_for_a_patch():
    fov = np.zeros((64, 64), bool)
    fov[10:30, 10:30] = True
    with pytest.raises(UsageError, match="no 32 x 32 patch fits"):
        c2st.extract_patches(np.zeros((1, 64, 64), np.uint8), fov, np.random.default_rng(0))


def test_repeated_runs_take_fresh_patches_and_their_interval_holds_every_run():
    """Run 0 is the single run of the same seed; later runs differ (other patches, folds and
    networks); the interval, resampling runs and images, is at least as wide as the runs' spread
    and contains their mean."""
    a, b = speckle_images(8, 1.0, seed=1), speckle_images(8, 1.3, seed=2)
    fov = np.ones(a.shape[1:], bool)
    result = c2st.repeated(a, b, fov, seed=4, repeats=3, epochs=3, replicates=200)
    rng = np.random.default_rng(4)
    single = c2st.c2st(*(c2st.extract_patches(x, fov, rng) for x in (a, b)), seed=4, epochs=3)
    assert result.runs[0] == round(single.accuracy, 4)
    assert len(set(result.runs)) > 1
    assert result.accuracy == pytest.approx(np.mean(result.runs), abs=1e-4)
    assert result.low <= result.accuracy <= result.high
    assert result.high - result.low >= max(result.runs) - min(result.runs) - 1e-9
    again = c2st.repeated(a, b, fov, seed=4, repeats=3, epochs=3, replicates=200)
    assert (again.accuracy, again.low, again.high) == (result.accuracy, result.low, result.high)
    with pytest.raises(UsageError, match="repeats = 0 is not allowed"):
        c2st.repeated(a, b, fov, seed=4, repeats=0)
