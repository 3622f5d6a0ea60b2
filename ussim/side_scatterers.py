"""Side information made into scatterers: a sketch's edges as reflectors, an image's gray as amplitudes.

`mask+sketch`: every edge of the sketch (outside the objects, as the GANs see it) becomes a row
of point scatterers of one amplitude and sign, spaced far below the wavelength: a coherent
reflector. Its brightness depends on its angle to the beam by physics alone: along a row
perpendicular to the beam the echoes arrive in phase and add up, along a tilted row their
phases turn and cancel (a specular reflector), so nothing here paints an angle law.

`mask+image`: as in Field II's kidney phantom, the scatterers keep their Gaussian random
amplitudes, scaled pixel by pixel by the echogenicity that the reference image shows: its gray
map undone (`ussim.display.gray_to_level_db`), smoothed at its own speckle size, and its depth attenuation put
back, and the simulator's own rendering of reference tissue divided out (its flat field), so
that imaging it again with the organ's own probe gives the reference's brightness, and another
probe, frequency or depth images the same anatomy with its own physics.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from ussim import anatomy, display, measure, pulse, scatter, simulate
from ussim.engine import Scatterers, face_distance
from ussim.probe import SPEED_OF_SOUND, Probe
from ussim.tissue import Tissue, TissueTable

# Integral of a Gaussian profile over its full width at half maximum: a coherent row across a
# beam of lateral -6 dB width w sums to 1.064 w / spacing times one scatterer's peak echo.
GAUSSIAN_INTEGRAL_PER_FWHM = float(np.sqrt(np.pi / (4 * np.log(2))))


@dataclasses.dataclass(frozen=True)
class Side:
    """What a sample adds to its mask: reflectors from `sketch` (mask+sketch), or the echogenicity
    map `power_db` (dB re reference tissue) on the pixels of `region` (mask+image), over scatterers
    `scatterers` ("plain" or "tissue": `flat_tissue`), with the receiver noise `noise` ("reference":
    left in the map, the sample takes none; "simulated": taken out of it, the sample takes the
    table's; conditions.IMAGE_NOISE), and `strong_offset_db` (class name -> dB) added to each class's
    strong scatterers beneath the map ("tissue" only; none: 0 dB)."""
    condition: str
    sketch: np.ndarray | None = None
    power_db: np.ndarray | None = None
    region: np.ndarray | None = None
    level_db: float = 0.0
    scatterers: str = "plain"
    noise: str = "reference"
    strong_offset_db: dict | None = None


def scatterers_for(label, x, z, class_names, table: TissueTable, probe: Probe, *, seed: int, per_cell: float,
                   side: Side | None = None) -> Scatterers:
    """The scatterers of the mask, with the sample's side information when it has any."""
    names = list(class_names)
    if side is None or side.condition == "mask":
        return anatomy.scatterers_from_mask(label, x, z, names, table, probe, seed=seed, per_cell=per_cell)
    if side.condition == "mask+sketch":
        cloud = anatomy.scatterers_from_mask(label, x, z, names, table, probe, seed=seed, per_cell=per_cell)
        return with_reflectors(cloud, side.sketch, label, x, z, names, table, probe, side.level_db)
    flat = flat_table(table, {names[i] for i in np.unique(label[side.region])}, side.scatterers,
                      side.strong_offset_db)
    cloud = anatomy.scatterers_from_mask(label, x, z, names, flat, probe, seed=seed, per_cell=per_cell)
    return image_amplitudes(cloud, side.power_db, side.region, x, z)


def reflector_rows(sketch: np.ndarray, label: np.ndarray, x: np.ndarray, z: np.ndarray, probe: Probe,
                   level_db: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, z, amplitude) of coherent scatterer rows along the sketch's edges on background pixels.

    Edge pixels are joined to their 8-neighbours (a diagonal only where no shared side neighbour
    is an edge, so a staircase gives one row, not a doubled one) and each joint is filled with
    scatterers `reflector_spacing` apart. DECISION: the rows lie in the scan plane (y = 0): their
    angle dependence is in-plane coherence, and a sheet across the elevation slab would only
    scale their brightness, which `level_db` sets, at tens of times the scatterers.
    """
    edges = (np.asarray(sketch) > 0) & (np.asarray(label) == 0)
    dx, dz = float(x[1] - x[0]), float(z[1] - z[0])
    spacing = reflector_spacing(probe)
    rows, columns = np.nonzero(edges)
    px, pz = [x[columns]], [z[rows]]
    padded = np.pad(edges, 1)
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        joined = edges & _shifted(padded, dr, dc)
        if dr and dc:  # a diagonal joint only where no side neighbour already links the two
            joined &= ~_shifted(padded, dr, 0) & ~_shifted(padded, 0, dc)
        r, c = np.nonzero(joined)
        steps = int(np.ceil(np.hypot(dr * dz, dc * dx) / spacing))
        t = np.arange(1, steps) / steps
        px.append((x[c][:, None] + t * dc * dx).ravel())
        pz.append((z[r][:, None] + t * dr * dz).ravel())
    px, pz = np.concatenate(px), np.concatenate(pz)
    return px, pz, np.full(px.size, row_amplitude(probe, level_db, spacing))


def reflector_spacing(probe: Probe) -> float:
    """Distance between a row's scatterers: a quarter of the band's shortest wavelength.

    DECISION: a row of spacing d has no grating echo at any angle while 2 d < lambda (two-way
    path); half that limit keeps the row a smooth surface at the top of the band too.
    """
    shortest = SPEED_OF_SOUND / (probe.center_frequency * (1 + probe.bandwidth / 2))
    return shortest / 4


def row_amplitude(probe: Probe, level_db: float, spacing: float) -> float:
    """Amplitude of each scatterer of a row that, perpendicular to the beam, shows `level_db`
    above the speckle RMS of reference tissue (echogenicity 0 dB).

    Reference tissue has unit-variance amplitudes at the default density, so its speckle RMS is
    a point's peak echo x sqrt(PSF_VOLUME_FACTOR x scatterers per cell) (ussim.simulate); the
    row's echo is a point's peak x 1.064 x lateral width / spacing. DECISION: the lateral width
    is the probe's nominal resolution cell (scatter.resolution_cell); where the beam is wider or
    narrower the row is brighter or darker, as a real reflector is.
    """
    lateral = scatter.resolution_cell(probe)[1]
    speckle_rms = np.sqrt(simulate.PSF_VOLUME_FACTOR * scatter.SCATTERERS_PER_CELL)
    return float(10 ** (level_db / 20) * speckle_rms * spacing / (GAUSSIAN_INTEGRAL_PER_FWHM * lateral))


def with_reflectors(cloud: Scatterers, sketch, label, x, z, class_names, table: TissueTable, probe: Probe,
                    level_db: float) -> Scatterers:
    """The tissue scatterers of `cloud` plus the sketch's reflector rows, attenuated along their
    paths through the same tissue map."""
    rx, rz, amplitude = reflector_rows(sketch, label, x, z, probe, level_db)
    if rx.size == 0:
        return cloud
    path = _path_map(label, x, z, class_names, table, probe)
    dx, dz = float(x[1] - x[0]), float(z[1] - z[0])
    attenuation = ndimage.map_coordinates(path, [(rz - z[0]) / dz, (rx - x[0]) / dx], order=1, mode="nearest")
    own = cloud.path_attenuation if cloud.path_attenuation is not None else np.zeros(len(cloud))
    return Scatterers(np.r_[cloud.x, rx], np.r_[cloud.y, np.zeros(rx.size)], np.r_[cloud.z, rz],
                      np.r_[cloud.amplitude, amplitude], path_attenuation=np.r_[own, np.maximum(attenuation, 0.0)])


def speckle_grain_px(image: np.ndarray, field_of_view: np.ndarray | None = None) -> tuple[float, float] | None:
    """Speckle size of one display image, (rows, columns) in px (ussim.measure.speckle_grain_px),
    over its displayed (not clipped) pixels inside `field_of_view` (the scanner's constant fill
    outside it holds no speckle); None where it has no measurable speckle."""
    gray = np.asarray(image, np.float64)
    shown = (gray > 0) & (gray < 255)
    if field_of_view is not None:
        shown &= np.asarray(field_of_view, bool)
    rows, columns = measure.speckle_grain_px([gray], [shown])
    return None if not (np.isfinite(rows) and np.isfinite(columns)) else (rows, columns)


# The spread of fully developed speckle's log level about its mean: 20 log10 of a Rayleigh
# envelope, i.e. 10 log10 of an exponential intensity, taken at this many quantiles.
LOG_SPECKLE_QUANTILES = 64


def expected_gray_curve(chain: display.DisplayChain, spread_db: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(displayed mean log level in dB, mean gray): what the gray map shows on average for speckle
    whose log level has that mean and spreads about it as `spread_db` (equally likely samples, dB;
    the simulator's own, as the display chain shows it: phantom.flat_field_db) or, without it, as
    fully developed speckle's. Strictly increasing where the map is not flat.

    DECISION: the reference's brightness is matched in gray, as a reader sees it, not in level: a
    steep or saturating gray map shows the mean gray of speckle far from the gray of its mean
    level (IVUS: a reference at gray 170 came back at 205 when levels were matched).
    """
    if spread_db is None:
        quantile = (np.arange(LOG_SPECKLE_QUANTILES) + 0.5) / LOG_SPECKLE_QUANTILES
        spread_db = 10 * np.log10(-np.log1p(-quantile))
    spread = np.asarray(spread_db, np.float64) - np.mean(spread_db)
    levels = np.arange(chain.knots_db[0] - 40.0, chain.knots_db[-1] + 20.0, 0.05)
    gray = display.gray_map(levels[:, None] + spread[None, :], chain).mean(axis=1)
    rising = np.r_[True, np.diff(gray) > 1e-9]
    return levels[rising], gray[rising]


def echogenicity_map_db(image: np.ndarray, label: np.ndarray, flat_db: np.ndarray, excess_db: np.ndarray,
                        chain: display.DisplayChain, grid, grain_px, smoothing: float,
                        spread_db: np.ndarray | None = None, noise_db: np.ndarray | None = None) -> np.ndarray:
    """Backscattered power (dB, re reference tissue) per pixel as the reference image shows it.

    The reference's gray values are averaged over a Gaussian of `smoothing` speckle grains per
    axis: its own speckle lies in them, and kept in the map it would add to the simulation's own
    speckle (a second, multiplicative speckle). A Gaussian of sigma = one grain (its
    autocorrelation's full width) averages about 4 pi = 12.6 grains, while structures over about
    two grains stay. The mean gray is turned into the mean log level at which the simulator's
    speckle (its log level's spread about the mean as displayed, `spread_db`) shows that mean gray
    through the display chain (`expected_gray_curve`; then gain and TGC undone), and compared with
    the level at which the simulator shows reference tissue (`flat_db`, its mean log level). Re-imaged with the organ's own probe, each region then shows
    the reference's mean gray whatever either speckle's distribution. Gray 0 averages to "at most
    the gray map's floor", saturated gray to "at least its top".
    DECISION: each class is averaged over its own pixels only (normalised convolution): the
    mask's borders are the anatomy's, and a bright adventitia must not bleed into a thin dark
    media or lumen. Pixels the scanner drew (outside the field of view, the face arc or catheter
    ring) carry no echo: they are left out of every average, and a pixel with no echo-bearing
    pixel near it keeps the level of reference tissue (0 dB).

    `flat_db` is the mean log level at which the simulator shows reference tissue at each pixel
    with the probe the reference stands for (its beam, spreading, TGC and speckle; see
    phantom.flat_field_db), and `excess_db` the two-way attenuation that the mask's tissues add
    beyond the nominal medium (excess_attenuation_db), which the simulator applies again and the
    reference already shows. With `noise_db` (the mean log level of the simulator's receiver noise
    alone at each pixel, phantom.noise_field_db), the map holds the echoes only: the noise's power
    is taken out of what the reference shows (echoes_beneath_noise_db), and the simulator adds its
    own noise back.
    """
    gray = np.asarray(image, np.float64)
    echo = np.isfinite(display.gray_to_level_db(gray, chain, grid))
    label = np.asarray(label)
    mean_gray = np.full(label.shape, np.nan)
    for index in np.unique(label):
        own = class_mean_gray(gray, label == index, echo, grain_px, smoothing)
        mean_gray = np.where(np.isfinite(own), own, mean_gray)
    shown_db = shown_level_db(np.nan_to_num(mean_gray), chain, spread_db)
    gain_and_tgc = display.level_db(np.ones(label.shape), 1.0, grid, chain)  # displayed dB of a level of 0 dB
    flat = np.where(np.isfinite(flat_db), flat_db, 0.0)
    level = np.where(np.isfinite(mean_gray), shown_db - gain_and_tgc, flat)
    if noise_db is not None:
        level = echoes_beneath_noise_db(level, noise_db)
    return level - flat_db + excess_db


def class_mean_gray(gray: np.ndarray, region: np.ndarray, echo: np.ndarray, grain_px,
                    smoothing: float) -> np.ndarray:
    """`gray` averaged over a Gaussian of `smoothing` speckle grains per axis (`grain_px`, rows and
    columns) within `region` (one class) over its echo-bearing pixels `echo` only (normalised
    convolution); NaN outside `region` and where no echo-bearing pixel of it lies near."""
    sigma = (smoothing * grain_px[0], smoothing * grain_px[1])
    inside = (np.asarray(region, bool) & echo).astype(np.float64)
    weight = ndimage.gaussian_filter(inside, sigma, mode="nearest")
    own = ndimage.gaussian_filter(np.asarray(gray, np.float64) * inside, sigma, mode="nearest")
    own /= np.maximum(weight, 1e-12)
    return np.where(np.asarray(region, bool) & (weight > 1e-6), own, np.nan)


def shown_level_db(mean_gray: np.ndarray, chain: display.DisplayChain,
                   spread_db: np.ndarray | None = None) -> np.ndarray:
    """The displayed mean log level (dB, gain and TGC in) at which speckle spreading as `spread_db`
    shows `mean_gray` on average (expected_gray_curve inverted; NaN stays NaN)."""
    levels, curve = expected_gray_curve(chain, spread_db)
    return np.interp(mean_gray, curve, levels)


def refinement_db(target_db: np.ndarray, simulated_db: np.ndarray) -> np.ndarray:
    """What a mask+image map is corrected by after its first image (ussim.phantom.mask_sample): the
    reference's local mean level less the simulation's (both shown_level_db of class_mean_gray at the
    class's image_refinement_grains), 0 where either is undefined (a class not refined, no echo).

    DECISION (issue 15; Mattausch and Goksel, IEEE TMI 2018, fit a scatterer map by imaging it and
    comparing the image with the one it came from): a map that shows the reference's mean gray for
    speckle of one spread does not show it through the simulator: the point-spread function sums
    the map's power over a resolution cell where the map was made in gray, and the receiver noise,
    strong scatterers and the chain's smoothing add their own. Imaged once with the sample's own
    scatterers and noise and corrected by the difference of the local means (2 grains in both
    classes), the ovaries of the tuning frames came back +0.8 gray bright instead of +6.1, JS 0.022
    -> 0.017. DECISION: one pass; a second brought +0.2 gray and the same JS at a third image's cost.
    The organ tables' [conditions] image_refinement_grains hold the fit; bench/RESULTS.md, "mask+image:
    the map checked by imaging it".
    """
    return np.where(np.isfinite(target_db) & np.isfinite(simulated_db), target_db - simulated_db, 0.0)


# DECISION: where the reference shows no more than the noise, its echoes are put this far below the
# noise (a thousandth of its power): too weak to show, and finite, so that no scatterer is lost.
ECHO_BELOW_NOISE_DB = 30.0


def echoes_beneath_noise_db(level_db: np.ndarray, noise_db: np.ndarray) -> np.ndarray:
    """The mean log level of the echoes alone where `level_db` is that of echoes plus receiver
    noise of mean log level `noise_db` (dB, per pixel; not finite where no noise is imaged).
    Powers subtract; both are taken as speckle of one distribution, whose mean log level lies a
    fixed offset below 10 log10 of its mean power, so the offsets cancel and the mean log levels
    subtract as powers do. Where `level_db` is no more than the noise's, the echoes are put
    ECHO_BELOW_NOISE_DB beneath the noise.

    DECISION (the ovary's [conditions] image_noise = "simulated"): the real frames' dark regions
    are the scanner's noise floor, a haze whose gray scatters little about its mean; echoes scaled
    down to that mean gray instead spread as the tissue's speckle does, to gray 0 in their troughs
    (bench/RESULTS.md, "The reference's noise floor")."""
    level = np.asarray(level_db, np.float64)
    noise = np.where(np.isfinite(noise_db), noise_db, -np.inf)
    echo_power = 10 ** (level / 10) - 10 ** (noise / 10)
    floor = noise - ECHO_BELOW_NOISE_DB
    with np.errstate(divide="ignore"):
        echoes = 10 * np.log10(np.maximum(echo_power, 0.0))
    return np.where(np.isfinite(noise), np.maximum(echoes, floor), level)


def excess_attenuation_db(label, x, z, class_names, table: TissueTable, probe: Probe) -> np.ndarray:
    """Two-way attenuation (dB) of the mask's tissues at each pixel beyond the nominal medium
    that the TGC compensates, at the probe's centre frequency."""
    path = _path_map(label, x, z, class_names, table, probe)
    nominal_db_cm_mhz = float(table.imaging.get("attenuation_db_cm_mhz", simulate.Settings().attenuation_db_cm_mhz))
    px, pz = np.meshgrid(x, z)
    nominal = pulse.db_per_cm_mhz_to_np_per_m_hz(nominal_db_cm_mhz) * face_distance(px, pz, probe)
    return 2 * (path - nominal) * probe.center_frequency / pulse.NEPER_PER_DB


def image_amplitudes(cloud: Scatterers, power_db: np.ndarray, region: np.ndarray, x, z) -> Scatterers:
    """`cloud` (drawn with echogenicity 0 dB and no texture where `region`) with each scatterer
    in `region` scaled by 10^(power_db / 20) of its pixel: Gaussian amplitude x the image's map."""
    dx, dz = float(x[1] - x[0]), float(z[1] - z[0])
    column = np.clip(np.rint((cloud.x - x[0]) / dx).astype(np.int64), 0, x.size - 1)
    row = np.clip(np.rint((cloud.z - z[0]) / dz).astype(np.int64), 0, z.size - 1)
    scale = np.where(region[row, column], 10 ** (power_db[row, column] / 20), 1.0)
    return dataclasses.replace(cloud, amplitude=cloud.amplitude * scale)


def flat_tissue(tissue: Tissue, scatterers: str, attenuation_db_cm_mhz: float | None = None,
                density: float | None = None, strong_offset_db: float = 0.0) -> Tissue:
    """Reference tissue (0 dB, no texture, layers, interfaces or sub-structures) with `tissue`'s
    attenuation and density (or those given), beneath a mask+image map: the image gives the
    structure. Its scatterers are "plain" (Gaussian amplitudes: fully developed speckle) or keep the
    class's own amplitude statistics, "tissue" (its K shape and strong scatterers, these
    `strong_offset_db` brighter: conditions.Settings.image_strong_offset_db).

    DECISION ("tissue", the ovary's [conditions]): the map is the reference averaged over several
    speckle grains (a sigma of half a grain averages about 3, of one about 12; the organ table's
    image_smoothing_grains), so little of what makes one grain brighter than its neighbours, the
    sparse strong scatterers, comes from it (what does is why they may sit weaker beneath the map:
    image_strong_offset_db); plain speckle beneath it showed the log-compressed Rayleigh
    look, a gray field with dark holes (local skewness -0.13 on the held-out frames, real +0.45),
    not the real frames' bright grains (bench/RESULTS.md, "Bright grains or dark holes"). The gray
    of a region stays the reference's either way: the flat field is imaged with the same
    statistics (phantom.flat_field_db), and its displayed spread makes the gray-to-level curve.
    """
    own = {"amplitude_shape": tissue.amplitude_shape, "strong_fraction": tissue.strong_fraction,
           "strong_db": tissue.strong_db + strong_offset_db} if scatterers == "tissue" else {}
    return Tissue(echogenicity_db=0.0, density=tissue.density if density is None else density,
                  attenuation_db_cm_mhz=(tissue.attenuation_db_cm_mhz if attenuation_db_cm_mhz is None
                                         else attenuation_db_cm_mhz), **own)


def flat_table(table: TissueTable, names, scatterers: str = "plain",
               strong_offset_db: dict | None = None) -> TissueTable:
    """`table` with the classes `names` as `flat_tissue` (each with its strong scatterers'
    offset from `strong_offset_db`, which names every class in `names`; none: 0 dB), the others
    unchanged."""
    offsets = strong_offset_db or {}
    classes = {name: flat_tissue(tissue, scatterers, strong_offset_db=offsets[name] if offsets else 0.0)
               if name in names else tissue for name, tissue in table.classes.items()}
    return dataclasses.replace(table, classes=classes)


def _path_map(label, x, z, class_names, table: TissueTable, probe: Probe) -> np.ndarray:
    tissues = table.for_classes(list(class_names))
    alpha = np.array([pulse.db_per_cm_mhz_to_np_per_m_hz(t.attenuation_db_cm_mhz) for t in tissues])[label]
    return anatomy.path_integral_map(alpha, x, z, probe)


def _shifted(padded: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """The (unpadded) map whose pixel (r, c) holds the padded map's value at (r + dr, c + dc)."""
    rows, columns = padded.shape[0] - 2, padded.shape[1] - 2
    return padded[1 + dr:1 + dr + rows, 1 + dc:1 + dc + columns]


def edge_contrast_gray(image: np.ndarray, sketch: np.ndarray, label: np.ndarray) -> float:
    """Mean gray on the sketch's displayed background edges less the mean gray of the displayed
    background 2-6 px beside them: how bright the edges are, the statistic [conditions]
    sketch_reflector_db is fitted to (simulated against real, same sketches, on the tuning
    frames). Black pixels count on neither side: outside a field of view there is nothing to
    compare, and a real field of view's border is not where the simulator's is."""
    image, label = np.asarray(image), np.asarray(label)
    edges = (np.asarray(sketch) > 0) & (label == 0)
    beside = (ndimage.binary_dilation(edges, iterations=6) & ~ndimage.binary_dilation(edges, iterations=2)
              & (label == 0) & (image > 0))
    edges &= image > 0
    if not edges.any() or not beside.any():
        return float("nan")
    return float(image[edges].mean() - image[beside].mean())
