"""The comparison runner: a reference image set against one or more methods, every metric with its
95 % interval, one Dataset.

Per set (the reference included): image count, seconds per image, diversity MS-SSIM, and per
class the display gray-level statistics, envelope statistics (sets that store an envelope), gCNR
and pixel fraction. Per method against the reference: FID, KID, precision/recall,
density/coverage on the backbone's features, FRD on radiomic features (whole image and per class),
SSIM and MS-SSIM over the pairs made from the same mask, and per class the JS divergence of gray
values. A method may bring one image set per training seed (`--method NAME=A.h5,B.h5`): its value
is the mean over seeds, its interval a two-level bootstrap (compare.bootstrap).
Each method's condition (what it saw of the reference: mask, sketch, image) and how its seconds
were measured travel with it. A metric these sets cannot give is NaN with a note saying why.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from ussim.progress import bar as progress_bar

from compare import backbones, bootstrap, estimates, measure, radiomics, results
from compare.backbones import weights as inception_weights
from compare.classstats import class_statistics
from compare.defaults import FRD_MODES, Settings
from compare.ellipse import PROTOCOLS
from compare.methods import COLLAPSE_FLAG, COLLAPSED, describe, method_columns
from compare.metrics import MetricUndefined, fid, kid, prdc
from compare.sets import ImageSet, check_sizes, close, open_method_sets, unite_classes
from ussim.errors import UsageError


# Plug-in distances between sets, biased upward in resamples (compare.bootstrap); FRD is a logarithm.
BIAS_CORRECTED = ("fid", "frd", "js")
NONNEGATIVE = ("fid", "js")


class Notes(list):
    """Notes of a run; `attempt` runs one metric, turning MetricUndefined into NaN and a note."""

    def attempt(self, where: str, compute, *args, **kwargs):
        undefined = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = compute(*args, **kwargs)
            except MetricUndefined as error:
                value, undefined = None, error
        for message in [w.message for w in caught] + ([undefined] if undefined else []):
            self.add(f"{where}: {message}")
        return value

    def add(self, note: str) -> None:
        self.append(note)
        warnings.warn(note, stacklevel=3)


def validate(settings: Settings) -> None:
    for name in ("batch_size", "kid_subsets", "kid_subset_size", "precision_recall_k", "density_coverage_k",
                 "diversity_pairs", "min_class_pixels", "bootstrap_resamples"):
        if getattr(settings, name) < 1:
            raise UsageError(f"{name.replace('_', '-')} must be at least 1, got {getattr(settings, name)}")
    if len(settings.ms_ssim_weights) < 1 or settings.ssim_sigma <= 0:
        raise UsageError("MS-SSIM needs at least one scale weight and a positive sigma")
    if not 0 < settings.collapse_ms_ssim <= 1:
        raise UsageError(f"collapse-ms-ssim {settings.collapse_ms_ssim} not allowed: need a number in (0, 1]")
    if settings.protocol not in PROTOCOLS:
        raise UsageError(f"protocol '{settings.protocol}' is not one of {', '.join(PROTOCOLS)}")
    if settings.frd not in FRD_MODES:
        raise UsageError(f"frd '{settings.frd}' is not one of {', '.join(FRD_MODES)}")
    backbones.check_device(settings.backbone, settings.device)


def check_organs(reference: ImageSet, candidates: list[ImageSet]) -> None:
    """Refuse sets of another organ than the reference, or with no class in common with it.

    DECISION: refused, not noted: an ovary reference scored against IVUS images gives numbers
    (FID 32 and so on) that look like a comparison and mean nothing. A set whose organ is
    'unknown' (an import that did not name one) is compared; its classes still must overlap.
    """
    organ = str(reference.ds.attrs.get("organ", "unknown"))
    for s in candidates:
        other = str(s.ds.attrs.get("organ", "unknown"))
        if "unknown" not in (organ, other) and other != organ:
            raise UsageError(f"{s.name} ({s.path.name}) is a set of organ '{other}', the reference of organ '{organ}': "
                             f"compare sets of one organ")
        if not set(s.class_names) & set(reference.class_names):
            raise UsageError(f"{s.name} ({s.path.name}) has classes {', '.join(s.class_names)}, none of the "
                             f"reference's ({', '.join(reference.class_names)}): compare sets of one class list")


def run(reference: str | Path, methods: list[tuple[str, str | Path | list]], settings: Settings | None = None, *,
        reference_name: str = "reference", weights=None, download: bool = True, progress: bool = True,
        cache: bool = True):
    """Compare every method's image set(s) with the reference set; return the results Dataset.

    `methods`: (name, path) or (name, [path per training seed]) pairs.
    """
    settings = settings or Settings()
    validate(settings)
    named = [(name, [Path(p) for p in (paths if isinstance(paths, (list, tuple)) else [paths])])
             for name, paths in methods]
    reference_set, method_sets = open_method_sets((reference_name, Path(reference)), named)
    every = [reference_set, *(s for seeds in method_sets.values() for s in seeds)]
    try:
        notes = Notes()
        check_organs(reference_set, every[1:])
        classes, class_notes = unite_classes(every)
        described = [note for name, seeds in method_sets.items() for note in describe(name, seeds)]  # refuses first
        for note in class_notes + check_sizes(reference_set, every[1:], settings.size_mismatch) + described:
            notes.add(note)
        if settings.protocol == "ellipse":
            notes.add(f"protocol ellipse (SpeckleGAN, GAN evaluation): each method generated "
                      f"{settings.ellipse_samples} images from random IVUS ellipse masks (ussim.phantoms.ivus, seed "
                      f"{settings.ellipse_seed}), scored unpaired against all {reference_set.n} reference images; "
                      f"no image shares a mask with a reference image, so SSIM and MS-SSIM are undefined")
        with_frd = radiomics.decide(settings.frd, notes)
        backbone = backbones.load(settings.backbone, weights=weights, device=settings.device, download=download,
                                  progress=progress)
        statistics = {s.path: class_statistics(s, len(classes), settings.min_class_pixels, progress) for s in every}
        # One bar over the sets as well as each set's own: many short sets (the demo's dozen images
        # each) would otherwise run minutes without a line in a log (ussim.progress).
        measured = {}
        for s in progress_bar(every, unit="set", desc="image sets measured", enabled=progress):
            measured[s.path] = measure.measure_set(s, statistics[s.path], backbone, settings, notes, progress=progress,
                                                   cache=cache, with_frd=with_frd)
        reference_data = measured[reference_set.path]
        paired = {name: [estimates.Paired.of(reference_data, measured[s.path],
                                             *measure.measure_pairs(reference_set, s, settings, notes, progress))
                         for s in seeds] for name, seeds in method_sets.items()}
        names = [reference_name, *method_sets]
        metrics = results.metric_names(backbone.name)
        points, seed_points = point_estimates(reference_data, paired, settings, metrics, len(classes), notes)
        replicates = replicate(reference_data, paired, settings, metrics, len(classes), progress)
        values, class_values = points
        intervals, class_intervals = summarise_replicates(replicates, points, names, metrics, notes)
        for k, metric in enumerate(metrics):
            if results.base_metric(metric) in results.WITHOUT_INTERVAL:
                intervals[:, k] = np.nan
        per_method = method_columns(reference_set, method_sets, reference_data, measured, settings.collapse_ms_ssim)
        for name, state, detail in zip(names, per_method["collapse"], per_method["collapse_detail"], strict=True):
            if state == COLLAPSED:
                notes.add(f"{name}: MODE COLLAPSE: {detail}; the reference's own is "
                          f"{values[0, metrics.index('diversity_ms_ssim')]:.3f}. It is flagged "
                          f"{COLLAPSE_FLAG} in every table and ranked in no verdict")
        extra = {"reference": reference_name, "backbone_dim": int(backbone.dim),
                 "backbone_is_inception": int(backbones.is_inception(backbone.name)), "frd_computed": int(with_frd)}
        if backbones.is_inception(backbone.name):
            extra["backbone_weights_sha256"] = inception_weights.SHA256
        else:
            extra["backbone_note"] = (f"weights-free backbone {backbone.name}: its feature metrics are comparable "
                                      f"only with other {backbone.name} numbers, never with Inception-based ones")
        if with_frd:
            from compare.metrics import frd
            extra["frd_versions"] = json.dumps(frd.versions(), sort_keys=True)
        return results.build(names, classes, values, class_values, intervals=intervals,
                             class_intervals=class_intervals, seed_values=seed_points, backbone=backbone.name,
                             per_method=per_method, parameters=settings.as_dict(), extra_attrs=extra,
                             notes=list(notes))
    finally:
        close(every)


def _vectors(values: dict, per_class: dict, metrics: list[str], n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    row = np.array([values.get(results.base_metric(m), np.nan) for m in metrics], np.float64)
    table = np.full((len(results.CLASS_METRICS), n_classes), np.nan)
    for j, name in enumerate(results.CLASS_METRICS):
        if name in per_class:
            table[j] = per_class[name]
    return row, table


def point_estimates(reference, paired: dict, settings: Settings, metrics: list[str], n_classes: int, notes: Notes):
    """((values, class values), per-seed values): the reference row, then each method's mean over seeds."""
    ones = _ones(reference)
    rows, tables = [], []
    row, table = _vectors(*estimates.set_values(reference, *ones), metrics, n_classes)
    row[metrics.index("n_images")] = reference.n
    row[metrics.index("n_timed")] = int(np.isfinite(reference.seconds).sum())
    rows.append(row)
    tables.append(table)
    n_sets = max(len(seeds) for seeds in paired.values())
    seed_rows = np.full((len(paired) + 1, n_sets, len(metrics)), np.nan)
    seed_rows[0, 0] = row
    for m, seeds in enumerate(paired.values(), start=1):
        per_seed = [_vectors(*_point_of_one(reference, pair, settings, pair.data.name, notes), metrics, n_classes)
                    for pair in seeds]
        for k, (seed_row, _) in enumerate(per_seed):
            seed_rows[m, k] = seed_row
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a metric NaN in every seed stays NaN
            rows.append(np.nanmean([r for r, _ in per_seed], axis=0))
            tables.append(np.nanmean([t for _, t in per_seed], axis=0))
    return (np.stack(rows), np.stack(tables)), seed_rows


