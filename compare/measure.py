"""What a comparison reads from each image set once, before any metric or bootstrap replicate:

    measure_set    backbone features, seconds, diversity pair values
                   and (when FRD is on) radiomic features, as a compare.estimates.SetData
    measure_pairs  SSIM and MS-SSIM of every synthetic image and the reference image made from the
                   same mask (compare.pairing), one value per pair
"""

from __future__ import annotations

import numpy as np
from ussim.progress import bar as progress_bar

from compare import features, pairing, radiomics
from compare.classstats import ClassStatistics
from compare.defaults import Settings
from compare.estimates import SetData
from compare.metrics import MetricUndefined, ssim
from compare.sets import ImageSet, as_unit_float
from ganlab import diversity as collapse

PAIR_BLOCK = 32


def measure_set(s: ImageSet, stats: ClassStatistics, backbone, settings: Settings, notes, *, progress: bool,
                cache: bool, with_frd: bool) -> SetData:
    """Everything but the class statistics, which the runner reads first for every set (they refuse a
    NaN envelope cheaply, before minutes of feature extraction)."""
    n_classes = stats.pixels.shape[1]
    set_features = features.extract(s.ds["image"], backbone, batch_size=settings.batch_size, progress=progress,
                                    cache=cache, label=s.name)
    diversity = notes.attempt(f"{s.name} diversity MS-SSIM", diversity_values, s, settings, progress)
    scales = len(diversity_weights(s.size, settings))
    if diversity is not None and scales < len(settings.ms_ssim_weights):
        notes.add(f"{s.name} diversity MS-SSIM: {s.size[0]}x{s.size[1]} px images are too small for "
                  f"{len(settings.ms_ssim_weights)} scales; its diversity uses the {scales} finest "
                  f"(weights renormalised)")
    radiomic = radiomics.set_features(s, n_classes, progress=progress, cache=cache) if with_frd else None
    return SetData(s.name, set_features.astype(np.float64), stats, np.asarray(s.ds["seconds"].values, np.float64),
                   diversity, radiomic)


def diversity_weights(size, settings: Settings) -> tuple[float, ...]:
    """The MS-SSIM weights of diversity: the settings' five, or fewer scales for small images.

    DECISION: a set too small for five scales (< 176 px) still gets a diversity, with the finest
    scales that fit (ganlab.diversity.weights_for: 4 scales at 99-175 px, 3 at 44-98), so that
    collapse is flagged at every size; the paired MS-SSIM keeps its five scales or is left out.
    """
    try:
        ssim.check_ms_ssim_size(size, len(settings.ms_ssim_weights), settings.ssim_sigma)
        return tuple(settings.ms_ssim_weights)
    except MetricUndefined:
        return collapse.weights_for(min(size))


def diversity_values(s: ImageSet, settings: Settings, progress: bool) -> np.ndarray:
    """MS-SSIM of random pairs of distinct images of one set (their mean: lower = more diverse)."""
    weights = diversity_weights(s.size, settings)
    ssim.check_ms_ssim_size(s.size, len(weights), settings.ssim_sigma)
    pairs = ssim.diversity_pairs(s.n, settings.diversity_pairs, settings.diversity_seed)
    needed = sorted({i for pair in pairs for i in pair})
    # Kept as uint8 (400 images of 256 x 256 are 26 MB, not 210 MB as float64); scaled per pair.
    images = dict(zip(needed, np.asarray(s.ds["image"].isel(sample=needed).values), strict=True))
    options = dict(weights=weights, sigma=settings.ssim_sigma, k1=settings.ssim_k1,
                   k2=settings.ssim_k2)
    return np.array([ssim.ms_ssim(images[i] / 255, images[j] / 255, **options)
                     for i, j in progress_bar(pairs, unit="pair", desc=f"diversity {s.name}",
                                      enabled=progress)])


def measure_pairs(reference: ImageSet, candidate: ImageSet, settings: Settings, notes,
                  progress: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(SSIM per pair, MS-SSIM per pair or None when the images are too small); (None, None) without pairs."""
    where = candidate.name
    pairs = pairing.find_pairs(reference, candidate)
    if not pairs:
        notes.add(f"{where}: no sample made from the same mask as a reference sample (same label map, or "
                  f"sample id <id> / sim-<id> when sizes differ): SSIM and MS-SSIM are NaN")
        return None, None
    if len(pairs) < candidate.n:
        notes.add(f"{where}: {candidate.n - len(pairs)} of {candidate.n} samples have no reference sample from "
                  f"the same mask and are left out of SSIM/MS-SSIM")
    with_ms = bool(notes.attempt(f"{where} MS-SSIM", _ms_ssim_fits, reference, settings))
    options = dict(sigma=settings.ssim_sigma, k1=settings.ssim_k1, k2=settings.ssim_k2)
    ssims, ms_ssims = [], []
    with progress_bar(total=len(pairs), unit="pair", desc=f"SSIM {where}", enabled=progress) as bar:
        for start in range(0, len(pairs), PAIR_BLOCK):
            chunk = pairs[start:start + PAIR_BLOCK]
            a = as_unit_float(reference.ds["image"].isel(sample=[i for i, _ in chunk]).values)
            b = as_unit_float(candidate.ds["image"].isel(sample=[j for _, j in chunk]).values, reference.size)
            for x, y in zip(a, b, strict=True):
                ssims.append(ssim.ssim(x, y, **options))
                if with_ms:
                    ms_ssims.append(ssim.ms_ssim(x, y, weights=settings.ms_ssim_weights, **options))
            bar.update(len(chunk))
    return np.array(ssims), (np.array(ms_ssims) if with_ms else None)


def _ms_ssim_fits(s: ImageSet, settings: Settings) -> bool:
    ssim.check_ms_ssim_size(s.size, len(settings.ms_ssim_weights), settings.ssim_sigma)
    return True
