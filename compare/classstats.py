"""Per-class statistics of one image set, in one streaming pass over its samples.

For each class (in union indices): the gray-value histogram pooled over the set (for JS), the
speckle statistics and the gCNR against the first class, and the class's pixel fraction.
DECISION: speckle statistics and gCNR are computed per image on that image's pixels of the class
and averaged over the images where the class has enough pixels: pooling pixels of images with
different gains would add brightness variance that is not speckle.

Speckle statistics use the stored linear envelope when the set has one; otherwise (DECISION) the
display image's gray values as they are, without guessing a dynamic range to undo the log
compression; they cannot be held against the Rayleigh values (1.913, 1, 5.57 dB): `source` says
which was used and the runner notes it.
DECISION: gCNR is measured on the display image (uint8, one bin per gray value) for every set,
envelope or not, so that real and synthetic sets are measured alike; the first class (class 0,
conventionally the background) is the region every other class is contrasted with.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tqdm import tqdm

from compare.metrics import gcnr as gcnr_metric
from compare.metrics import js, speckle
from compare.sets import ImageSet
from ussim.errors import UsageError

BLOCK = 64


@dataclasses.dataclass
class ClassStatistics:
    histograms: np.ndarray      # (classes, 256) pixel counts
    speckle: np.ndarray         # (classes, 3) mean over images of speckle.NAMES; NaN where never measured
    gcnr: np.ndarray            # (classes,) mean over images of gCNR against class 0; NaN for class 0
    pixel_fraction: np.ndarray  # (classes,)
    source: str                 # "envelope" or "image"


def class_statistics(s: ImageSet, n_classes: int, min_pixels: int, progress: bool = True) -> ClassStatistics:
    source = "envelope" if "envelope" in s.ds else "image"
    histograms = np.zeros((n_classes, js.BINS), np.int64)
    speckle_sum = np.zeros((n_classes, len(speckle.NAMES)))
    speckle_count = np.zeros((n_classes, len(speckle.NAMES)), np.int64)
    gcnr_sum, gcnr_count = np.zeros(n_classes), np.zeros(n_classes, np.int64)
    for start in tqdm(range(0, s.n, BLOCK), unit="block", desc=f"class statistics {s.name}",
                      disable=None if progress else True):
        block = slice(start, start + BLOCK)
        images = np.asarray(s.ds["image"][block].values)
        labels = s.labels(block)
        amplitudes = images if source == "image" else np.asarray(s.ds["envelope"][block].values)
        if source == "envelope":
            _check_finite(s, amplitudes, start)
        histograms += js.class_histograms(images, labels, n_classes)
        for image, label, amplitude in zip(images, labels, amplitudes, strict=True):
            masks = [label == c for c in range(n_classes)]
            counts = [int(m.sum()) for m in masks]
            for c in range(n_classes):
                if counts[c] < min_pixels:
                    continue
                measured_stats = speckle.statistics(amplitude[masks[c]])
                values = np.array([measured_stats[name] for name in speckle.NAMES])
                measured = np.isfinite(values)
                speckle_sum[c, measured] += values[measured]
                speckle_count[c, measured] += 1
                if c > 0 and counts[0] >= min_pixels:
                    gcnr_sum[c] += gcnr_metric.gcnr(image[masks[c]], image[masks[0]])
                    gcnr_count[c] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        speckle_mean = np.where(speckle_count > 0, speckle_sum / np.maximum(speckle_count, 1), np.nan)
        gcnr_mean = np.where(gcnr_count > 0, gcnr_sum / np.maximum(gcnr_count, 1), np.nan)
        fraction = histograms.sum(axis=1) / max(histograms.sum(), 1)
    return ClassStatistics(histograms, speckle_mean, gcnr_mean, fraction, source)


def _check_finite(s: ImageSet, envelope: np.ndarray, start: int) -> None:
    bad = ~np.all(np.isfinite(envelope), axis=(1, 2))
    if bad.any():
        ids = [str(v) for v in s.ds["sample_id"].values[start + np.flatnonzero(bad)][:5]]
        raise UsageError(f"{s.path}: envelope holds NaN or infinite values in sample(s) {', '.join(ids)} "
                         f"of {s.name}: fix or drop those samples (ussim's select) before comparing")
