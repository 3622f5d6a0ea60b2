"""First-order speckle statistics of an amplitude sample (the pixels of one class in one image).

For fully developed speckle (Rayleigh envelope): mean/std = 1.913, Nakagami m = 1, standard
deviation of 20·log10(envelope) = 5.57 dB. Same formulas as ussim.measure.speckle_statistics,
without its depth-trend removal: a class region is an arbitrary mask, not a rectangle of
lines x depth samples, and the stored envelope is what the image was made from.
"""

from __future__ import annotations

import numpy as np

NAMES = ("mean_over_std", "nakagami_m", "log_std_db")
RAYLEIGH = {"mean_over_std": 1.913, "nakagami_m": 1.0, "log_std_db": 5.57}


def statistics(amplitude: np.ndarray) -> dict[str, float]:
    """mean/std, Nakagami m = E[A²]² / Var(A²), and std of 20·log10(A) in dB.

    DECISION: the log statistic uses the strictly positive amplitudes only (log of 0 is -inf);
    a display image clipped to 0 in dark regions would otherwise have no finite value.
    """
    a = np.asarray(amplitude, np.float64).ravel()
    intensity = a ** 2
    std, intensity_var = a.std(), intensity.var()
    positive = a[a > 0]
    return {"mean_over_std": float(a.mean() / std) if std > 0 else np.nan,
            "nakagami_m": float(intensity.mean() ** 2 / intensity_var) if intensity_var > 0 else np.nan,
            "log_std_db": float(np.std(20 * np.log10(positive))) if positive.size > 1 else np.nan}
