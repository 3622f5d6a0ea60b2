"""The demo's segmentation-utility stage (issue 16): does each method's synthetic data help a U-Net
segment the held-out images? The benchmark of `uscompare segment` (compare.segmentation), both
protocols (synthetic only; pretrained and fine-tuned on a few real images, against real only),
every training seed, intervals over seeds.

Each method's synthetic training set images the organ's TRAINING masks, never a held-out one
(the benchmark refuses any overlap with its test set, the held-out reference): ussim through the
fast engine (ussim.fast), each GAN with its first training seed's run, sketch models with the
sketch of each training mask's own training image (named as the comparison's ref-sketch rows;
the test images are held out, so nothing they show reaches the training). The real training pool is the
organ's training set; the test set is the held-out reference.

Kept in this module and one call of pipeline.run_demo, so that other stages merge beside it.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import xarray as xr

from app.demo.defaults import DemoConfig
from app.demo import models
from app.demo.models import SIMULATOR
from app.demo.sets import OrganSets
from ussim import imageset
from ussim.progress import bar as progress_bar


def training_masks(sets: OrganSets, folder: Path, count: int) -> Path:
    """The first `count` training images and masks, as their own file (what every method images)."""
    path = folder / f"{sets.organ}_segmentation_masks.h5"
    with imageset.read(sets.train) as ds:
        chosen = imageset.select(ds, index=np.arange(min(count, ds.sizes["sample"]))).load()
    return imageset.write(chosen, path, overwrite=True)


def synthetic_sets(sets: OrganSets, runs: dict[str, str], folder: Path, config: DemoConfig,
                   progress: bool) -> dict[str, Path]:
    """{method: synthetic training set}: ussim (fast engine) and every GAN on the training masks."""
    from ganlab import generate
    from ussim import phantom

    masks = training_masks(sets, folder, config.segmentation_synthetic)
    made = {}
    ds = phantom.simulate_set(masks, sets.organ, seed=config.seed, per_cell=config.scatterers_per_cell,
                              progress=progress, engine="fast")
    made[SIMULATOR] = imageset.write(ds, folder / f"{sets.organ}_segmentation_{SIMULATOR}.h5", overwrite=True)
    for model, run in runs.items():
        snapshot = generate.load(run)
        # DECISION: a sketch model draws each training mask with the sketch of that mask's own
        # training image (the paper's setting, on training data: nothing held out is seen); the
        # demo's other sketch source, a seeded other training image, needs a set other than the
        # masks' own, and the masks are the whole training set when it is small (IVUS: 16 frames)
        name = models.method_names(model)["reference"]
        ds = generate.generate_set(snapshot, masks, seed=config.seed, progress=progress, sketch_from="reference")
        made[name] = imageset.write(ds, folder / f"{sets.organ}_segmentation_{name.replace(':', '_')}.h5",
                                    overwrite=True)
    return made


def run_stage(organ_sets: dict[str, OrganSets], trained: dict[str, dict[str, list[dict]]], folder: Path,
              config: DemoConfig, progress: bool) -> tuple[dict[str, xr.Dataset], dict]:
    """Per organ the benchmark's Dataset (to merge into that organ's comparison) and a record of
    what was made and how long it took."""
    # DECISION: torch on one thread for this small U-Net (64 px, widths 8-32): measured 21 ms a
    # step on one thread, and 1.6 s on two on a machine whose cores other jobs were using (the
    # threads wait on each other); one thread costs little where two would be idle.
    found, record, methods = {}, {}, {}
    for organ, sets in organ_sets.items():
        started = time.perf_counter()
        # DECISION: a GAN's first training seed makes its synthetic set: the stage measures the
        # data's utility across segmentation seeds, not GAN training noise again (stage 3 does).
        runs = {model: records[0]["run"] for model, records in trained[organ].items() if records}
        methods[organ] = synthetic_sets(sets, runs, folder, config, progress)
        record[organ] = {"synthetic_sets": {name: str(path) for name, path in methods[organ].items()},
                         "synthetic_seconds": round(time.perf_counter() - started, 1)}
    # DECISION: the organs' benchmarks run side by side, each in its own process on its one thread
    # (config.training_workers at a time, as the trainings): one thread each leaves the second core
    # idle otherwise (26 + 21 s one after the other, 2026-12-02).
    jobs = {organ: (sets.train, list(methods[organ].items()), list(config.segmentation_n_real),
                    dict(config.segmentation_overrides), sets.reference, tuple(config.segmentation_seeds))
            for organ, sets in organ_sets.items()}
    workers = max(1, min(config.training_workers, len(jobs), os.cpu_count() or 1))

    def finished(organ: str, result: xr.Dataset, seconds: float) -> None:
        found[organ] = result
        record[organ]["benchmark_seconds"] = round(seconds, 1)
        print(f"    {organ}: {len(methods[organ])} synthetic sets of {config.segmentation_synthetic} training masks "
              f"in {record[organ]['synthetic_seconds']:.0f} s, benchmark ({len(config.segmentation_seeds)} seeds, "
              f"n_real {', '.join(map(str, config.segmentation_n_real))}) in {seconds:.0f} s", flush=True)

    if workers == 1:
        for organ, job in jobs.items():
            finished(organ, *_benchmark(*job, progress=progress))
    else:
        # spawn: a fresh interpreter (forking a process that holds torch's thread pool can deadlock)
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool, \
                progress_bar(total=len(jobs), desc="segmentation benchmarks", unit="organ", enabled=progress) as done:
            futures = {pool.submit(_benchmark, *job, progress=False): organ for organ, job in jobs.items()}
            for future in concurrent.futures.as_completed(futures):
                finished(futures[future], *future.result())
                done.update()
    return {organ: found[organ] for organ in organ_sets}, record


def _benchmark(train, methods, n_real, overrides, test, seeds, *, progress: bool) -> tuple[xr.Dataset, float]:
    """One organ's `uscompare segment` benchmark on one torch thread, and its seconds."""
    from compare.segmentation import benchmark

    started = time.perf_counter()
    result = benchmark.run(train, methods, n_real=n_real, preset="cpu", overrides=overrides, test=test, seeds=seeds,
                           threads=1, progress=progress)
    return result, time.perf_counter() - started


def merged(comparison: xr.Dataset, segmentation: xr.Dataset) -> xr.Dataset:
    """The comparison with the benchmark's variables and attributes (as compare.segmentation.store.add)."""
    from compare.segmentation import store

    out = store.without_segmentation(comparison)
    out.update(segmentation)
    out.attrs.update(segmentation.attrs)
    return out

