"""The demo's methods: ussim images the reference masks, each GAN trains on the training set with
every training seed and then generates an image for every reference mask; the sketch models do so
twice, with the reference image's own sketch (the paper's setting) and with a seeded training
image's sketch, so that both levels of what they see are measured."""

from __future__ import annotations

import concurrent.futures
import json
import math
import multiprocessing
import os
import queue
import time
from pathlib import Path

from app.demo.defaults import DemoConfig
from app.demo.sets import OrganSets
from ganlab import generate, presets, registry, runs, train
from ussim import imageset

SIMULATOR = "ussim"
# Method-name suffixes of the sketch models per sketch source (ganlab generate --sketch-from).
SKETCH_SOURCES = {"reference": "ref-sketch", "training": "train-sketch"}
# The trainings' bar: the share of expected work done and its time left; runs finished in its description.
TRAININGS_BAR = "{desc}{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"


def simulate(sets: OrganSets, folder: Path, config: DemoConfig, progress: bool) -> Path:
    """The simulator's images of the reference masks."""
    from ussim import phantom  # numba kernels: loaded only here

    # DECISION: a simulated reference is imaged again with other scatterer seeds, so the ussim row
    # measures how far two realisations of the same physics lie apart at this set size: the
    # floor that any method can reach. DECISION: the fast engine (ussim.fast) in both cases. Against
    # a simulated reference it is the engine that made it (app.demo.sets), so that the row is that
    # floor and nothing else; the full engine there cost 188-234 s of the 20.1-20.4 minutes of the
    # demo without real data (2026-12-02). Against real images the full engine was used until the
    # ovary's table took focused lines (2026-12-04, issue 15): 256 transmit events, 30-40 min an
    # image on 2 cores then, about 1 h 45 min on the depth marks' scale (bench/RESULTS.md, "The
    # depth scale adopted"): 10 held-out masks would take over 17 hours. The fast engine's images
    # agree with the full engine's within measured limits (bench/RESULTS.md, "Fast engine" and
    # "Focused lines for the ovary"), and its tables were fitted by it (bench/fit_tissue.py --engine fast).
    seed = config.seed if sets.real else config.resimulation_seed
    ds = phantom.simulate_set(sets.reference, sets.organ, seed=seed, per_cell=config.scatterers_per_cell,
                              progress=progress, engine="fast")
    return imageset.write(ds, folder / f"{sets.organ}_{SIMULATOR}.h5", overwrite=True)


def schedule(model: str, n_train: int, config: DemoConfig, seed: int) -> dict:
    """The overrides that make `model`'s preset train about config.iterations[model] iterations."""
    known = presets.config_for(model, config.gan_preset)
    own = {key: value for key, value in config.gan_overrides.items() if key in known}
    table = presets.config_for(model, config.gan_preset, own)
    per_epoch = max(1, n_train // table["batch"])
    epochs = max(1, math.ceil(config.iterations[model] / per_epoch))
    # max_iters: exactly the iterations asked for (the last epoch may stop part-way; rounding up to
    # whole epochs trained the ovary GANs 204 iterations instead of 160); snap_epochs: about
    # config.snapshots_per_run sample grids and checkpoints per run.
    overrides = {**own, "epochs": epochs, "seed": seed, "max_iters": config.iterations[model],
                 "snap_epochs": max(1, math.ceil(epochs / config.snapshots_per_run))}
    if "phase_epochs" in table:
        # DECISION: the growing model keeps its preset's shape: each phase is the same fraction of
        # the (shorter) run, at least one epoch, and alpha completes its fade within phase 2.
        scale = epochs / table["epochs"]
        phases = [max(1, round(p * scale)) for p in table["phase_epochs"]]
        overrides["epochs"] = max(epochs, sum(phases) + 1)
        overrides.update(phase_epochs=phases, alpha_per_epoch=1 / phases[1])
    return overrides


def method_names(model: str) -> dict[str, str]:
    """The demo's method name per sketch source: one method for a mask-only model, two for a sketch model."""
    if not registry.get(model).uses_sketch:
        return {"reference": model}
    return {source: f"{model}:{suffix}" for source, suffix in SKETCH_SOURCES.items()}


def train_model(model: str, sets: OrganSets, runs_root: Path, config: DemoConfig, seed: int, progress: bool,
                threads: int | None = None, on_iteration=None) -> dict:
    """Train `model` with training seed `seed` on the organ's training set; the training record
    (run folder, iterations, seconds, the overrides it ran with). `on_iteration` as ganlab's train."""
    with imageset.read(sets.train) as ds:
        n_train = ds.sizes["sample"]
    overrides = schedule(model, n_train, config, seed)
    if threads:
        overrides["threads"] = threads  # recorded in the run's config.json with the rest
    started = time.perf_counter()
    run = train.train(model, sets.train, preset=config.gan_preset, overrides=overrides, runs_root=runs_root,
                      progress=progress, echo=False, on_iteration=on_iteration)
    seconds = time.perf_counter() - started
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line]
    last = stats[-1] if stats else {}  # the last finished epoch's losses
    iterations = runs.iterations_trained(run)
    return {"run": str(run), "seed": seed, "epochs": overrides["epochs"], "iterations": iterations,
            "train_seconds": round(seconds, 1), "threads": threads, "loss_d": last.get("loss_d"),
            "loss_g": last.get("loss_g"), "overrides": overrides}


