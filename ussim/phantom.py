"""Phantom images: a label mask (random or given) through the physics into an image set.

`random_sample` draws an organ's anatomy on its display grid (ussim.phantoms) and simulates it;
`mask_sample` simulates a given mask (a real set's, an edited one), at one of the three condition
levels of the comparison (ussim.conditions): the mask alone, plus an edge sketch whose edges
become reflectors, or plus an image whose gray values become scatterer amplitudes. Both return
one image-set sample with its label, envelope, seed, seconds and every parameter that made it,
and say what the simulator saw (`condition`) and how `seconds` were measured (`timing`).

Timing follows ARCHITECTURE.md: wall seconds per image at batch 1 on the device that ran,
warm-up excluded. The one-off set-up of a process (loading the numba kernels, the aperture
tables, the reference level of ussim.simulate.reference_level, the first CUDA call) is paid by
`warm_up` before the first timed image, never by that image.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numba
import numpy as np
from scipy import ndimage

from ussim import anatomy, conditions, display, engine, imageset, scan, scatter, side_scatterers, simulate, tissue
from ussim import sketch as sketch_module
from ussim import probe as probes
from ussim.errors import UsageError
from ussim.phantoms import ivus, ovary

GENERATORS = {"ovary": ovary, "ivus": ivus}
# the image-set method of each engine (ussim.simulate.ENGINES): the comparison keeps them apart
METHODS = {"full": "ussim-field", "fast": "ussim-fast"}
MIN_SIZE = 32
# DECISION: the warm-up simulates the very mask to be timed at 1/1000 of the default scatterer
# density: the same probe, grid, depth and settings build the same kernels, tables and reference
# level, while its hundreds of scatterers (IVUS at 128 px: 152) cost little beside beamforming.
# bench/warmup.py measures that the first timed image afterwards is no slower than the others.
WARMUP_PER_CELL = 0.01


def display_grid(table: tissue.TissueTable, shape: tuple[int, int]) -> scan.DisplayGrid:
    """The organ's field of view on `shape` (rows, columns) pixels, as the scanner's display
    frames it (`[display]` of the organ table, fitted by bench/fit_display.py): ovary x centred on
    the probe, z from `top_mm` (the probe face is z = 0) over `depth_mm`; IVUS centred on the
    catheter. Pixels need not be square: x and z each tile their own extent."""
    if min(shape) < MIN_SIZE:
        raise UsageError(f"size {shape[0]}x{shape[1]} px is too small to image (at least {MIN_SIZE} per side)")
    width = table.display["width_mm"] * 1e-3
    if table.organ == "ivus":
        return scan.DisplayGrid.covering(-width / 2, width / 2, -width / 2, width / 2, shape)
    depth = table.display.get("depth_mm", table.display["width_mm"]) * 1e-3
    top = table.display.get("top_mm", 0.0) * 1e-3
    return scan.DisplayGrid.covering(-width / 2, width / 2, top, top + depth, shape)


def simulate_mask(label, grid: scan.DisplayGrid, class_names, table: tissue.TissueTable, probe, *, seed: int,
                  device: str = "auto", progress: bool = True,
                  per_cell: float = scatter.SCATTERERS_PER_CELL,
                  side: side_scatterers.Side | None = None, engine: str = "full") -> simulate.Simulation:
    """The B-mode of exactly this anatomy, on the mask's own pixels, with `per_cell` scatterers
    per resolution cell (and the reflectors or image amplitudes of `side`), by `engine` (full or
    fast, ussim.simulate)."""
    exam, offsets = exam_tissue(table, seed, side)
    cloud = side_scatterers.scatterers_for(label, grid.x, grid.z, class_names, exam, probe, seed=seed,
                                           per_cell=per_cell, side=side)
    overrides = imaging_settings(table, probe, grid, seed, side)
    sim = simulate.simulate(cloud, probe, device=device, progress=progress, grid=grid, engine=engine, **overrides)
    sim.params["scatterers_per_cell"] = per_cell
    sim.params["exam_echogenicity_db"] = {name: round(value, 3) for name, value in offsets.items()}
    return sim


def exam_tissue(table: tissue.TissueTable, seed: int,
                side: side_scatterers.Side | None = None) -> tuple[tissue.TissueTable, dict[str, float]]:
    """The tissue of the exam seeded by `seed`: `table` with each class's echogenicity moved by
    that exam's offset (tissue.exam_offsets_db), and the offsets. A mask+image sample takes none:
    its amplitudes are the reference image's, that patient's own."""
    offsets = {} if side is not None and side.condition == "mask+image" else tissue.exam_offsets_db(table, seed)
    return tissue.with_offsets(table, offsets), offsets


def imaging_settings(table: tissue.TissueTable, probe, grid: scan.DisplayGrid, seed: int,
                     side: side_scatterers.Side | None = None) -> dict:
    """The simulate.Settings overrides of one exam of `table` on `grid`: the table's [imaging], the
    depth the grid needs, and what `seed` draws: the receiver noise and the exam's gain. A mask+image
    sample takes no gain (its amplitudes are the reference image's gray values undone, which carry
    that scanner's gain) and no noise where its side leaves the reference's noise in the map
    (side.noise "reference", from [conditions] image_noise); with "simulated" the map holds the
    echoes only and the sample takes this noise."""
    overrides = dict(table.imaging, noise_seed=seed)
    if side is not None and side.condition == "mask+image":
        if side.noise == "reference":
            for key in simulate.NOISE_KEYS:
                overrides.pop(key, None)
    elif table.imaging.get("display_chain"):
        overrides["exam_gain_db"] = display.exam_gain_db(display.load(table.imaging["display_chain"]), seed)
    if table.organ == "ivus":  # image out to the grid's farthest corner from the catheter
        overrides["depth"] = float(np.hypot(np.abs(grid.x).max(), np.abs(grid.z).max())) - probe.catheter_radius
    else:
        # DECISION: 2 mm past the grid's bottom edge (not its last pixel's centre), to the micrometre:
        # every size of one view then images the same beam grid and shares one PSF bank of the fast
        # engine (ussim.psf: the ovary's focused lines measure for about a minute of 2 cores; the
        # test suite's 48, 64 and 96 px ovary views each measured their own, 3-7 min apiece beside
        # the other tests).
        step = float(grid.z[-1] - grid.z[-2]) if len(grid.z) > 1 else 0.0
        overrides.setdefault("depth", round(float(grid.z[-1]) + step / 2 + 2e-3, 6))
    return overrides


def warm_up(label, grid: scan.DisplayGrid, class_names, table: tissue.TissueTable, probe, *, device: str,
            per_cell: float, engine: str = "full") -> None:
    """Pay the simulator's one-off set-up now, untimed: simulate `label` on `grid` at WARMUP_PER_CELL
    (or `per_cell`, the density of the timed images, when lower) and discard the image.

    A mask with so few echogenic pixels that the sparse warm-up draws no scatterer at all warms up
    at `per_cell` instead: the same set-up, at one image's cost.
    """
    try:
        simulate_mask(label, grid, class_names, table, probe, seed=0, device=device, progress=False,
                      per_cell=min(WARMUP_PER_CELL, per_cell), engine=engine)
    except anatomy.NoScatterers:
        simulate_mask(label, grid, class_names, table, probe, seed=0, device=device, progress=False,
                      per_cell=per_cell, engine=engine)


def condition(organ: str) -> dict:
    """What the simulator sees of each sample (imageset.make's `condition`)."""
    return {"condition": "mask", "source": "none",
            "detail": f"the simulator saw the label mask only, each class imaged with the properties of the "
                      f"{organ} tissue table; no image, sketch or other side information"}


_mask_only = condition  # for functions whose parameter `condition` hides this one


def timing(device: str, *, warmed: bool) -> dict:
    """How this process times its images (imageset.make's `timing`): the device that runs the
    pulse-echo kernel (resolved from auto), one image at a time, numba's threads, wall clock."""
    used = engine.resolve_device(device)
    if used == "cuda":
        from numba import cuda
        used = f"cuda:{cuda.get_current_device().id}"
    return {"warmup_excluded": warmed, "device": used, "batch_size": 1, "threads": numba.get_num_threads(),
            "clock": "wall"}


def random_sample(organ: str, *, seed: int, size: int = 256, probe_name: str | None = None, device: str = "auto",
                  progress: bool = True, per_cell: float = scatter.SCATTERERS_PER_CELL, warm: bool = True,
                  engine: str = "full"):
    """One random phantom of `organ` as an image set of one sample, by `engine` (full or fast).

    Its `seconds` are the wall time of drawing the anatomy and simulating it. With `warm` the
    one-off set-up runs first, untimed (warm_up on the drawn mask); a caller that makes several
    phantoms in a row (ussim.dataset) warms for the first only.
    """
    if organ not in GENERATORS:
        raise UsageError(f"unknown organ '{organ}' (allowed: {', '.join(GENERATORS)})")
    # DECISION: loading the tissue table and probe preset is set-up shared by every sample, not timed.
    table = tissue.load(organ)
    probe = probes.load(probe_name or table.probe)
    grid = display_grid(table, (size, size))
    generator = GENERATORS[organ]
    start = time.perf_counter()
    label, drawn = generator.draw(grid.x, grid.z, np.random.default_rng(seed))
    drawing = time.perf_counter() - start
    if warm:
        warm_up(label, grid, generator.CLASS_NAMES, table, probe, device=device, per_cell=per_cell, engine=engine)
    start = time.perf_counter()
    sim = simulate_mask(label, grid, generator.CLASS_NAMES, table, probe, seed=seed, device=device, progress=progress,
                        per_cell=per_cell, engine=engine)
    seconds = drawing + time.perf_counter() - start
    params = {"organ": organ, "seed": seed, "size": size, "anatomy": drawn, "simulation": sim.params}
    return _sample(sim, label, generator.CLASS_NAMES, organ, seed, seconds, params, f"{organ}-{seed:06d}",
                   timing(device, warmed=warm))


def warm_up_random(organ: str, *, size: int = 256, probe_name: str | None = None, device: str = "auto",
                   per_cell: float = scatter.SCATTERERS_PER_CELL, engine: str = "full") -> None:
    """Pay the one-off set-up of random phantoms of `organ` at `size` in this process (warm_up on the
    anatomy of seed 0): the fast engine's PSF bank, measured once and cached on disk, and numba's
    compiled kernels."""
    table = tissue.load(organ)
    grid = display_grid(table, (size, size))
    label, _ = GENERATORS[organ].draw(grid.x, grid.z, np.random.default_rng(0))
    warm_up(label, grid, GENERATORS[organ].CLASS_NAMES, table, probes.load(probe_name or table.probe), device=device,
            per_cell=per_cell, engine=engine)


def mask_sample(label, grid: scan.DisplayGrid, class_names, organ: str, *, seed: int, sample_id: str,
                probe_name: str | None = None, device: str = "auto", progress: bool = True,
                per_cell: float = scatter.SCATTERERS_PER_CELL, warm: bool = True, condition: str = "mask",
                sketch: np.ndarray | None = None, image: np.ndarray | None = None, source: str = "reference",
                engine: str = "full"):
    """One given mask of `organ` simulated by `engine` (full or fast), as an image set of one sample.

    `condition` (ussim.conditions.LEVELS): "mask" uses the mask alone; "mask+sketch" adds the
    reflectors of `sketch` (or of the GANs' Canny sketch of `image`, drawn here); "mask+image"
    takes the scatterer amplitudes from `image` (gray values, on the mask's pixels). `source` says
    whose they are: "reference" (the image this mask belongs to, everywhere) or "training"
    (another image: used outside the objects only, where the mask says nothing).

    Its `seconds` are the wall time of the simulation, drawing the sketch or the image's map
    included. With `warm` the one-off set-up runs first, untimed (warm_up on this mask);
    `simulate_set` warms for its first mask only.
    """
    if condition not in conditions.LEVELS or source not in conditions.SOURCES:
        raise UsageError(f"condition '{condition}' from '{source}' is not allowed: condition one of "
                         f"{', '.join(conditions.LEVELS)}, source {' or '.join(conditions.SOURCES)}")
    label = np.asarray(label)
    if condition == "mask+sketch" and sketch is None and image is None:
        raise UsageError("--condition mask+sketch needs a sketch, or an image to draw it from")
    if condition == "mask+image" and image is None:
        raise UsageError("--condition mask+image needs an image (the reference's gray values)")
    for name, given in (("sketch", sketch), ("image", image)):
        if given is not None and np.shape(given) != label.shape:
            raise UsageError(f"{name} of shape {np.shape(given)} does not match the mask's {label.shape}")
    table = tissue.load(organ)
    probe = probes.load(probe_name or table.probe)
    if organ == "ivus":  # DECISION: an IVUS image is centred on its catheter, whatever its origin
        grid = scan.DisplayGrid(grid.x - grid.x.mean(), grid.z - grid.z.mean())
    if warm:
        warm_up(label, grid, class_names, table, probe, device=device, per_cell=per_cell, engine=engine)
        if condition == "mask+image":
            level = conditions.settings(organ)
            flat_fields(label, class_names, table, grid, level, device, per_cell, engine)
            if level.image_noise == "simulated":
                noise_field_db(table, probes.load(table.probe), grid, device, per_cell, engine)
            if level.refined() and engine != REFINEMENT_ENGINE:  # the check's first image and its fields
                warm_up(label, grid, class_names, table, probe, device=device, per_cell=per_cell,
                        engine=REFINEMENT_ENGINE)
                flat_fields(label, class_names, table, grid, level, device, per_cell, REFINEMENT_ENGINE)
    start = time.perf_counter()
    side, facts = side_of(label, grid, class_names, table, condition=condition, sketch=sketch, image=image,
                          source=source, device=device, per_cell=per_cell, engine=engine)
    if condition == "mask+image" and conditions.settings(organ).refined():
        side, facts["refinement"] = refined_side(side, image, label, grid, class_names, table, probe, seed=seed,
                                                 grain_px=facts["speckle_grain_px"], device=device, per_cell=per_cell)
    sim = simulate_mask(label, grid, class_names, table, probe, seed=seed, device=device, progress=progress,
                        per_cell=per_cell, side=side, engine=engine)
    seconds = time.perf_counter() - start
    params = {"organ": organ, "seed": seed, "mask": sample_id, "condition": condition, "side": facts,
              "simulation": sim.params}
    return _sample(sim, label, class_names, organ, seed, seconds, params, f"sim-{sample_id}",
                   timing(device, warmed=warm), statement=given_statement(organ, condition, source),
                   sketch=None if side.sketch is None else (side.sketch > 0) & (label == 0))


def side_of(label, grid: scan.DisplayGrid, class_names, table: tissue.TissueTable, *, condition: str, sketch,
            image, source: str, device: str = "auto", per_cell: float = scatter.SCATTERERS_PER_CELL,
            engine: str = "full") -> tuple[side_scatterers.Side, dict]:
    """The sample's side information ready for the scatterers, and what was measured to make it."""
    if condition == "mask":
        return side_scatterers.Side("mask"), {}
    level = conditions.settings(table.organ)
    if condition == "mask+sketch":
        facts = {"sketch": "given"}
        if sketch is None:
            canny = sketch_module.canny_for_size(label.shape[0])
            sketch = sketch_module.edge_sketch(image, **canny)
            facts = {"sketch": "canny", "canny": canny}
        return side_scatterers.Side(condition, sketch=np.asarray(sketch), level_db=level.sketch_reflector_db), facts
    # the reference stands for an image of the organ's own probe, whatever probe re-images it
    scanner = probes.load(table.probe)
    # the chain the reference was shown with: the organ's own (the table's [imaging] names it)
    chain = display.load(table.imaging.get("display_chain", table.organ))
    grain = side_scatterers.speckle_grain_px(image, display.field_of_view(grid, chain))
    if grain is None:  # DECISION: an image without measurable speckle is smoothed at the resolution cell
        axial, lateral = scatter.resolution_cell(scanner)[:2]  # of that probe
        grain = (axial / float(np.diff(grid.z).mean()), lateral / float(np.diff(grid.x).mean()))
    excess_db = side_scatterers.excess_attenuation_db(label, grid.x, grid.z, list(class_names), table, scanner)
    # each class's map against the flat field of the scatterers beneath it, at the class's smoothing:
    # one map per distinct field and smoothing
    fields = flat_fields(label, class_names, table, grid, level, device, per_cell, engine)
    noise_db = (noise_field_db(table, scanner, grid, device, per_cell, engine)
                if level.image_noise == "simulated" else None)
    power_db = np.zeros(label.shape)
    maps = {}
    for index in np.unique(label):
        flat_db, flat_facts = fields[class_names[index]]
        grains = level.smoothing_grains(class_names[index])
        if (id(flat_db), grains) not in maps:
            maps[id(flat_db), grains] = side_scatterers.echogenicity_map_db(
                image, label, flat_db, excess_db, chain, grid, grain, grains, displayed_spread_db(flat_facts),
                noise_db)
        power_db = np.where(label == index, maps[id(flat_db), grains], power_db)
    region = np.ones(label.shape, bool) if source == "reference" else label == 0
    offsets = {class_names[index]: level.strong_offset_db(class_names[index]) for index in np.unique(label)}
    facts = {"speckle_grain_px": list(grain), "scanner_probe": table.probe, "image_scatterers": level.image_scatterers,
             "image_strong_offset_db": offsets if level.image_scatterers == "tissue" else None,
             "image_noise": level.image_noise if has_noise(table) else "none in the table",
             "flat_field": {name: field_facts for name, (_, field_facts) in fields.items()}}
    return side_scatterers.Side(condition, power_db=power_db, region=region, scatterers=level.image_scatterers,
                                noise=level.image_noise, strong_offset_db=offsets), facts


# DECISION: the first image of a refined mask+image sample (side_scatterers.refinement_db) is the fast
# engine's whatever engine images the sample: it is calibrated on the full one (bench/fast_engine.py)
# and costs 0.5 s an ovary image where the full engine takes about 1 h 45 min; the check compares
# means over a speckle grain or more, not the speckle itself.
REFINEMENT_ENGINE = "fast"


def refined_side(side: side_scatterers.Side, image, label, grid: scan.DisplayGrid, class_names,
                 table: tissue.TissueTable, probe, *, seed: int, grain_px, device: str,
                 per_cell: float) -> tuple[side_scatterers.Side, dict]:
    """`side` (mask+image) with its map corrected by one image of it (REFINEMENT_ENGINE, the sample's
    own scatterers and noise: `seed`): by side_scatterers.refinement_db of the reference `image`
    against that image, each class at its image_refinement_grains, where the map applies
    (side.region); and what was corrected, the mean correction (dB) of each class corrected."""
    first = simulate_mask(label, grid, class_names, table, probe, seed=seed, device=device, progress=False,
                          per_cell=per_cell, side=side, engine=REFINEMENT_ENGINE).bmode
    level = conditions.settings(table.organ)
    chain = display.load(table.imaging.get("display_chain", table.organ))
    spreads = {name: displayed_spread_db(facts) for name, (_, facts) in
               flat_fields(label, class_names, table, grid, level, device, per_cell, REFINEMENT_ENGINE).items()}
    echo = np.isfinite(display.gray_to_level_db(np.zeros(label.shape), chain, grid))
    levels = [refinement_levels_db(gray, label, class_names, level, chain, spreads, echo, grain_px)
              for gray in (image, first)]
    corrected = side.region & np.isfinite(levels[0]) & np.isfinite(levels[1])
    correction = np.where(corrected, side_scatterers.refinement_db(*levels), 0.0)
    mean_db = {class_names[i]: round(float(correction[corrected & (label == i)].mean()), 3)
               for i in np.unique(label) if (corrected & (label == i)).any()}
    return (dataclasses.replace(side, power_db=side.power_db + correction),
            {"grains": {class_names[i]: level.refinement_grains(class_names[i]) for i in np.unique(label)},
             "engine": REFINEMENT_ENGINE, "mean_correction_db": mean_db})


def refinement_levels_db(gray, label, class_names, level: conditions.Settings, chain: display.DisplayChain,
                         spreads: dict, echo: np.ndarray, grain_px) -> np.ndarray:
    """Per pixel, the displayed mean log level at which its class's scatterers beneath a mask+image
    map show `gray` averaged over the class's echo-bearing pixels (`echo`) at its
    image_refinement_grains (side_scatterers.class_mean_gray, shown_level_db through `chain` with the
    class's flat-field spread of `spreads`); NaN in the classes not refined and where no
    echo-bearing pixel lies near.

    DECISION: the two images are compared in displayed level, receiver noise included. Compared in
    echoes alone (the noise's power taken out of both, as the map is made), the check corrected
    where the first image's echoes lie near the noise by up to +-44 dB (1st-99th percentiles -21 /
    +18 dB) and the ovary tuning frames' background came back worse (JS 0.0224 against 0.0184, mean
    +4.8 gray against +3.8): a small error of a noisy mean is a large one in the echoes beneath it.
    In displayed level a region near the noise is corrected by less than it needs, never by more."""
    levels = np.full(label.shape, np.nan)
    for index in np.unique(label):
        grains = level.refinement_grains(class_names[index])
        if grains > 0:
            mean_gray = side_scatterers.class_mean_gray(gray, label == index, echo, grain_px, grains)
            shown = side_scatterers.shown_level_db(mean_gray, chain, spreads[class_names[index]])
            levels = np.where(label == index, shown, levels)
    return levels


def flat_fields(label, class_names, table: tissue.TissueTable, grid: scan.DisplayGrid, level: conditions.Settings,
                device: str, per_cell: float, engine: str) -> dict[str, tuple[np.ndarray, dict]]:
    """flat_field_db of each class of `label` with its flat_reference (the scatterers and strong
    scatterers' offset of `level`, the organ's [conditions]), by class name: classes with the same
    scatterers share one field (the cache's one array)."""
    scanner = probes.load(table.probe)  # the reference stands for an image of the organ's own probe
    return {class_names[index]: flat_field_db(table, scanner, grid, device, per_cell, engine, flat_reference(
                table, class_names[index], level.image_scatterers, level.strong_offset_db(class_names[index])))
            for index in np.unique(label)}


def flat_reference(table: tissue.TissueTable, name: str, scatterers: str,
                   strong_offset_db: float = 0.0) -> tissue.Tissue:
    """The tissue of the flat field that class `name` is matched against at mask+image: reference
    tissue at the nominal attenuation (the mask's own is put back apart: excess_attenuation_db) and
    the default density, with the class's scatterers beneath the map (side_scatterers.flat_tissue)."""
    nominal = table.imaging.get("attenuation_db_cm_mhz", simulate.Settings().attenuation_db_cm_mhz)
    own = table.classes.get(name, tissue.Tissue())
    return side_scatterers.flat_tissue(own, scatterers, attenuation_db_cm_mhz=nominal, density=1.0,
                                       strong_offset_db=strong_offset_db)


# DECISION: the flat field is one simulation of reference tissue at the set's own density (the
# log level of speckle depends a little on it), its log level smoothed by a Gaussian of 1/32 of
# the image side: it varies over millimetres (beam, spreading), and at 256 px this averages some
# 200 speckle grains, leaving about 0.4 dB of noise.
FLAT_FIELD_SIGMA_PER_SIDE = 1 / 32


def noise_field_db(table: tissue.TissueTable, probe, grid: scan.DisplayGrid, device: str, per_cell: float,
                   engine: str = "full") -> np.ndarray | None:
    """The mean log level (dB re the display reference) of the noise alone at each pixel of `grid`
    (the receiver's, which the TGC lifts with depth, and the floor's), as flat_field_db measures a
    tissue's: the organ's imaging with its noise levels (simulate.NOISE_KEYS), tissue NOISE_ONLY_DB
    beneath it. None when the table names no noise."""
    if not has_noise(table):
        return None
    nominal = table.imaging.get("attenuation_db_cm_mhz", simulate.Settings().attenuation_db_cm_mhz)
    silent = tissue.Tissue(NOISE_ONLY_DB, 1.0, nominal)
    return flat_field_db(table, probe, grid, device, per_cell, engine, silent, noise=True)[0]


def has_noise(table: tissue.TissueTable) -> bool:
    """Whether the organ's imaging names a noise level (simulate.NOISE_KEYS)."""
    return any(table.imaging.get(key) is not None for key in simulate.NOISE_KEYS)


# echoes this far below the display reference leave the receiver noise alone in noise_field_db
# (the ovary's noise lies at -37 dB)
NOISE_ONLY_DB = -150.0


def flat_field_db(table: tissue.TissueTable, probe, grid: scan.DisplayGrid, device: str,
                  per_cell: float, engine: str = "full", reference: tissue.Tissue | None = None,
                  noise: bool = False) -> tuple[np.ndarray, dict]:
    """The mean log level (dB re the display reference) at which this simulator shows `reference`
    tissue (by default 0 dB, nominal attenuation, plain scatterers, no texture: flat_reference) at
    each pixel of `grid` with `probe` and the organ's imaging settings, without their receiver noise
    unless `noise`; +inf outside what the probe images. Cached per organ, probe, grid, device,
    density, scatterer statistics, display chain (its speckle reduction shapes the displayed
    spread) and noise: a one-off set-up of a set, paid in its warm-up."""
    nominal = table.imaging.get("attenuation_db_cm_mhz", simulate.Settings().attenuation_db_cm_mhz)
    reference = reference or tissue.Tissue(0.0, 1.0, nominal)
    statistics = (reference.echogenicity_db, reference.density, reference.attenuation_db_cm_mhz,
                  reference.amplitude_shape, reference.strong_fraction, reference.strong_db)
    chain = display.load(table.imaging["display_chain"]) if table.imaging.get("display_chain") else None
    key = (table.organ, probe, grid.x.tobytes(), grid.z.tobytes(), device, per_cell, engine, statistics,
           repr(chain), noise, tuple(table.imaging.get(key) for key in simulate.NOISE_KEYS))
    if key not in _FLAT_FIELDS:
        start = time.perf_counter()
        # the echoes alone (a mask+image map holds echoes), or with the receiver noise (noise_field_db)
        quiet = {k: v for k, v in table.imaging.items() if noise or k not in simulate.NOISE_KEYS}
        flat = tissue.TissueTable(table.organ, table.probe, {"reference": reference}, table.display, quiet)
        shape = (grid.z.size, grid.x.size)
        sim = simulate_mask(np.zeros(shape, np.uint8), grid, ["reference"], flat, probe, seed=0, device=device,
                            progress=False, per_cell=per_cell, engine=engine)
        envelope = sim.envelope_image.astype(np.float64)
        imaged = (envelope > 0).astype(np.float64)
        with np.errstate(divide="ignore"):
            level = np.where(envelope > 0, 20 * np.log10(envelope / sim.params["settings"]["reference"]), 0.0)
        sigma = FLAT_FIELD_SIGMA_PER_SIDE * max(shape)

        def local_mean(values):
            return ndimage.gaussian_filter(values, sigma) / np.maximum(ndimage.gaussian_filter(imaged, sigma), 1e-12)
        mean = local_mean(level)
        facts = {"per_cell": per_cell, "sigma_px": sigma, "probe": probe.name,
                 "strong_fraction": reference.strong_fraction, "strong_db": reference.strong_db,
                 "amplitude_shape": reference.amplitude_shape if math.isfinite(reference.amplitude_shape) else None}
        if chain is not None:  # the speckle's log level about its mean, as the console shows it
            inside = (imaged > 0) & display.field_of_view(grid, chain)
            shown = display.despeckled(level, inside, grid, chain)
            about = (shown - local_mean(np.where(imaged > 0, shown, 0.0)))[inside]
            quantile = (np.arange(side_scatterers.LOG_SPECKLE_QUANTILES) + 0.5) / side_scatterers.LOG_SPECKLE_QUANTILES
            facts["displayed_spread_db"] = np.round(np.quantile(about, quantile), 3).tolist()
        facts["seconds"] = time.perf_counter() - start
        _FLAT_FIELDS[key] = (np.where(imaged > 0, mean, np.inf), facts)
    return _FLAT_FIELDS[key]


def displayed_spread_db(flat_facts: dict) -> np.ndarray | None:
    """The flat field's speckle log level about its mean as the display chain shows it (its speckle
    reduction narrows it), or None without a chain (then fully developed speckle's is assumed).
    DECISION: measured on the simulator's own flat field, not assumed Rayleigh: with the ovary
    chain's 3 dB reduction, the Rayleigh spread left the mask+image backgrounds of the tuning
    frames 5 gray darker than their references, and the flat field's receiver noise 9 more
    (bench/RESULTS.md, "Each exam's own tissue")."""
    spread = flat_facts.get("displayed_spread_db")
    return None if spread is None else np.asarray(spread)


_FLAT_FIELDS: dict = {}


def given_statement(organ: str, level: str, source: str) -> dict:
    """The `condition` statement of one sample made by mask_sample (simulate_set states more: the file, the ids)."""
    if level == "mask":
        return condition(organ)
    what = "an edge sketch, its edges as reflector rows" if level == "mask+sketch" else \
        ("an image, its gray values (gray map undone, smoothed over speckle grains per class) as scatterer amplitudes"
         + (", the map corrected once by its local mean gray against a first image of it"
            if conditions.settings(organ).refined() else ""))
    whose = "the reference image of this mask" if source == "reference" else "another image than the reference"
    return {"condition": level, "source": "reference" if source == "reference" else "other",
            "detail": f"the simulator saw the label mask and {what}, from {whose}; the {organ} tissue table for "
                      f"the rest"}


def simulate_set(masks_path, organ: str, *, seed: int = 0, samples: int | None = None, probe_name: str | None = None,
                 device: str = "auto", per_cell: float = scatter.SCATTERERS_PER_CELL, progress: bool = True,
                 condition: str = "mask", sketch_from: str = "reference", side_set=None, engine: str = "full"):
    """The masks of an image-set file simulated one by one (sample i with seed `seed + i`) by
    `engine` (full or fast), as one set;
    the first mask warms up the simulator, untimed.

    `condition` and `sketch_from` / `side_set` choose the side information of every mask: see
    ussim.conditions (reference: the file's own images or stored sketches; training: images of
    `side_set` chosen with `seed`, as ganlab chooses training sketches).
    """
    from ussim.progress import bar as progress_bar

    conditions.check_options(condition, sketch_from, side_set)
    with imageset.read(masks_path) as masks:
        count = masks.sizes["sample"] if samples is None else min(samples, masks.sizes["sample"])
        if count < 1:
            raise UsageError(f"--samples {samples}: need at least 1")
        names = imageset.class_names_of(masks)
        shape = (masks.sizes["y"], masks.sizes["x"])
        side = conditions.plan(masks, masks_path, count, organ=organ, condition=condition, sketch_from=sketch_from,
                               side_set=side_set, seed=seed, mask_statement=_mask_only(organ))
        if "x_mm" in masks.coords and "y_mm" in masks.coords:
            grid = scan.DisplayGrid(masks["x_mm"].values * 1e-3, masks["y_mm"].values * 1e-3)
        else:  # DECISION: masks without coordinates span the organ's default field of view
            grid = display_grid(tissue.load(organ), shape)
        drawn = []
        for index in progress_bar(range(count), desc=f"simulate {organ}", unit="img", enabled=progress):
            label = masks["label"][index].values  # one sample from disk, not the whole set
            sample_id = str(masks["sample_id"].values[index])
            sketch_map, image = side.for_sample(index)
            sample = mask_sample(label, grid, names, organ, seed=seed + index, sample_id=sample_id,
                                 probe_name=probe_name, device=device, progress=False, per_cell=per_cell,
                                 warm=index == 0, condition=condition, sketch=sketch_map, image=image,
                                 source=sketch_from, engine=engine)
            params = imageset.params_of(sample)
            params["side_information"] = side.record
            if "sample_ids" in side.record:
                params["side"]["from_sample_id"] = side.record["sample_ids"][index]
            sample.attrs["params"] = json.dumps(params, sort_keys=True)
            drawn.append(sample)
    joined = drawn[0] if len(drawn) == 1 else imageset.concat(drawn)
    joined.attrs["timing"] = drawn[0].attrs["timing"]  # the first mask warmed up for all of them
    joined.attrs.update(imageset.condition_attrs(**side.statement))
    return joined


def _sample(sim, label, class_names, organ, seed, seconds, params, sample_id, timed, statement=None, sketch=None):
    return imageset.make(sim.bmode[None], np.asarray(label, np.uint8)[None],
                         envelope=sim.envelope_image[None].astype(np.float32), class_names=list(class_names),
                         organ=organ, method=METHODS[sim.params.get("engine", "full")], params=params, seed=[seed], seconds=[seconds],
                         sample_id=[sample_id], y_mm=sim.grid.z_mm, x_mm=sim.grid.x_mm,
                         sketch=None if sketch is None else np.asarray(sketch, np.uint8)[None],
                         condition=statement or condition(organ), timing=timed)
