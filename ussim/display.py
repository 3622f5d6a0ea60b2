"""The scanner's display chain: what a console does between the detected envelope and the screen.

`render` turns an envelope image (linear, on the display grid, against the simulator's FIXED
reference) into the uint8 image a scanner would show: level in dB -> the console's speckle
reduction (non-local means of the level, a fitted strength, or one per depth) -> + gain + TGC from depth control
points -> a fitted monotone gray map (knots dB -> gray) -> the field of view with the scanner's
outside fill -> what the scanner draws over the image (a convex probe's bright face arc and the
decaying reverberation bands under it; an IVUS catheter, dark, inside its bright ring).

Everything comes from the organ table (data/organs/<organ>.toml): the geometry from `[display]`,
the rest from `[display_chain]`; `bench/fit_display.py` fits them to the real images. The chain
changes only the uint8 image: the simulator's envelope stays physical.

`gray_to_level_db` inverts the gray map (a reference image's gray back to dB against the fixed
reference); `field_of_view` gives the field-of-view mask on any grid.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ussim import bmode, presets
from ussim.errors import UsageError

FIELDS_OF_VIEW = ("sector", "circle")


@dataclass(frozen=True)
class DisplayChain:
    """One organ's display chain; lengths in mm, angles in degrees, gray levels 0-255."""
    fov: str                              # "sector" (convex probe) or "circle" (IVUS)
    knots_db: tuple[float, ...]           # gray map: level (dB vs the fixed reference, after gain and TGC) ...
    knots_gray: tuple[float, ...]         # ... -> gray, both strictly increasing; flat beyond the ends
    gain_db: float = 0.0
    tgc_mm: tuple[float, ...] = ()        # TGC control points: depth from the probe face or catheter ...
    tgc_db: tuple[float, ...] = ()        # ... and gain there (linear between, flat beyond)
    outside_gray: float = 0.0             # fill outside the field of view
    # sector: apex (the convex probe's centre of curvature) on x = 0
    apex_z_mm: float = 0.0
    inner_radius_mm: float = 0.0          # the probe face (sector) or catheter surface (circle)
    outer_radius_mm: float = math.inf
    half_angle_deg: float = 180.0
    face_gray: float = 0.0                # probe face arc (sector) or catheter ring (circle): peak gray ...
    face_radius_mm: float = 0.0           # ... its radius (from the apex / catheter centre) ...
    face_width_mm: float = 0.0            # ... and its thickness (Gaussian FWHM)
    reverb_gray: float = 0.0              # near-field reverberation: first band's gray added ...
    reverb_spacing_mm: float = 1.0        # ... band period (the face-to-tissue round trip) ...
    reverb_decay_mm: float = 1.0          # ... and the depth over which the bands fade by 1/e
    catheter_gray: float = 0.0            # inside the catheter (circle)
    smoothing_mm: tuple[float, ...] = (0.0, 0.0)  # Gaussian sigma (depth z, lateral x) of the gray image's
                                          # post-detection smoothing and resampling (0: none)
    despeckle_db: float | tuple[float, ...] = 0.0  # speckle reduction: the non-local means filter's h
                                          # on the level in dB (`despeckled`; 0: none); one value, or one
    despeckle_mm: tuple[float, ...] = ()  # per depth here (from the face or catheter; linear between,
                                          # flat beyond), as the console's compounding smooths more at depth
    gain_spread_db: float = 0.0           # exam-to-exam spread (std, dB) of the gain a sonographer
                                          # sets: each simulated exam draws its own (`exam_gain_db`)

    def as_dict(self) -> dict:
        return asdict(self)


