"""Per-image, per-class statistics of one image set, in one streaming pass over its samples.

Kept per image (not pooled) so that every number built from them can be bootstrapped over
images (compare.estimates):
  * the gray-value histogram of each class (for JS, which pools them over the set),
  * display gray-level statistics per class: mean and standard deviation of the uint8 gray values
    the reader sees (every set has them: real, GAN and ussim's display image alike),
  * envelope statistics per class, only for sets that store the linear envelope (the simulator):
    mean/std, Nakagami m, std of the log envelope, whose fully developed speckle values are
    1.913, 1 and 5.57 dB. DECISION: never computed from display gray values: log compression and
    the display chain change all three, so such numbers would sit beside envelope ones with a
    meaning they do not have (issue 14).
  * gCNR of each class against class 0 on the display image, and the class's pixel count.
DECISION: a statistic is measured in an image only where the class has at least `min_pixels`
pixels there (too few speckle cells for a second-order statistic), NaN elsewhere; a set's value
is the mean over the images where it was measured, so pooling images of different gains adds no
brightness variance that is not speckle.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from ussim.progress import bar as progress_bar

from compare.metrics import gcnr as gcnr_metric
from compare.metrics import js, speckle
from compare.sets import ImageSet
from ussim.errors import UsageError

BLOCK = 64
GRAY_NAMES = ("mean", "std")


@dataclasses.dataclass
class ClassStatistics:
    histograms: np.ndarray      # (images, classes, 256) pixel counts per gray value
    gray: np.ndarray            # (images, classes, 2) display gray mean and std; NaN where not measured
    envelope: np.ndarray | None  # (images, classes, 3) speckle.NAMES of the linear envelope; None without one
    gcnr: np.ndarray            # (images, classes) gCNR against class 0; NaN for class 0 and where not measured
    pixels: np.ndarray          # (images, classes) pixel counts

    @property
    def n(self) -> int:
        return self.pixels.shape[0]


def class_statistics(s: ImageSet, n_classes: int, min_pixels: int, progress: bool = True) -> ClassStatistics:
    has_envelope = "envelope" in s.ds
    n = s.n
    histograms = np.zeros((n, n_classes, js.BINS), np.int32)
    gray = np.full((n, n_classes, len(GRAY_NAMES)), np.nan)
    envelope = np.full((n, n_classes, len(speckle.NAMES)), np.nan) if has_envelope else None
    gcnr = np.full((n, n_classes), np.nan)
    pixels = np.zeros((n, n_classes), np.int64)
    for start in progress_bar(range(0, n, BLOCK), unit="block", desc=f"class statistics {s.name}",
                      enabled=progress):
        block = slice(start, start + BLOCK)
        images = np.asarray(s.ds["image"][block].values)
        labels = s.labels(block)
        amplitudes = np.asarray(s.ds["envelope"][block].values) if has_envelope else None
        if has_envelope:
            _check_finite(s, amplitudes, start)
        for k, (image, label) in enumerate(zip(images, labels, strict=True)):
            i = start + k
            histograms[i] = js.class_histograms(image, label, n_classes)
            masks = [label == c for c in range(n_classes)]
            pixels[i] = [int(m.sum()) for m in masks]
            for c in range(n_classes):
                if pixels[i, c] < min_pixels:
                    continue
                values = image[masks[c]].astype(np.float64)
                gray[i, c] = values.mean(), values.std()
                if has_envelope:
                    measured = speckle.statistics(amplitudes[k][masks[c]])
                    envelope[i, c] = [measured[name] for name in speckle.NAMES]
                if c > 0 and pixels[i, 0] >= min_pixels:
                    gcnr[i, c] = gcnr_metric.gcnr(image[masks[c]], image[masks[0]])
    return ClassStatistics(histograms, gray, envelope, gcnr, pixels)


def _check_finite(s: ImageSet, envelope: np.ndarray, start: int) -> None:
    bad = ~np.all(np.isfinite(envelope), axis=(1, 2))
    if bad.any():
        ids = [str(v) for v in s.ds["sample_id"].values[start + np.flatnonzero(bad)][:5]]
        raise UsageError(f"{s.path}: envelope holds NaN or infinite values in sample(s) {', '.join(ids)} "
                         f"of {s.name}: fix or drop those samples (ussim's select) before comparing")
