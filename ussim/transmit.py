"""Transmit sequences: focused lines (linear, convex, phased), plane waves, IVUS A-lines.

Delays make every active element's wave reach the focus (or the plane-wave front) together;
they are shifted so that the first element fires at t = 0.
"""

from __future__ import annotations

import numpy as np

from ussim.engine import Transmit
from ussim.errors import UsageError
from ussim.probe import SPEED_OF_SOUND, Probe

WINDOWS = ("rect", "hann", "tukey")


def window(kind: str, u: np.ndarray) -> np.ndarray:
    """Apodization at normalised aperture positions u in [-1, 1] (0 outside)."""
    inside = np.abs(u) <= 1
    if kind == "rect":
        weight = np.ones_like(u)
    elif kind == "hann":
        weight = np.cos(np.pi * u / 2) ** 2
    elif kind == "tukey":  # DECISION: 50 % cosine taper, flat over the middle half
        weight = np.where(np.abs(u) <= 0.5, 1.0, np.cos(np.pi * (np.abs(u) - 0.5)) ** 2)
    else:
        raise UsageError(f"unknown apodization '{kind}' (allowed: {', '.join(WINDOWS)})")
    return np.where(inside, weight, 0.0)


def _focus_delays(ex, ez, focus_x, focus_z):
    distance = np.hypot(ex - focus_x, ez - focus_z)
    return (distance.max() - distance) / SPEED_OF_SOUND


def focused_lines(probe: Probe, n_lines: int, focus: float, *, f_number: float = 2.0,
                  apodization: str = "rect", sector: float | None = None,
                  positions: np.ndarray | None = None, rx_half_aperture: float | None = None) -> list[Transmit]:
    """One focused transmit per image line.

    Linear: lines straight down, evenly spread over the array, each with an active aperture of
    width focus / f_number centred on it. Convex: lines along the element normals, spread over
    the arc. Phased: all elements, lines steered over `sector` (rad, default 75 degrees).
    `positions` places the lines explicitly instead (x in m for linear arrays, angles in rad
    otherwise), e.g. finely around a point target. `rx_half_aperture` (m, linear and convex)
    keeps only the receive elements that close to the line: those a beamformer with an
    f-number aperture can use down to the imaging depth.
    """
    if probe.kind == "ivus":
        return ivus_lines(probe)
    if positions is not None:
        positions = np.atleast_1d(np.asarray(positions, np.float64))
        n_lines = positions.size
    if n_lines < 1:
        raise UsageError(f"n_lines {n_lines} must be at least 1")
    if not (focus > 0 and f_number > 0):
        raise UsageError(f"focus {focus * 1e3:g} mm and f-number {f_number:g} must be positive")
    ex, ez, angle = probe.element_positions()
    half_aperture = focus / (2 * f_number)
    events = []
    if probe.kind == "phased":
        sector = np.deg2rad(75.0) if sector is None else sector
        directions = np.linspace(-sector / 2, sector / 2, n_lines) if n_lines > 1 else np.zeros(1)
        directions = directions if positions is None else positions
        origins = [(0.0, 0.0)] * n_lines
    elif probe.kind == "convex":
        directions = np.linspace(angle[0], angle[-1], n_lines) if n_lines > 1 else np.zeros(1)
        directions = directions if positions is None else positions
        origins = [(probe.radius * np.sin(d), probe.radius * (np.cos(d) - 1)) for d in directions]
    else:
        directions = np.zeros(n_lines)
        xs = np.linspace(ex[0], ex[-1], n_lines) if n_lines > 1 else np.zeros(1)
        xs = xs if positions is None else positions
        origins = [(x, 0.0) for x in xs]
    for (ox, oz), direction in zip(origins, directions, strict=True):
        fx, fz = ox + focus * np.sin(direction), oz + focus * np.cos(direction)
        if probe.kind == "phased":
            active = np.arange(probe.n_elements)
            u = (ex - ex.mean()) / max(np.ptp(ex) / 2, probe.pitch / 2)
        else:
            offset = np.hypot(ex - ox, ez - oz) * np.sign((ex - ox) * np.cos(direction) - (ez - oz) * np.sin(direction))
            active = np.flatnonzero(np.abs(offset) <= max(half_aperture, probe.pitch / 2))
            if active.size == 0:
                # DECISION: a line placed beyond the array (`positions` past its last element: the
                # PSF bank's kernels at the sector's edge reach a few lines past the image) fires
                # the element nearest to it alone: no image line lies there, and an empty aperture
                # would have no delays to compute.
                active = np.array([int(np.argmin(np.abs(offset)))])
            u = offset / max(half_aperture, probe.pitch / 2)
        rx = np.arange(probe.n_elements)
        if rx_half_aperture is not None and probe.kind != "phased":
            rx = np.flatnonzero(np.abs(offset) <= rx_half_aperture + probe.pitch)
        delays = _focus_delays(ex[active], ez[active], fx, fz)
        events.append(Transmit(elements=(ex, ez, angle), tx=active, delays=delays,
                               apodization=window(apodization, u[active]), rx=rx,
                               origin=(float(ox), float(oz)), direction=float(direction), kind="focused",
                               focus=float(focus), meta={"f_number": f_number, "apodization": apodization}))
    return events