def load(table_or_name) -> DisplayChain:
    """The display chain of an organ: an organ preset name, a path to an organ TOML, or a tissue
    table (ussim.tissue.TissueTable, which keeps no [display_chain]: its organ's preset is read).
    One UsageError line for any bad value."""
    source = getattr(table_or_name, "organ", table_or_name)
    toml = presets.read("organs", source, "organ")
    display, chain = dict(toml.get("display", {})), dict(toml.get("display_chain", {}))
    if not chain:
        raise UsageError(f"organ table {source} has no [display_chain] section (needed for the display chain)")
    geometry = {key: display[key] for key in ("fov", "apex_z_mm", "inner_radius_mm", "outer_radius_mm",
                                               "half_angle_deg") if key in display}
    try:
        result = DisplayChain(**geometry, **{k: tuple(v) if isinstance(v, list) else v for k, v in chain.items()})
    except TypeError as error:
        raise UsageError(f"organ table {source}, [display_chain]: {error}") from None
    return validate(result, str(source))


def validate(chain: DisplayChain, source: str = "display chain") -> DisplayChain:
    """The chain itself, or one UsageError line naming the first bad value and what is allowed."""
    where = f"{source}:"
    if chain.fov not in FIELDS_OF_VIEW:
        raise UsageError(f"{where} field of view '{chain.fov}' (allowed: {', '.join(FIELDS_OF_VIEW)})")
    knots_db, knots_gray = np.asarray(chain.knots_db, float), np.asarray(chain.knots_gray, float)
    if knots_db.ndim != 1 or knots_db.size < 2 or knots_db.shape != knots_gray.shape:
        raise UsageError(f"{where} gray map of {knots_db.size} dB knots and {knots_gray.size} gray knots "
                         f"(need two equally long lists of at least 2)")
    if not (np.all(np.isfinite(knots_db)) and np.all(np.diff(knots_db) > 0)):
        raise UsageError(f"{where} gray-map knots_db {knots_db.tolist()} (must be finite and strictly increase)")
    if not (np.all(np.diff(knots_gray) > 0) and knots_gray[0] >= 0 and knots_gray[-1] <= 255):
        raise UsageError(f"{where} gray-map knots_gray {knots_gray.tolist()} (must strictly increase within 0..255, "
                         f"so that the map can be inverted)")
    if len(chain.tgc_mm) != len(chain.tgc_db):
        raise UsageError(f"{where} {len(chain.tgc_mm)} TGC depths for {len(chain.tgc_db)} gains (need as many)")
    if chain.tgc_mm:
        bmode.tgc_from_points(0.0, list(zip(chain.tgc_mm, chain.tgc_db, strict=True)))  # its own checks
    numbers = {k: v for k, v in chain.as_dict().items() if isinstance(v, (int, float)) and k != "outer_radius_mm"}
    bad = [k for k, v in numbers.items() if not math.isfinite(v)]
    if bad:
        raise UsageError(f"{where} {', '.join(bad)} must be finite")
    grays = ("outside_gray", "face_gray", "reverb_gray", "catheter_gray")
    bad = [f"{k} = {numbers[k]:g}" for k in grays if not 0 <= numbers[k] <= 255]
    if bad:
        raise UsageError(f"{where} {', '.join(bad)} (gray levels must lie within 0..255)")
    _validate_despeckle(chain, where)
    if not chain.gain_spread_db >= 0:
        raise UsageError(f"{where} gain_spread_db = {chain.gain_spread_db:g} (allowed: >= 0 dB, 0 = one gain for "
                         f"every exam)")
    smoothing = np.asarray(chain.smoothing_mm, float)
    if smoothing.shape != (2,) or not (np.all(np.isfinite(smoothing)) and np.all(smoothing >= 0)):
        raise UsageError(f"{where} smoothing_mm {list(chain.smoothing_mm)} (need two finite values >= 0: "
                         f"sigma along depth z and across x)")
    lengths = ("inner_radius_mm", "face_radius_mm", "face_width_mm")
    bad = [f"{k} = {numbers[k]:g}" for k in lengths if numbers[k] < 0]
    bad += [f"{k} = {numbers[k]:g}" for k in ("reverb_spacing_mm", "reverb_decay_mm") if numbers[k] <= 0]
    if not chain.outer_radius_mm > chain.inner_radius_mm:
        bad.append(f"outer_radius_mm = {chain.outer_radius_mm:g} "
                   f"(must exceed inner_radius_mm {chain.inner_radius_mm:g})")
    if not 0 < chain.half_angle_deg <= 180:
        bad.append(f"half_angle_deg = {chain.half_angle_deg:g} (allowed: 0 < angle <= 180)")
    if bad:
        raise UsageError(f"{where} {', '.join(bad)} (lengths must be >= 0, spacing and decay > 0)")
    return chain


