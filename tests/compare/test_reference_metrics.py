"""Every metric against its reference implementation, to 1e-4 relative, on generated fixtures."""

import warnings

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from skimage.metrics import structural_similarity

from compare.metrics import fid, js, kid, prdc, ssim
from tests.compare import reference_libs as ref

RTOL = 1e-4


def features(n, d, seed, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mixing = np.eye(d) + 0.3 * rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) * scale + shift) @ mixing


@pytest.mark.parametrize("n, d", [(200, 16), (40, 64)])  # well-posed, and fewer samples than features
def test_fid_equals_pytorch_fid(n, d):
    real, synthetic = features(n, d, 0), features(n + 7, d, 1, shift=0.2, scale=1.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytorch-fid passes scipy's deprecated disp=False; our n < d note
        expected = ref.pytorch_fid_frechet_distance(real.mean(0), np.cov(real, rowvar=False),
                                                    synthetic.mean(0), np.cov(synthetic, rowvar=False))
        assert fid.fid(real, synthetic) == pytest.approx(expected, rel=RTOL)


def test_fid_of_a_set_with_itself_is_zero():
    real = features(100, 8, 0)
    assert abs(fid.fid(real, real)) < 1e-8


@pytest.mark.parametrize("subset_size", [30, 50])  # random subsets, and subsets as large as a set
def test_kid_equals_torch_fidelity_with_identical_subsets(subset_size):
    real, synthetic = features(50, 32, 2), features(60, 32, 3, shift=0.1)
    expected = ref.torch_fidelity_kid(synthetic, real, subsets=20, subset_size=subset_size, seed=7)
    ours = kid.kid(real, synthetic, subsets=20, subset_size=subset_size, seed=7)
    assert ours == pytest.approx(expected, rel=RTOL)


def test_precision_recall_equal_torch_fidelity():
    real, synthetic = features(80, 10, 4), features(70, 10, 5, shift=0.5, scale=0.7)
    expected = ref.torch_fidelity_precision_recall(synthetic, real, 3)
    assert prdc.precision_recall(real, synthetic, 3) == pytest.approx(expected, rel=RTOL)


def test_density_coverage_by_hand():
    # Real points on a line 0, 1, 2, 3; k = 1 gives each a radius of 1 (its nearest neighbour).
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    synthetic = np.array([[0.5], [10.0]])
    # 0.5 lies strictly inside the balls of 0 and 1 (distance 0.5 < 1): density = 2 / (1 * 2) = 1;
    # real points with a synthetic point strictly inside their ball: 0 and 1 -> coverage 0.5.
    assert prdc.density_coverage(real, synthetic, k=1) == pytest.approx((1.0, 0.5))


def image_pair(shape, seed, noise):
    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    from scipy import ndimage
    a = ndimage.gaussian_filter(a, 2)  # some structure, as in images
    a = (a - a.min()) / (a.max() - a.min())
    b = np.clip(a + noise * rng.standard_normal(shape), 0, 1)
    return a, b


@pytest.mark.parametrize("shape, noise", [((64, 64), 0.1), ((96, 80), 0.4)])
def test_ssim_equals_scikit_image_and_torchmetrics(shape, noise):
    a, b = image_pair(shape, 0, noise)
    ours = ssim.ssim(a, b)
    expected = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, K1=0.01, K2=0.03)
    assert ours == pytest.approx(expected, rel=RTOL)
    # torchmetrics averages its SSIM map over the whole image with reflected edges; over the pixels
    # whose window lies inside the image (skimage's and our average) the maps agree.
    tm = ref.torchmetrics_image()
    _, full = tm.structural_similarity_index_measure(torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None],
                                                     data_range=1.0, return_full_image=True)
    assert ours == pytest.approx(float(full[0, 0, 5:-5, 5:-5].mean()), rel=RTOL)


@pytest.mark.parametrize("shape, noise", [((176, 176), 0.1), ((181, 230), 0.3), ((200, 190), 2.0)])
def test_ms_ssim_equals_torchmetrics(shape, noise):
    a, b = image_pair(shape, 1, noise)
    tm = ref.torchmetrics_image()
    expected = tm.multiscale_structural_similarity_index_measure(
        torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None], data_range=1.0, kernel_size=11, sigma=1.5,
        k1=0.01, k2=0.03, betas=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), normalize="relu")
    assert ssim.ms_ssim(a, b) == pytest.approx(float(expected), rel=RTOL)


def test_js_equals_scipy_jensenshannon():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (4, 32, 32)).astype(np.uint8)
    real = rng.integers(0, 256, (4, 32, 32)).astype(np.uint8)
    synthetic = np.clip(rng.normal(120, 30, (4, 32, 32)), 0, 255).astype(np.uint8)
    h_real, h_syn = js.class_histograms(real, labels, 3), js.class_histograms(synthetic, labels, 3)
    for c in range(3):
        p = np.bincount(real[labels == c], minlength=256) / np.sum(labels == c)
        q = np.bincount(synthetic[labels == c], minlength=256) / np.sum(labels == c)
        assert js.js_divergence(h_real[c], h_syn[c]) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=RTOL)
    assert js.js_divergence(h_real[0], h_real[0]) == pytest.approx(0, abs=1e-12)


def test_ms_ssim_clamps_negative_terms_as_torchmetrics_relu():
    a, _ = image_pair((176, 176), 2, 0.0)
    b = 1 - a  # anti-correlated: negative contrast-structure terms, NaN without the ReLU
    tm = ref.torchmetrics_image()
    expected = tm.multiscale_structural_similarity_index_measure(
        torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None], data_range=1.0, normalize="relu")
    assert ssim.ms_ssim(a, b) == float(expected) == 0.0