def _ones(data) -> tuple[np.ndarray, np.ndarray | None]:
    return np.ones(data.n), None if data.diversity is None else np.ones(len(data.diversity))


def _point_of_one(reference, pair, settings: Settings, name: str, notes: Notes) -> tuple[dict, dict]:
    """One set's values: its own metrics, then the reference implementations of the feature metrics."""
    values, per_class = estimates.set_values(pair.data, *_ones(pair.data))
    against, against_class = estimates.paired_values(reference, pair, np.ones(reference.n), np.ones(pair.data.n),
                                                     None if pair.ssim is None else np.ones(pair.n_pairs),
                                                     settings.precision_recall_k, settings.density_coverage_k)
    real, synthetic = reference.features, pair.data.features
    against["fid"] = notes.attempt(f"{name} FID", fid.fid, real, synthetic)
    against["kid_mean"], against["kid_std"] = notes.attempt(
        f"{name} KID", kid.kid, real, synthetic, subsets=settings.kid_subsets,
        subset_size=settings.kid_subset_size, seed=settings.kid_seed) or (None, None)
    if max(len(real), len(synthetic)) <= settings.kid_subset_size and against["kid_std"] is not None:
        against["kid_std"] = None
        notes.add(f"{name} KID: its subset std is not available: both sets ({len(real)} and {len(synthetic)} images) "
                  f"are no larger than the subset size {settings.kid_subset_size}, so every subset is the whole "
                  f"set; the KID interval comes from the bootstrap")
    against["precision"], against["recall"] = notes.attempt(
        f"{name} precision/recall", prdc.precision_recall, real, synthetic, settings.precision_recall_k) or (None, None)
    against["density"], against["coverage"] = notes.attempt(
        f"{name} density/coverage", prdc.density_coverage, real, synthetic,
        settings.density_coverage_k) or (None, None)
    values.update({k: np.nan if v is None else v for k, v in against.items()})
    values["n_images"], values["n_timed"] = pair.data.n, int(np.isfinite(pair.data.seconds).sum())
    values["n_pairs"] = pair.n_pairs
    return values, {**per_class, **against_class}


