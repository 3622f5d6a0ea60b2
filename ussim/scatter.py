"""Scatterer fields: the resolution cell of a probe, and homogeneous boxes of scatterers.

Speckle is fully developed when many scatterers share a resolution cell; the toolkit's default
is 10 per cell (ARCHITECTURE: "density >= 10 per resolution cell"). The cell is the -6 dB
volume of the two-way point spread function: axial 0.883 c / (2 B), lateral 0.886 lambda F#,
elevation 0.886 lambda F_elev / h (two-way, at the elevation focus).
"""

from __future__ import annotations

import numpy as np

from ussim.engine import Scatterers
from ussim.errors import UsageError
from ussim.probe import SPEED_OF_SOUND, Probe

SCATTERERS_PER_CELL = 10


def resolution_cell(probe: Probe, f_number: float = 2.0) -> tuple[float, float, float]:
    """(axial, lateral, elevation) -6 dB sizes in m of the two-way point spread function."""
    wavelength = probe.wavelength
    axial = 0.883 * SPEED_OF_SOUND / (2 * probe.bandwidth * probe.center_frequency)
    lateral = 0.886 * wavelength * f_number if probe.kind != "ivus" else 0.886 * wavelength * 1e-3 / probe.width
    focus = probe.elevation_focus if np.isfinite(probe.elevation_focus) else 2e-3  # IVUS: at 2 mm
    elevation = max(0.886 * wavelength * focus / probe.height, wavelength)
    return axial, lateral, elevation


def density(probe: Probe, per_cell: float = SCATTERERS_PER_CELL, f_number: float = 2.0) -> float:
    """Scatterers per m^3 that put `per_cell` scatterers in one resolution cell."""
    return per_cell / float(np.prod(resolution_cell(probe, f_number)))


def homogeneous_box(probe: Probe, x: tuple[float, float], z: tuple[float, float], *, thickness: float | None = None,
                    per_cell: float = SCATTERERS_PER_CELL, seed: int = 0, f_number: float = 2.0) -> Scatterers:
    """Uniformly placed scatterers with Gaussian amplitudes in a box (m) of the imaging slab.

    `thickness` (m) of the slab in elevation defaults to three elevation cells, so the slab
    holds the elevation beam's main lobe.
    """
    if not (x[1] > x[0] and z[1] > z[0]):
        raise UsageError(f"empty box x={x}, z={z}: give (min, max) with max > min")
    thickness = thickness or 3 * resolution_cell(probe, f_number)[2]
    volume = (x[1] - x[0]) * (z[1] - z[0]) * thickness
    rng = np.random.default_rng(seed)
    n = max(1, int(rng.poisson(density(probe, per_cell, f_number) * volume)))
    return Scatterers(rng.uniform(*x, n), rng.uniform(-thickness / 2, thickness / 2, n), rng.uniform(*z, n),
                      rng.standard_normal(n))