def _validate_despeckle(chain: DisplayChain, where: str) -> None:
    strengths = np.atleast_1d(np.asarray(chain.despeckle_db, float))
    if chain.despeckle_mm:
        depths = np.asarray(chain.despeckle_mm, float)
        if np.ndim(chain.despeckle_db) != 1 or strengths.shape != depths.shape:
            raise UsageError(f"{where} {depths.size} despeckle_mm depths for despeckle_db {chain.despeckle_db} "
                             f"(need one strength per depth)")
        if not (np.all(np.isfinite(depths)) and depths[0] >= 0 and np.all(np.diff(depths) > 0)):
            raise UsageError(f"{where} despeckle_mm {depths.tolist()} (depths must be finite, >= 0 and strictly "
                             f"increase)")
    elif np.ndim(chain.despeckle_db) != 0:
        raise UsageError(f"{where} despeckle_db {list(chain.despeckle_db)} without despeckle_mm (one strength, or "
                         f"one per despeckle_mm depth)")
    bad = [f"{h:g}" for h in strengths if not (math.isfinite(h) and h >= 0)]
    if bad:
        raise UsageError(f"{where} despeckle_db = {', '.join(bad)} (allowed: >= 0 dB, 0 = no speckle reduction)")


def despeckle_profile(chain: DisplayChain) -> tuple[np.ndarray, np.ndarray]:
    """(depths mm, strengths dB) of the chain's speckle reduction; one strength at depth 0 when
    the chain gives no depths."""
    strengths = np.atleast_1d(np.asarray(chain.despeckle_db, np.float64))
    depths = np.asarray(chain.despeckle_mm, np.float64) if chain.despeckle_mm else np.zeros(1)
    return depths, strengths


def exam_gain_db(chain: DisplayChain, seed: int) -> float:
    """The gain offset (dB) of the exam seeded by `seed`: normal, of std chain.gain_spread_db.

    DECISION: a real set is many exams, each with the gain and TGC its sonographer chose; the
    ovary archive's per-image median gray varies by 16 gray (background) and 22 (ovary) between
    frames, where one fixed gain gives 7 (bench/RESULTS.md, "A larger split"). One normal offset
    per exam, of a spread fitted on the tuning frames (bench/fit_display.py --fit-exam-spread),
    reproduces the part of that spread the classes share; each class's own part is its tissue's
    (ussim.tissue.exam_offsets_db). A simulation told the reference image's gray values
    (mask+image) takes neither, its brightness being the reference's (ussim.phantom.imaging_settings).
    """
    if chain.gain_spread_db == 0:
        return 0.0
    return float(np.random.default_rng([seed, 5]).normal(0.0, chain.gain_spread_db))  # a stream of its own


def with_gain(chain: DisplayChain, offset_db: float) -> DisplayChain:
    """The chain with `offset_db` added to its gain (an exam's own setting of the knob)."""
    return chain if offset_db == 0 else DisplayChain(**{**chain.as_dict(), "gain_db": chain.gain_db + offset_db})


def _chain(table_or_chain) -> DisplayChain:
    return table_or_chain if isinstance(table_or_chain, DisplayChain) else load(table_or_chain)


def _radius_angle(grid, chain: DisplayChain) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's distance (mm) from the apex (sector) or catheter centre (circle), and its
    angle (deg) from +z."""
    x, z = np.meshgrid(np.asarray(grid.x) * 1e3, np.asarray(grid.z) * 1e3)
    centre_z = chain.apex_z_mm if chain.fov == "sector" else 0.0
    return np.hypot(x, z - centre_z), np.rad2deg(np.arctan2(x, z - centre_z))


def field_of_view(grid, table_or_chain) -> np.ndarray:
    """Boolean (len(grid.z), len(grid.x)): True where the scanner shows echoes. Sector: within
    the half angle, between the probe face and the outer radius; circle: between the catheter
    surface and the outer radius."""
    chain = _chain(table_or_chain)
    radius, angle = _radius_angle(grid, chain)
    inside = (radius >= chain.inner_radius_mm) & (radius <= chain.outer_radius_mm)
    return inside & (np.abs(angle) <= chain.half_angle_deg) if chain.fov == "sector" else inside


def depth_mm(grid, chain: DisplayChain) -> np.ndarray:
    """Each pixel's depth (mm) from the probe face or catheter surface, as the TGC sees it."""
    return np.maximum(_radius_angle(grid, chain)[0] - chain.inner_radius_mm, 0.0)


