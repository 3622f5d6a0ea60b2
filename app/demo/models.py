"""The demo's methods: ussim images the reference masks, each GAN trains on the training set with
every training seed and then generates an image for every reference mask; the sketch models do so
twice, with the reference image's own sketch (the paper's setting) and with a seeded training
image's sketch, so that both levels of what they see are measured."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from app.demo.defaults import DemoConfig
from app.demo.sets import OrganSets
from ganlab import generate, presets, registry, train
from ussim import imageset

SIMULATOR = "ussim"
# Method-name suffixes of the sketch models per sketch source (ganlab generate --sketch-from).
SKETCH_SOURCES = {"reference": "ref-sketch", "training": "train-sketch"}


def simulate(sets: OrganSets, folder: Path, config: DemoConfig, progress: bool) -> Path:
    """The simulator's images of the reference masks."""
    from ussim import phantom  # numba kernels: loaded only here

    # DECISION: a simulated reference is imaged again with other scatterer seeds, so the ussim row
    # measures how far two realisations of the same physics lie apart at this set size: the
    # floor that any method can reach.
    seed = config.seed if sets.real else config.resimulation_seed
    ds = phantom.simulate_set(sets.reference, sets.organ, seed=seed, per_cell=config.scatterers_per_cell,
                              progress=progress)
    return imageset.write(ds, folder / f"{sets.organ}_{SIMULATOR}.h5", overwrite=True)


def schedule(model: str, n_train: int, config: DemoConfig, seed: int) -> dict:
    """The overrides that make `model`'s preset train about config.iterations[model] iterations."""
    known = presets.config_for(model, config.gan_preset)
    own = {key: value for key, value in config.gan_overrides.items() if key in known}
    table = presets.config_for(model, config.gan_preset, own)
    per_epoch = max(1, n_train // table["batch"])
    epochs = max(1, math.ceil(config.iterations[model] / per_epoch))
    overrides = {**own, "epochs": epochs, "seed": seed}
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


def train_and_generate(model: str, sets: OrganSets, folder: Path, runs_root: Path, config: DemoConfig,
                       seed: int, progress: bool) -> tuple[dict[str, Path], dict]:
    """Train `model` with training seed `seed` on the organ's training set and generate for the reference
    masks (both sketch sources for a sketch model); ({method name: set}, training record)."""
    with imageset.read(sets.train) as ds:
        n_train = ds.sizes["sample"]
    overrides = schedule(model, n_train, config, seed)
    started = time.perf_counter()
    run = train.train(model, sets.train, preset=config.gan_preset, overrides=overrides, runs_root=runs_root,
                      progress=progress, echo=False)
    seconds = time.perf_counter() - started
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line]
    snapshot = generate.load(run)
    paths = {}
    for source, name in method_names(model).items():
        # DECISION: the generation seed is the demo's seed for every training seed, so the seeds' sets
        # differ only by training; the training-image sketches are drawn with the same seed too.
        ds = generate.generate_set(snapshot, sets.reference, seed=config.seed, progress=progress, sketch_from=source,
                                   **({"sketch_set": sets.train} if source == "training" else {}))
        paths[name] = imageset.write(ds, folder / f"{sets.organ}_{name.replace(':', '_')}_seed{seed}.h5",
                                     overwrite=True)
    last = stats[-1] if stats else {}
    trained = {"run": str(run), "seed": seed, "epochs": overrides["epochs"], "iterations": last.get("iterations", 0),
               "train_seconds": round(seconds, 1), "loss_d": last.get("loss_d"), "loss_g": last.get("loss_g"),
               "overrides": overrides}
    return paths, trained
