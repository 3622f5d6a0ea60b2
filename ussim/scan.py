"""Scan conversion: beamformed lines onto a Cartesian display grid, positions in mm.

A line geometry says where the samples of the lines (n_lines, n_samples) lie in the imaging
plane (x lateral, z depth, in m): vertical lines of a linear array (`LinearLines`), a fan from
an apex for convex and phased arrays (`SectorLines`), or a full turn around an IVUS catheter
(`RadialLines`). `scan_convert` finds each display pixel's fractional (line, sample) index and
interpolates there with scipy.ndimage.map_coordinates; `imaged_mask` tells which pixels the
lines cover, and `default_grid` gives a grid that covers them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ussim.errors import UsageError

# DECISION: positions and angles count as uniform when every step is within 1e-3 of the mean
# step. That admits float32 rounding of long arrays (an index error of 1e-3 sample is invisible)
# and rejects any real irregularity, which the index mapping could not represent.
UNIFORM_TOLERANCE = 1e-3
# DECISION: a pixel within 1e-6 index units outside the first/last line or sample still counts
# as imaged, so rounding does not blacken pixels that lie exactly on the region's edge.
EDGE_TOLERANCE = 1e-6
# Lines wrapped onto each end of the IVUS line axis. Order 1 needs one; the spline prefilter of
# orders 2-5 decays by at most 0.43 per line, so 16 lines leave < 1e-5 of the clamped edges.
WRAP_LINES = 16


def _axis(values, what: str) -> np.ndarray:
    """A 1-D float64 array of at least 2 finite, strictly increasing, uniformly spaced values."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) < 2 or not np.all(np.isfinite(array)):
        raise UsageError(f"{what} of shape {array.shape} (need at least 2 finite values in a 1-D array)")
    steps = np.diff(array)
    mean = (array[-1] - array[0]) / (len(array) - 1)
    if mean <= 0 or np.max(np.abs(steps - mean)) > UNIFORM_TOLERANCE * mean:
        raise UsageError(f"{what} from {array[0]:g} to {array[-1]:g} are not uniformly spaced and increasing "
                         f"(steps {steps.min():g} to {steps.max():g}; need one constant positive step)")
    return array


def _set(instance, **fields) -> None:
    for name, value in fields.items():
        object.__setattr__(instance, name, value)


# DECISION: eq=False on these frozen dataclasses, because the generated __eq__ would compare
# numpy arrays and raise; identity comparison is what a geometry or grid object needs.
@dataclass(frozen=True, eq=False)
class DisplayGrid:
    """Pixel-centre coordinates (m), 1-D and increasing; the image has shape (len(z), len(x))."""
    x: np.ndarray
    z: np.ndarray

    def __post_init__(self):
        for name in ("x", "z"):
            array = np.asarray(getattr(self, name), dtype=np.float64)
            if array.ndim != 1 or len(array) == 0 or not np.all(np.isfinite(array)) or np.any(np.diff(array) <= 0):
                raise UsageError(f"display grid {name} of shape {array.shape} (need finite, strictly increasing 1-D)")
            _set(self, **{name: array})

    @classmethod
    def covering(cls, x_min: float, x_max: float, z_min: float, z_max: float,
                 shape: tuple[int, int] = (256, 256)) -> DisplayGrid:
        """The grid of shape (n_z, n_x) whose pixels exactly tile [x_min, x_max] x [z_min, z_max]."""
        if len(shape) != 2 or any(int(n) != n or n < 1 for n in shape):
            raise UsageError(f"display grid shape {tuple(shape)} (need two positive integers (n_z, n_x))")
        if not (x_min < x_max and z_min < z_max and np.all(np.isfinite([x_min, x_max, z_min, z_max]))):
            raise UsageError(f"display box x {x_min:g}..{x_max:g} m, z {z_min:g}..{z_max:g} m "
                             f"(need finite bounds with min < max)")
        n_z, n_x = int(shape[0]), int(shape[1])
        return cls(x=x_min + (np.arange(n_x) + 0.5) * ((x_max - x_min) / n_x),
                   z=z_min + (np.arange(n_z) + 0.5) * ((z_max - z_min) / n_z))

    @property
    def x_mm(self) -> np.ndarray:
        return self.x * 1e3

    @property
    def z_mm(self) -> np.ndarray:
        return self.z * 1e3


