"""The B-mode chain after beamforming: envelope, time-gain compensation, log compression.

Beamformed lines come in as an array (n_lines, n_samples), samples along the last axis, either
real RF or complex IQ / analytic. `envelope` takes their magnitude, `apply_tgc` multiplies by a
depth-dependent gain (from the nominal attenuation, `tgc_gain_db`, or from a scanner's slider
points, `tgc_from_points`), and `log_compress` maps the envelope to an 8-bit image against a
FIXED reference, so that equal echoes give equal gray levels in every image of the toolkit.
Scan conversion to a display grid lives in `ussim.scan`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import signal

from ussim.errors import UsageError

# Floor under the envelope before the logarithm, so that a zero sample maps to black instead of
# -inf (and a RuntimeWarning). The smallest normal double: any sane reference puts it far below
# the dynamic range, so it never lifts a real sample off 0.
ENVELOPE_FLOOR = np.finfo(np.float64).tiny


def envelope(lines: np.ndarray) -> np.ndarray:
    """Envelope of beamformed lines, samples along the last axis.

    Complex input (IQ or analytic lines) is already analytic: its magnitude is the envelope.
    Real input is RF: the envelope is the magnitude of its analytic signal (Hilbert transform
    along the samples).
    """
    lines = np.asarray(lines)
    if lines.ndim == 0 or lines.shape[-1] < 2:
        raise UsageError(f"beamformed lines of shape {lines.shape} (need samples along the last axis, at least 2)")
    if np.iscomplexobj(lines):
        return np.abs(lines)
    if not np.issubdtype(lines.dtype, np.number) or lines.dtype == np.bool_:
        raise UsageError(f"beamformed lines of dtype {lines.dtype} (need real RF or complex IQ numbers)")
    # DECISION: no zero padding before the FFT-based Hilbert transform. Beamformed lines start
    # and end in (near) silence, so the circular wrap-around is negligible; padding would cost
    # time on every frame for no visible gain.
    return np.abs(signal.hilbert(lines, axis=-1))


def tgc_gain_db(depth_m, *, attenuation_db_cm_mhz: float, center_frequency: float,
                compensation: float = 1.0) -> np.ndarray:
    """Gain (dB) that undoes the nominal two-way attenuation at each depth (m).

    gain = compensation * 2 * alpha0 [dB/(cm MHz)] * f_c [MHz] * depth [cm]. A `compensation`
    below 1 leaves part of the attenuation in the image, as scanners' default TGC usually does.
    """
    alpha, fc = float(attenuation_db_cm_mhz), float(center_frequency)
    if not (alpha >= 0 and math.isfinite(alpha)):
        raise UsageError(f"attenuation {alpha:g} dB/(cm MHz) (must be finite and >= 0)")
    if not (fc > 0 and math.isfinite(fc)):
        raise UsageError(f"centre frequency {fc:g} Hz (must be finite and positive)")
    if not (compensation >= 0 and math.isfinite(compensation)):
        raise UsageError(f"TGC compensation {compensation:g} (must be finite and >= 0; 1 = full)")
    depth_cm = np.asarray(depth_m, dtype=np.float64) * 100.0
    # The centre frequency stands for the whole band: the downshift of the spectrum with depth
    # is ignored, as a nominal TGC on a scanner ignores it too.
    return compensation * 2.0 * alpha * (fc / 1e6) * depth_cm


def tgc_from_points(depth_m, points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Gain (dB) at each depth (m) from (depth_mm, gain_db) control points, like TGC sliders.

    Linear between points, and constant beyond the first and the last point.
    """
    table = np.asarray(points, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 2 or len(table) == 0:
        raise UsageError(f"TGC points of shape {table.shape} (need a list of (depth_mm, gain_db) pairs)")
    if not np.all(np.isfinite(table)):
        raise UsageError("TGC points contain a non-finite value (depths and gains must be finite)")
    # DECISION: the depths must strictly increase, as sliders do from top to bottom; sorting
    # them silently would hide a typo, and two gains at one depth have no meaning.
    if np.any(np.diff(table[:, 0]) <= 0):
        raise UsageError(f"TGC point depths {table[:, 0].tolist()} mm (must strictly increase)")
    return np.interp(np.asarray(depth_m, dtype=np.float64) * 1e3, table[:, 0], table[:, 1])


def apply_tgc(envelope: np.ndarray, gain_db) -> np.ndarray:
    """The envelope times 10**(gain_db / 20), gain along the last (sample) axis.

    `gain_db` is one gain per sample, shape (n_samples,), shared by all lines, or one per value,
    the same shape as `envelope`.
    """
    envelope = np.asarray(envelope)
    gain_db = np.asarray(gain_db, dtype=np.float64)
    if envelope.ndim == 0 or gain_db.shape not in (envelope.shape[-1:], envelope.shape):
        raise UsageError(f"TGC gain of shape {gain_db.shape} for an envelope of shape {envelope.shape} "
                         f"(allowed: {envelope.shape[-1:]} or {envelope.shape})")
    return envelope * 10.0 ** (gain_db / 20.0)


def log_compress(envelope: np.ndarray, *, reference: float, dynamic_range_db: float = 60.0,
                 gain_db: float = 0.0) -> np.ndarray:
    """uint8 B-mode image: 20 log10(envelope / reference) + gain_db, from -DR dB (0) to 0 dB (255).

    `reference` is a FIXED linear envelope value chosen by the caller (for instance the expected
    envelope of a reference scatterer or tissue), never the image's own maximum: the whole
    toolkit relies on this so that one echo strength gives one gray level in every image, and a
    single bright reflector cannot darken the rest of the image. Levels above 0 dB saturate at
    255 and levels below -dynamic_range_db are black.
    """
    reference, dynamic_range_db, gain_db = float(reference), float(dynamic_range_db), float(gain_db)
    if not (reference > 0 and math.isfinite(reference)):
        raise UsageError(f"log-compression reference {reference:g} (must be a finite, positive envelope value)")
    if not (dynamic_range_db > 0 and math.isfinite(dynamic_range_db)):
        raise UsageError(f"dynamic range {dynamic_range_db:g} dB (must be finite and positive)")
    if not math.isfinite(gain_db):
        raise UsageError(f"gain {gain_db:g} dB (must be finite)")
    floored = np.maximum(np.asarray(envelope, dtype=np.float64), ENVELOPE_FLOOR)
    level_db = 20.0 * np.log10(floored / reference) + gain_db
    # DECISION: round to the nearest gray level rather than truncate, so that the mapping is
    # symmetric around each level and the reference itself lands exactly on 255.
    gray = np.rint((level_db + dynamic_range_db) * (255.0 / dynamic_range_db))
    # NaN envelope samples (a beamforming bug upstream) become black rather than undefined.
    return np.clip(np.nan_to_num(gray, nan=0.0), 0, 255).astype(np.uint8)
