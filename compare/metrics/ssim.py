"""SSIM and MS-SSIM of two gray images with values in [0, 1] (uint8 images divided by 255).

SSIM: scikit-image's `structural_similarity` with a Gaussian window (σ 1.5, 11 taps), K1 0.01,
K2 0.03, data range 1 and population (not sample) covariances, averaged over the pixels whose
window lies inside the image (a 5-pixel border is left out, as skimage).
DECISION: SSIM follows scikit-image and MS-SSIM torchmetrics, each exactly, the two references
the issue names; they differ only at the border (torchmetrics averages its single-scale SSIM
over the whole image with reflected edges; inside the border both maps are equal).

MS-SSIM: as torchmetrics' `multiscale_structural_similarity_index_measure` with the five weights
0.0448, 0.2856, 0.3001, 0.2363, 0.1333 and `normalize="relu"`: at each scale the Gaussian
filters see the image reflected at its edges; the contrast-structure term is averaged inside
the border, the last scale's full SSIM over the whole image; 2 x 2 average pooling between scales.
DECISION: the ReLU on each scale's mean term (torchmetrics' "relu", what TensorFlow's
`ssim_multiscale` and pytorch-msssim do): two unrelated speckle images have contrast-structure
terms near zero, and a slightly negative one raised to a fractional weight would be NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from compare.metrics import MetricUndefined

TRUNCATE = 3.5  # skimage and torchmetrics: radius int(3.5 σ + 0.5) = 5 taps at σ 1.5


def ssim(a: np.ndarray, b: np.ndarray, *, sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> float:
    return float(structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=sigma,
                                       use_sample_covariance=False, K1=k1, K2=k2))


def min_ms_ssim_size(scales: int = 5, sigma: float = 1.5) -> int:
    """Smallest side MS-SSIM accepts: torchmetrics' rule, side // (scales - 1)² > window - 1.

    DECISION: torchmetrics' limit (176 px for 5 scales), not the arithmetic minimum, so that no
    number is reported that the reference implementation would refuse to compute.
    """
    window = 2 * int(TRUNCATE * sigma + 0.5) + 1
    return window * max(1, scales - 1) ** 2


def check_ms_ssim_size(shape, scales: int = 5, sigma: float = 1.5) -> None:
    smallest = min_ms_ssim_size(scales, sigma)
    if min(shape) < smallest:
        raise MetricUndefined(f"MS-SSIM with {scales} scales needs images of at least {smallest} px per side, "
                              f"got {shape[0]}x{shape[1]}")


def _ssim_and_cs(a, b, sigma, k1, k2) -> tuple[float, float]:
    """Mean SSIM over the whole image (edges reflected) and mean contrast-structure inside the border."""
    def blur(image):
        # scipy's "mirror" is torch's "reflect" padding (the edge pixel is not repeated).
        return ndimage.gaussian_filter(image, sigma, mode="mirror", truncate=TRUNCATE)

    mu_a, mu_b = blur(a), blur(b)
    var_a = np.maximum(blur(a * a) - mu_a ** 2, 0)
    var_b = np.maximum(blur(b * b) - mu_b ** 2, 0)
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = k1 ** 2, k2 ** 2
    upper, lower = 2 * cov + c2, var_a + var_b + c2
    ssim_map = (2 * mu_a * mu_b + c1) * upper / ((mu_a ** 2 + mu_b ** 2 + c1) * lower)
    border = int(TRUNCATE * sigma + 0.5)
    return float(ssim_map.mean()), float((upper / lower)[border:-border, border:-border].mean())


def _avg_pool2(image: np.ndarray) -> np.ndarray:
    """2 x 2 average pooling with stride 2; an odd last row or column is dropped (torch's floor)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    return image[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def ms_ssim(a: np.ndarray, b: np.ndarray, *, weights=(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), sigma: float = 1.5,
            k1: float = 0.01, k2: float = 0.03) -> float:
    check_ms_ssim_size(a.shape, len(weights), sigma)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    terms = []
    for scale in range(len(weights)):
        similarity, contrast_structure = _ssim_and_cs(a, b, sigma, k1, k2)
        terms.append(max(contrast_structure, 0.0))
        if scale < len(weights) - 1:
            a, b = _avg_pool2(a), _avg_pool2(b)
    terms[-1] = max(similarity, 0.0)
    return float(np.prod(np.power(terms, weights)))


def diversity_pairs(n: int, count: int, seed: int) -> list[tuple[int, int]]:
    """`count` distinct unordered pairs of distinct samples (all pairs when there are fewer)."""
    if n < 2:
        raise MetricUndefined(f"diversity needs at least 2 images, got {n}")
    total = n * (n - 1) // 2
    if total <= count:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    rng = np.random.default_rng(seed)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < count:
        i, j = sorted(rng.choice(n, 2, replace=False).tolist())
        chosen.add((i, j))
    return sorted(chosen)
