"""Phantom images: a label mask (random or given) through the physics into an image set.

`random_sample` draws an organ's anatomy on its display grid (ussim.phantoms) and simulates it;
`mask_sample` simulates a given mask (a real set's, an edited one). Both return one image-set
sample with its label, envelope, seed, seconds and every parameter that made it.
"""

from __future__ import annotations

import time

import numpy as np

from ussim import anatomy, imageset, scan, scatter, simulate, tissue
from ussim import probe as probes
from ussim.errors import UsageError
from ussim.phantoms import ivus, ovary

GENERATORS = {"ovary": ovary, "ivus": ivus}
MIN_SIZE = 32


def display_grid(table: tissue.TissueTable, shape: tuple[int, int]) -> scan.DisplayGrid:
    """The organ's field of view on `shape` (rows, columns) pixels: ovary from the probe face
    down, IVUS centred on the catheter."""
    if min(shape) < MIN_SIZE:
        raise UsageError(f"size {shape[0]}x{shape[1]} px is too small to image (at least {MIN_SIZE} per side)")
    width = table.display["width_mm"] * 1e-3
    if table.organ == "ivus":
        return scan.DisplayGrid.covering(-width / 2, width / 2, -width / 2, width / 2, shape)
    depth = table.display.get("depth_mm", table.display["width_mm"]) * 1e-3
    return scan.DisplayGrid.covering(-width / 2, width / 2, 0.0, depth, shape)


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


def random_sample(organ: str, *, seed: int, size: int = 256, probe_name: str | None = None, device: str = "auto",
                  progress: bool = True, per_cell: float = scatter.SCATTERERS_PER_CELL):
    """One random phantom of `organ` as an image set of one sample."""
    if organ not in GENERATORS:
        raise UsageError(f"unknown organ '{organ}' (allowed: {', '.join(GENERATORS)})")
    start = time.perf_counter()
    table = tissue.load(organ)
    probe = probes.load(probe_name or table.probe)
    grid = display_grid(table, (size, size))
    generator = GENERATORS[organ]
    label, drawn = generator.draw(grid.x, grid.z, np.random.default_rng(seed))
    sim = simulate_mask(label, grid, generator.CLASS_NAMES, table, probe, seed=seed, device=device, progress=progress,
                        per_cell=per_cell)
    params = {"organ": organ, "seed": seed, "size": size, "anatomy": drawn, "simulation": sim.params}
    return _sample(sim, label, generator.CLASS_NAMES, organ, seed, time.perf_counter() - start, params,
                   f"{organ}-{seed:06d}")


def mask_sample(label, grid: scan.DisplayGrid, class_names, organ: str, *, seed: int, sample_id: str,
                probe_name: str | None = None, device: str = "auto", progress: bool = True,
                per_cell: float = scatter.SCATTERERS_PER_CELL):
    """One given mask of `organ` simulated, as an image set of one sample."""
    start = time.perf_counter()
    table = tissue.load(organ)
    probe = probes.load(probe_name or table.probe)
    if organ == "ivus":  # DECISION: an IVUS image is centred on its catheter, whatever its origin
        grid = scan.DisplayGrid(grid.x - grid.x.mean(), grid.z - grid.z.mean())
    sim = simulate_mask(label, grid, class_names, table, probe, seed=seed, device=device, progress=progress,
                        per_cell=per_cell)
    params = {"organ": organ, "seed": seed, "mask": sample_id, "simulation": sim.params}
    return _sample(sim, label, class_names, organ, seed, time.perf_counter() - start, params, f"sim-{sample_id}")


def simulate_set(masks_path, organ: str, *, seed: int = 0, samples: int | None = None, probe_name: str | None = None,
                 device: str = "auto", per_cell: float = scatter.SCATTERERS_PER_CELL, progress: bool = True):
    """The masks of an image-set file simulated one by one (sample i with seed `seed + i`), as one set."""
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
                                     probe_name=probe_name, device=device, progress=False, per_cell=per_cell))
    return imageset.concat(drawn) if len(drawn) > 1 else drawn[0]


def _sample(sim, label, class_names, organ, seed, seconds, params, sample_id):
    return imageset.make(sim.bmode[None], np.asarray(label, np.uint8)[None],
                         envelope=sim.envelope_image[None].astype(np.float32), class_names=list(class_names),
                         organ=organ, method="ussim-field", params=params, seed=[seed], seconds=[seconds],
                         sample_id=[sample_id], y_mm=sim.grid.z_mm, x_mm=sim.grid.x_mm)