def replicate(reference, paired: dict, settings: Settings, metrics: list[str], n_classes: int, progress: bool):
    """(values (B, methods, metrics), class values (B, methods, class metrics, classes)) of every replicate."""
    rng = np.random.default_rng(settings.bootstrap_seed)
    count = settings.bootstrap_resamples
    values = np.full((count, len(paired) + 1, len(metrics)), np.nan)
    tables = np.full((count, len(paired) + 1, len(results.CLASS_METRICS), n_classes), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # metrics undefined in a resample are NaN there
        for b in progress_bar(range(count), unit="resample", desc="bootstrap intervals", enabled=progress):
            w_reference = bootstrap.resample_counts(rng, reference.n)
            values[b, 0], tables[b, 0] = _vectors(
                *estimates.set_values(reference, w_reference, _draw(rng, reference.diversity)), metrics, n_classes)
            for m, seeds in enumerate(paired.values(), start=1):
                drawn = []
                for s in bootstrap.resample_seeds(rng, len(seeds)):
                    pair = seeds[s]
                    w_set = bootstrap.resample_counts(rng, pair.data.n)
                    own, own_class = estimates.set_values(pair.data, w_set, _draw(rng, pair.data.diversity))
                    against, against_class = estimates.paired_values(
                        reference, pair, w_reference, w_set, _draw(rng, pair.ssim), settings.precision_recall_k,
                        settings.density_coverage_k)
                    drawn.append(_vectors({**own, **against}, {**own_class, **against_class}, metrics, n_classes))
                values[b, m] = np.nanmean([r for r, _ in drawn], axis=0)
                tables[b, m] = np.nanmean([t for _, t in drawn], axis=0)
    return values, tables


def _draw(rng: np.random.Generator, items: np.ndarray | None) -> np.ndarray | None:
    return None if items is None else bootstrap.resample_counts(rng, len(items))


def summarise_replicates(replicates, points, names: list[str], metrics: list[str], notes: Notes):
    """(intervals (methods, metrics, 2), class intervals (methods, class metrics, classes, 2)), with notes
    where a metric had a point value but too few defined replicates for an interval."""
    values, tables = replicates
    def marks(names, kinds):
        return np.array([name in kinds for name in names])
    bases = [results.base_metric(m) for m in metrics]
    low, high, share = bootstrap.percentile_interval(values, points[0], marks(bases, BIAS_CORRECTED),
                                                     marks(bases, NONNEGATIVE))
    class_low, class_high, _ = bootstrap.percentile_interval(
        tables, points[1], marks(results.CLASS_METRICS, BIAS_CORRECTED)[:, None],
        marks(results.CLASS_METRICS, NONNEGATIVE)[:, None])
    for m, name in enumerate(names):
        for k, metric in enumerate(metrics):
            if 0 < share[m, k] < bootstrap.MIN_DEFINED and results.base_metric(metric) not in results.WITHOUT_INTERVAL:
                notes.add(f"{name} {metric}: no interval: the metric is defined in only {share[m, k]:.0%} of the "
                          f"bootstrap resamples (too few distinct images)")
    return np.stack([low, high], axis=-1), np.stack([class_low, class_high], axis=-1)
