"""The segmentation-utility benchmark of both papers: does a method's synthetic data help a U-Net
segment real images?

Two protocols, every network scored on the same real test images (Dice and HD95 per class,
evaluate.py), each repeated for every training seed:
  * synthetic only: trained on the method's synthetic images alone (n_real = 0);
  * pretrained + fine-tuned: that network fine-tuned on n real images, for each n, against a
    network trained on the same n real images only (row `real-only`).
Before any training, the real training pool and every synthetic set are checked against the test
set and refused when their masks overlap it (leakage.py).

DECISION: a seed sets the initial weights, the batches and flips, and the draw of the nested real
subsets from the pool: the spread over seeds then covers which n real images a user happens to
have, the largest source of variation at n = 25, not only optimiser noise. Within a seed every
row uses the same subsets and initial weights, so rows are compared pair by pair (intervals.py).
The test split (--split-seed) and the choice of synthetic images (--max-synthetic) stay fixed.
DECISION: a method's network is pretrained once per seed; its synthetic-only score is that
network's, and each n fine-tunes a copy of it. DECISION: without --test, a seeded 20 % of the
real set is held out.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from compare import methods as stated
from compare.segmentation import data, evaluate, intervals, leakage, presets, store, train, unet
from compare.sets import check_name
from ussim import imageset
from ussim.errors import UsageError

DEFAULT_TEST_FRACTION = 0.2
PREDICT_BATCH = 16


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" or device.startswith("cuda"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"device '{device}' requested but torch sees no CUDA GPU (use --device cpu or auto)")
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise UsageError(f"device '{device}' does not exist: torch sees {torch.cuda.device_count()} GPU(s)")
        return torch.device(device)
    raise UsageError(f"unknown device '{device}' (allowed: auto, cpu, cuda, cuda:N)")


def check_method_names(methods: list[tuple[str, Path]]) -> None:
    names = [check_name(name) for name, _ in methods]
    repeated = sorted({n for n in names if names.count(n) > 1 or n == presets.BASELINE})
    if repeated:
        raise UsageError(f"method name(s) {', '.join(repeated)} given twice or equal to the baseline's name "
                         f"'{presets.BASELINE}'")


def check_seeds(seeds) -> list[int]:
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds needs at least 2 distinct seeds for an interval over training seeds (3 or more "
                         f"recommended), got {' '.join(map(str, seeds)) or 'none'}")
    return seeds


def run(real: Path, methods: list[tuple[str, Path]], *, n_real: list[int] | None = None, preset: str = "cpu",
        overrides: dict | None = None, test: Path | None = None, test_fraction: float | None = None,
        split_seed: int = presets.SPLIT_SEED, seeds=presets.SEEDS, class_map: dict[str, str] | None = None,
        device: str = "auto", threads: int | None = None, progress: bool = True) -> xr.Dataset:
    """Run the benchmark; return its results as a Dataset to merge into a results file.

    `n_real` None: the default sizes, capped by the real pool. `threads`: torch's CPU threads
    during the run (None: torch's default); the caller's setting is restored afterwards.
    """
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be at least 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return _run(Path(real), methods, n_real, preset, overrides, test, test_fraction, split_seed, seeds,
                    class_map, device, progress)
    finally:
        torch.set_num_threads(before)


def _run(real, methods, n_real, preset, overrides, test, test_fraction, split_seed, seeds, class_map, device,
         progress) -> xr.Dataset:
    settings = presets.resolve(preset, **(overrides or {}))
    check_method_names(methods)
    seeds = check_seeds(seeds)
    class_map = dict(class_map or {})
    torch_device = resolve_device(device)
    notes: list[str] = []  # shown once every input has passed its checks, before the training

    pool, classes = data.read(real)
    if len(classes) < 2:
        raise UsageError(f"{real}: segmentation needs at least 2 classes, the set names {classes}")
    wrong = [f"{name}={target}" for name, target in class_map.items() if target not in classes]
    if wrong:
        raise UsageError(f"--class-map {', '.join(wrong)}: the target must be a class of the real training set "
                         f"({', '.join(classes)})")
    mapped_names: set[str] = set()  # the class names of the sets the map applies to (test, synthetic)
    if test is not None and test_fraction is not None:
        raise UsageError("give either --test TEST.h5 or --test-fraction, not both")
    if test is not None:
        if Path(test).resolve() == real.resolve():
            raise UsageError(f"--test {test} is the training set itself; give another file or --test-fraction")
        testing, test_names = data.read(Path(test), classes, class_map)
        mapped_names.update(test_names)
    else:
        test_fraction = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
        train_index, test_index = data.split(len(pool), test_fraction, split_seed)
        pool, testing = pool.subset(train_index), pool.subset(test_index)
        notes.append(f"test set: a seeded {test_fraction:.0%} of {real.name} ({len(testing)} images, split seed "
                     f"{split_seed}), the other {len(pool)} images are the real training pool")
    sizes, capped = data.real_sizes(len(pool), n_real, real)
    notes += [capped] if capped else []
    if len(seeds) < 3:
        notes.append(f"only {len(seeds)} training seeds: the intervals rest on {len(seeds) - 1} degree(s) of freedom "
                     f"for training noise and are very wide; use 3 or more to report")

    test_file = Path(test) if test is not None else real  # the file the test masks come from
    test_fingerprint = leakage.fingerprint(testing, settings.size)
    leakage.refuse_overlap("the real training set", pool, test_fingerprint, test_file, settings.size)
    synthetic, n_synthetic = {}, {}
    for name, path in methods:
        labelled, names = data.read(Path(path), classes, class_map)
        mapped_names.update(names)
        leakage.refuse_overlap(f"method {name}'s synthetic set", labelled, test_fingerprint, test_file,
                               settings.size)
        n_synthetic[name] = len(labelled)
        synthetic[name] = labelled.subset(data.choose(len(labelled), settings.max_synthetic, split_seed))
        absent = data.missing_classes(synthetic[name], classes)
        if absent:
            notes.append(f"{name}: class(es) {', '.join(absent)} never appear in {Path(path).name}: pretraining "
                         f"cannot teach them")
    unused = [name for name in class_map if name not in mapped_names]
    if unused:
        raise UsageError(f"--class-map names class(es) {', '.join(unused)} that no synthetic or test set has "
                         f"(their classes: {', '.join(sorted(mapped_names)) or 'none'})")

    for text in notes:
        warnings.warn(text, stacklevel=2)
    real_images, real_labels = data.as_tensors(pool, settings.size)
    test_images, _ = data.as_tensors(testing, settings.size)
    synthetic_tensors = {name: data.as_tensors(labelled, settings.size) for name, labelled in synthetic.items()}
    n_classes = len(classes)

    def fit(model, images, labels, steps, seed, desc) -> float:
        return train.train(model, images, labels, steps=steps, batch_size=settings.batch_size,
                           learning_rate=settings.learning_rate, seed=seed, device=torch_device, progress=progress,
                           desc=desc)

    def scores(model) -> np.ndarray:
        predicted = train.predict(model, test_images, testing.labels.shape[1:], batch_size=PREDICT_BATCH,
                                  device=torch_device)
        return evaluate.score(predicted, testing.labels, n_classes)

    rows, grid = [presets.BASELINE, *synthetic], [0, *sizes]  # n_real 0: synthetic only
    per_image = np.full((len(rows), len(grid), len(seeds), len(testing), len(evaluate.SCORES), n_classes), np.nan)
    seconds = np.full((len(rows), len(grid), len(seeds)), np.nan)
    for k, seed in enumerate(seeds):
        subsets = data.real_subsets(len(pool), sizes, seed)
        for j, n in enumerate(sizes, start=1):
            model, index = unet.build(n_classes, settings, seed), torch.from_numpy(subsets[n])
            seconds[0, j, k] = fit(model, real_images[index], real_labels[index], settings.train_steps, seed,
                                   f"seed {seed}: {presets.BASELINE}, {n} real")
            per_image[0, j, k] = scores(model)
        for row, name in enumerate(synthetic, start=1):
            model = unet.build(n_classes, settings, seed)
            seconds[row, 0, k] = fit(model, *synthetic_tensors[name], settings.pretrain_steps, seed,
                                     f"seed {seed}: {name}, synthetic only")
            per_image[row, 0, k] = scores(model)
            pretrained = copy.deepcopy(model.state_dict())
            for j, n in enumerate(sizes, start=1):
                model.load_state_dict(pretrained)
                index = torch.from_numpy(subsets[n])
                seconds[row, j, k] = fit(model, real_images[index], real_labels[index], settings.train_steps, seed,
                                         f"seed {seed}: {name} fine-tuned, {n} real")
                per_image[row, j, k] = scores(model)

    parameters = {"preset": preset, **settings.as_dict(), "n_real": sizes, "seeds": seeds, "split_seed": split_seed,
                  "test_fraction": test_fraction if test is None else None, "real": str(real.absolute()),
                  "test": str(Path(test).absolute()) if test else None,
                  "methods": {name: str(Path(path).absolute()) for name, path in methods},
                  "class_map": class_map, "classes": classes, "device": str(torch_device),
                  "torch_version": str(torch.__version__), "torch_threads": torch.get_num_threads(),
                  "n_real_pool": len(pool), "n_test": len(testing), "interval_level": intervals.LEVEL,
                  "unet": "monai.networks.nets.UNet", "unet_parameters": unet.count_parameters(
                      unet.build(n_classes, settings, seeds[0]))}
    return store.build(per_image, seconds, methods=rows, n_real=grid, seeds=seeds, test_ids=testing.ids,
                       classes=classes, synthetic_files=["", *(str(Path(p).absolute()) for _, p in methods)],
                       n_synthetic=[0, *n_synthetic.values()], n_pretrain=[0, *(len(s) for s in synthetic.values())],
                       conditions=["real images", *(pretraining_condition(Path(p)) for _, p in methods)],
                       parameters=parameters, notes=notes)


def pretraining_condition(path: Path) -> str:
    """What the producer of a synthetic pretraining set saw (compare.methods' words), for the table."""
    with imageset.read(path, validate_labels=False) as ds:
        found = imageset.condition_of(ds)
    if found is None:
        return stated.NOT_STATED
    return stated.condition_label(found["condition"], found["source"])
