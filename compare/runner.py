"""The comparison runner: a reference image set against one or more methods, every metric, one Dataset.

Per set (the reference included): image count, seconds per image, diversity MS-SSIM, and per
class the speckle statistics, gCNR and pixel fraction. Per method against the reference: FID,
KID, precision/recall, density/coverage on the backbone's features, SSIM and MS-SSIM over the
pairs made from the same mask, and per class the JS divergence of gray-value histograms.
A metric these sets cannot give is NaN with a note saying why; each warning is a note too.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from compare import backbones, features, pairing, results
from compare.backbones import weights as inception_weights
from compare.classstats import class_statistics
from compare.defaults import Settings
from compare.metrics import MetricUndefined, fid, js, kid, prdc, ssim, timing
from compare.sets import ImageSet, as_unit_float, check_sizes, close, open_sets, unite_classes
from ussim.errors import UsageError

PAIR_BLOCK = 32


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
                 "diversity_pairs", "min_class_pixels"):
        if getattr(settings, name) < 1:
            raise UsageError(f"{name.replace('_', '-')} must be at least 1, got {getattr(settings, name)}")
    if len(settings.ms_ssim_weights) < 1 or settings.ssim_sigma <= 0:
        raise UsageError("MS-SSIM needs at least one scale weight and a positive sigma")


def run(reference: str | Path, methods: list[tuple[str, str | Path]], settings: Settings | None = None, *,
        reference_name: str = "reference", weights=None, download: bool = True, progress: bool = True,
        cache: bool = True):
    """Compare every method's image set with the reference set; return the results Dataset."""
    settings = settings or Settings()
    validate(settings)
    sets = open_sets((reference_name, Path(reference)), [(name, Path(path)) for name, path in methods])
    try:
        notes = Notes()
        classes, class_notes = unite_classes(sets)
        for note in class_notes + check_sizes(sets[0], sets[1:], settings.size_mismatch):
            notes.add(note)
        backbone = backbones.load(settings.backbone, weights=weights, device=settings.device, download=download,
                                  progress=progress)
        metrics = results.metric_names(backbone.name)
        values = np.full((len(sets), len(metrics)), np.nan)
        class_values = np.full((len(sets), len(results.CLASS_METRICS), len(classes)), np.nan)
        # Per-class statistics first: they read every pixel (and refuse a NaN envelope) cheaply,
        # before minutes of feature extraction.
        statistics = [class_statistics(s, len(classes), settings.min_class_pixels, progress) for s in sets]
        set_features = [features.extract(s.ds["image"], backbone, batch_size=settings.batch_size, progress=progress,
                                          cache=cache, label=s.name) for s in sets]
        for k, s in enumerate(sets):
            row = dict(zip(metrics, values[k], strict=True))
            row["n_images"] = s.n
            row["seconds_per_image"], row["n_timed"] = timing.seconds_per_image(s.ds["seconds"].values)
            row["diversity_ms_ssim"] = notes.attempt(f"{s.name} diversity MS-SSIM", diversity, s, settings, progress)
            stats = statistics[k]
            if stats.source == "image":
                notes.add(f"{s.name}: no envelope stored, speckle statistics are of the display gray values "
                          f"(log-compressed; not comparable with the Rayleigh values 1.913, 1, 5.57 dB)")
            class_values[k, 1:4] = stats.speckle.T
            class_values[k, 4] = stats.gcnr
            class_values[k, 5] = stats.pixel_fraction
            if k > 0:
                row.update(against_reference(sets[0], s, set_features[0], set_features[k], backbone.name, settings,
                                             notes, progress))
                for c, name in enumerate(classes):
                    if stats.pixel_fraction[c] > 0 and statistics[0].pixel_fraction[c] > 0:
                        class_values[k, 0, c] = js.js_divergence(statistics[0].histograms[c], stats.histograms[c])
                    elif stats.pixel_fraction[c] > 0 or statistics[0].pixel_fraction[c] > 0:
                        notes.add(f"{s.name} JS: class {name} has pixels in only one of {s.name} and "
                                  f"{sets[0].name}: NaN")
            values[k] = [np.nan if row[m] is None else row[m] for m in metrics]
        per_method = {"role": ["reference"] + ["candidate"] * (len(sets) - 1),
                      "file": [str(s.path.absolute()) for s in sets],  # the report finds the sets by it
                      "image_size": [f"{s.size[0]}x{s.size[1]}" for s in sets],
                      "speckle_source": [stats.source for stats in statistics]}
        extra = {"reference": sets[0].name, "backbone_dim": int(backbone.dim),
                 "backbone_is_inception": int(backbones.is_inception(backbone.name))}
        if backbones.is_inception(backbone.name):
            extra["backbone_weights_sha256"] = inception_weights.SHA256
        else:
            extra["backbone_note"] = (f"weights-free backbone {backbone.name}: its feature metrics are comparable "
                                      f"only with other {backbone.name} numbers, never with Inception-based ones")
        return results.build([s.name for s in sets], classes, values, class_values, backbone=backbone.name,
                             per_method=per_method, parameters=settings.as_dict(), extra_attrs=extra,
                             notes=list(notes))
    finally:
        close(sets)


