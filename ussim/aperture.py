"""Element apertures as tables of their complex response, one per axis (width and height).

An element of width w and height h is split along each axis into sub-elements spaced at most
half the shortest wavelength in the band: each is then a point source in its own far field at
every range the engine meets. Summed at the centre frequency, they give the element's response
to a point at distance r and direction sine u along that axis, relative to a point source at
the element centre:

    E(r, u) = 1/N  sum_n  r / R_n  exp(-i w0 (R_n - r)/c + i w0 lens_n),   R_n = |point - eta_n|

with lens_n the delay of a cylindrical lens focusing at `focus` (elevation only). The element
response is E_width(r, u_lateral) * E_height(r, u_elevation) * cos(theta) / r.

DECISION: the two axes are separable (Fresnel approximation of a rectangle) and the sum is
taken at the centre frequency, so the spread of arrival times across one element changes the
phase but not the pulse shape; the pulse shape across the array (which sets resolution) stays
broadband, because every element pair keeps its own delay. For array elements the engine does
not use the width table (it passes a width of 0, a line source): their width directivity holds
over the whole band as each echo's box (ussim.engine; issue 21 measured that the directivity at
fc alone let the upper band's grating lobes through). The elevation table, and IVUS's width
table, stay at fc. DECISION: cos(theta) obliquity, a
soft baffle, as MUST's default.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np

RANGE_POINTS = 768
SINE_POINTS = 257
RANGE_STEP = 0.01  # m: table extents are rounded up to this, so similar scenes share tables


def sine_extent(max_offset: float, min_range: float) -> float:
    """Largest |u| a table must cover, rounded up to a power of 2 fraction (cache-friendly)."""
    need = min(1.0, max_offset / min_range) if min_range > 0 else 1.0
    return float(min(1.0, 2.0 ** np.ceil(np.log2(max(need, 1 / 64)))))


@dataclass(frozen=True)
class ApertureTable:
    """E(r, u) on r = r0 + i dr, u = -u_max + k du; complex64 (RANGE_POINTS, SINE_POINTS)."""
    values: np.ndarray
    r0: float
    dr: float
    u0: float
    du: float
    sub_elements: int


@numba.njit(parallel=True, cache=True)
def _fresnel_sum(r, u, eta, lens, k0, out):
    for i in numba.prange(r.size):
        for k in range(u.size):
            offset = u[k] * r[i]
            perpendicular = r[i] * np.sqrt(max(0.0, 1.0 - u[k] * u[k]))
            total = 0j
            for n in range(eta.size):
                d = offset - eta[n]
                distance = np.sqrt(perpendicular * perpendicular + d * d)
                total += r[i] / distance * np.exp(-1j * k0 * (distance - r[i] - lens[n]))
            out[i, k] = total / eta.size


@functools.lru_cache(maxsize=16)
def table(size: float, focus: float, center_frequency: float, shortest_wavelength: float,
          r_max: float, u_max: float, speed_of_sound: float) -> ApertureTable:
    """The response table of one aperture axis of `size` (m) focused at `focus` (m, inf: none)."""
    sub_elements = max(1, int(np.ceil(2 * size / shortest_wavelength)))
    eta = (np.arange(sub_elements) - (sub_elements - 1) / 2) * size / sub_elements
    lens = np.zeros(sub_elements) if not np.isfinite(focus) else np.sqrt(focus ** 2 + eta ** 2) - focus
    # DECISION: ranges from a tenth of a wavelength to r_max, sines uniformly over [-u_max, u_max];
    # linear interpolation between nodes (the table varies on the scale of the beam, not of
    # the wavelength, because the reference phase r is taken out).
    r0 = shortest_wavelength / 10
    r = np.linspace(r0, r_max, RANGE_POINTS)
    u = np.linspace(-u_max, u_max, SINE_POINTS)
    values = np.empty((RANGE_POINTS, SINE_POINTS), np.complex128)
    _fresnel_sum(r, u, eta, lens, 2 * np.pi * center_frequency / speed_of_sound, values)
    return ApertureTable(values.astype(np.complex64), r0, float(r[1] - r[0]), -u_max, float(u[1] - u[0]),
                         sub_elements)