@dataclass(frozen=True, eq=False)
class LinearLines:
    """Vertical lines at lateral positions x (n_lines,), sampled at depths z (n_samples,), in m."""
    x: np.ndarray
    z: np.ndarray

    def __post_init__(self):
        _set(self, x=_axis(self.x, "line positions x"), z=_axis(self.z, "sample depths z"))


@dataclass(frozen=True, eq=False)
class SectorLines:
    """A fan of lines from an apex: angles (rad, from +z towards +x) and radii from the apex (m).

    Convex arrays: apex at the centre of curvature (0, -R), radii from R. Phased: apex (0, 0).
    """
    angles: np.ndarray
    radii: np.ndarray
    apex_x: float = 0.0
    apex_z: float = 0.0

    def __post_init__(self):
        angles, radii = _axis(self.angles, "sector angles"), _axis(self.radii, "sector radii")
        if angles[0] < -np.pi or angles[-1] > np.pi:
            raise UsageError(f"sector angles {angles[0]:g} to {angles[-1]:g} rad (allowed within -pi..pi; "
                             f"use RadialLines for a full turn)")
        if radii[0] < 0:
            raise UsageError(f"sector radii from {radii[0]:g} m (must be >= 0)")
        _set(self, angles=angles, radii=radii, apex_x=float(self.apex_x), apex_z=float(self.apex_z))


@dataclass(frozen=True, eq=False)
class RadialLines:
    """IVUS: lines at angles uniform over a full turn around the catheter at (0, 0), radii in m.

    Pixels nearer than `dead_zone` (ring-down and catheter) are shown black.
    """
    angles: np.ndarray
    radii: np.ndarray
    dead_zone: float = 0.0

    def __post_init__(self):
        angles, radii = _axis(self.angles, "IVUS angles"), _axis(self.radii, "IVUS radii")
        step = 2 * np.pi / len(angles)
        if abs((angles[-1] - angles[0]) / (len(angles) - 1) - step) > UNIFORM_TOLERANCE * step:
            raise UsageError(f"{len(angles)} IVUS angles from {angles[0]:g} to {angles[-1]:g} rad "
                             f"(need a step of 2 pi / {len(angles)} covering one full turn, last angle < first + 2 pi)")
        if radii[0] < 0 or not (0 <= self.dead_zone < radii[-1]):
            raise UsageError(f"IVUS radii from {radii[0]:g} m, dead zone {self.dead_zone:g} m "
                             f"(need radii >= 0 and 0 <= dead zone < last radius {radii[-1]:g} m)")
        _set(self, angles=angles, radii=radii, dead_zone=float(self.dead_zone))


Geometry = LinearLines | SectorLines | RadialLines


