"""Phantom images: a label mask (random or given) through the physics into an image set.

`random_sample` draws an organ's anatomy on its display grid (ussim.phantoms) and simulates it;
`mask_sample` simulates a given mask (a real set's, an edited one). Both return one image-set
sample with its label, envelope, seed, seconds and every parameter that made it, and say what the
simulator saw (`condition`: the mask only) and how `seconds` were measured (`timing`).

Timing follows ARCHITECTURE.md: wall seconds per image at batch 1 on the device that ran,
warm-up excluded. The one-off set-up of a process (loading the numba kernels, the aperture
tables, the reference level of ussim.simulate.reference_level, the first CUDA call) is paid by
`warm_up` before the first timed image, never by that image.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from ussim import anatomy, engine, imageset, scan, scatter, simulate, tissue
from ussim import probe as probes
from ussim.errors import UsageError
from ussim.phantoms import ivus, ovary

GENERATORS = {"ovary": ovary, "ivus": ivus}
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
                  per_cell: float = scatter.SCATTERERS_PER_CELL) -> simulate.Simulation:
    """The B-mode of exactly this anatomy, on the mask's own pixels, with `per_cell` scatterers
    per resolution cell."""
    cloud = anatomy.scatterers_from_mask(label, grid.x, grid.z, list(class_names), table, probe, seed=seed,
                                         per_cell=per_cell)
    overrides = dict(table.imaging)
    if table.organ == "ivus":  # image out to the grid's farthest corner from the catheter
        overrides["depth"] = float(np.hypot(np.abs(grid.x).max(), np.abs(grid.z).max())) - probe.catheter_radius
    else:
        overrides.setdefault("depth", float(grid.z[-1]) + 2e-3)
    sim = simulate.simulate(cloud, probe, device=device, progress=progress, grid=grid, **overrides)
    sim.params["scatterers_per_cell"] = per_cell
    return sim


def warm_up(label, grid: scan.DisplayGrid, class_names, table: tissue.TissueTable, probe, *, device: str,
            per_cell: float) -> None:
    """Pay the simulator's one-off set-up now, untimed: simulate `label` on `grid` at WARMUP_PER_CELL
    (or `per_cell`, the density of the timed images, when lower) and discard the image.

    A mask with so few echogenic pixels that the sparse warm-up draws no scatterer at all warms up
    at `per_cell` instead: the same set-up, at one image's cost.
    """
    try:
        simulate_mask(label, grid, class_names, table, probe, seed=0, device=device, progress=False,
                      per_cell=min(WARMUP_PER_CELL, per_cell))
    except anatomy.NoScatterers:
        simulate_mask(label, grid, class_names, table, probe, seed=0, device=device, progress=False,
                      per_cell=per_cell)


def condition(organ: str) -> dict:
    """What the simulator sees of each sample (imageset.make's `condition`)."""
    return {"condition": "mask", "source": "none",
            "detail": f"the simulator saw the label mask only, each class imaged with the properties of the "
                      f"{organ} tissue table; no image, sketch or other side information"}


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
                  progress: bool = True, per_cell: float = scatter.SCATTERERS_PER_CELL, warm: bool = True):
    """One random phantom of `organ` as an image set of one sample.

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
        warm_up(label, grid, generator.CLASS_NAMES, table, probe, device=device, per_cell=per_cell)
    start = time.perf_counter()
    sim = simulate_mask(label, grid, generator.CLASS_NAMES, table, probe, seed=seed, device=device, progress=progress,
                        per_cell=per_cell)
    seconds = drawing + time.perf_counter() - start
    params = {"organ": organ, "seed": seed, "size": size, "anatomy": drawn, "simulation": sim.params}
    return _sample(sim, label, generator.CLASS_NAMES, organ, seed, seconds, params, f"{organ}-{seed:06d}",
                   timing(device, warmed=warm))


def mask_sample(label, grid: scan.DisplayGrid, class_names, organ: str, *, seed: int, sample_id: str,
                probe_name: str | None = None, device: str = "auto", progress: bool = True,
                per_cell: float = scatter.SCATTERERS_PER_CELL, warm: bool = True):
    """One given mask of `organ` simulated, as an image set of one sample.

    Its `seconds` are the wall time of the simulation. With `warm` the one-off set-up runs first,
    untimed (warm_up on this mask); `simulate_set` warms for its first mask only.
    """
    table = tissue.load(organ)
    probe = probes.load(probe_name or table.probe)
    if organ == "ivus":  # DECISION: an IVUS image is centred on its catheter, whatever its origin
        grid = scan.DisplayGrid(grid.x - grid.x.mean(), grid.z - grid.z.mean())
    if warm:
        warm_up(label, grid, class_names, table, probe, device=device, per_cell=per_cell)
    start = time.perf_counter()
    sim = simulate_mask(label, grid, class_names, table, probe, seed=seed, device=device, progress=progress,
                        per_cell=per_cell)
    seconds = time.perf_counter() - start
    params = {"organ": organ, "seed": seed, "mask": sample_id, "simulation": sim.params}
    return _sample(sim, label, class_names, organ, seed, seconds, params, f"sim-{sample_id}",
                   timing(device, warmed=warm))


def simulate_set(masks_path, organ: str, *, seed: int = 0, samples: int | None = None, probe_name: str | None = None,
                 device: str = "auto", per_cell: float = scatter.SCATTERERS_PER_CELL, progress: bool = True):
    """The masks of an image-set file simulated one by one (sample i with seed `seed + i`), as one set;
    the first mask warms up the simulator, untimed."""
    from tqdm import tqdm

    with imageset.read(masks_path) as masks:
        count = masks.sizes["sample"] if samples is None else min(samples, masks.sizes["sample"])
        if count < 1:
            raise UsageError(f"--samples {samples}: need at least 1")
        names = imageset.class_names_of(masks)
        shape = (masks.sizes["y"], masks.sizes["x"])
        if "x_mm" in masks.coords and "y_mm" in masks.coords:
            grid = scan.DisplayGrid(masks["x_mm"].values * 1e-3, masks["y_mm"].values * 1e-3)
        else:  # DECISION: masks without coordinates span the organ's default field of view
            grid = display_grid(tissue.load(organ), shape)
        drawn = []
        for index in tqdm(range(count), desc=f"simulate {organ}", unit="img", disable=None if progress else True):
            label = masks["label"][index].values  # one sample from disk, not the whole set
            sample_id = str(masks["sample_id"].values[index])
            drawn.append(mask_sample(label, grid, names, organ, seed=seed + index, sample_id=sample_id,
                                     probe_name=probe_name, device=device, progress=False, per_cell=per_cell,
                                     warm=index == 0))
    if len(drawn) == 1:
        return drawn[0]
    joined = imageset.concat(drawn)
    joined.attrs["timing"] = drawn[0].attrs["timing"]  # the first mask warmed up for all of them
    return joined


def _sample(sim, label, class_names, organ, seed, seconds, params, sample_id, timed):
    return imageset.make(sim.bmode[None], np.asarray(label, np.uint8)[None],
                         envelope=sim.envelope_image[None].astype(np.float32), class_names=list(class_names),
                         organ=organ, method="ussim-field", params=params, seed=[seed], seconds=[seconds],
                         sample_id=[sample_id], y_mm=sim.grid.z_mm, x_mm=sim.grid.x_mm,
                         condition=condition(organ), timing=timed)