def plane_waves(probe: Probe, angles: np.ndarray, *, apodization: str = "rect") -> list[Transmit]:
    """One plane wave per angle (rad from +z), all elements firing (linear and phased arrays)."""
    if probe.kind not in ("linear", "phased"):
        raise UsageError(f"plane waves need a flat array; probe '{probe.name}' is {probe.kind}")
    ex, ez, angle = probe.element_positions()
    u = (ex - ex.mean()) / (np.ptp(ex) / 2 if probe.n_elements > 1 else 1.0)
    events = []
    for theta in np.atleast_1d(np.asarray(angles, dtype=np.float64)):
        if abs(theta) >= np.pi / 2:
            raise UsageError(f"plane-wave angle {np.rad2deg(theta):g} deg is outside (-90, 90)")
        arrival = ex * np.sin(theta) / SPEED_OF_SOUND
        events.append(Transmit(elements=(ex, ez, angle), tx=np.arange(probe.n_elements), delays=arrival - arrival.min(),
                               apodization=window(apodization, u), rx=np.arange(probe.n_elements),
                               direction=float(theta), kind="plane", meta={"apodization": apodization}))
    return events


def diverging_wave(probe: Probe, *, apodization: str = "rect") -> list[Transmit]:
    """All elements of a convex array firing together: the wavefront is the arc itself, as
    from a virtual point source at the centre of curvature (the convex counterpart of a
    plane wave; every line of the sector is beamformed from this one transmit)."""
    return diverging_waves(probe, 1, apodization=apodization)


# DECISION: the virtual sources of compounded diverging waves lie on the line through the centre
# of curvature, across half the array's chord (+-R sin(half field of view) / 2): far enough apart
# that the waves cross each point from different directions (a synthetic transmit aperture, as in
# Papadacci et al., IEEE TUFFC 2014), near enough that every wave still covers the whole sector.
SOURCE_SPREAD = 0.5


def diverging_waves(probe: Probe, n_waves: int, *, apodization: str = "rect") -> list[Transmit]:
    """`n_waves` diverging waves of a convex array from virtual sources spread laterally behind
    it, the central one first, for coherent compounding (their beamformed lines are summed).
    DECISION: coherent, not incoherent: summing envelopes of differently insonified speckle
    would lower its contrast below fully developed speckle (mean/std 1.91), which the physical
    checks require; coherent sums keep it and sharpen the lateral resolution instead.

    Each wave fires every element with the delays of a point source: element j fires when the
    source's spherical wave would reach it, the nearest element first. The beamformer times a
    diverging wave from its first listed element, so each event lists its elements starting
    from the end nearest to its source (reversed for a source right of centre); the channels
    follow that order.
    """
    if probe.kind != "convex":
        raise UsageError(f"a diverging wave needs a convex array; probe '{probe.name}' is {probe.kind}")
    if isinstance(n_waves, bool) or not isinstance(n_waves, (int, np.integer)) or n_waves < 1 or n_waves % 2 == 0:
        raise UsageError(f"{n_waves!r} diverging waves (allowed: an odd number >= 1, so that one source is central)")
    ex, ez, angle = probe.element_positions()
    u = angle / np.abs(angle).max()
    reach = SOURCE_SPREAD * probe.radius * np.sin(np.abs(angle).max())
    offsets = np.linspace(-reach, reach, n_waves) if n_waves > 1 else np.zeros(1)
    offsets = offsets[np.argsort(np.abs(offsets), kind="stable")]  # the central source first
    events = []
    for offset in offsets:
        order = np.arange(probe.n_elements)[::-1] if offset > 0 else np.arange(probe.n_elements)
        x, z, normal, weight = ex[order], ez[order], angle[order], window(apodization, u[order])
        distance = np.hypot(x - offset, z + probe.radius)
        events.append(Transmit(elements=(x, z, normal), tx=np.arange(probe.n_elements),
                               delays=np.maximum(distance - distance[0], 0.0) / SPEED_OF_SOUND, apodization=weight,
                               rx=np.arange(probe.n_elements), origin=(float(offset), -probe.radius),
                               kind="diverging", meta={"apodization": apodization, "n_waves": int(n_waves)}))
    return events


def ivus_lines(probe: Probe, lines: int | None = None) -> list[Transmit]:
    """One A-line per angle of a full turn, each from the single element turned to it."""
    if probe.kind != "ivus":
        raise UsageError(f"IVUS lines need an IVUS probe; '{probe.name}' is {probe.kind}")
    lines = probe.lines_per_turn if lines is None else lines
    if lines < 16:
        raise UsageError(f"{lines} A-lines per turn: need at least 16")
    events = []
    for theta in 2 * np.pi * np.arange(lines) / lines:
        ex, ez, normal = probe.ivus_element([theta])
        events.append(Transmit(elements=(ex, ez, normal), tx=np.zeros(1, np.int64), delays=np.zeros(1),
                               apodization=np.ones(1), rx=np.zeros(1, np.int64), origin=(float(ex[0]), float(ez[0])),
                               direction=float(theta), kind="single"))
    return events
