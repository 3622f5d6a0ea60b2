"""Seconds per image, from the `seconds` variable the producer of an image set stored.

The producer measures wall time per sample at its own batch size and device with warm-up
excluded (ARCHITECTURE: "timing"); real images carry NaN. The comparison does not re-time
anything: it reports what each set says it cost.
"""

from __future__ import annotations

import numpy as np


def seconds_per_image(seconds: np.ndarray) -> tuple[float, int]:
    """(mean seconds over the timed samples, number of timed samples); NaN when none is timed.

    DECISION: the mean, not the median: total time / images is what a user pays for a set.
    """
    seconds = np.asarray(seconds, np.float64)
    timed = seconds[np.isfinite(seconds)]
    return (float(timed.mean()) if timed.size else np.nan), int(timed.size)