def gray_map(level_db, chain: DisplayChain) -> np.ndarray:
    """Gray (float, 0-255) of levels in dB (after gain and TGC): linear between the knots, the
    end knots' grays beyond them."""
    return np.interp(np.asarray(level_db, np.float64), chain.knots_db, chain.knots_gray)


def level_db(envelope_image, reference: float, grid, chain: DisplayChain) -> np.ndarray:
    """The displayed level (dB): 20 log10(envelope / reference), despeckled within the field of
    view (`despeckled`), + gain + TGC at each pixel's depth."""
    if not (reference > 0 and math.isfinite(reference)):
        raise UsageError(f"display reference {reference:g} (must be a finite, positive envelope value)")
    floored = np.maximum(np.asarray(envelope_image, np.float64), bmode.ENVELOPE_FLOOR)
    level = despeckled(20.0 * np.log10(floored / reference), field_of_view(grid, chain), grid, chain)
    return with_gain_and_tgc(level, grid, chain)


def with_gain_and_tgc(level: np.ndarray, grid, chain: DisplayChain) -> np.ndarray:
    """A level image (dB) with the chain's gain and its TGC at each pixel's depth added."""
    level = level + chain.gain_db
    if chain.tgc_mm:
        level = level + bmode.tgc_from_points(depth_mm(grid, chain) * 1e-3,
                                              list(zip(chain.tgc_mm, chain.tgc_db, strict=True)))
    return level


# DECISION: the console's speckle reduction (the ovary archive's frames show "SRI II" and "CRI" in
# their settings text: GE's speckle reduction and compound imaging) is proprietary; it is stood in
# for by non-local means (Buades et al., CVPR 2005), the filter family of the established
# ultrasound despeckling method (Coupe et al., IEEE TIP 2009, on the log-compressed image), from
# scikit-image. Patches of 5 px, searched within 6 px (skimage's defaults for its fast mode are 7
# and 11; smaller windows keep the filter to the speckle's scale, 3-4 px in both archives). Only
# the strength h is fitted (bench/fit_display.py --fit-despeckle), against the real images'
# fine-scale contrast (ussim.measure.band_contrast).
DESPECKLE_PATCH_PX = 5
DESPECKLE_DISTANCE_PX = 6
# levels below the field's median by more than this are clipped before filtering, so that the
# envelope floor (-inf dB in effect) of empty pixels does not dominate the patch distances
DESPECKLE_FLOOR_DB = 60.0


def despeckled(level: np.ndarray, inside: np.ndarray, grid, chain: DisplayChain) -> np.ndarray:
    """The level image (dB) on `grid` with the console's speckle reduction applied within `inside`
    (the field of view); unchanged where the strength is 0. A strength per depth
    (chain.despeckle_mm): the image filtered at each depth's strength, blended linearly between
    the depths (each pixel by its own depth; the nearest end's beyond them)."""
    strengths = despeckle_profile(chain)[1]
    if not np.any(strengths > 0) or not inside.any():
        return level
    weights = depth_weights(grid, chain)
    filtered_at = {}
    for h in np.unique(strengths):  # each strength filters only the rows where it has weight
        used = np.any(weights[strengths == h] > 0, axis=0) & inside
        rows = np.flatnonzero(used.any(axis=1))
        if rows.size:
            filtered_at[float(h)] = despeckle_filtered(level, inside, float(h), (rows[0], rows[-1] + 1))
    return blended_by_depth(filtered_at, level, inside, grid, chain, weights)


