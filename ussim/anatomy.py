"""Mask in, scatterers out: the anatomy of a label mask, made of point scatterers.

A label mask on a grid in mm (from a real set, an edited mask or a generator) and a
class-to-tissue table (ussim.tissue) decide, per pixel, how many scatterers lie there
(density), how strongly they scatter (echogenicity, with an optional smooth texture) and how
much the sound is attenuated on its way to them. The attenuation is integrated along the ray
from the probe through the tissue map, so posterior enhancement behind fluid and shadowing
behind strong attenuators come from the physics, not from painting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import ndimage

from ussim import pulse, scatter
from ussim.engine import Scatterers
from ussim.errors import UsageError
from ussim.phantoms import structures
from ussim.probe import Probe
from ussim.tissue import TissueTable


class NoScatterers(UsageError):
    """A mask that places no scatterer at the density asked for."""


@dataclass
class Anatomy:
    """The scatterers of a mask's anatomy and what each belongs to.

    `group` names, per scatterer, the part of the tissue model it comes from: a class's ordinary
    scatterers (`wall`), its strong ones (`wall:strong`), either of them inside a boundary layer
    (`wall:layer:lumen`, `wall:strong:layer:lumen`), or a specular interface (`wall|lumen`). The
    echo is linear in the amplitudes, so images of the groups can be simulated once and
    recombined with gains (bench/fit_tissue.py). `label` and `names` include the drawn
    sub-structures; `texture_db` is the smooth texture field (dB) per pixel, and
    `texture_rng_state` the state of the generator it was drawn from, so that the same field can be
    redrawn with other levels or lengths (`texture(..., rng_from_state(texture_rng_state))`).
    """
    scatterers: Scatterers
    group: np.ndarray
    group_names: list[str]
    label: np.ndarray
    names: list[str]
    texture_db: np.ndarray
    inclusions: list[dict]
    texture_rng_state: dict


def scatterers_from_mask(label: np.ndarray, x: np.ndarray, z: np.ndarray, class_names: list[str],
                         table: TissueTable, probe: Probe, *, seed: int = 0,
                         per_cell: float = scatter.SCATTERERS_PER_CELL, thickness: float | None = None) -> Scatterers:
    """Scatterers for the anatomy of `label` (nz, nx), whose pixel centres are `x`, `z` (m);
    see `anatomy_from_mask`."""
    return anatomy_from_mask(label, x, z, class_names, table, probe, seed=seed, per_cell=per_cell,
                             thickness=thickness).scatterers


def anatomy_from_mask(label: np.ndarray, x: np.ndarray, z: np.ndarray, class_names: list[str],
                      table: TissueTable, probe: Probe, *, seed: int = 0,
                      per_cell: float = scatter.SCATTERERS_PER_CELL, thickness: float | None = None) -> Anatomy:
    """The anatomy of `label` (nz, nx), whose pixel centres are `x`, `z` (m), made of scatterers.

    DECISION: the slab is one elevation resolution cell thick unless told otherwise: the
    thinnest slab in which every 3-D cell holds `per_cell` scatterers, a third of the cost of
    the three cells `scatter.homogeneous_box` uses for validation.
    DECISION: echogenicity is backscattered power, density x amplitude^2, so a class denser
    than the reference gets proportionally weaker scatterers at the same echogenicity; likewise
    `per_cell` (fewer scatterers for a quick draft, more for smoother statistics) changes the
    speckle's statistics, never the tissue's brightness. Strong scatterers and the K-distributed
    power keep the class's mean power too.
    The draws of the tissue model beyond Gaussian speckle come from their own seeded streams,
    so a table without those keys gives exactly the scatterers it gave before them.
    """
    if not per_cell > 0:
        raise UsageError(f"scatterers per resolution cell {per_cell:g} must be positive (default "
                         f"{scatter.SCATTERERS_PER_CELL}; speckle is fully developed from about 10)")
    label = np.asarray(label)
    x, z = np.asarray(x, np.float64), np.asarray(z, np.float64)
    if label.ndim != 2 or label.shape != (z.size, x.size):
        raise UsageError(f"mask of shape {label.shape} does not match its grid ({z.size} rows x {x.size} columns)")
    if label.size and int(label.max()) >= len(class_names):
        raise UsageError(f"mask value {int(label.max())} is outside its {len(class_names)} class names")
    table.for_classes(list(class_names))
    dx, dz = _step(x, "x"), _step(z, "z")
    thickness = thickness or scatter.resolution_cell(probe)[2]
    rng = np.random.default_rng(seed)
    label, names, drawn = structures.draw_inclusions(label, list(class_names), table, dx, dz,
                                                     np.random.default_rng([seed, 1]))
    tissues = table.for_classes(names)

    density = np.array([t.density for t in tissues])[label]
    expected = scatter.density(probe, per_cell) * density * dx * dz * thickness
    counts = rng.poisson(expected).ravel()
    pixel = np.repeat(np.arange(label.size), counts)
    row, column = np.divmod(pixel, x.size)
    n = pixel.size
    sx = x[column] + rng.uniform(-dx / 2, dx / 2, n)
    sz = z[row] + rng.uniform(-dz / 2, dz / 2, n)
    sy = rng.uniform(-thickness / 2, thickness / 2, n)

    texture_rng_state = rng.bit_generator.state
    texture_db = texture(label, tissues, dx, dz, rng)
    layer_db, layer, layer_pairs = structures.boundary_layers(label, names, tissues, dx, dz)
    power_db = np.array([t.echogenicity_db for t in tissues])[label] + texture_db + layer_db
    with np.errstate(divide="ignore"):
        relative_count = np.where(density > 0, density, np.inf) * per_cell / scatter.SCATTERERS_PER_CELL
        amplitude_map = np.sqrt(10 ** (power_db / 10) / relative_count)
    amplitude = rng.standard_normal(n) * amplitude_map.ravel()[pixel]
    klass = label.ravel()[pixel]
    strong = _beyond_gaussian(amplitude, klass, tissues, np.random.default_rng([seed, 2]))

    group_names, group = _groups(names, klass, strong, layer.ravel()[pixel], layer_pairs)
    ix, iz, iamplitude, pair, pairs = structures.interface_points(label, names, tissues, x, z, probe)
    if pairs:
        sx, sz, sy = np.r_[sx, ix], np.r_[sz, iz], np.r_[sy, np.zeros(ix.size)]
        amplitude = np.r_[amplitude, iamplitude]
        group = np.r_[group, pair + len(group_names)]
        group_names = group_names + [f"{a}|{b}" for a, b in pairs]

    if sx.size == 0:
        raise NoScatterers(f"the mask places no scatterers at {per_cell:g} per resolution cell (its classes have "
                           f"density 0, or too few of its pixels have any)")
    alpha = np.array([pulse.db_per_cm_mhz_to_np_per_m_hz(t.attenuation_db_cm_mhz) for t in tissues])[label]
    path = path_integral_map(alpha, x, z, probe)
    attenuation = bilinear(path, (sz - z[0]) / dz, (sx - x[0]) / dx)
    cloud = Scatterers(sx, sy, sz, amplitude, path_attenuation=np.maximum(attenuation, 0.0))
    return Anatomy(cloud, group, group_names, label, names, texture_db, drawn, texture_rng_state)


def _beyond_gaussian(amplitude: np.ndarray, klass: np.ndarray, tissues, rng: np.random.Generator) -> np.ndarray:
    """Turn the Gaussian amplitudes of each class (in place) into K-distributed ones and mark a
    fraction as strong scatterers, keeping the class's mean power; returns the strong mark.

    K: amplitude x sqrt(power), power ~ Gamma(shape, 1 / shape) (mean 1): fewer effective
    scatterers per cell, so a pre-Rayleigh envelope (Nakagami m below 1) for small shapes.
    """
    strong = np.zeros(amplitude.size, bool)
    for index, tissue in enumerate(tissues):
        mine = np.flatnonzero(klass == index)
        if not mine.size:
            continue
        if np.isfinite(tissue.amplitude_shape):
            amplitude[mine] *= np.sqrt(rng.gamma(tissue.amplitude_shape, 1 / tissue.amplitude_shape, mine.size))
        if tissue.strong_fraction > 0:
            ratio = 10 ** (tissue.strong_db / 10)
            chosen = rng.random(mine.size) < tissue.strong_fraction
            strong[mine[chosen]] = True
            amplitude[mine] /= np.sqrt(1 - tissue.strong_fraction + tissue.strong_fraction * ratio)
            amplitude[mine[chosen]] *= np.sqrt(ratio)
    return strong


def _groups(names, klass, strong, layer, layer_pairs):
    """Group index per scatterer and the group names (see Anatomy)."""
    stride = len(layer_pairs) + 1
    codes = ((klass * 2 + strong) * stride + layer + 1).ravel()
    # np.unique(codes, return_inverse=True) by counting: the codes are small integers, and sorting
    # a mask's million scatterers for them cost more than drawing them
    kinds = np.flatnonzero(np.bincount(codes)) if codes.size else np.zeros(0, np.int64)
    lookup = np.zeros(kinds[-1] + 1 if kinds.size else 0, np.int64)
    lookup[kinds] = np.arange(kinds.size)
    code = lookup[codes]
    keys = []
    for kind in kinds:
        rest, which = divmod(int(kind), stride)
        index, is_strong = divmod(rest, 2)
        keys.append(names[index] + (":strong" if is_strong else "") +
                    (f":layer:{layer_pairs[which - 1][1]}" if which else ""))
    return keys, code.ravel()


def texture(label: np.ndarray, tissues, dx: float, dz: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random echogenicity modulation (dB) per class: Gaussian-filtered white noise
    scaled to the class's heterogeneity_db, correlation length (the Gaussian's sigma)
    heterogeneity_mm in depth and heterogeneity_aspect times that laterally; then, for the classes
    with streaks, a second field of streak_db, streak_mm and streak_aspect, less its mean power.

    The streak fields are drawn after every class's coarse field, so a table without streaks draws
    what it drew before they existed, and adding streaks to one class leaves the others' fields.
    """
    out = np.zeros(label.shape)
    for index, tissue in enumerate(tissues):
        inside = label == index
        if tissue.heterogeneity_db == 0 or not inside.any():
            continue
        out[inside] = _field(label.shape, tissue.heterogeneity_mm, tissue.heterogeneity_aspect, dx, dz,
                             rng)[inside] * tissue.heterogeneity_db
    for index, tissue in enumerate(tissues):
        inside = label == index
        if tissue.streak_db == 0 or not inside.any():
            continue
        # a normal field of std s dB raises the mean power by s^2 ln(10) / 20 dB: taken off, so the
        # streaks redistribute the class's echogenicity_db rather than add to it
        field = _field(label.shape, tissue.streak_mm, tissue.streak_aspect, dx, dz, rng) * tissue.streak_db
        out[inside] += field[inside] - tissue.streak_db ** 2 * np.log(10) / 20
    return out


