"""Every default of the comparison in one table, with the reference each one follows.

A run records all of them (as overridden) in the results file, so a number can always be traced
back to the settings that made it. Definitions: ../shared/ARCHITECTURE.md ("Metric definitions").
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ganlab.diversity import COLLAPSE_MS_SSIM

RESULTS_FORMAT_VERSION = 2  # bump when the layout of results.nc changes incompatibly
CACHE_ENV = "USCOMPARE_CACHE"  # overrides the cache folder (features, weights)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The parameters of one comparison run (every one of them lands in the results' attributes)."""

    # DECISION: the default is the backbone every published FID uses; without its weights a run
    # refuses with a line naming the file and the folder (and the weights-free alternatives).
    backbone: str = "inception-fid"
    batch_size: int = 50            # pytorch-fid's default batch
    device: str = "auto"            # cuda when available, else cpu
    # KID as torch-fidelity: 100 subsets of min(1000, n), polynomial kernel (x·y/d + 1)³, seed 2020.
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    kid_seed: int = 2020
    # DECISION: precision/recall with k = 3 as Kynkäänniemi et al. and torch-fidelity;
    # density/coverage with k = 5 as Naeem et al. (each paper's recommended k).
    precision_recall_k: int = 3
    density_coverage_k: int = 5
    # SSIM and MS-SSIM: Gaussian window 11 (σ 1.5), K1 0.01, K2 0.03, data range 1 (images / 255).
    ssim_sigma: float = 1.5
    ssim_k1: float = 0.01
    ssim_k2: float = 0.03
    ms_ssim_weights: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    # DECISION: 200 random pairs (all pairs when a set has fewer) are enough for a diversity
    # estimate to ±0.01 on speckle images, and cost about a second at 256 x 256.
    diversity_pairs: int = 200
    diversity_seed: int = 0
    # A set whose diversity MS-SSIM reaches this is flagged as collapsed (one image whatever the
    # mask) and ranked in no verdict; the threshold and its measurements: ganlab.diversity.
    # Images smaller than MS-SSIM's 176 px take fewer scales for diversity (ganlab.diversity.weights_for).
    collapse_ms_ssim: float = COLLAPSE_MS_SSIM
    histogram_bins: int = 256       # gray-value histograms of uint8 images (JS, gCNR)
    # DECISION: a class region smaller than 64 pixels in an image is skipped for speckle and
    # gCNR: too few speckle cells for a second-order statistic.
    min_class_pixels: int = 64
    size_mismatch: str = "resize"   # or "error"; see compare.sets
    # The protocol (compare.ellipse): "held-out" pairs each method's images with the held-out
    # reference images of the same masks; "ellipse" (the SpeckleGAN paper's evaluation) generates
    # each method's images from random IVUS ellipse masks and scores them, unpaired, against all
    # the real images given as the reference.
    protocol: str = "held-out"
    ellipse_samples: int = 1000     # PAPER: SpeckleGAN, "GAN evaluation": 1000 generated images
    ellipse_seed: int = 0
    # Intervals (compare.bootstrap): percentile bootstrap over images (and training seeds).
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 0
    # FRD v1 (compare.metrics.frd, needs pyradiomics and frd-score): "auto" computes it when the
    # library is installed and says in a note when it is not; "on" refuses to run without it.
    frd: str = "auto"

    def as_dict(self) -> dict:
        """Every parameter, JSON- and netCDF-ready (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


SIZE_MISMATCH_POLICIES = ("resize", "error")
FRD_MODES = ("auto", "on", "off")


def cache_dir() -> Path:
    """Where features and weights are cached: $USCOMPARE_CACHE, else ~/.cache/ussim-toolkit.

    DECISION: one cache folder per user ($XDG_CACHE_HOME respected) shared by every run, so a
    second report on the same sets anywhere on the machine skips the network.
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ussim-toolkit"