def depth_weights(grid, chain: DisplayChain) -> np.ndarray:
    """(depths, z, x): each pixel's weight of each despeckle depth (linear between them, the
    nearest end beyond; they sum to 1)."""
    depths = despeckle_profile(chain)[0]
    if len(depths) == 1:
        return np.ones((1, grid.z.size, grid.x.size))
    depth = depth_mm(grid, chain)
    return np.stack([np.interp(depth, depths, np.eye(len(depths))[knot]) for knot in range(len(depths))])


# pixels of context a non-local means output pixel reads on each side: its search window and patch
DESPECKLE_REACH_PX = DESPECKLE_DISTANCE_PX + DESPECKLE_PATCH_PX // 2


def despeckle_filtered(level: np.ndarray, inside: np.ndarray, strength_db: float,
                       rows: tuple[int, int] | None = None) -> np.ndarray:
    """The level image (dB) filtered by non-local means of strength h = strength_db (the image
    itself at 0); with `rows` (first, end), only those rows are filtered (the rest is `level`),
    from a band DESPECKLE_REACH_PX wider on each side: each filtered pixel reads only that far, so
    they equal the whole image's. Outside pixels are filled with the inside median before
    filtering, so that the outside fill does not pull the border's patches."""
    if strength_db <= 0 or not inside.any():
        return level
    from skimage.restoration import denoise_nl_means

    middle = float(np.median(level[inside]))
    filled = np.where(inside, np.maximum(level, middle - DESPECKLE_FLOOR_DB), middle)
    first, end = rows if rows is not None else (0, level.shape[0])
    top, bottom = max(first - DESPECKLE_REACH_PX, 0), min(end + DESPECKLE_REACH_PX, level.shape[0])
    band = denoise_nl_means(filled[top:bottom], patch_size=DESPECKLE_PATCH_PX, patch_distance=DESPECKLE_DISTANCE_PX,
                            h=strength_db, fast_mode=True)
    out = np.array(level, np.float64, copy=True)
    out[first:end] = band[first - top:end - top]
    return out


def blended_by_depth(filtered_at: dict, level: np.ndarray, inside: np.ndarray, grid,
                     chain: DisplayChain, weights: np.ndarray | None = None) -> np.ndarray:
    """Within `inside`, the chain's despeckled level from `filtered_at` (strength dB -> the level
    filtered at it, despeckle_filtered; holding the chain's strengths); `level` outside. `weights`:
    depth_weights(grid, chain), when the caller has them.
    DECISION: blending a few filtered images, not filtering each pixel with its own h, which
    skimage cannot do; neighbouring depths' strengths differ by a few dB."""
    strengths = despeckle_profile(chain)[1]
    if len(strengths) == 1:
        filtered = filtered_at[float(strengths[0])]
    else:
        filtered = np.zeros_like(level, dtype=np.float64)
        weights = depth_weights(grid, chain) if weights is None else weights
        for weight, h in zip(weights, strengths, strict=True):
            if float(h) in filtered_at:
                filtered = filtered + weight * filtered_at[float(h)]
    return np.where(inside, filtered, level)


def overlays(grid, chain: DisplayChain) -> tuple[np.ndarray, np.ndarray]:
    """What the scanner draws over the echoes: (gray added, gray floor) per pixel. The face arc
    or catheter ring is a floor (the bright line is at least that gray); the reverberation bands
    add to the echoes beneath them, fading with depth."""
    radius, _ = _radius_angle(grid, chain)
    sigma = chain.face_width_mm / (2 * math.sqrt(2 * math.log(2))) if chain.face_width_mm > 0 else 0.0
    floor = chain.face_gray * np.exp(-0.5 * ((radius - chain.face_radius_mm) / sigma) ** 2) if sigma else \
        np.zeros_like(radius)
    depth = np.maximum(radius - chain.inner_radius_mm, 0.0)
    # DECISION: reverberations as raised-cosine bands one face-to-tissue round trip apart, fading
    # exponentially: the repeated echoes between probe face and skin each lose a fixed fraction.
    bands = 0.5 * (1 + np.cos(2 * np.pi * depth / chain.reverb_spacing_mm))
    added = chain.reverb_gray * bands * np.exp(-depth / chain.reverb_decay_mm)
    return added, floor


