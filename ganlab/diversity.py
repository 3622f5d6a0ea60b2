"""How different the images of one generated set are from one another: mode collapse, measured.

    diversity(images)  ->  {"diversity_ms_ssim": mean MS-SSIM of random pairs of distinct images,
                            "diversity_ms_ssim_std": its spread over the pairs,
                            "pixel_spread": per pixel, the std of the gray level over the images,
                                            averaged over the pixels (gray levels 0-255),
                            "diversity_scales", "diversity_pairs", "collapsed"}

A set whose pairs are nearly as similar as an image with itself (MS-SSIM near 1) is collapsed: the
generator draws one image whatever the mask and z. The training loop writes these numbers for
every epoch's sample grid (its generated images and the real images of the same masks) to
stats.jsonl, ganlab.generate writes them into every generated image set, and `uscompare run`
flags a set above COLLAPSE_MS_SSIM and ranks it nowhere without the flag.

MS-SSIM here is the one of compare.metrics.ssim (torchmetrics' definition: Gaussian window σ 1.5,
11 taps, reflected edges, K1 0.01, K2 0.03, the five weights 0.0448 ... 0.1333, ReLU on each
scale's term), written again in torch for whole batches of pairs.
DECISION: hand-written rather than torchmetrics' function: torchmetrics imports torchvision
through torch-fidelity in this environment (no CPU build of torchvision exists in the registry),
and ganlab may not import compare (compare imports ganlab). tests/ganlab/test_diversity.py
checks it against compare's implementation, which tests/compare checks against torchmetrics.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, fine to coarse
SIGMA, TRUNCATE, K1, K2 = 1.5, 3.5, 0.01, 0.03
WINDOW = 2 * int(TRUNCATE * SIGMA + 0.5) + 1                  # 11 taps
# DECISION: at most 200 random pairs (all pairs when a set has fewer), as compare's diversity:
# enough for the mean to about +-0.01 on speckle images.
MAX_PAIRS = 200
# DECISION: a set is collapsed when its mean pair MS-SSIM reaches 0.75. Measured with 5 scales
# on 256 px images (bench/RESULTS.md, "mode collapse of the demo's IVUS models"): real sets 0.21
# (10 ovaries) and 0.40 (8 frames of one IVUS pullback, the most self-similar real set at hand),
# simulated sets 0.19 and 0.24, the demo's GANs 0.33 to 0.60 (its speckle-baseline seed 0, nearly
# one image shifted a little per mask, 0.68), and sets that draw the same image for every mask
# 0.82 (the demo's collapsed speckle-baseline seed 1) to 1 (one image repeated). 0.75 sits below
# every collapsed set and above every real, simulated and working generated set measured.
COLLAPSE_MS_SSIM = 0.75


def scales_for(side: int) -> int:
    """The most MS-SSIM scales (at most five) an image of `side` pixels allows.

    DECISION: torchmetrics' size rule, side >= window x (scales - 1)^2 (176 px for five scales,
    99 for four, 44 for three), so that small images (the demo's 128 px IVUS models, 64 px test
    images) keep the finest scales, where speckle and texture live, and drop the coarsest.
    """
    for scales in range(len(MS_SSIM_WEIGHTS), 1, -1):
        if side >= WINDOW * (scales - 1) ** 2:
            return scales
    return 1


def weights_for(side: int) -> tuple[float, ...]:
    """The first scales_for(side) of the five weights, renormalised to sum 1 (all five at >= 176 px)."""
    weights = np.asarray(MS_SSIM_WEIGHTS[:scales_for(side)])
    return tuple(float(w) for w in weights / weights.sum()) if len(weights) < len(MS_SSIM_WEIGHTS) \
        else MS_SSIM_WEIGHTS


def random_pairs(n: int, count: int = MAX_PAIRS, seed: int = 0) -> list[tuple[int, int]]:
    """`count` distinct unordered pairs of distinct images (all pairs when there are fewer)."""
    total = n * (n - 1) // 2
    if total <= count:
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(total, size=count, replace=False)
    everything = [(i, j) for i in range(n) for j in range(i + 1, n)]
    return sorted(everything[k] for k in chosen)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian (σ 1.5, 11 taps) with reflected edges, as scipy's mode "mirror"."""
    radius = WINDOW // 2
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / SIGMA) ** 2)
    kernel = kernel / kernel.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))


def _ssim_and_cs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair: mean SSIM over the whole image and mean contrast-structure inside the border."""
    mu_a, mu_b = _blur(a), _blur(b)
    var_a = (_blur(a * a) - mu_a ** 2).clamp(min=0)
    var_b = (_blur(b * b) - mu_b ** 2).clamp(min=0)
    cov = _blur(a * b) - mu_a * mu_b
    c1, c2 = K1 ** 2, K2 ** 2
    upper, lower = 2 * cov + c2, var_a + var_b + c2
    ssim_map = (2 * mu_a * mu_b + c1) * upper / ((mu_a ** 2 + mu_b ** 2 + c1) * lower)
    border = WINDOW // 2
    return ssim_map.mean(dim=(1, 2, 3)), (upper / lower)[..., border:-border, border:-border].mean(dim=(1, 2, 3))


def ms_ssim(a: torch.Tensor, b: torch.Tensor, weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> torch.Tensor:
    """MS-SSIM of each pair of gray images (P, H, W) in [0, 1]: (P,) values in [0, 1]."""
    a, b = a[:, None].double(), b[:, None].double()
    terms = []
    for scale in range(len(weights)):
        similarity, contrast_structure = _ssim_and_cs(a, b)
        terms.append(contrast_structure.clamp(min=0))
        if scale < len(weights) - 1:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    terms[-1] = similarity.clamp(min=0)
    powers = torch.tensor(weights, dtype=torch.float64)
    return torch.prod(torch.stack(terms, dim=1) ** powers, dim=1)


@torch.no_grad()
def diversity(images, *, pairs: int = MAX_PAIRS, seed: int = 0, chunk: int = 32) -> dict:
    """Collapse statistics of one set of uint8 images (N, H, W); see the module's docstring.

    With fewer than two images the MS-SSIM numbers are None (no pair) and `collapsed` is None.
    """
    images = torch.as_tensor(np.asarray(images))
    n, side = images.shape[0], min(images.shape[-2:])
    spread = float(images.double().std(dim=0, unbiased=False).mean()) if n > 1 else None
    drawn = random_pairs(n, pairs, seed) if n > 1 else []
    weights = weights_for(side)
    values = []
    for start in range(0, len(drawn), chunk):
        block = drawn[start:start + chunk]
        first = images[[i for i, _ in block]].double() / 255
        second = images[[j for _, j in block]].double() / 255
        values.append(ms_ssim(first, second, weights))
    if not values:
        return {"diversity_ms_ssim": None, "diversity_ms_ssim_std": None, "pixel_spread": spread,
                "diversity_scales": len(weights), "diversity_pairs": 0, "collapsed": None}
    value = torch.cat(values)
    mean = float(value.mean())
    return {"diversity_ms_ssim": round(mean, 4), "diversity_ms_ssim_std": round(float(value.std(unbiased=False)), 4),
            "pixel_spread": None if spread is None else round(spread, 3), "diversity_scales": len(weights),
            "diversity_pairs": len(drawn), "collapsed": bool(mean >= COLLAPSE_MS_SSIM)}
