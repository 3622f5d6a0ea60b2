"""Collapse statistics: MS-SSIM of random pairs of one set, equal to compare's MS-SSIM."""

import numpy as np
import pytest
import torch

from compare.metrics import ssim as reference
from ganlab import diversity


@pytest.mark.parametrize("side, scales", [(256, 5), (176, 5), (175, 4), (128, 4), (99, 4), (98, 3), (64, 3),
                                          (44, 3), (43, 2), (11, 2), (10, 1)])
def test_scales_follow_torchmetrics_size_rule(side, scales):
    assert diversity.scales_for(side) == scales
    weights = diversity.weights_for(side)
    assert len(weights) == scales and sum(weights) == pytest.approx(1.0, abs=1e-4)
    if scales == 5:
        assert weights == diversity.MS_SSIM_WEIGHTS


@pytest.mark.parametrize("side", [64, 180])
def test_ms_ssim_equals_compare_implementation(side):
    rng = np.random.default_rng(0)
    base = rng.random((side, side))
    a = np.stack([base, rng.random((side, side)), base])
    b = np.stack([np.clip(base + 0.1 * rng.standard_normal((side, side)), 0, 1), base, base])
    weights = diversity.weights_for(side)
    ours = diversity.ms_ssim(torch.from_numpy(a), torch.from_numpy(b), weights).numpy()
    theirs = [reference.ms_ssim(x, y, weights=weights) for x, y in zip(a, b, strict=True)]
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert ours[2] == pytest.approx(1.0)


def test_one_image_repeated_is_collapsed_and_independent_images_are_not():
    rng = np.random.default_rng(1)
    one = (rng.random((64, 64)) * 255).astype(np.uint8)
    same = diversity.diversity(np.stack([one] * 5))
    assert same["diversity_ms_ssim"] == pytest.approx(1.0) and same["collapsed"] is True
    assert same["pixel_spread"] == 0 and same["diversity_pairs"] == 10
    independent = diversity.diversity((rng.random((5, 64, 64)) * 255).astype(np.uint8))
    assert independent["diversity_ms_ssim"] < 0.2 and independent["collapsed"] is False
    assert independent["pixel_spread"] > 50
    assert diversity.diversity(one[None])["collapsed"] is None      # one image: no pair


def test_random_pairs_are_distinct_seeded_and_capped():
    pairs = diversity.random_pairs(50, 20, seed=3)
    assert len(set(pairs)) == 20 and all(i < j for i, j in pairs)
    assert pairs == diversity.random_pairs(50, 20, seed=3) != diversity.random_pairs(50, 20, seed=4)
    assert len(diversity.random_pairs(5, 200)) == 10