def _train_job(model: str, sets: OrganSets, seed: int, runs_root: Path, config: DemoConfig, index: int,
               iterations) -> dict:
    """One training in a worker process of `train_all` (one torch thread, no progress bars): each
    iteration puts (job index, iterations so far) on the `iterations` queue for the caller's bar."""
    return train_model(model, sets, runs_root, config, seed, progress=False, threads=1,
                       on_iteration=lambda total: iterations.put((index, total)))


def iteration_cost_ms(model: str, config: DemoConfig) -> int:
    """An iteration's expected cost in milliseconds of the reference machine: what the trainings' bar
    counts, in whole units so that its count never passes its total (DemoConfig.seconds_per_iteration;
    1 s for a model it lacks: progress only)."""
    return max(1, round(1000 * config.seconds_per_iteration.get(model, 1.0)))


def train_all(jobs: list[tuple[str, OrganSets, int]], runs_root: Path, config: DemoConfig, progress: bool,
              report=None) -> list[dict]:
    """Train every (model, organ sets, training seed) job; their training records in job order.
    `report(index, record)` is called as each training ends.

    DECISION: `config.training_workers` trainings at a time, each in its own process on one torch
    thread. The demo's networks are small (64-256 px, batches of 4-16): 30 cgan iterations cost
    25-28 s of CPU on one thread and 119 s on two (the second thread mostly spins); with two
    trainings at a time the demo's GAN stage took 918 s against 1124 s one after another on two
    threads (2026-12-02, the same idle 2-core machine; bench/RESULTS.md "`make demo`").
    Each run is seeded and single-threaded, so its weights do not depend on what runs beside it.
    Images are generated afterwards in the main process (`generate_sets`), so that every method's
    seconds per image are timed alone, as the simulator's are.
    """
    from ussim.progress import bar

    workers = max(1, min(config.training_workers, len(jobs), os.cpu_count() or 1))
    records: list[dict | None] = [None] * len(jobs)
    report = report or (lambda index, record: None)
    if workers == 1:  # in this process, with each training's own progress bar
        for index, (model, sets, seed) in enumerate(jobs):
            records[index] = train_model(model, sets, runs_root, config, seed, progress)
            report(index, records[index])
        return records
    # The bar counts expected work (iterations weighted by each model's milliseconds an iteration), not
    # finished runs: with 14 runs of 1-3 minutes, a count of runs says nothing and no time left
    # until the first run ends.
    weight = [iteration_cost_ms(model, config) for model, _, _ in jobs]
    expected = [config.iterations[model] for model, _, _ in jobs]
    counted = [0] * len(jobs)  # iterations of each job the bar holds
    finished = 0
    # spawn: a fresh interpreter per worker (forking a process that holds torch's and numba's
    # thread pools can deadlock); a manager's queue is what spawned workers can be handed
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, bar(total=sum(w * n for w, n in zip(weight, expected, strict=True)),
                                           desc="trainings", enabled=progress, unit_scale=False,
                                           bar_format=TRAININGS_BAR) as done:
        iterations = manager.Queue()

        def drain() -> None:
            while True:
                try:
                    index, total = iterations.get_nowait()
                except queue.Empty:
                    return
                total = min(total, expected[index])
                if total > counted[index]:
                    done.update(weight[index] * (total - counted[index]))
                    counted[index] = total

        done.set_description(f"trainings (0/{len(jobs)} runs done)")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(_train_job, *job, runs_root, config, index, iterations): index
                       for index, job in enumerate(jobs)}
            pending = set(futures)
            while pending:
                ended, pending = concurrent.futures.wait(pending, timeout=1.0,
                                                         return_when=concurrent.futures.FIRST_COMPLETED)
                drain()
                for future in ended:
                    index = futures[future]
                    records[index] = future.result()
                    # a run's true iterations replace its expected ones (max_iters may stop it sooner)
                    done.update(weight[index] * (expected[index] - counted[index]))
                    counted[index] = expected[index]
                    finished += 1
                    done.set_description(f"trainings ({finished}/{len(jobs)} runs done)")
                    report(index, records[index])
    return records


def generate_sets(model: str, run: str | Path, sets: OrganSets, folder: Path, config: DemoConfig, seed: int,
                  progress: bool) -> dict[str, Path]:
    """The trained run's images of the reference masks, one set per sketch source; {method name: set}."""
    snapshot = generate.load(Path(run))
    paths = {}
    for source, name in method_names(model).items():
        # DECISION: the generation seed is the demo's seed for every training seed, so the seeds' sets
        # differ only by training; the training-image sketches are drawn with the same seed too.
        ds = generate.generate_set(snapshot, sets.reference, seed=config.seed, progress=progress, sketch_from=source,
                                   **({"sketch_set": sets.train} if source == "training" else {}))
        paths[name] = imageset.write(ds, folder / f"{sets.organ}_{name.replace(':', '_')}_seed{seed}.h5",
                                     overwrite=True)
    return paths


def train_and_generate(model: str, sets: OrganSets, folder: Path, runs_root: Path, config: DemoConfig,
                       seed: int, progress: bool) -> tuple[dict[str, Path], dict]:
    """Train `model` with training seed `seed` and generate for the reference masks, in this process
    (as one job of the demo; bench/ivus_collapse.py); ({method name: set}, training record)."""
    trained = train_model(model, sets, runs_root, config, seed, progress)
    return generate_sets(model, trained["run"], sets, folder, config, seed, progress), trained
