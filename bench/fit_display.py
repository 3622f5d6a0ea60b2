"""Fit each organ's display chain (ussim.display) to the real images, on the tuning frames only.

Convention of bench/realism.py: frames 0..K-1 of each archive tune, frames K..2K-1 are held out
(ovary: normal ovaries of the OTU_2D train split without Doppler, full-sector frames,
app.demo.sets.OVARY_IMPORT; IVUS: the dmolony pullback). Steps:

1. geometry from the real frames alone. Ovary: mm per pixel in z from the scanner's depth marks
   (depth_scale); the sector of the `convex-tv-7.5` probe (apex at its centre of curvature, face at
   its radius) mapped to pixels by mm per pixel in x and the grid's top offset, fitted
   (scipy.optimize.differential_evolution) so that the sector's mask overlaps the tuning frames'
   median content mask best (IoU); then the face arc (radius, gray, thickness) and the
   reverberation bands from the median radial profile under the face. The organ table's [display]
   grid must be the measured one (within GEOMETRY_TOLERANCE), or the script stops and says so. IVUS: the
   outside fill (the mode beyond r = 128 px), the field-of-view radius, the catheter disk and ring.
2. the tuning masks simulated on that grid (envelope kept physical), then the gain, TGC points and
   the gray-map knots that match the gray-level histogram, the mean-gray-versus-depth profile and
   the share of dark pixels versus depth of the background class (ovary `background`, IVUS
   `outside_EEM`) inside the field of view, and the other classes' share below 3 gray
   (scipy.optimize.minimize, Powell). The TGC has TGC_POINTS[organ] points (table_chain).
3. per-class JS (base 2, 256 bins) of the fitted chain on the tuning AND held-out frames.

    python bench/fit_display.py --organ ovary|ivus [--frames 36] [--out bench/out] [--engine full|fast]
                                [--tuning-only] [--fit-smoothing | --fit-despeckle | --fit-exam-spread |
                                                 --fit-noise=-50,-56,-62]
                                [--condition mask|mask+image] [--image-frames 12] [--flat]

`--engine fast` simulates with ussim's fast engine (PSF convolution, ussim.fast) instead of the full
one; `--tuning-only` simulates the tuning frames alone (half the cost: no held-out JS, no montage,
bench/realism.py measures the held-out frames). `--fit-despeckle` fits a speckle-reduction strength
per TGC depth, at `--condition mask` on the tuning masks' simulations, at `mask+image` on frames
simulated from their own images (then the gray map at mask); with `--flat`, one strength for every
depth, fitted to the polar speckle size and the fine contrast of each class. `--fit-noise` scans the
receiver noise level: the tuning frames simulated at each, the gray map refitted for each, the
level of least error kept.

It prints JSON; put the values into data/organs/<organ>.toml ([display], [display_chain]).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage, optimize, signal
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realism_measures as measures  # noqa: E402
from realism import IMPORTS, grid_of, js_divergence  # noqa: E402

from ussim import bmode, display, imageset, importers, measure, phantom, scan, simulate, tissue  # noqa: E402
from ussim import probe as probes  # noqa: E402

# DECISION: a pixel shows echoes when its 7x7 mean exceeds gray 6: speckle has dark pixels but
# no dark 7x7 patches inside tissue, while the scanners' outside is 0 (ovary) with text on it.
CONTENT_WINDOW_PX, CONTENT_GRAY = 7, 6
# DECISION: the gray-map fit skips the convex probe's face arc and first reverberations (3 mm);
# IVUS has neither (its catheter lies outside the field of view)
NEAR_FIELD_MM = {"ovary": 3.0, "ivus": 0.0}
PROFILE_BIN_MM = 2.0
PROFILE_WEIGHT = 10.0      # DECISION: (gray / 255)^2 of the depth profile weighed 10x: about as JS
# DECISION: the share of the background's pixels darker than DARK_GRAY in each depth bin is matched
# as well (the dark-floor profile, weight DARK_WEIGHT on its squared error). The mean profile and the
# histogram alone were met by a receiver noise that filled the far field: at noise_db -50 the tissue
# alone read 5 gray at 51-59 mm against the real 44, and the noise's narrow floor left 1-3 % of the
# background below 10 gray at 17-42 mm against the real 7-8 % (tuning frames, every other of 0-35;
# bench/RESULTS.md, "The far field was receiver noise"). 12 gray is the real frames' tenth
# percentile there; an error of 0.05 in every bin costs 0.01, as a JS of 0.01 does.
DARK_GRAY = 12
DARK_WEIGHT = 4.0
# DECISION: the share of the other classes' pixels (the ovary, its follicles) darker than BLACK_GRAY,
# pooled, is matched too (weight BLACK_WEIGHT on its squared error). The background's floor alone
# left the follicles to whatever the map made of the noise in them: 5.1 % of the tuning frames'
# ovary at 0-2 gray through the table's map, 4-8 % through maps fitted with less noise, against
# the real 0.07 % (bench/RESULTS.md, "Eight TGC points"). A share 0.03 off costs 0.009, about a JS
# of 0.01.
BLACK_GRAY = 3
BLACK_WEIGHT = 10.0
# DECISION: TGC control points of a refit, evenly from the table's first TGC depth to its last: the 4
# each table was fitted with. 8 (a console's slide pots) matched the ovary's tuning frames better
# (the mean gray by depth 6 gray RMS per 2 mm off instead of 12, with no receiver noise needed) but
# not the held-out frames, whose far field is 14 gray brighter (bench/RESULTS.md, "Eight TGC
# points"); a refit with more points starts from the table's TGC spread over them (table_chain).
TGC_POINTS = {"ovary": 4, "ivus": 4}
KNOTS = 8                  # gray-map knots
MIN_KNOT_STEP = 1e-3       # gray between neighbouring knots at least (the map must stay invertible)
MIN_CLASS_PIXELS = 200     # DECISION: a class's median level needs this many pixels of a frame
# DECISION: the cap of a fitted echogenicity spread (3x the largest the ovary archive asks for), for
# a class whose level hardly moves with its offset (slope below 0.1), where the scaling would blow up
MAX_ECHOGENICITY_SPREAD_DB = 6.0
# DECISION: the ovary's depth scale is read from the scanner's own depth marks, a column of dots in
# the frames' left 14 columns, 5 mm apart. 5 mm, not 1 cm: on the OTU_2D frame 1034 (cropped
# layout), whose caliper reads "D 3.07cm" along a level dotted line 87 px long, the marks lie 15.25
# px apart; with the original's pixels square that line is 25.9 mm at 5 mm marks (-16 %) and 51.8
# mm at 1 cm marks (+69 %). At 5 mm the full-sector tuning frames' ovaries measure 11-41 mm along
# their long axes (quartiles 18-25), near the literature's adult ovary (25-50 mm).
DEPTH_MARK_MM = 5.0
DEPTH_MARK_COLUMNS = slice(0, 14)
DEPTH_MARK_GRAY = 60       # a mark is brighter than this (the outside fill is 0)
MIN_DEPTH_MARKS = 5        # marks at a common spacing (within 10 %) that make a reading
# The chain's radii and depths are mm of the table's grid: fitted on another grid, they would be wrong.
GEOMETRY_TOLERANCE = 0.05


def load_real(organ: str, frames: int):
    archive, options = IMPORTS[organ]
    real = importers.import_npz(importers.real_data_dir() / archive, progress=False, **options)
    return real, measures.split_frames(real.sizes["sample"], frames)


def content_mask(images: np.ndarray) -> np.ndarray:
    """Pixels that show echoes in at least half of the frames."""
    shown = [ndimage.uniform_filter(i.astype(float), CONTENT_WINDOW_PX) > CONTENT_GRAY for i in images]
    return np.median(np.stack([ndimage.binary_fill_holes(s) for s in shown]), axis=0) > 0.5


def sector_grid(params, shape):
    """The grid of (mm per px x, mm per px z, top offset mm) on `shape` pixels, x centred on the apex."""
    dx, dz, top = params
    n_z, n_x = shape
    return scan.DisplayGrid.covering(-n_x * dx / 2e3, n_x * dx / 2e3, top * 1e-3, (top + n_z * dz) * 1e-3, shape)


def face_rows(images: np.ndarray) -> np.ndarray:
    """Per frame, the row of the probe face on the centre line: the brightest row of the central
    16 columns within the top third (the face arc is the brightest echo under the apex)."""
    centre = images[:, : images.shape[1] // 3, images.shape[2] // 2 - 8: images.shape[2] // 2 + 8].mean(axis=2)
    return np.argmax(centre, axis=1)


def depth_mark_spacing_px(image: np.ndarray, columns: slice = DEPTH_MARK_COLUMNS) -> float:
    """Rows between the depth marks of one frame: the commonest spacing (within 10 %) of the bright
    peaks of the marks' columns, NaN where fewer than MIN_DEPTH_MARKS marks share it (text or
    tissue over the column)."""
    profile = image[:, columns].max(axis=1).astype(float)
    peaks, _ = signal.find_peaks(profile, height=DEPTH_MARK_GRAY, distance=8)
    steps = np.diff(peaks)
    if len(steps) < MIN_DEPTH_MARKS - 1:
        return float("nan")
    common = max(steps, key=lambda s: int((np.abs(steps - s) <= 0.1 * s).sum()))
    agreeing = steps[np.abs(steps - common) <= 0.1 * common]
    return float(np.median(agreeing)) if len(agreeing) >= MIN_DEPTH_MARKS - 1 else float("nan")


def depth_scale(images: np.ndarray) -> dict:
    """mm per px in depth from the frames' depth marks: DEPTH_MARK_MM over the median spacing of the
    frames where marks are read, with the spread of the exams' own settings (quartiles)."""
    spacing = np.array([depth_mark_spacing_px(i) for i in images])
    read = spacing[np.isfinite(spacing)]
    if len(read) == 0:
        raise ValueError("no frame shows depth marks in its left columns")
    quartiles = DEPTH_MARK_MM / np.percentile(read, [75, 25])
    return {"mm_per_px_z": float(DEPTH_MARK_MM / np.median(read)), "frames_read": int(len(read)),
            "frames": int(len(spacing)), "mm_per_px_z_quartiles": [float(q) for q in quartiles]}


