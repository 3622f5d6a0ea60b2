"""Structures a tissue model draws inside or along its classes (ussim.tissue explains the keys).

- `draw_inclusions`: sub-structures such as follicles inside an ovary, relabelled as another
  table class (seeded: a Poisson count per cm2, lognormal diameters, centres uniform where the
  inclusion fits wholly inside its class and apart from the others);
- `boundary_layers`: the band within a thickness of a class border whose echogenicity differs
  (IVUS adventitia, media, intimal border);
- `interface_points`: a row of coherent scatterers along a class border, spaced a quarter
  wavelength apart. Sub-wavelength spacing makes the border reflect specularly by physics: where
  the beam meets it at right angles the echoes add in phase, where the beam runs along it their
  round-trip phases turn through pi per scatterer and cancel, so no explicit angular factor is
  painted on.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import measure

from ussim import scatter
from ussim.probe import Probe

# DECISION: a quarter wavelength between interface scatterers: the round-trip phase step along a
# border parallel to the beam is then pi (cancellation), and at right angles the row is dense
# enough (4 per wavelength) to act as one smooth reflector.
INTERFACE_SPACING_WAVELENGTHS = 0.25
# DECISION: 0.5 mm of the enclosing tissue between two inclusions, two pixels across the ovary
# archive's 0.24 mm columns: each follicle stays a blob of its own, as bench/fit_tissue.py counted
# them on the real frames (dark blobs after 1.5 px smoothing).
INCLUSION_GAP_MM = 0.5
# DECISION: the class indicator is smoothed by 1.5 px before its border is traced, so that the
# staircase of a pixel mask does not turn a smooth organ border into many tiny facets.
BORDER_SMOOTHING_PX = 1.5
# Speckle RMS of reference tissue in units of one default scatterer's point echo: about
# sqrt(1.5 x 10) (ussim.simulate: PSF_VOLUME_FACTOR x SCATTERERS_PER_CELL).
SPECKLE_RMS_POINTS = np.sqrt(1.5 * scatter.SCATTERERS_PER_CELL)


def draw_inclusions(label: np.ndarray, names: list[str], table, dx: float, dz: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, list[str], list[dict]]:
    """`label` with the sub-structures of each class drawn in, the class names extended by the
    inclusion classes, and what was drawn (centre pixel, diameter in mm, class). A mask that
    already holds pixels of the inclusion class (ussim.phantoms.ovary draws its own follicles)
    is left as it is."""
    label, names, drawn = label.copy(), list(names), []
    rows_mm, cols_mm = np.arange(label.shape[0]) * dz * 1e3, np.arange(label.shape[1]) * dx * 1e3
    for index, name in enumerate(list(names)):
        tissue = table.classes[name]
        inside = label == index
        if tissue.inclusions_per_cm2 <= 0 or not inside.any():
            continue
        if tissue.inclusion_class in names and (label == names.index(tissue.inclusion_class)).any():
            continue  # DECISION: a mask that marks the sub-structures itself (a drawn phantom) gets no more
        count = rng.poisson(tissue.inclusions_per_cm2 * inside.sum() * dx * dz * 1e4)
        if count == 0:
            continue
        if tissue.inclusion_class not in names:
            names.append(tissue.inclusion_class)
        target = names.index(tissue.inclusion_class)
        rows, cols = np.nonzero(inside)
        # how far each pixel of the class lies from its border (mm): a follicle must fit inside
        depth_mm = ndimage.distance_transform_edt(inside, sampling=(dz * 1e3, dx * 1e3))[rows, cols]
        diameters = tissue.inclusion_mm * np.exp(tissue.inclusion_spread * rng.standard_normal(count))
        placed_r, placed_c, placed_radius = [], [], []
        for diameter in np.sort(diameters)[::-1]:  # the largest first: the small ones fill the gaps
            # DECISION: inclusions lie wholly inside their class and apart by at least INCLUSION_GAP_MM:
            # follicles are separate sacs within the ovary's capsule. Placed independently they
            # overlapped and merged, filling a large ovary with one anechoic region where the real
            # frames show a dozen small follicles (bench/RESULTS.md, "Refit to the corrected
            # engine"). The centre is uniform over the pixels where it fits; one that fits nowhere
            # is left out.
            free = depth_mm >= diameter / 2
            for r, c, radius in zip(placed_r, placed_c, placed_radius, strict=True):
                free &= np.hypot(rows_mm[rows] - rows_mm[r], cols_mm[cols] - cols_mm[c]) >= \
                    radius + diameter / 2 + INCLUSION_GAP_MM
            candidates = np.flatnonzero(free)
            if not candidates.size:
                continue
            centre = candidates[rng.integers(candidates.size)]
            r, c = rows[centre], cols[centre]
            disc = np.hypot(rows_mm[:, None] - rows_mm[r], cols_mm[None, :] - cols_mm[c]) <= diameter / 2
            label[disc & inside] = target
            placed_r.append(r)
            placed_c.append(c)
            placed_radius.append(diameter / 2)
            drawn.append({"class": tissue.inclusion_class, "inside": name, "row": int(r), "column": int(c),
                          "diameter_mm": float(diameter)})
    return label, names, drawn


def boundary_layers(label: np.ndarray, names: list[str], tissues, dx: float, dz: float):
    """Per pixel the layer echogenicity (dB, 0 outside layers) and which layer it lies in
    (index into the returned (class, neighbour) pairs, -1 for none). A pixel near two borders
    belongs to the layer of the nearer one."""
    level = np.zeros(label.shape)
    which = np.full(label.shape, -1)
    nearest = np.full(label.shape, np.inf)
    pairs = []
    for index, tissue in enumerate(tissues):
        for other, width in tissue.layer_mm.items():
            if other not in names or not (label == names.index(other)).any() or not (label == index).any():
                continue
            # distance (mm) from each pixel centre to the border: to the nearest neighbour pixel, less half a pixel
            distance = ndimage.distance_transform_edt(label != names.index(other), sampling=(dz * 1e3, dx * 1e3))
            distance -= 0.5 * np.sqrt(dx * dz) * 1e3
            within = (label == index) & (distance <= width) & (distance < nearest)
            level[within], which[within], nearest[within] = tissue.layer_db[other], len(pairs), distance[within]
            pairs.append((names[index], other))
    return level, which, pairs


def interface_points(label: np.ndarray, names: list[str], tissues, x: np.ndarray, z: np.ndarray, probe: Probe):
    """Coherent scatterers along each border named in a class's interface_db: positions (m),
    amplitudes and the (class, neighbour) pair of each.

    DECISION: amplitude per scatterer 10^(dB/20) x SPECKLE_RMS_POINTS x spacing / lateral cell,
    so that a border met at right angles echoes about interface_db above reference speckle: the
    row sums coherently over about one lateral resolution cell.
    """
    dx, dz = x[1] - x[0], z[1] - z[0]
    spacing = INTERFACE_SPACING_WAVELENGTHS * probe.wavelength
    lateral = scatter.resolution_cell(probe)[1]
    xs, zs, amplitudes, pair_of, pairs = [], [], [], [], []
    for index, tissue in enumerate(tissues):
        for other, level_db in tissue.interface_db.items():
            if other not in names or not (label == index).any():
                continue
            neighbour = names.index(other)
            indicator = ndimage.gaussian_filter((label == index).astype(np.float64), BORDER_SMOOTHING_PX)
            points = [_resample(c * (dz, dx) + (z[0], x[0]), spacing) for c in measure.find_contours(indicator, 0.5)]
            points = np.concatenate([p for p in points if len(p)] or [np.zeros((0, 2))])
            if not len(points):
                continue
            # the side of the border the point faces: the neighbour pixel one and a half pixels outwards
            gradient = np.gradient(indicator)
            where = [(points[:, 0] - z[0]) / dz, (points[:, 1] - x[0]) / dx]
            normal = np.stack([ndimage.map_coordinates(g, where, order=1, mode="nearest") for g in gradient], axis=1)
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
            outside = points - 1.5 * normal * (dz, dx)
            row = np.clip(np.rint((outside[:, 0] - z[0]) / dz).astype(int), 0, label.shape[0] - 1)
            col = np.clip(np.rint((outside[:, 1] - x[0]) / dx).astype(int), 0, label.shape[1] - 1)
            keep = label[row, col] == neighbour
            if not keep.any():
                continue
            zs.append(points[keep, 0])
            xs.append(points[keep, 1])
            amplitudes.append(np.full(keep.sum(), 10 ** (level_db / 20) * SPECKLE_RMS_POINTS * spacing / lateral))
            pair_of.append(np.full(keep.sum(), len(pairs)))
            pairs.append((names[index], other))
    if not pairs:
        return np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, int), []
    return np.concatenate(xs), np.concatenate(zs), np.concatenate(amplitudes), np.concatenate(pair_of), pairs


def _resample(path: np.ndarray, spacing: float) -> np.ndarray:
    """Points every `spacing` (m) along a polyline of (z, x) points."""
    if len(path) < 2:
        return np.zeros((0, 2))
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    at = np.arange(0.0, arc[-1], spacing)
    return np.stack([np.interp(at, arc, path[:, 0]), np.interp(at, arc, path[:, 1])], axis=1)