def against_reference(reference: ImageSet, candidate: ImageSet, real, synthetic, backbone: str,
                      settings: Settings, notes: Notes, progress: bool) -> dict:
    """The metrics of one candidate set measured against the reference set."""
    where = candidate.name
    row = {"fid": notes.attempt(f"{where} FID", fid.fid, real, synthetic)}
    row["kid_mean"], row["kid_std"] = notes.attempt(
        f"{where} KID", kid.kid, real, synthetic, subsets=settings.kid_subsets,
        subset_size=settings.kid_subset_size, seed=settings.kid_seed) or (None, None)
    row["precision"], row["recall"] = notes.attempt(
        f"{where} precision/recall", prdc.precision_recall, real, synthetic,
        settings.precision_recall_k) or (None, None)
    row["density"], row["coverage"] = notes.attempt(
        f"{where} density/coverage", prdc.density_coverage, real, synthetic,
        settings.density_coverage_k) or (None, None)
    row = {results.feature_label(name, backbone): value for name, value in row.items()}
    pairs = pairing.find_pairs(reference, candidate)
    row["n_pairs"] = len(pairs)
    if not pairs:
        notes.add(f"{where}: no sample made from the same mask as a reference sample (same label map, or "
                  f"sample id <id> / sim-<id> when sizes differ): SSIM and MS-SSIM are NaN")
        return row
    if len(pairs) < candidate.n:
        notes.add(f"{where}: {candidate.n - len(pairs)} of {candidate.n} samples have no reference sample from "
                  f"the same mask and are left out of SSIM/MS-SSIM")
    with_ms = notes.attempt(f"{where} MS-SSIM", _ms_ssim_fits, reference, settings)
    row["ssim"], row["ms_ssim"] = paired_similarity(reference, candidate, pairs, settings, bool(with_ms), progress)
    return row


def _ms_ssim_fits(s: ImageSet, settings: Settings) -> bool:
    ssim.check_ms_ssim_size(s.size, len(settings.ms_ssim_weights), settings.ssim_sigma)
    return True


def paired_similarity(reference: ImageSet, candidate: ImageSet, pairs, settings: Settings, with_ms: bool,
                      progress: bool) -> tuple[float, float | None]:
    """Mean SSIM and MS-SSIM over the pairs (the candidate resized to the reference size if needed)."""
    options = dict(sigma=settings.ssim_sigma, k1=settings.ssim_k1, k2=settings.ssim_k2)
    ssims, ms_ssims = [], []
    with tqdm(total=len(pairs), unit="pair", desc=f"SSIM {candidate.name}", disable=None if progress else True) as bar:
        for start in range(0, len(pairs), PAIR_BLOCK):
            chunk = pairs[start:start + PAIR_BLOCK]
            a = as_unit_float(reference.ds["image"].isel(sample=[i for i, _ in chunk]).values)
            b = as_unit_float(candidate.ds["image"].isel(sample=[j for _, j in chunk]).values, reference.size)
            for x, y in zip(a, b, strict=True):
                ssims.append(ssim.ssim(x, y, **options))
                if with_ms:
                    ms_ssims.append(ssim.ms_ssim(x, y, weights=settings.ms_ssim_weights, **options))
            bar.update(len(chunk))
    return float(np.mean(ssims)), (float(np.mean(ms_ssims)) if with_ms else None)


def diversity(s: ImageSet, settings: Settings, progress: bool) -> float:
    """Mean MS-SSIM over random pairs of distinct images of one set (lower = more diverse)."""
    ssim.check_ms_ssim_size(s.size, len(settings.ms_ssim_weights), settings.ssim_sigma)
    pairs = ssim.diversity_pairs(s.n, settings.diversity_pairs, settings.diversity_seed)
    needed = sorted({i for pair in pairs for i in pair})
    # Kept as uint8 (400 images of 256 x 256 are 26 MB, not 210 MB as float64); scaled per pair.
    images = dict(zip(needed, np.asarray(s.ds["image"].isel(sample=needed).values), strict=True))
    options = dict(weights=settings.ms_ssim_weights, sigma=settings.ssim_sigma, k1=settings.ssim_k1,
                   k2=settings.ssim_k2)
    values = [ssim.ms_ssim(images[i] / 255, images[j] / 255, **options)
              for i, j in tqdm(pairs, unit="pair", desc=f"diversity {s.name}", disable=None if progress else True)]
    return float(np.mean(values))