def fit_sector(images: np.ndarray, probe, mm_per_px_z: float | None = None) -> dict:
    """mm per pixel in x and z, top offset and outer radius that put the probe's sector on the real
    one; the half angle is the probe's (its field of view) unless it has to be narrower. The face
    (z = 0 on the centre line) is put on the frames' median face row; the rest is fitted by IoU,
    with mm per pixel in z fixed where it is given (the frames' depth marks)."""
    target = content_mask(images)
    face_row = float(np.median(face_rows(images)))
    radius_mm = probe.radius * 1e3
    full_half_angle = float(np.rad2deg(np.abs(probe.element_positions()[2]).max()))

    def geometry(p):
        if mm_per_px_z is not None:
            p = (p[0], mm_per_px_z, *p[1:])
        dx, dz, depth, half_angle = p
        chain = display.DisplayChain(fov="sector", knots_db=(0, 1), knots_gray=(0, 1), apex_z_mm=-radius_mm,
                                     inner_radius_mm=radius_mm, outer_radius_mm=radius_mm + depth,
                                     half_angle_deg=half_angle)
        return (dx, dz, -(face_row + 0.5) * dz), chain

    def loss(p):
        params, chain = geometry(p)
        mask = display.field_of_view(sector_grid(params, target.shape), chain)
        return 1 - (mask & target).sum() / (mask | target).sum()

    bounds = [(0.1, 1.0), (0.05, 1.0), (20.0, 120.0), (30.0, full_half_angle)]
    if mm_per_px_z is not None:
        del bounds[1]
    result = optimize.differential_evolution(loss, bounds, seed=0, tol=1e-6, maxiter=200, polish=False)
    (dx, dz, top), chain = geometry(result.x)
    return {"mm_per_px_x": float(dx), "mm_per_px_z": float(dz), "top_mm": float(top), "face_row": face_row,
            "outer_radius_mm": chain.outer_radius_mm, "half_angle_deg": chain.half_angle_deg,
            "probe_half_angle_deg": full_half_angle, "apex_z_mm": -radius_mm, "inner_radius_mm": radius_mm,
            "iou": float(1 - result.fun)}


def radial_profile(images, grid, chain, step_mm, reach_mm, angle_deg=None):
    """Median over frames of the mean gray per radius bin (mm from apex / catheter centre)."""
    x, z = np.meshgrid(grid.x * 1e3, grid.z * 1e3)
    centre = chain.apex_z_mm if chain.fov == "sector" else 0.0
    radius, angle = np.hypot(x, z - centre), np.rad2deg(np.arctan2(x, z - centre))
    edges = np.arange(0, reach_mm + step_mm, step_mm)
    keep = np.ones_like(radius, bool) if angle_deg is None else np.abs(angle) <= angle_deg
    index = np.digitize(radius, edges)
    profiles = [ndimage.mean(i, labels=np.where(keep, index, 0), index=np.arange(1, len(edges))) for i in images]
    return edges[:-1] + step_mm / 2, np.median(np.stack(profiles), axis=0)