def _axes(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The geometry's line positions (or angles) and sample positions (or radii)."""
    if isinstance(geometry, LinearLines):
        return geometry.x, geometry.z
    if isinstance(geometry, (SectorLines, RadialLines)):
        return geometry.angles, geometry.radii
    raise UsageError(f"line geometry {type(geometry).__name__} (allowed: LinearLines, SectorLines, RadialLines)")


def _indices(geometry: Geometry, grid: DisplayGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pixel's fractional line index, sample index, and whether it lies in the imaged region."""
    positions, samples = _axes(geometry)
    x, z = np.meshgrid(grid.x, grid.z)  # shape (n_z, n_x), like the image
    line, sample, along = beam_indices(geometry, x, z)
    inside = (sample >= -EDGE_TOLERANCE) & (sample <= len(samples) - 1 + EDGE_TOLERANCE)
    if isinstance(geometry, RadialLines):
        # DECISION: the imaged ring starts at the dead zone or at the first sample, whichever is
        # farther out; with samples from the catheter surface this is dead_zone <= r <= last radius.
        inside &= along >= geometry.dead_zone
    else:
        inside &= (line >= -EDGE_TOLERANCE) & (line <= len(positions) - 1 + EDGE_TOLERANCE)
    return line, sample, inside


def beam_indices(geometry: Geometry, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fractional (line index, sample index) of points (x, z) in m, and their distance along the
    line (m, the geometry's sample coordinate: depth, or radius from the apex or catheter).
    IVUS line indices lie in [0, n_lines) of the turn, counted from the first line."""
    positions, samples = _axes(geometry)
    if isinstance(geometry, LinearLines):
        lateral, along = x, z
    elif isinstance(geometry, SectorLines):
        dx, dz = x - geometry.apex_x, z - geometry.apex_z
        lateral, along = np.arctan2(dx, dz), np.hypot(dx, dz)
    else:
        # The angle measured from the first line, in [0, 2 pi): every pixel falls between two lines.
        lateral = positions[0] + np.mod(np.arctan2(x, z) - positions[0], 2 * np.pi)
        along = np.hypot(x, z)
    line = (lateral - positions[0]) / ((positions[-1] - positions[0]) / (len(positions) - 1))
    sample = (along - samples[0]) / ((samples[-1] - samples[0]) / (len(samples) - 1))
    return line, sample, along


def imaged_mask(geometry: Geometry, grid: DisplayGrid) -> np.ndarray:
    """Boolean (len(z), len(x)): True where a pixel lies inside the region the lines cover."""
    return _indices(geometry, grid)[2]


def scan_convert(lines_values: np.ndarray, geometry: Geometry, grid: DisplayGrid, *, order: int = 1) -> np.ndarray:
    """float32 image (len(grid.z), len(grid.x)) of the line values (n_lines, n_samples) on the grid.

    `order` is the spline order of scipy.ndimage.map_coordinates: 0 nearest, 1 (bi)linear in
    (line, sample) index, up to 5. Pixels outside the imaged region are 0.
    """
    values = np.asarray(lines_values)
    line_axis, sample_axis = _axes(geometry)
    if values.shape != (len(line_axis), len(sample_axis)):
        raise UsageError(f"line values of shape {values.shape} for a geometry of {len(line_axis)} lines "
                         f"x {len(sample_axis)} samples (need shape {(len(line_axis), len(sample_axis))})")
    # DECISION: complex lines are refused rather than cast: interpolating IQ data mixes phases,
    # so scan-convert the envelope (ussim.bmode.envelope) or the log-compressed image instead.
    if np.iscomplexobj(values) or not np.issubdtype(values.dtype, np.number):
        raise UsageError(f"line values of dtype {values.dtype} (need real numbers: convert the envelope or image)")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 0 <= order <= 5:
        raise UsageError(f"interpolation order {order!r} (allowed: an integer 0 to 5)")
    line, sample, inside = _indices(geometry, grid)
    values = values.astype(np.float64)
    if isinstance(geometry, RadialLines):
        # The line axis is periodic: wrapped copies on both ends let a pixel between the last line
        # and the first interpolate between them, with no seam at the first line's angle.
        values = np.pad(values, ((WRAP_LINES, WRAP_LINES), (0, 0)), mode="wrap")
        line = line + WRAP_LINES
    # Only imaged pixels are interpolated; mode='nearest' matters just for those a rounding
    # error past the edge (EDGE_TOLERANCE), which get the edge sample rather than a blend with 0.
    image = ndimage.map_coordinates(values, [line[inside], sample[inside]], order=order, mode="nearest")
    # DECISION: pixels outside the imaged region are 0 (black), as on a scanner's display, so a
    # caller can tell "no data" from a dark echo with imaged_mask and never sees invented values.
    out = np.zeros(line.shape, np.float32)
    out[inside] = image
    return out


def default_grid(geometry: Geometry, shape: tuple[int, int] = (256, 256)) -> DisplayGrid:
    """A grid of `shape` (n_z, n_x) whose box just covers the imaged region of the geometry.

    DECISION: the box is tiled exactly by `shape`, so pixels are square only when the shape has
    the box's aspect ratio; pass such a shape for an undistorted display.
    """
    if isinstance(geometry, LinearLines):
        return DisplayGrid.covering(geometry.x[0], geometry.x[-1], geometry.z[0], geometry.z[-1], shape)
    if isinstance(geometry, RadialLines):
        half = geometry.radii[-1]
        return DisplayGrid.covering(-half, half, -half, half, shape)
    _axes(geometry)  # refuses anything that is not a geometry
    a0, a1 = geometry.angles[0], geometry.angles[-1]
    # An arc's extremes lie at its ends or where it crosses an axis direction (+z, +-x, -z).
    axis_angles = [a for a in (-np.pi, -np.pi / 2, 0.0, np.pi / 2, np.pi) if a0 <= a <= a1]
    angles = np.array([a0, a1, *axis_angles])
    radii = np.array([geometry.radii[0], geometry.radii[-1]])
    x = geometry.apex_x + np.outer(radii, np.sin(angles))
    z = geometry.apex_z + np.outer(radii, np.cos(angles))
    return DisplayGrid.covering(x.min(), x.max(), z.min(), z.max(), shape)