def smoothed(gray: np.ndarray, inside: np.ndarray, grid, chain: DisplayChain) -> np.ndarray:
    """The gray image blurred by a Gaussian of `smoothing_mm` within the field of view only
    (normalised convolution: the outside fill does not bleed in).

    DECISION: the real sets' gray images are smoother than detected speckle: consoles smooth after
    detection, and the archives were resized from larger frames (ovary about 530 x 960 px, IVUS
    500 x 500, both to 256 x 256, bilinear). What the two did is not documented, so the blur is
    one fitted Gaussian per axis (bench/fit_display.py --fit-smoothing: the real speckle size on
    the tuning frames), applied to the gray image as the resize was.
    """
    sigma_px = (chain.smoothing_mm[0] / float(np.mean(np.diff(grid.z))) / 1e3,
                chain.smoothing_mm[1] / float(np.mean(np.diff(grid.x))) / 1e3)
    if max(sigma_px) <= 0:
        return gray
    weight = ndimage.gaussian_filter(inside.astype(np.float64), sigma_px, mode="nearest")
    blurred = ndimage.gaussian_filter(np.where(inside, gray, 0.0), sigma_px, mode="nearest")
    return np.where(inside, blurred / np.maximum(weight, 1e-12), gray)


def render(envelope_image, reference: float, grid, chain: DisplayChain) -> np.ndarray:
    """uint8 display image of an envelope image on `grid` against the fixed `reference`."""
    return render_level(level_db(envelope_image, reference, grid, chain), grid, chain)


def render_level(level: np.ndarray, grid, chain: DisplayChain) -> np.ndarray:
    """uint8 display image of a displayed level image (dB, `level_db`: despeckled, gain and TGC
    added): the gray map, the smoothing, the scanner's overlays and the outside fill."""
    gray = gray_map(level, chain)
    inside = field_of_view(grid, chain)
    gray = smoothed(gray, inside, grid, chain)
    added, floor = overlays(grid, chain)
    gray = np.maximum(gray + added, floor)
    radius, _ = _radius_angle(grid, chain)
    outside = np.full(gray.shape, chain.outside_gray)
    if chain.fov == "circle":  # the catheter itself: dark, its bright ring around it
        outside = np.where(radius < chain.inner_radius_mm, np.maximum(chain.catheter_gray, floor), outside)
    else:  # above the face (the probe itself) black but for the face arc
        outside = np.where(radius < chain.inner_radius_mm, np.maximum(chain.outside_gray, floor), outside)
    gray = np.where(inside, gray, outside)
    return np.clip(np.rint(np.nan_to_num(gray, nan=0.0)), 0, 255).astype(np.uint8)


def gray_to_level_db(gray, chain: DisplayChain, grid=None) -> np.ndarray:
    """The inverse of the gray map: dB relative to the fixed reference for each gray level.

    Without `grid`, the gain is undone but not the TGC (its depths are unknown). With `grid` (the
    image's pixels) the TGC is undone too, and pixels outside the field of view or on the face arc /
    catheter ring give NaN: the scanner drew them, no echo did. Saturated pixels (at or above the
    last knot's gray) give the last knot's level and black ones (at or below the first knot's gray)
    the first knot's level: the true echo was at least, respectively at most, that strong.
    """
    chain = _chain(chain)
    level = np.interp(np.asarray(gray, np.float64), chain.knots_gray, chain.knots_db) - chain.gain_db
    if grid is None:
        return level
    if chain.tgc_mm:
        level = level - bmode.tgc_from_points(depth_mm(grid, chain) * 1e-3,
                                              list(zip(chain.tgc_mm, chain.tgc_db, strict=True)))
    radius, _ = _radius_angle(grid, chain)
    drawn = np.abs(radius - chain.face_radius_mm) <= chain.face_width_mm
    return np.where(field_of_view(grid, chain) & ~drawn, level, np.nan)
