"""Metric policies and physics: small sets, sizes, speckle statistics, gCNR, timing."""

import numpy as np
import pytest

from compare.metrics import MetricUndefined, fid, gcnr, kid, prdc, speckle, ssim, timing


def test_kid_adapts_the_subset_size_to_a_small_set_with_a_warning():
    rng = np.random.default_rng(0)
    real, synthetic = rng.standard_normal((30, 8)), rng.standard_normal((20, 8))
    with pytest.warns(UserWarning, match="KID subset size reduced from 1000 to 20"):
        mean, std = kid.kid(real, synthetic, subsets=10)
    assert np.isfinite(mean) and std >= 0


def test_too_few_images_are_refused_in_one_line():
    one = np.zeros((1, 4))
    for compute in (lambda: fid.fid(one, one), lambda: kid.kid(one, one),
                    lambda: prdc.precision_recall(np.zeros((3, 4)), np.zeros((3, 4)), k=3)):
        with pytest.raises(MetricUndefined) as error:
            compute()
        assert "\n" not in str(error.value)


def test_ms_ssim_refuses_images_too_small_for_five_scales():
    assert ssim.min_ms_ssim_size() == 176  # torchmetrics' rule for 5 scales and an 11-tap window
    with pytest.raises(MetricUndefined, match="at least 176 px"):
        ssim.ms_ssim(np.zeros((128, 200)), np.zeros((128, 200)))


def test_diversity_pairs_are_distinct_and_seeded():
    pairs = ssim.diversity_pairs(50, 100, seed=3)
    assert len(set(pairs)) == 100 and all(i < j for i, j in pairs)
    assert pairs == ssim.diversity_pairs(50, 100, seed=3) != ssim.diversity_pairs(50, 100, seed=4)
    assert len(ssim.diversity_pairs(5, 100, seed=0)) == 10  # every pair when there are fewer


def test_speckle_statistics_of_a_rayleigh_envelope():
    rng = np.random.default_rng(0)
    envelope = np.abs(rng.standard_normal(400_000) + 1j * rng.standard_normal(400_000))
    stats = speckle.statistics(envelope)
    for name, target in speckle.RAYLEIGH.items():
        assert stats[name] == pytest.approx(target, rel=0.01), name


def test_gcnr_is_zero_for_identical_and_one_for_disjoint_regions():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, 5000).astype(np.uint8)
    assert gcnr.gcnr(values, values) == pytest.approx(0)
    assert gcnr.gcnr(np.full(100, 10, np.uint8), np.full(50, 200, np.uint8)) == pytest.approx(1)
    dark, bright = rng.normal(60, 20, 10_000), rng.normal(140, 20, 10_000)
    measured = gcnr.gcnr(np.clip(dark, 0, 255).astype(np.uint8), np.clip(bright, 0, 255).astype(np.uint8))
    assert measured == pytest.approx(0.954, abs=0.01)  # 1 - overlap of N(60,20) and N(140,20): 2Φ(2) - 1


def test_seconds_per_image_ignores_untimed_samples():
    assert timing.seconds_per_image(np.array([1.0, 3.0, np.nan], np.float32)) == (2.0, 2)
    mean, count = timing.seconds_per_image(np.full(3, np.nan))
    assert np.isnan(mean) and count == 0