def _field(shape, length_mm: float, aspect: float, dx: float, dz: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-std Gaussian-filtered white noise, sigma length_mm in depth and aspect times it laterally."""
    length = length_mm * 1e-3
    field = ndimage.gaussian_filter(rng.standard_normal(shape), (length / dz, length * aspect / dx), mode="reflect")
    return field / max(field.std(), 1e-12)


def rng_from_state(state: dict) -> np.random.Generator:
    """A generator that continues from `state` (e.g. Anatomy.texture_rng_state)."""
    generator = np.random.default_rng()
    generator.bit_generator.state = state
    return generator


def path_integral_map(alpha: np.ndarray, x: np.ndarray, z: np.ndarray, probe: Probe) -> np.ndarray:
    """One-way attenuation path integral (Np/Hz) from the probe face to every pixel centre.

    Rays run straight from the face: downwards for a linear array, outwards from the apex of a
    phased array, the centre of curvature of a convex array, and the catheter for IVUS. The
    integral is accumulated once along a fan of rays (one per pixel column for a linear array;
    for the others, rays no farther apart than half a pixel at the far edge), sampling alpha
    every half pixel (bilinear in the map), and read back at each pixel centre by bilinear
    interpolation between rays: O(pixels), where integrating each pixel's own ray was
    O(pixels x steps). DECISION: outside the map the medium continues as its nearest pixel,
    so a map that starts below the probe face still counts the tissue between.
    """
    dx, dz = _step(x, "x"), _step(z, "z")
    step = 0.5 * min(dx, dz)
    px, pz = np.meshgrid(x, z)
    if probe.kind == "linear":
        rays = (x - x[0]) / dx                      # one ray per column, in column units
        ray_of_pixel, distance = np.broadcast_to(rays, px.shape), np.maximum(pz, 0.0)
        start, far = 0.0, float(distance.max())

        def position(ray, r):
            return np.broadcast_to(ray * dx + x[0], r.shape), r
    else:
        centre_z = -probe.radius if probe.kind == "convex" else 0.0
        start = {"convex": probe.radius, "ivus": probe.catheter_radius}.get(probe.kind, 0.0)
        distance = np.hypot(px, pz - centre_z)
        angle = np.arctan2(px, pz - centre_z)
        first, last = (-np.pi, np.pi) if probe.kind == "ivus" else (float(angle.min()), float(angle.max()))
        far = float(distance.max())
        count = max(2, int(np.ceil((last - first) * far / step)) + 1)
        spacing = (last - first) / (count - 1) if last > first else 1.0
        ray_of_pixel = (angle - first) / spacing

        def position(ray, r):
            theta = first + ray * spacing
            return r * np.sin(theta), centre_z + r * np.cos(theta)
        rays = np.arange(count, dtype=np.float64)
    edges = start + step * np.arange(max(2, int(np.ceil((far - start) / step)) + 2))
    middles = (edges[:-1] + edges[1:]) / 2
    sample_x, sample_z = position(rays[:, None], np.broadcast_to(middles, (rays.size, middles.size)))
    values = bilinear(alpha, (sample_z - z[0]) / dz, (sample_x - x[0]) / dx)
    integral = np.concatenate([np.zeros((rays.size, 1)), np.cumsum(values * step, axis=1)], axis=1)
    where = [ray_of_pixel, np.maximum(distance - start, 0.0) / step]
    return bilinear(integral, *where)


def bilinear(image: np.ndarray, rows, columns) -> np.ndarray:
    """`image` bilinearly at fractional (rows, columns) pixel positions (arrays of one shape),
    the edge pixels continued beyond the edges: scipy.ndimage.map_coordinates(image, [rows,
    columns], order=1, mode="nearest"), to rounding. Hand-written because map_coordinates' generic
    spline path costs about 40 ns a point, and a mask's scatterers and attenuation rays are a
    million points: a third of the fast engine's image (bench/RESULTS.md, "Fast engine")."""
    rows, columns = np.broadcast_arrays(np.asarray(rows, np.float64), np.asarray(columns, np.float64))
    out = np.empty(rows.shape)
    _bilinear_nearest(np.ascontiguousarray(image, np.float64), np.ascontiguousarray(rows).ravel(),
                      np.ascontiguousarray(columns).ravel(), out.reshape(-1))
    return out


@numba.njit(parallel=True, cache=True)
def _bilinear_nearest(image, rows, columns, out):
    last_row, last_column = image.shape[0] - 1, image.shape[1] - 1
    for i in numba.prange(rows.size):
        r = min(max(rows[i], 0.0), float(last_row))
        c = min(max(columns[i], 0.0), float(last_column))
        r0, c0 = min(int(r), max(last_row - 1, 0)), min(int(c), max(last_column - 1, 0))
        r1, c1 = min(r0 + 1, last_row), min(c0 + 1, last_column)
        wr, wc = r - r0, c - c0
        top = image[r0, c0] * (1 - wc) + image[r0, c1] * wc
        bottom = image[r1, c0] * (1 - wc) + image[r1, c1] * wc
        out[i] = top * (1 - wr) + bottom * wr


def _step(axis: np.ndarray, name: str) -> float:
    if axis.size < 2 or not np.allclose(np.diff(axis), axis[1] - axis[0], rtol=1e-6) or axis[1] <= axis[0]:
        raise UsageError(f"mask grid {name} must have at least 2 uniformly increasing pixel centres")
    return float(axis[1] - axis[0])
