"""Every metric of a comparison as a function of resampling weights, so that one code path gives
both the point estimate (every weight 1) and each bootstrap replicate (compare.bootstrap).

    SetData   what is kept of one image set: backbone features, per-image class statistics,
              seconds, diversity pair values, radiomic features (FRD)
    Paired    one candidate set against the reference: the feature metrics' resamplers and the
              SSIM / MS-SSIM values of the pairs made from the same mask
    set_values(data, w, w_diversity)        the set's own metrics (cost, diversity, class statistics)
    paired_values(ref, pair, w_ref, w_set, w_pairs, settings)   the metrics against the reference

DECISION: the point estimates of FID, KID and precision/recall/density/coverage come from the
reference implementations (compare.metrics: pytorch-fid's sqrtm, torch-fidelity's subsets); their
replicates use the resamplers of the same modules, which give the same number on the same rows
(tests/compare/test_bootstrap.py). Every other metric is the same function for both.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from compare import bootstrap
from compare.classstats import ClassStatistics
from compare.metrics import MetricUndefined, fid, js, kid, prdc

GRAY_METRICS = ("gray_mean", "gray_std")
ENVELOPE_METRICS = ("envelope_mean_over_std", "envelope_nakagami_m", "envelope_log_std_db")


@dataclasses.dataclass
class SetData:
    name: str
    features: np.ndarray            # (n, d) backbone features
    stats: ClassStatistics          # per image and class
    seconds: np.ndarray             # (n,) NaN where not timed
    diversity: np.ndarray | None    # (pairs,) MS-SSIM of random image pairs; None when undefined
    radiomics: dict | None = None   # "image" and class index -> (n, d') radiomic features; None: no FRD

    @property
    def n(self) -> int:
        return len(self.seconds)


@dataclasses.dataclass
class Paired:
    """One candidate set measured against the reference."""
    data: SetData
    fid: fid.ResampledFID
    kid: kid.ResampledKID
    neighbours: prdc.Resampled
    ssim: np.ndarray | None         # (pairs,) per pair made from the same mask; None without pairs
    ms_ssim: np.ndarray | None

    @classmethod
    def of(cls, reference: SetData, data: SetData, ssim: np.ndarray | None, ms_ssim: np.ndarray | None) -> "Paired":
        return cls(data, fid.ResampledFID(reference.features, data.features),
                   kid.ResampledKID(reference.features, data.features),
                   prdc.Resampled(reference.features, data.features), ssim, ms_ssim)

    @property
    def n_pairs(self) -> int:
        return 0 if self.ssim is None else len(self.ssim)


def weighted_nanmean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean over axis 0, skipping NaN entries; NaN where nothing is left."""
    flat = values.reshape(len(values), -1)
    finite = np.isfinite(flat)
    total = weights @ finite
    summed = weights @ np.where(finite, flat, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, summed / np.where(total > 0, total, 1), np.nan)
    return mean.reshape(values.shape[1:])


def set_values(data: SetData, weights: np.ndarray, diversity_weights: np.ndarray | None) -> tuple[dict, dict]:
    """({metric: value}, {class_metric: per-class values}) of one set's own metrics."""
    timed = np.isfinite(data.seconds)
    values = {"seconds_per_image": float(weighted_nanmean(data.seconds[timed], weights[timed]))
              if timed.any() else np.nan,
              "diversity_ms_ssim": np.nan if data.diversity is None else
              float(weighted_nanmean(data.diversity, diversity_weights))}
    stats = data.stats
    gray = weighted_nanmean(stats.gray, weights)
    per_class = {name: gray[:, j] for j, name in enumerate(GRAY_METRICS)}
    if stats.envelope is not None:
        envelope = weighted_nanmean(stats.envelope, weights)
        per_class.update({name: envelope[:, j] for j, name in enumerate(ENVELOPE_METRICS)})
    per_class["gcnr"] = weighted_nanmean(stats.gcnr, weights)
    pixels = weights @ stats.pixels
    per_class["pixel_fraction"] = pixels / max(pixels.sum(), 1)
    return values, per_class


def paired_values(reference: SetData, pair: Paired, w_reference: np.ndarray, w_set: np.ndarray,
                  w_pairs: np.ndarray | None, k_pr: int, k_dc: int) -> tuple[dict, dict]:
    """Replicate values of every metric of `pair` against the reference (feature metrics by the
    resamplers; see the module docstring for their point estimates)."""
    reference_rows, set_rows = bootstrap.rows(w_reference), bootstrap.rows(w_set)
    values = {"fid": _attempt(pair.fid, w_reference, w_set), "kid_mean": _attempt(pair.kid, w_reference, w_set)}
    values["precision"], values["recall"] = _attempt(
        pair.neighbours.precision_recall, reference_rows, set_rows, k_pr, default=(np.nan, np.nan))
    values["density"], values["coverage"] = _attempt(
        pair.neighbours.density_coverage, reference_rows, set_rows, k_dc, default=(np.nan, np.nan))
    values.update(similarity(pair, w_pairs))
    per_class = {"js": class_js(reference.stats.histograms, pair.data.stats.histograms, w_reference, w_set)}
    if reference.radiomics is not None and pair.data.radiomics is not None:
        values["frd"], per_class["frd"] = frd_values(reference, pair.data, reference_rows, set_rows)
    return values, per_class


def similarity(pair: Paired, w_pairs: np.ndarray | None) -> dict:
    if pair.ssim is None:
        return {"ssim": np.nan, "ms_ssim": np.nan}
    return {"ssim": float(weighted_nanmean(pair.ssim, w_pairs)),
            "ms_ssim": np.nan if pair.ms_ssim is None else float(weighted_nanmean(pair.ms_ssim, w_pairs))}


def class_js(reference: np.ndarray, other: np.ndarray, w_reference: np.ndarray, w_other: np.ndarray) -> np.ndarray:
    """JS divergence per class of the gray-value histograms pooled over the (weighted) images."""
    pooled_reference = (w_reference @ reference.reshape(len(reference), -1)).reshape(reference.shape[1:])
    pooled_other = (w_other @ other.reshape(len(other), -1)).reshape(other.shape[1:])
    out = np.full(reference.shape[1], np.nan)
    for c in range(len(out)):
        if pooled_reference[c].sum() > 0 and pooled_other[c].sum() > 0:
            out[c] = js.js_divergence(pooled_reference[c], pooled_other[c])
    return out


def frd_values(reference: SetData, other: SetData, reference_rows: np.ndarray,
               other_rows: np.ndarray) -> tuple[float, np.ndarray]:
    """FRD of the whole images and per class region, on the given (resampled) rows."""
    from compare.metrics import frd as frd_metric  # optional dependency (pyradiomics), see compare.radiomics
    def one(key) -> float:
        a, b = reference.radiomics.get(key), other.radiomics.get(key)
        if a is None or b is None:
            return np.nan
        return _attempt(frd_metric.frd_from_features, a[reference_rows], b[other_rows])
    n_classes = reference.stats.pixels.shape[1]
    return one("image"), np.array([one(c) for c in range(n_classes)])


def _attempt(compute, *args, default=np.nan):
    """A replicate where the metric is undefined (too few distinct images) is NaN."""
    try:
        return compute(*args)
    except MetricUndefined:
        return default
