"""The segmentation-utility benchmark of both papers: does pretraining on a method's synthetic images
help a U-Net that then sees only 50 or 100 real images?

For each real training-set size n: a U-Net trained on n real images only (row `real-only`), and
for each method one pretrained on that method's synthetic images and then fine-tuned on the same
n real images. Every network is scored on the same real test images (Dice and modified Hausdorff
distance per class, see evaluate.py).
DECISION: every network starts from the same seeded initial weights, and a method's pretrained
weights are made once and fine-tuned separately for each n, so the rows differ only in what
they were trained on. DECISION: without --test, a seeded 20 % of the real set is held out.
"""

from __future__ import annotations

import copy
import datetime
import json
import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr

import compare
from compare.segmentation import data, evaluate, presets, train
from compare.segmentation.unet import ResidualUNet, count_parameters
from compare.sets import check_name
from ussim.errors import UsageError

DEFAULT_TEST_FRACTION = 0.2
METRICS = ("dice", "dice_std", "mhd", "mhd_std", "n_images")  # n_images: test images scored for the class
PREDICT_BATCH = 16


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu" or device.startswith("cuda"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"device '{device}' requested but torch sees no CUDA GPU (use --device cpu or auto)")
        return torch.device(device)
    raise UsageError(f"unknown device '{device}' (allowed: auto, cpu, cuda, cuda:N)")


def check_method_names(methods: list[tuple[str, Path]]) -> None:
    names = [check_name(name) for name, _ in methods]
    repeated = sorted({n for n in names if names.count(n) > 1 or n == presets.BASELINE})
    if repeated:
        raise UsageError(f"method name(s) {', '.join(repeated)} given twice or equal to the baseline's name "
                         f"'{presets.BASELINE}'")