def fit_face(images, dz_mm: float, deep_mm: float = 8.0) -> dict:
    """The face arc (peak gray, FWHM) and the reverberation bands below it, from the central
    columns of each frame aligned at its own face row (the face moves a few pixels between frames;
    a profile over fixed radii would blur the thin arc away)."""
    rows = face_rows(images)
    reach = int(round(2 * deep_mm / dz_mm))
    centre = images[:, :, images.shape[2] // 2 - 8: images.shape[2] // 2 + 8].mean(axis=2)
    aligned = np.stack([centre[i, row - 5: row + reach] for i, row in enumerate(rows) if row >= 5])
    profile = np.median(aligned, axis=0)
    peak = 5
    half = (profile[peak] + profile[:3].mean()) / 2
    runs, _ = ndimage.label(profile > half)
    width = float((runs == runs[peak]).sum() * dz_mm)
    d = (np.arange(profile.size) - peak) * dz_mm
    below = d > width
    deep = float(np.median(profile[d > deep_mm]))

    def bands(d, amplitude, spacing, decay):
        return deep + amplitude * 0.5 * (1 + np.cos(2 * np.pi * d / spacing)) * np.exp(-d / decay)

    (amplitude, spacing, decay), _ = optimize.curve_fit(bands, d[below], profile[below], p0=(40, 1.3, 2.0),
                                                        bounds=([0, 0.3, 0.2], [200, 8, 20]))
    return {"face_gray": float(profile[peak]), "face_width_mm": width, "reverb_gray": float(amplitude),
            "reverb_spacing_mm": float(spacing), "reverb_decay_mm": float(decay), "tissue_gray_below": deep,
            "face_profile": [round(float(v), 1) for v in profile[: peak + int(6 / dz_mm)]]}


def fit_ivus(images, grid) -> dict:
    """Outside fill, field-of-view radius, catheter disk (gray, radius) and any ring beyond it."""
    x, z = np.meshgrid(grid.x * 1e3, grid.z * 1e3)
    radius = np.hypot(x, z)
    half = float(grid.x[-1] * 1e3)
    values, counts = np.unique(images[:, radius > half], return_counts=True)
    fill = int(values[np.argmax(counts)])
    step = float(np.diff(grid.x[:2])[0] * 1e3) / 2
    edges = np.arange(0, radius.max() + step, step)
    index = np.digitize(radius, edges)
    share = np.array([(images[:, index == i] == fill).mean() if (index == i).any() else 1.0
                      for i in range(1, len(edges))])
    centres = edges[:-1] + step / 2
    middle = (centres > 1.0) & (centres < half - 0.2)
    # the field of view ends, and the catheter disk begins, where half the pixels take the fill value
    fov = float(centres[np.flatnonzero(middle)[-1] + np.argmax(share[np.flatnonzero(middle)[-1]:] > 0.5)])
    catheter = float(centres[np.argmax(share < 0.5)])
    r, gray = radial_profile(images, grid, display.DisplayChain("circle", (0, 1), (0, 1)), step, catheter + 0.5)
    ring = (r > catheter) & (r < catheter + 0.3)
    ring_gray = float(gray[ring].max()) if ring.any() else 0.0
    # DECISION: a ring is drawn only where the profile beyond the catheter rises above its fill
    return {"outside_gray": float(fill), "outer_radius_mm": fov, "inner_radius_mm": catheter,
            "catheter_gray": float(fill), "face_gray": ring_gray if ring_gray > fill else 0.0,
            "face_radius_mm": float(r[ring][np.argmax(gray[ring])]) if ring.any() else catheter,
            "face_width_mm": 2 * step if ring_gray > fill else 0.0,
            "fill_share_outside": float(counts.max() / counts.sum())}


def simulate_frames(real, index, organ, grid, engine="full", table=None, **imaging):
    """Envelope images, references and seconds of the real masks `index`, simulated on `grid` by
    `engine` (full or fast) with the organ's table (or `table`) and its imaging settings
    (`imaging` overrides some)."""
    table = tissue.load(organ) if table is None else table
    probe = probes.load(table.probe)
    names = imageset.class_names_of(real)
    table = tissue.TissueTable(table.organ, table.probe, table.classes, table.display, {**table.imaging, **imaging})
    envelopes, references, seconds = [], [], []
    phantom.warm_up(real["label"].values[index[0]], grid, names, table, probe, device="cpu", per_cell=1.0,
                    engine=engine)
    for i in index:
        start = time.perf_counter()
        sim = phantom.simulate_mask(real["label"].values[i], grid, names, table, probe, seed=int(i), device="cpu",
                                    progress=False, engine=engine)
        seconds.append(time.perf_counter() - start)
        envelopes.append(sim.envelope_image)
        references.append(sim.params["settings"]["reference"])
    return np.stack(envelopes), np.array(references), np.array(seconds)


def rendered(envelopes, references, grid, chain, seeds):
    """The display images of the frames seeded by `seeds`, each exam with its own gain
    (ussim.display.exam_gain_db), as ussim.phantom.simulate_mask renders them."""
    return np.stack([display.render(e, r, grid, display.with_gain(chain, display.exam_gain_db(chain, int(s))))
                     for e, r, s in zip(envelopes, references, seeds, strict=True)])


def with_map(chain, gain, tgc, knots_gray):
    return display.DisplayChain(**{**chain.as_dict(), "gain_db": float(gain), "tgc_db": tuple(map(float, tgc)),
                                   "knots_gray": tuple(map(float, knots_gray))})


def fit_gray_map(envelopes, references, real_images, labels, background, grid, chain,
                 near_field_mm: float, seeds, terms: dict | None = None) -> display.DisplayChain:
    """Gain, TGC points and gray-map knots matching the background class's gray histogram, its
    mean gray versus depth and its share of dark pixels versus depth inside the field of view (minus
    the near field), and the other classes' share below BLACK_GRAY there, on these frames (seeded by `seeds`: each with its exam's gain, as `rendered`).
    `terms`, a dict, receives the fitted map's error term by term (map_error_terms)."""
    depth = display.depth_mm(grid, chain)
    used = display.field_of_view(grid, chain) & (depth > near_field_mm)
    pick = (labels == background) & used[None]
    real_values = real_images[pick]
    bins = (depth[None].repeat(len(labels), 0)[pick] // PROFILE_BIN_MM).astype(int)
    counts = np.bincount(bins)
    real_profile = np.bincount(bins, real_values) / np.maximum(counts, 1)
    real_dark = np.bincount(bins, real_values < DARK_GRAY) / np.maximum(counts, 1)
    others = (labels != background) & used[None]
    real_black = float(np.mean(real_images[others] < BLACK_GRAY)) if others.any() else None
    inside = display.field_of_view(grid, chain)
    # the levels as display.level_db makes them before gain and TGC, the console's speckle reduction included
    levels = np.stack([display.despeckled(20 * np.log10(np.maximum(e, bmode.ENVELOPE_FLOOR) / r), inside, grid, chain)
                       for e, r in zip(envelopes, references, strict=True)])
    levels += np.array([display.exam_gain_db(chain, int(s)) for s in seeds])[:, None, None]
    tgc_points = np.asarray(chain.tgc_mm)
    smoothing = max(chain.smoothing_mm) > 0

    def gray(gain, tgc, knots_gray):
        # the gray images as display.render makes them (gray map, then the chain's smoothing
        # within the field of view): the smoothing narrows the histogram the knots must match
        offset = np.interp(depth, tgc_points, tgc)[None] if len(tgc_points) else 0.0
        images = np.interp(levels + gain + offset, chain.knots_db, knots_gray)
        if smoothing:
            images = np.stack([display.smoothed(image, inside, grid, chain) for image in images])
        return images

    def error_terms(images):
        black = None if real_black is None else (images[others], real_black)
        return map_error_terms(images[pick], real_values, bins, counts, real_profile, real_dark, black)

    def loss(images):
        return sum(error_terms(images).values())

    n_tgc = len(tgc_points)
    # stage 1: gain and TGC with the current knots; stage 2: the knots (as positive increments:
    # monotone by construction) with gain and TGC kept
    # DECISION: TGC within +-20 dB (a console's slider range) and the gain within 40 dB of its start:
    # a TGC point where the background class is sparse must not run off to absurd gains
    bounds = [(chain.gain_db - 40, chain.gain_db + 40)] + [(-20.0, 20.0)] * n_tgc
    stage1 = optimize.minimize(lambda p: loss(gray(p[0], p[1:], chain.knots_gray)),
                               np.r_[chain.gain_db, chain.tgc_db], method="Powell", bounds=bounds,
                               options={"xtol": 0.05})
    gain, tgc = stage1.x[0], stage1.x[1:1 + n_tgc]

    def knots(p):  # strictly increasing from max(p0, 0), squeezed under 255 when it overshoots
        # DECISION: each step at least MIN_KNOT_STEP gray: Powell drives the step of a saturated top
        # knot towards exp(-inf), and two knots within a rounding error of 255 fail display.validate
        grays = np.cumsum(np.r_[max(p[0], 0.0), np.maximum(np.exp(p[1:]), MIN_KNOT_STEP)])
        if grays[-1] > 255:
            grays = grays[0] + (grays - grays[0]) * (255 - grays[0]) / (grays[-1] - grays[0])
        return np.minimum(grays, 255.0)  # the rescaled last knot may overshoot by a rounding error

    start = np.r_[chain.knots_gray[0], np.log(np.maximum(np.diff(chain.knots_gray), 0.5))]
    stage2 = optimize.minimize(lambda p: loss(gray(gain, tgc, knots(p))),
                               start, method="Powell", options={"xtol": 0.01})
    result = with_map(chain, gain, tgc, knots(stage2.x))
    if terms is not None:  # the fitted map's error, term by term, for a caller that compares fits
        terms.update(error_terms(gray(gain, tgc, knots(stage2.x))))
    return display.validate(result, "fitted chain")


def map_error_terms(values, real_values, bins, counts, real_profile, real_dark, black=None) -> dict:
    """The gray-map fit's error, term by term, of the background's simulated gray `values` (the
    real ones', their depth bins and each bin's count, mean and dark share given): the histogram's
    JS, the mean-gray profile's weighed squared error, the dark-floor profile's (DARK_WEIGHT); with
    `black`, (the other classes' simulated gray, their real share below BLACK_GRAY), that share's
    (BLACK_WEIGHT)."""
    simulated = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    profile = np.bincount(bins, values, minlength=counts.size) / np.maximum(counts, 1)
    dark = np.bincount(bins, simulated < DARK_GRAY, minlength=counts.size) / np.maximum(counts, 1)
    terms = {"js": js_divergence(real_values, simulated),
             "profile": PROFILE_WEIGHT * float(np.mean(((profile - real_profile) / 255) ** 2)),
             "dark": DARK_WEIGHT * float(np.mean((dark - real_dark) ** 2))}
    if black is not None:
        other_values, real_black = black
        share = float(np.mean(np.clip(np.rint(other_values), 0, 255) < BLACK_GRAY))
        terms["black"] = BLACK_WEIGHT * (share - real_black) ** 2
    return terms


def js_per_class(real_images, simulated, labels, names) -> dict:
    return {name: round(js_divergence(real_images[labels == k], simulated[labels == k]), 4)
            for k, name in enumerate(names) if (labels == k).any()}


def check_grid(found: dict, grid) -> None:
    """Stop, in one line, where the table's display grid is not the frames' measured one."""
    table_mm = (float(np.mean(np.diff(grid.x))) * 1e3, float(np.mean(np.diff(grid.z))) * 1e3)
    measured = (found["mm_per_px_x"], found["mm_per_px_z"])
    if any(abs(t / m - 1) > GEOMETRY_TOLERANCE for t, m in zip(table_mm, measured, strict=True)):
        raise SystemExit(f"the organ table's [display] grid, {table_mm[0]:.4f} x {table_mm[1]:.4f} mm per px "
                         f"(across x depth), is not the frames' measured {measured[0]:.4f} x {measured[1]:.4f}: put "
                         f"the measured geometry into its [display] first (bench/RESULTS.md, \"The ovary's depth scale\")")


def table_chain(organ: str) -> display.DisplayChain:
    """The organ table's chain with its TGC on TGC_POINTS[organ] points, evenly from its first TGC
    depth to its last, their gains interpolated from the table's (the start of a refit)."""
    chain = display.load(organ)
    points = TGC_POINTS[organ]
    if not chain.tgc_mm or len(chain.tgc_mm) == points:
        return chain
    depths = np.linspace(chain.tgc_mm[0], chain.tgc_mm[-1], points)
    gains = np.interp(depths, chain.tgc_mm, chain.tgc_db)
    return dataclasses.replace(chain, tgc_mm=tuple(float(round(v, 2)) for v in depths),
                               tgc_db=tuple(map(float, gains)))


def fitted_chain(organ, real, splits, grid) -> tuple[display.DisplayChain, dict]:
    """The organ's chain with the geometry, fills and drawn lines measured on the tuning frames."""
    chain = table_chain(organ)
    images = real["image"].values[splits["tuning"]]
    if organ == "ivus":
        found = fit_ivus(images, grid)
        values = {k: v for k, v in found.items() if k in chain.as_dict()}
    else:
        try:
            scale = depth_scale(images)
        except ValueError as error:  # frames without the scanner's marks: one line, not a traceback
            raise SystemExit(f"{organ}: {error}: the depth scale cannot be read") from None
        found = fit_sector(images, probes.load(tissue.load(organ).probe), scale["mm_per_px_z"])
        found["depth_marks"] = scale
        check_grid(found, grid)
        values = {k: found[k] for k in ("apex_z_mm", "inner_radius_mm", "outer_radius_mm", "half_angle_deg")}
        found.update(fit_face(images, found["mm_per_px_z"]))
        values.update({k: found[k] for k in ("face_gray", "face_width_mm", "reverb_gray", "reverb_spacing_mm",
                                             "reverb_decay_mm")}, face_radius_mm=found["inner_radius_mm"])
    return display.validate(display.DisplayChain(**{**chain.as_dict(), **values}), "measured geometry"), found


def scheme_comparison(organ, real, splits, grid, chain, schemes, frames, engine="full") -> list[dict]:
    """Per transmit scheme on the first `frames` tuning frames: seconds per image, background grain
    near the centre line and its streakiness (columns / rows) against the real ones, and per-class
    JS after a gray-map fit on those frames (each scheme gets its own fit: texture, not level)."""
    index = splits["tuning"][:frames]
    names = imageset.class_names_of(real)
    real_images, labels = real["image"].values[index], real["label"].values[index]
    x, z = np.meshgrid(grid.x * 1e3, grid.z * 1e3)
    # the grain where columns run across the beam and rows along it: within 20 degrees of the centre line
    axial = np.abs(np.degrees(np.arctan2(x, z - chain.apex_z_mm))) < 20
    used = display.field_of_view(grid, chain) & (display.depth_mm(grid, chain) > NEAR_FIELD_MM[organ]) & axial
    background = (labels == 0) & used[None]
    real_grain = measure.speckle_grain_px(real_images, background)
    rows = []
    for settings in schemes:
        envelopes, references, seconds = simulate_frames(real, index, organ, grid, engine=engine, **settings)
        fitted = fit_gray_map(envelopes, references, real_images, labels, 0, grid, chain, NEAR_FIELD_MM[organ],
                              index)
        images = rendered(envelopes, references, grid, fitted, index)
        grain = measure.speckle_grain_px(images, background)
        rows.append({"settings": settings, "engine": engine, "seconds_per_image": float(seconds.mean()),
                     "grain_px_rows_cols": grain, "real_grain_px_rows_cols": real_grain,
                     "streakiness": round(grain[1] / grain[0], 2),
                     "real_streakiness": round(real_grain[1] / real_grain[0], 2),
                     "js": js_per_class(real_images, images, labels, names)})
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def comparison_schemes(scheme_set: str, chain) -> list[dict]:
    """The transmit schemes compared: `diverging` (one wave, three coherent waves, one wave with a
    narrower receive aperture) or `focused` (the table's wave against focused lines, one transmit
    per line, focused at mid-depth and at 2/3 of the depth shown: 2 of the console's focal zones)."""
    if scheme_set == "diverging":
        return [dict(n_waves=1), dict(n_waves=3), dict(n_waves=1, rx_f_number=3.5)]
    shown_mm = chain.outer_radius_mm - chain.inner_radius_mm  # tissue shown along a line from the face
    return [dict(n_waves=1)] + [dict(scheme="focused", focus=round(shown_mm * share, 2) * 1e-3)
                                for share in (1 / 2, 2 / 3)]


def full_engine_cost(organ, real, index, grid, settings, lines=(8, 16)) -> dict:
    """The full engine's seconds for an image of `settings` whose events are one per line (focused),
    estimated from images of fewer lines: seconds linear in the number of lines, fitted on `lines`
    and extrapolated to the table's n_lines (the scan conversion of few lines costs as much as of many)."""
    n_lines = int(tissue.load(organ).imaging.get("n_lines", 128))
    times = [float(simulate_frames(real, index[:1], organ, grid, **{**settings, "n_lines": n})[2][0]) for n in lines]
    slope = (times[1] - times[0]) / (lines[1] - lines[0])
    return {"lines": list(lines), "seconds": times, "per_line": slope, "n_lines": n_lines,
            "estimated_seconds_per_image": times[0] + slope * (n_lines - lines[0])}


def homogeneous_correlation(n_waves: int) -> dict:
    """Envelope correlation of homogeneous speckle (convex-tv-7.5, 12-24 mm deep, on the beam axis)
    at 1-3 px of 0.25 mm across the beam and 0.125 mm along it: the speckle's shape without anatomy."""
    from ussim import scatter
    probe = probes.load("convex-tv-7.5")
    cloud = scatter.homogeneous_box(probe, (-6e-3, 6e-3), (12e-3, 24e-3), per_cell=3, seed=1)
    grid = scan.DisplayGrid.covering(-6e-3, 6e-3, 12e-3, 24e-3, (96, 48))
    sim = simulate.simulate(cloud, probe, scheme="diverging", n_waves=n_waves, n_lines=512, depth=26e-3,
                            device="cpu", progress=False, grid=grid)
    e = sim.envelope_image[8:-8, 8:-8].astype(np.float64)
    e -= e.mean()

    def corr(a, b):
        return round(float((a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean())), 2)

    return {"n_waves": n_waves, "across_beam": [corr(e[:, :-k], e[:, k:]) for k in (1, 2, 3)],
            "along_beam": [corr(e[:-k], e[k:]) for k in (1, 2, 3)]}


# Candidate blurs of the gray image (sigma in px of the real grid per axis). DECISION: every pair on
# this grid is rendered rather than searched: the measured speckle size is noisy in the blur (a
# line search stalls on its wiggles), and 169 renders of the tuning frames take under a minute.
SMOOTHING_SIGMAS_PX = np.arange(0.0, 3.01, 0.25)


def measured_classes(labels, names) -> list[int]:
    """The classes large enough to measure a speckle grain or a contrast on: more than 50 px an image."""
    return [i for i in range(len(names)) if (labels == i).sum() > 200 * len(labels) // 4]


def fit_smoothing(envelopes, references, real_images, labels, names, grid, chain,
                  seeds) -> tuple[display.DisplayChain, list]:
    """The display chain's smoothing_mm that brings the simulated speckle size (rows along depth,
    columns across; ussim.measure.speckle_grain_px per class) closest to the real one on these frames:
    the least mean squared relative error over the classes with a measurable grain."""
    dz_mm, dx_mm = float(np.mean(np.diff(grid.z))) * 1e3, float(np.mean(np.diff(grid.x))) * 1e3
    classes = measured_classes(labels, names)
    real = {i: np.array(measure.speckle_grain_px(real_images, labels == i)) for i in classes}
    tried = []
    for sz in SMOOTHING_SIGMAS_PX:
        for sx in SMOOTHING_SIGMAS_PX:
            candidate = display.DisplayChain(**{**chain.as_dict(), "smoothing_mm": (sz * dz_mm, sx * dx_mm)})
            images = rendered(envelopes, references, grid, candidate, seeds)
            grains = {i: np.array(measure.speckle_grain_px(images, labels == i)) for i in classes}
            error = float(np.mean([np.mean((grains[i] / real[i] - 1) ** 2) for i in classes]))
            tried.append({"sigma_px": [float(sz), float(sx)], "error": error,
                          "grain_px": {names[i]: grains[i].tolist() for i in classes}})
    best = min(tried, key=lambda t: t["error"])
    smoothing = (round(best["sigma_px"][0] * dz_mm, 4), round(best["sigma_px"][1] * dx_mm, 4))
    return display.DisplayChain(**{**chain.as_dict(), "smoothing_mm": smoothing}), \
        [{"real_grain_px": {names[i]: real[i].tolist() for i in classes}}, best, tried[0]]


# DECISION: candidate strengths of the speckle reduction (h of non-local means, dB): from none to
# 15 dB. The flat 3 dB fitted first (about the log-compressed speckle's 5.6 dB std halved) left
# mask+image's far field 1.8x as contrasted as the real one (bench/RESULTS.md, "The far field"): a
# console's compounding averages more decorrelated looks at depth, so deeper depths may need more.
DESPECKLE_DB = (0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0, 12.0, 15.0)
DESPECKLE_ROUNDS = 2       # sweeps over the depths, the gray map refitted after each
# DECISION: the contrast the profile matches is the gray's std about its 4 px local mean (the band
# below 4 px of ussim.measure.band_contrast), not the band below 2 px the flat strength was fitted
# to: below 2 px, 3 dB already matched every depth (2026-12-03: 15.8 / 11.8 / 8.8 / 5.9 gray at
# the four TGC depths, the gray map darkening the far field), while the far field's excess lies in
# the 2-4 px grains (held out, 3-8 -> 20-28 mm: real 21.0 -> 9.9 gray, mask+image 21.2 -> 17.6)
# that a reader and the classifier see; the compounding that removes them is what the filter stands in for.
DESPECKLE_BAND_PX = 4.0


def depth_zones(grid, chain, near_field_mm: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """The chain's TGC depths (mm) and each one's zone: the field of view's pixels nearest it,
    deeper than the near field."""
    depth = display.depth_mm(grid, chain)
    knots = np.asarray(chain.tgc_mm, float)
    nearest = np.argmin(np.abs(depth[..., None] - knots), axis=-1)
    inside = display.field_of_view(grid, chain) & (depth > near_field_mm)
    return knots, [inside & (nearest == k) for k in range(len(knots))]


def zone_contrasts(images, labels, classes, zone) -> list[float]:
    """Each class's contrast below DESPECKLE_BAND_PX (ussim.measure.band_contrast) within `zone`."""
    return [measure.band_contrast(images, (labels == i) & zone[None], (DESPECKLE_BAND_PX, measure.BAND_EDGES_PX[1]))[0]
            for i in classes]


def fit_despeckle(envelopes, references, real_images, labels, names, grid, chain,
                  near_field_mm: float, seeds) -> tuple[display.DisplayChain, list]:
    """The speckle reduction's strength at each TGC depth (despeckle_mm = the chain's tgc_mm) that
    brings the simulated fine-scale contrast (ussim.measure.band_contrast, the band below
    DESPECKLE_BAND_PX) of every class closest to the real one in that depth's zone (the field of
    view's pixels nearest it, deeper than the near field): the least mean squared relative error over the classes,
    depth by depth, DESPECKLE_ROUNDS sweeps; the gray map, gain and TGC refitted (fit_gray_map)
    after each sweep, since the filter narrows the histogram the map must match."""
    inside = display.field_of_view(grid, chain)
    knots, zones = depth_zones(grid, chain, near_field_mm)
    classes = measured_classes(labels, names)

    def contrast(images, k):
        return dict(zip(classes, zone_contrasts(images, labels, classes, zones[k]), strict=True))
    real = [contrast(real_images, k) for k in range(len(knots))]
    log_levels = [20 * np.log10(np.maximum(e, bmode.ENVELOPE_FLOOR) / r) for e, r in zip(envelopes, references,
                                                                                          strict=True)]
    filtered = [{h: display.despeckle_filtered(level, inside, h) for h in DESPECKLE_DB} for level in log_levels]

    def images_of(candidate):  # as display.render makes them, from the filtered levels above
        return np.stack([display.render_level(display.with_gain_and_tgc(
            display.blended_by_depth(at, level, inside, grid, candidate), grid,
            display.with_gain(candidate, display.exam_gain_db(candidate, int(s)))), grid, candidate)
            for at, level, s in zip(filtered, log_levels, seeds, strict=True)])

    def error(candidate, k):
        simulated = contrast(images_of(candidate), k)
        pairs = [(simulated[i], real[k][i]) for i in classes if np.isfinite(simulated[i] * real[k][i])]
        return float(np.mean([(a / b - 1) ** 2 for a, b in pairs])), simulated

    strengths = [float(h) for h in np.broadcast_to(display.despeckle_profile(chain)[1], knots.shape)]
    current = dataclasses.replace(chain, despeckle_mm=tuple(knots), despeckle_db=tuple(strengths))
    tried = []
    for sweep in range(DESPECKLE_ROUNDS):
        for k in range(len(knots)):
            results = []
            for h in DESPECKLE_DB:
                candidate = dataclasses.replace(current, despeckle_db=tuple(strengths[:k] + [h] + strengths[k + 1:]))
                results.append((error(candidate, k), h))
            (best, simulated), strengths[k] = min(results, key=lambda r: r[0][0])
            current = dataclasses.replace(current, despeckle_db=tuple(strengths))
            tried.append({"sweep": sweep, "depth_mm": float(knots[k]), "despeckle_db": strengths[k], "error": best,
                          "fine_contrast": {names[i]: round(simulated[i], 2) for i in classes},
                          "errors": {f"{h:g}": round(r[0][0], 4) for r, h in zip(results, DESPECKLE_DB, strict=True)}})
            print(json.dumps(tried[-1]), file=sys.stderr, flush=True)
        current = fit_gray_map(envelopes, references, real_images, labels, 0, grid, current, near_field_mm, seeds)
    summary = [{"real_fine_contrast": [{names[i]: round(real[k][i], 2) for i in classes} for k in range(len(knots))],
                "depth_mm": knots.tolist()}] + tried
    return current, summary


# DECISION: one strength for the whole field of view (`--flat`) is fitted to what the benchmark
# reports of the speckle, its polar size along and across the beam per class (realism_measures.
# speckle_size_px), together with the fine contrast below 2 px the first flat strength was fitted to:
# the filter sets both, and a strength fitted to the contrast alone had left the ovary's grain 35-42 %
# too wide across held out (bench/RESULTS.md). Candidates every 0.5 dB up to 4 dB.
DESPECKLE_FLAT_DB = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0)


def fit_despeckle_flat(envelopes, references, real_images, labels, names, grid, chain, near_field_mm: float,
                       seeds, origin) -> tuple[display.DisplayChain, list]:
    """One speckle-reduction strength for every depth: the DESPECKLE_FLAT_DB value with the least
    mean squared relative error, over the classes, of the fine contrast (ussim.measure.band_contrast
    below 2 px, deeper than the near field) and of the polar speckle size along and across the beam
    (realism_measures.speckle_size_px); DESPECKLE_ROUNDS sweeps, the gray map, gain and TGC
    refitted (fit_gray_map) after each."""
    inside = display.field_of_view(grid, chain)
    zone = inside & (display.depth_mm(grid, chain) > near_field_mm)
    classes = measured_classes(labels, names)

    def measured(images):
        return {i: (measure.band_contrast(images, (labels == i) & zone[None])[0],
                    *measures.speckle_size_px(images, (labels == i) & inside[None], origin)) for i in classes}
    real = measured(real_images)
    log_levels = [20 * np.log10(np.maximum(e, bmode.ENVELOPE_FLOOR) / r) for e, r in zip(envelopes, references,
                                                                                          strict=True)]
    filtered = [{h: display.despeckle_filtered(level, inside, h) for h in DESPECKLE_FLAT_DB} for level in log_levels]
    current = dataclasses.replace(chain, despeckle_mm=(), despeckle_db=float(np.mean(chain.despeckle_db)))
    tried = []
    for sweep in range(DESPECKLE_ROUNDS):
        results = []
        for h in DESPECKLE_FLAT_DB:
            candidate = dataclasses.replace(current, despeckle_db=h)
            images = np.stack([display.render_level(display.with_gain_and_tgc(
                at[h], grid, display.with_gain(candidate, display.exam_gain_db(candidate, int(s)))), grid, candidate)
                for at, s in zip(filtered, seeds, strict=True)])
            simulated = measured(images)
            errors = [(a / b - 1) ** 2 for i in classes for a, b in zip(simulated[i], real[i], strict=True)
                      if np.isfinite(a * b)]
            results.append((float(np.mean(errors)), h, simulated))
            tried.append({"sweep": sweep, "despeckle_db": h, "error": round(results[-1][0], 4),
                          **{names[i]: {"fine_contrast": round(v[0], 2), "size_px": [round(v[1], 2), round(v[2], 2)]}
                             for i, v in simulated.items()}})
            print(json.dumps(tried[-1]), file=sys.stderr, flush=True)
        _, best, _ = min(results, key=lambda r: r[0])
        current = fit_gray_map(envelopes, references, real_images, labels, 0, grid,
                               dataclasses.replace(current, despeckle_db=best), near_field_mm, seeds)
    summary = [{"real": {names[i]: {"fine_contrast": round(v[0], 2), "size_px": [round(v[1], 2), round(v[2], 2)]}
                         for i, v in real.items()}, "despeckle_db": float(current.despeckle_db)}] + tried
    return current, summary


def noise_levels(text: str) -> list[float]:
    """--fit-noise's (or --floor-noise's) comma-separated levels in dB, each finite."""
    try:
        levels = [float(part) for part in text.split(",")]
    except ValueError:
        levels = []
    if not levels or not all(np.isfinite(levels)):
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of finite levels in dB, "
                                         f"e.g. -50,-56,-62")
    return levels


def fit_noise(real, index, organ: str, grid, chain: display.DisplayChain, levels, floor_levels,
              engine: str) -> dict:
    """The receiver noise level (noise_db) among `levels` and the floor noise's (floor_noise_db,
    ussim.simulate.floor_noise) among `floor_levels` (None: none) whose refitted gray map, gain and
    TGC (fit_gray_map) match the background of the real frames `index` best, every pair tried; for
    each pair its map's error term by term, per-class JS, and the background's dark share and mean
    gray by depth zone (depth_zones) against the real ones. The chain of the kept pair comes with it.

    DECISION: a scan, not a continuous optimiser: each level needs the frames simulated again (20-30 s
    for 36 frames by the fast engine) and a gray-map fit, and the error is not smooth in the level
    (the map's knots move between levels)."""
    names = imageset.class_names_of(real)
    real_images, labels = real["image"].values[index], real["label"].values[index]
    near_field_mm = NEAR_FIELD_MM[organ]
    _, zones = depth_zones(grid, chain, near_field_mm)
    tried = []
    pairs = [(level, floor) for level in levels for floor in floor_levels]
    for level, floor in tqdm(pairs, desc="noise levels", unit="pair"):
        envelopes, references, _ = simulate_frames(real, index, organ, grid, engine=engine, noise_db=level,
                                                   floor_noise_db=floor)
        terms: dict = {}
        fitted = fit_gray_map(envelopes, references, real_images, labels, 0, grid, chain, near_field_mm, index,
                              terms=terms)
        images = rendered(envelopes, references, grid, fitted, index)
        zone_rows = []
        for zone in zones:
            pick = (labels == 0) & zone[None]
            zone_rows.append({"dark_real": round(float(np.mean(real_images[pick] < DARK_GRAY)), 4),
                              "dark_simulated": round(float(np.mean(images[pick] < DARK_GRAY)), 4),
                              "mean_real": round(float(real_images[pick].mean()), 1),
                              "mean_simulated": round(float(images[pick].mean()), 1)})
        tried.append({"noise_db": level, "floor_noise_db": floor, "error": round(sum(terms.values()), 5),
                      "terms": {k: round(v, 5) for k, v in terms.items()},
                      "js_tuning": js_per_class(real_images, images, labels, names),
                      "background_by_depth_zone": zone_rows, "chain": fitted.as_dict()})
    best = min(tried, key=lambda row: row["error"])
    return {"levels": tried, "noise_db": best["noise_db"], "floor_noise_db": best["floor_noise_db"],
            "chain": best["chain"], "dark_gray": DARK_GRAY,
            "zones_mm": list(chain.tgc_mm)}


def table_with_chain(organ: str, chain: display.DisplayChain, folder: Path) -> Path:
    """A copy of the organ's table whose speckle reduction is `chain`'s and whose imaging reads
    its own [display_chain] (folder/<organ>.toml), for simulations through a candidate chain."""
    lines = (Path(__file__).resolve().parents[1] / "data" / "organs" / f"{organ}.toml").read_text().splitlines()
    path = folder / f"{organ}.toml"
    kept = [line for line in lines if not line.split("=")[0].strip() in ("despeckle_db", "despeckle_mm")]
    kept = [f'display_chain = "{path}"' if line.split("=")[0].strip() == "display_chain" else line for line in kept]
    at = kept.index("[display_chain]") + 1
    profile = [f"despeckle_mm = {[float(v) for v in chain.despeckle_mm]}"] if chain.despeckle_mm else []
    strengths = [float(v) for v in chain.despeckle_db] if chain.despeckle_mm else float(chain.despeckle_db)
    path.write_text("\n".join(kept[:at] + profile + [f"despeckle_db = {strengths}"] + kept[at:]) + "\n")
    return path


def fit_despeckle_image(real, index, organ, grid, chain, near_field_mm: float, engine: str,
                        folder: Path) -> tuple[display.DisplayChain, list]:
    """The speckle reduction's strength at each TGC depth fitted at `mask+image`, where each frame is
    simulated from its own image's amplitudes (so the tissue tables' texture, fitted with the chain,
    cannot stand in for it): the 4 px contrast of each depth's zone (as fit_despeckle) of the frames
    `index` simulated through each flat candidate strength, each zone taking the best; then the
    profile and the profile 1.5 dB weaker and stronger everywhere, each zone again its best. Every
    candidate is simulated in full (the image's map depends on the chain): len(DESPECKLE_DB) + 3 sets."""
    names = imageset.class_names_of(real)
    knots, zones = depth_zones(grid, chain, near_field_mm)
    labels, real_images = real["label"].values[index], real["image"].values[index]
    classes = measured_classes(labels, names)

    def contrasts(images):  # per zone, per class
        return [zone_contrasts(images, labels, classes, zone) for zone in zones]
    real_contrast = contrasts(real_images)

    def tried_profile(strengths):
        candidate = dataclasses.replace(chain, despeckle_mm=tuple(map(float, knots)),
                                        despeckle_db=tuple(map(float, strengths)))
        table = str(table_with_chain(organ, candidate, folder))
        images = np.stack([phantom.mask_sample(
            labels[n], grid, names, table, seed=int(i), sample_id=str(i), device="cpu", progress=False,
            engine=engine, condition="mask+image", image=real_images[n], warm=n == 0)["image"].values[0]
            for n, i in enumerate(index)])
        contrast = contrasts(images)
        zone_errors = [float(np.nanmean([(c / r - 1) ** 2 for c, r in zip(contrast[k], real_contrast[k], strict=True)]))
                       for k in range(len(knots))]
        record = {"despeckle_db": [float(h) for h in strengths], "zone_errors": np.round(zone_errors, 4).tolist(),
                  "contrast": [dict(zip([names[i] for i in classes], np.round(c, 2).tolist(), strict=True))
                               for c in contrast]}
        print(json.dumps(record), file=sys.stderr, flush=True)
        return record
    tried = [tried_profile([h] * len(knots)) for h in DESPECKLE_DB]
    best = [min(tried, key=lambda t: t["zone_errors"][k])["despeckle_db"][k] for k in range(len(knots))]
    tried += [tried_profile(np.maximum(np.array(best) + shift, 0.0)) for shift in (-1.5, 0.0, 1.5)]
    best = [min(tried, key=lambda t: t["zone_errors"][k])["despeckle_db"][k] for k in range(len(knots))]
    summary = [{"real_contrast": [dict(zip([names[i] for i in classes], np.round(c, 2).tolist(), strict=True))
                                  for c in real_contrast], "depth_mm": knots.tolist(), "chosen_db": best}] + tried
    return dataclasses.replace(chain, despeckle_mm=tuple(map(float, knots)), despeckle_db=tuple(best)), summary


def class_levels_db(images, labels, classes, inside, chain) -> np.ndarray:
    """(frames, classes): each image's median gray over each class's pixels inside `inside`, as a
    level in dB through the inverse of `chain`'s gray map (gain undone; the TGC is the same for
    every frame); NaN where a frame shows fewer than MIN_CLASS_PIXELS of the class."""
    out = np.full((len(images), len(classes)), np.nan)
    for f, (image, label) in enumerate(zip(images, labels, strict=True)):
        for j, c in enumerate(classes):
            pick = (label == c) & inside
            if pick.sum() >= MIN_CLASS_PIXELS:
                out[f, j] = np.median(image[pick])
    return np.where(np.isnan(out), np.nan, display.gray_to_level_db(np.nan_to_num(out), chain))


def with_spreads(table, spreads: dict) -> tissue.TissueTable:
    """`table` with each class's echogenicity_spread_db set to `spreads` (0 for a class not named)."""
    return dataclasses.replace(table, classes={
        n: dataclasses.replace(t, echogenicity_spread_db=spreads.get(n, 0.0)) for n, t in table.classes.items()})


def spread_moments(real_cov, simulated_cov) -> tuple[float, np.ndarray]:
    """The exams' added variance (dB^2) shared by all classes, and each class's own added spread
    (dB), from the covariance of the per-frame class levels of real and simulated frames: the
    shared part is the mean added covariance of the class pairs (all of it with one class), each
    class's own the rest of its added variance (both at least 0)."""
    added = np.atleast_2d(real_cov) - np.atleast_2d(simulated_cov)
    pairs = ~np.eye(len(added), dtype=bool)
    common = max(float(added[pairs].mean() if pairs.any() else added[0, 0]), 0.0)
    return common, np.sqrt(np.maximum(np.diag(added) - common, 0.0))


def fit_exam_spread(simulate, table, real_images, labels, names, grid, chain, near_field_mm: float,
                    seeds) -> tuple[display.DisplayChain, dict]:
    """The exams' spreads that frames simulated with one gain and one tissue table lack: the
    chain's gain_spread_db (shared by every class of an exam) and each real class's
    echogenicity_spread_db (its own, ussim.tissue.exam_offsets_db).

    The real frames' per-class median levels (dB, `class_levels_db`) vary with their anatomy,
    their exam's gain and each tissue's own level; frames simulated (`simulate(table)` gives
    envelopes, references, seconds) with neither spread vary with their anatomy alone. DECISION:
    the three are independent, so the gain's variance is what the classes' covariance adds to the
    simulated one (mean over class pairs, at least 0) and each class's spread is the variance it
    adds beyond that (moment estimates; with one class all of it is gain). Then the frames are
    simulated with the fitted class spreads and the gray map, gain and TGC refitted with each
    frame's own gain (`fit_gray_map`): the spreads widen the pooled histograms the map matches."""
    inside = display.field_of_view(grid, chain) & (display.depth_mm(grid, chain) > near_field_mm)
    classes = [c for c, name in enumerate(names) if name in table.classes and (labels == c).any()]
    one_gain = display.DisplayChain(**{**chain.as_dict(), "gain_spread_db": 0.0})
    envelopes, references, _ = simulate(with_spreads(table, {}))
    before = rendered(envelopes, references, grid, one_gain, seeds)
    real_db = class_levels_db(real_images, labels, classes, inside, one_gain)
    simulated_db = class_levels_db(before, labels, classes, inside, one_gain)
    both = np.isfinite(real_db).all(1) & np.isfinite(simulated_db).all(1)
    real_cov, simulated_cov = (np.atleast_2d(np.cov(d[both].T)) for d in (real_db, simulated_db))
    common, own = spread_moments(real_cov, simulated_cov)
    wanted = {names[c]: float(own[j]) for j, c in enumerate(classes)}
    # A class's median level moves by less than its echogenicity offset (its darkest pixels stay at
    # the receiver noise and the gray map's floor, its border mixes with its neighbours): simulated
    # once with the wanted spreads, the level's slope on the drawn offsets (same anatomy and
    # speckle, least squares through 0) scales them up to what moves the levels by the wanted spread.
    envelopes, references, _ = simulate(with_spreads(table, wanted))
    trial_db = class_levels_db(rendered(envelopes, references, grid, one_gain, seeds), labels, classes, inside,
                               one_gain)
    slopes, spreads = {}, {}
    for j, c in enumerate(classes):
        name = names[c]
        if wanted[name] == 0:
            spreads[name] = 0.0
            continue
        drawn = np.array([tissue.exam_offsets_db(with_spreads(table, wanted), int(s))[name] for s in seeds])
        moved = trial_db[:, j] - simulated_db[:, j]
        ok = np.isfinite(moved)
        slopes[name] = float(np.sum(moved[ok] * drawn[ok]) / np.sum(drawn[ok] ** 2))
        spreads[name] = round(min(wanted[name] / max(slopes[name], 0.1), MAX_ECHOGENICITY_SPREAD_DB), 2)
    envelopes, references, _ = simulate(with_spreads(table, spreads))
    candidate = display.DisplayChain(**{**chain.as_dict(), "gain_spread_db": round(float(np.sqrt(common)), 2)})
    fitted = fit_gray_map(envelopes, references, real_images, labels, 0, grid, candidate, near_field_mm, seeds)
    after = rendered(envelopes, references, grid, fitted, seeds)
    after_db = class_levels_db(after, labels, classes, inside, display.DisplayChain(**{**fitted.as_dict(),
                                                                                       "gain_spread_db": 0.0}))

    def correlation(levels):
        ok = np.isfinite(levels).all(1)
        return np.round(np.corrcoef(levels[ok].T), 2).tolist() if len(classes) > 1 else None

    def per_image_median_gray(images):
        return {names[c]: round(float(np.std([np.median(i[(lab == c) & inside]) for i, lab in zip(images, labels)
                                              if ((lab == c) & inside).sum() > 0])), 1) for c in classes}
    found = {"classes": [names[c] for c in classes], "frames_with_every_class": int(both.sum()),
             "level_db_covariance": {"real": np.round(real_cov, 2).tolist(),
                                     "simulated_without_spreads": np.round(simulated_cov, 2).tolist()},
             "level_correlation": {"real": correlation(real_db), "simulated_without_spreads": correlation(simulated_db),
                                   "fitted": correlation(after_db)},
             "gain_spread_db": round(float(np.sqrt(common)), 2),
             "wanted_level_spread_db": {k: round(v, 2) for k, v in wanted.items()},
             "level_slope_on_offset": {k: round(v, 3) for k, v in slopes.items()}, "echogenicity_spread_db": spreads,
             "per_image_median_gray_std": {"real": per_image_median_gray(real_images),
                                           "without_spreads": per_image_median_gray(before),
                                           "fitted": per_image_median_gray(after)},
             "js_without_spreads": js_per_class(real_images, before, labels, names),
             "js_fitted": js_per_class(real_images, after, labels, names)}
    return fitted, found


def montage(real_images, before, after, path: Path):
    rows = [np.concatenate([r, b, a], axis=1) for r, b, a in zip(real_images, before, after, strict=True)]
    from PIL import Image
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organ", choices=("ivus", "ovary"), required=True)
    parser.add_argument("--frames", type=measures.frames_argument, default=measures.TUNING_FRAMES,
                        help="tuning frames; as many again are held out (default %(default)s)")
    parser.add_argument("--compare-schemes", type=int, default=0, metavar="N",
                        help="compare the ovary transmit schemes on N tuning frames, then stop")
    parser.add_argument("--skip-schemes", type=int, default=0, help="leave out the first schemes of the comparison")
    parser.add_argument("--scheme-set", choices=("diverging", "focused"), default="diverging",
                        help="diverging: 1 or 3 waves, receive F# 3.5; focused: the table's wave against focused "
                             "lines at 1/2 and 2/3 of the depth shown (with --engine fast: and the full engine's "
                             "estimated cost per image)")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--cache", type=Path, help="keep the simulated envelopes here (.npz) and reuse them "
                        "(not checked against the tables: delete it after a change of tissue or probe)")
    parser.add_argument("--engine", choices=simulate.ENGINES, default="full",
                        help="the simulator of the envelopes: full (channel data and delay-and-sum) or fast "
                             "(PSF convolution, ussim.fast)")
    parser.add_argument("--tuning-only", action="store_true",
                        help="simulate the tuning frames only: no held-out JS and no montage")
    one_part = parser.add_mutually_exclusive_group()  # each fits one part of the chain, then stops
    one_part.add_argument("--fit-despeckle", action="store_true",
                        help="fit only the chain's speckle reduction, a strength per TGC depth (despeckle_mm, "
                             "despeckle_db), to the real fine-scale contrast of each depth's zone on the tuning "
                             "frames, with the gray map, gain and TGC refitted for it")
    parser.add_argument("--condition", choices=("mask", "mask+image"), default="mask",
                        help="with --fit-despeckle: fit the strengths on frames simulated from their masks (mask) or "
                             "from their own images' amplitudes (mask+image, on the first --image-frames tuning "
                             "frames; then the gray map, gain and TGC are refitted at mask)")
    parser.add_argument("--flat", action="store_true",
                        help="with --fit-despeckle at mask: one strength for every depth, fitted to the fine "
                             "contrast and the polar speckle size of each class")
    parser.add_argument("--image-frames", type=int, default=12,
                        help="tuning frames of the mask+image fit (default %(default)s)")
    one_part.add_argument("--fit-exam-spread", action="store_true",
                        help="fit only the exam-to-exam spreads, the chain's gain (gain_spread_db) and each class's "
                             "echogenicity (echogenicity_spread_db), to the real frames' per-class median levels on "
                             "the tuning frames, with the gray map, gain and TGC refitted for them")
    one_part.add_argument("--fit-smoothing", action="store_true",
                        help="fit only the chain's smoothing_mm to the real speckle size on the tuning frames "
                             "(the table's chain otherwise as it is)")
    one_part.add_argument("--fit-noise", type=noise_levels, metavar="DB,DB,...",
                          help="fit only the receiver noise ([imaging] noise_db): simulate the tuning frames at each "
                               "of these levels (dB re the display reference), refit the gray map, gain and TGC for "
                               "each, and keep the level whose map matches best (histogram, mean and dark share "
                               "versus depth of the background, the other classes' share below 3 gray)")
    parser.add_argument("--floor-noise", type=noise_levels, metavar="DB,DB,...",
                        help="with --fit-noise: the floor noise's levels ([imaging] floor_noise_db, after the "
                             "nominal TGC), each tried with every receiver level (default: the table's)")
    args = parser.parse_args()
    if args.floor_noise and not args.fit_noise:
        parser.error("--floor-noise applies to --fit-noise only")
    if args.condition != "mask" and not args.fit_despeckle:
        parser.error(f"--condition {args.condition} applies to --fit-despeckle only")
    if args.flat and not (args.fit_despeckle and args.condition == "mask"):
        parser.error("--flat applies to --fit-despeckle at --condition mask only")
    if importers.real_data_dir() is None:
        raise SystemExit("real archives absent: ../shared/data/real (or $USSIM_REAL_DATA) not found")
    args.out.mkdir(parents=True, exist_ok=True)
    organ = args.organ
    real, splits = load_real(organ, args.frames)
    table = tissue.load(organ)
    grid = grid_of(real, table)
    chain, found = fitted_chain(organ, real, splits, grid)
    report = {"organ": organ, "frames": {k: [int(v[0]), int(v[-1])] for k, v in splits.items()},
              "measured": found}
    if args.compare_schemes:
        schemes = comparison_schemes(args.scheme_set, table_chain(organ))
        if args.scheme_set == "diverging":
            report["homogeneous_speckle"] = [homogeneous_correlation(n) for n in (1, 3)]
        report["schemes"] = scheme_comparison(organ, real, splits, grid, chain, schemes[args.skip_schemes:],
                                              args.compare_schemes, args.engine)
        if args.scheme_set == "focused":
            report["full_engine_cost"] = [{"settings": s, **full_engine_cost(organ, real, splits["tuning"], grid, s)}
                                          for s in schemes[args.skip_schemes:] if s.get("scheme") == "focused"]
        print(json.dumps(report, indent=2))
        return
    names = imageset.class_names_of(real)
    every = splits["tuning"] if args.tuning_only else np.r_[splits["tuning"], splits["held_out"]]
    if args.cache and args.cache.is_file():  # the envelopes of an earlier run: refit without simulating
        cached = np.load(args.cache)
        envelopes, references, seconds = cached["envelopes"], cached["references"], cached["seconds"]
        if "engine" in cached and str(cached["engine"]) != args.engine:
            raise SystemExit(f"--cache {args.cache} holds {cached['engine']} engine envelopes, not --engine "
                             f"{args.engine}'s: delete it or pass --engine {cached['engine']}")
        every = every[: len(envelopes)]  # a cache of the tuning frames alone serves --tuning-only runs
    else:
        envelopes, references, seconds = simulate_frames(real, every, organ, grid, engine=args.engine)
        if args.cache:  # written whole or not at all: a temporary file, then renamed
            partial = args.cache.with_name(args.cache.stem + ".partial.npz")
            np.savez_compressed(partial, envelopes=envelopes, references=references, seconds=seconds,
                                engine=args.engine)
            partial.replace(args.cache)
    report["engine"] = args.engine
    if args.fit_smoothing:
        tuning = np.arange(len(splits["tuning"]))
        current = table_chain(organ)
        smoothed_chain, found = fit_smoothing(envelopes[tuning], references[tuning],
                                              real["image"].values[splits["tuning"]],
                                              real["label"].values[splits["tuning"]], names, grid, current,
                                              every[tuning])
        report.update(smoothing_mm=list(smoothed_chain.smoothing_mm), smoothing_fit=found)
        print(json.dumps(report, indent=2))
        return
    tuning = np.arange(len(splits["tuning"]))
    real_images, labels = real["image"].values[every], real["label"].values[every]
    if args.fit_noise:
        floors = args.floor_noise or [table.imaging.get("floor_noise_db")]
        report["noise_fit"] = fit_noise(real, every[tuning], organ, grid, table_chain(organ), args.fit_noise,
                                        floors, args.engine)
        print(json.dumps(report, indent=2))
        return
    if args.fit_despeckle or args.fit_exam_spread:  # one part of the chain, the gray map refitted with it
        if args.fit_despeckle and args.condition == "mask+image":
            with tempfile.TemporaryDirectory() as folder:
                profile, found = fit_despeckle_image(real, every[tuning][: args.image_frames], organ, grid,
                                                     table_chain(organ), NEAR_FIELD_MM[organ], args.engine,
                                                     Path(folder))
            fitted = fit_gray_map(envelopes[tuning], references[tuning], real_images[tuning], labels[tuning], 0, grid,
                                  profile, NEAR_FIELD_MM[organ], every[tuning])
            report["despeckle_fit"] = found
        elif args.fit_despeckle and args.flat:
            origin = measures.beam_origin_px(organ, grid, probes.load(table.probe))
            fitted, found = fit_despeckle_flat(envelopes[tuning], references[tuning], real_images[tuning],
                                               labels[tuning], names, grid, table_chain(organ),
                                               NEAR_FIELD_MM[organ], every[tuning], origin)
            report["despeckle_fit"] = found
        elif args.fit_despeckle:
            fitted, found = fit_despeckle(envelopes[tuning], references[tuning], real_images[tuning], labels[tuning],
                                          names, grid, table_chain(organ), NEAR_FIELD_MM[organ], every[tuning])
            report["despeckle_fit"] = found
        else:  # the spreads change the scatterers: the frames are simulated again, with and without them
            def simulate_tuning(candidate):
                return simulate_frames(real, every[tuning], organ, grid, engine=args.engine, table=candidate)
            fitted, found = fit_exam_spread(simulate_tuning, table, real_images[tuning], labels[tuning], names, grid,
                                            table_chain(organ), NEAR_FIELD_MM[organ], every[tuning])
            report["exam_spread_fit"] = found
            envelopes, references, seconds = simulate_frames(  # every frame again, with the fitted spreads
                real, every, organ, grid, engine=args.engine, table=with_spreads(table, found["echogenicity_spread_db"]))
        report["chain"] = fitted.as_dict()
        images = rendered(envelopes, references, grid, fitted, every)
        for split, index in (("tuning", tuning), ("held_out", np.arange(len(tuning), len(every)))):
            if len(index):
                report[f"js_{split}"] = js_per_class(real_images[index], images[index], labels[index], names)
        print(json.dumps(report, indent=2))
        return
    fitted = fit_gray_map(envelopes[tuning], references[tuning], real_images[tuning], labels[tuning], 0, grid, chain,
                          NEAR_FIELD_MM[organ], every[tuning])
    images = rendered(envelopes, references, grid, fitted, every)
    report["seconds_per_image"] = float(seconds.mean())
    report["chain"] = fitted.as_dict()
    for split, index in (("tuning", tuning), ("held_out", np.arange(len(tuning), len(every)))):
        if len(index):
            report[f"js_{split}"] = js_per_class(real_images[index], images[index], labels[index], names)
    if len(every) == len(tuning):  # --tuning-only (or a cache of it): no held-out frames to show
        print(json.dumps(report, indent=2))
        return
    # before: the former display (linear range and gain, no fill; ovary: one diverging wave of 256
    # lines on the square 60 mm grid) on the first 4 held-out frames
    shown = np.arange(len(tuning), len(tuning) + 4)
    old_imaging, old_grid = {**table.imaging, "display_chain": None}, grid
    if organ == "ovary":
        old_imaging.update(n_waves=1, n_lines=256)
        square = tissue.TissueTable(organ, table.probe, table.classes, {"width_mm": 60.0, "depth_mm": 60.0})
        old_grid = phantom.display_grid(square, grid.z.shape + grid.x.shape)
    old_table = tissue.TissueTable(organ, table.probe, table.classes, table.display, old_imaging)
    old = [phantom.simulate_mask(labels[i], old_grid, names, old_table, probes.load(table.probe), seed=int(every[i]),
                                 device="cpu", progress=False).bmode for i in shown]
    montage(real_images[shown], np.stack(old), images[shown], args.out / f"display_chain_{organ}.png")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