def summarise(dices: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """(seg_metric, class) from per-image scores (images, class); NaN where no image was scored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN classes stay NaN
        return np.stack([np.nanmean(dices, 0), np.nanstd(dices, 0), np.nanmean(distances, 0),
                         np.nanstd(distances, 0), np.isfinite(dices).sum(0).astype(float)])


def run(real: Path, methods: list[tuple[str, Path]], *, n_real=presets.N_REAL, preset: str = "cpu",
        overrides: dict | None = None, test: Path | None = None, test_fraction: float | None = None,
        split_seed: int = presets.SPLIT_SEED, seed: int = presets.SEED, class_map: dict[str, str] | None = None,
        device: str = "auto", threads: int | None = None, progress: bool = True) -> xr.Dataset:
    """Run the benchmark; return its results as a Dataset to merge into a results file.

    `threads`: torch's CPU threads during the run (None: torch's default, all cores); the
    caller's setting is restored afterwards.
    """
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be at least 1, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        return _run(real, methods, n_real, preset, overrides, test, test_fraction, split_seed, seed, class_map,
                    device, progress)
    finally:
        torch.set_num_threads(before)


def _run(real, methods, n_real, preset, overrides, test, test_fraction, split_seed, seed, class_map, device,
         progress) -> xr.Dataset:
    settings = presets.resolve(preset, **(overrides or {}))
    check_method_names(methods)
    n_real = sorted(set(int(n) for n in n_real))
    class_map = dict(class_map or {})
    torch_device = resolve_device(device)
    notes: list[str] = []
    note = notes.append  # shown once every input has passed its checks, before the training

    pool, classes = data.read(Path(real))
    if len(classes) < 2:
        raise UsageError(f"{real}: segmentation needs at least 2 classes, the set names {classes}")
    if test is not None and test_fraction is not None:
        raise UsageError("give either --test TEST.h5 or --test-fraction, not both")
    if test is not None:
        if Path(test).resolve() == Path(real).resolve():
            raise UsageError(f"--test {test} is the training set itself; give another file or --test-fraction")
        testing, _ = data.read(Path(test), classes, class_map)
        shared = set(testing.ids) & set(pool.ids)
        if shared:
            note(f"{len(shared)} sample id(s) of the test set {Path(test).name} are also in the real training set "
                 f"{Path(real).name} (e.g. {sorted(shared)[0]}): make sure they are different images")
    else:
        test_fraction = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
        train_index, test_index = data.split(len(pool), test_fraction, split_seed)
        pool, testing = pool.subset(train_index), pool.subset(test_index)
        note(f"test set: a seeded {test_fraction:.0%} of {Path(real).name} ({len(testing)} images, split seed "
             f"{split_seed}), the other {len(pool)} images are the real training pool")
    subsets = data.real_subsets(len(pool), n_real, seed, Path(real))
    synthetic = {}
    for name, path in methods:
        synthetic[name], _ = data.read(Path(path), classes, class_map, settings.max_synthetic, seed)
        absent = data.missing_classes(synthetic[name], classes)
        if absent:
            note(f"{name}: class(es) {', '.join(absent)} never appear in {Path(path).name}: pretraining cannot "
                 f"teach them")

    for text in notes:
        warnings.warn(text, stacklevel=2)
    real_images, real_labels = data.as_tensors(pool, settings.size)
    test_images, _ = data.as_tensors(testing, settings.size)
    n_classes = len(classes)

    def fresh_model() -> ResidualUNet:
        with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's generator
            torch.manual_seed(seed)
            return ResidualUNet(n_classes, settings.width, settings.depth)

    def fit_and_score(model, n: int, label: str):
        index = torch.from_numpy(subsets[n])
        seconds = train.train(model, real_images[index], real_labels[index], steps=settings.train_steps,
                              batch_size=settings.batch_size, learning_rate=settings.learning_rate, seed=seed,
                              device=torch_device, progress=progress, desc=f"{label} on {n} real")
        predicted = train.predict(model, test_images, testing.labels.shape[1:], batch_size=PREDICT_BATCH,
                                  device=torch_device)
        return summarise(*evaluate.score(predicted, testing.labels, n_classes)), seconds

    rows = [presets.BASELINE, *synthetic]
    values = np.full((len(rows), len(n_real), len(METRICS), n_classes), np.nan)
    seconds = np.full((len(rows), len(n_real)), np.nan)
    pretrain_seconds = np.full(len(rows), np.nan)
    for k, n in enumerate(n_real):
        values[0, k], seconds[0, k] = fit_and_score(fresh_model(), n, presets.BASELINE)
    for row, (name, labelled) in enumerate(synthetic.items(), start=1):
        model = fresh_model()
        images, labels = data.as_tensors(labelled, settings.size)
        pretrain_seconds[row] = train.train(
            model, images, labels, steps=settings.pretrain_steps, batch_size=settings.batch_size,
            learning_rate=settings.learning_rate, seed=seed, device=torch_device, progress=progress,
            desc=f"pretrain on {name}")
        pretrained = copy.deepcopy(model.state_dict())
        for k, n in enumerate(n_real):
            model.load_state_dict(pretrained)
            values[row, k], seconds[row, k] = fit_and_score(model, n, name)

    parameters = {"preset": preset, **settings.as_dict(), "n_real": n_real, "seed": seed, "split_seed": split_seed,
                  "test_fraction": test_fraction if test is None else None,
                  "real": str(Path(real).absolute()), "test": str(Path(test).absolute()) if test else None,
                  "methods": {name: str(Path(path).absolute()) for name, path in methods},
                  "class_map": class_map, "classes": classes, "device": str(torch_device),
                  "torch_version": str(torch.__version__), "torch_threads": torch.get_num_threads(),
                  "n_real_pool": len(pool), "n_test": len(testing),
                  "unet_parameters": count_parameters(fresh_model())}
    training = ["real images only"] + [f"pretrained on {name}, fine-tuned on real images" for name in synthetic]
    return xr.Dataset(
        {"segmentation": (("seg_method", "n_real", "seg_metric", "seg_class"), values,
                          {k: json.dumps(v) if isinstance(v, (list, dict, type(None))) else v
                           for k, v in parameters.items()}),
         "segmentation_seconds": (("seg_method", "n_real"), seconds)},
        coords={"seg_method": rows, "n_real": n_real, "seg_metric": list(METRICS), "seg_class": classes,
                "seg_training": ("seg_method", training),
                "seg_synthetic_file": ("seg_method", [""] + [str(Path(p).absolute()) for _, p in methods]),
                "seg_n_synthetic": ("seg_method", [0] + [len(s) for s in synthetic.values()]),
                "seg_pretrain_seconds": ("seg_method", pretrain_seconds)},
        attrs={"segmentation_parameters": json.dumps(parameters, sort_keys=True),
               "segmentation_notes": json.dumps(notes), "segmentation_software_version": compare.__version__,
               "segmentation_created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")})
