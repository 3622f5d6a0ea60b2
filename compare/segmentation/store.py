"""Segmentation results in the results file, beside a comparison run's variables.

    segmentation           (seg_method, n_real, seg_metric, seg_class)  per score (dice, hd95): the
                           mean over seeds of the mean over test images, its 95 % interval
                           (_low, _high), and the paired difference from real-only at the same
                           n_real with its interval (_vs_real_only, ..._low, ..._high)
    segmentation_per_seed  (seg_method, n_real, seg_seed, seg_score, seg_class)  mean over test images
    segmentation_per_image (seg_method, n_real, seg_seed, seg_image, seg_score, seg_class)  float32,
                           NaN where the empty-class policy leaves an image out (evaluate.py)
    segmentation_seconds   (seg_method, n_real, seg_seed)  wall seconds of that training phase (at
                           n_real 0 a method's pretraining, otherwise the real-image phase)
    coordinates            seg_method (real-only first, then the methods); n_real (0 first: trained
                           on synthetic images only, so real-only has NaN there); seg_seed; seg_image
                           (test sample ids); seg_score (dice, hd95); per seg_method:
                           seg_synthetic_file, seg_n_synthetic (in the file), seg_n_pretrain (used),
                           seg_condition (what the synthetic set's producer saw, in words)
    attributes             segmentation_parameters (JSON of every parameter; each also on the
                           `segmentation` variable), segmentation_notes (JSON list),
                           segmentation_layout (2), ..._software_version, ..._created_utc

DECISION: own dimensions (seg_method, seg_class), not the comparison's method and class: the
benchmark has a real-only row the comparison lacks, and its classes are the real training set's.
Method names are the same strings, so a report can line the two up. DECISION: the synthetic-only
protocol is the row's n_real = 0 (a pretrained network fine-tuned on no real image), so both
protocols share one variable. Per-image values are kept so any interval can be recomputed.
A file may hold only segmentation results; it is still results format version 1. The whole
file is rewritten through a temporary file and a rename (results.write).
"""

from __future__ import annotations

import datetime
import json
import os
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

import compare
import ussim
from compare import results
from compare.defaults import RESULTS_FORMAT_VERSION
from compare.segmentation import evaluate, intervals, presets
from ussim.errors import UsageError

DIMS = ("seg_method", "n_real", "seg_metric", "seg_class", "seg_seed", "seg_image", "seg_score")
ATTR_PREFIX = "segmentation_"
LAYOUT = 2  # 1: one seed, mean and std over images, MHD (before MONAI); refused by check_layout
VS = "_vs_real_only"
METRICS = tuple(f"{score}{part}" for score in evaluate.SCORES
                for part in ("", "_low", "_high", VS, f"{VS}_low", f"{VS}_high"))
HIGHER_IS_BETTER = {"dice": True, "hd95": False}


def protocol(method: str, n_real: int) -> str:
    """The protocol of a (row, n_real) cell: real-only, synthetic-only or pretrained+fine-tuned ('' for
    real-only at n_real 0, where no network was trained)."""
    if method == presets.BASELINE:
        return presets.BASELINE if n_real else ""
    return "synthetic-only" if n_real == 0 else "pretrained+fine-tuned"


def row_name(method: str, n_real: int) -> str:
    """'real-only', or the method's name and its protocol, e.g. 'pgsgan pretrained+fine-tuned'."""
    return protocol(method, n_real) if method == presets.BASELINE else f"{method} {protocol(method, n_real)}"


def summary(per_image: np.ndarray) -> np.ndarray:
    """per_image (method, n_real, seed, image, score, class) -> (method, n_real, metric, class)."""
    stats = intervals.summarise(np.moveaxis(per_image, (2, 3), (0, 1)))             # (3, method, n, score, class)
    for k, score in enumerate(evaluate.SCORES):  # DECISION: an interval never leaves the score's possible range
        stats[1:, :, :, k] = np.clip(stats[1:, :, :, k], *evaluate.RANGES[score])
    baseline = per_image[:1]
    difference = per_image - baseline
    difference[0] = np.nan  # real-only against itself, and n_real 0 (no real-only network), say nothing
    difference[:, 0] = np.nan
    versus = intervals.summarise(np.moveaxis(difference, (2, 3), (0, 1)))
    both = np.concatenate([stats, versus])                                            # (6, method, n, score, class)
    return np.moveaxis(both, 0, 3).reshape(*per_image.shape[:2], -1, per_image.shape[-1])


def build(per_image: np.ndarray, seconds: np.ndarray, *, methods, n_real, seeds, test_ids, classes,
          synthetic_files, n_synthetic, n_pretrain, conditions, parameters: dict, notes: list[str]) -> xr.Dataset:
    """The benchmark's results as a Dataset, laid out as above."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a class no test image scored stays NaN
        per_seed = np.nanmean(per_image, axis=3)
    attrs = {k: json.dumps(v) if isinstance(v, (list, dict, type(None))) else v for k, v in parameters.items()}
    return xr.Dataset(
        {"segmentation": (("seg_method", "n_real", "seg_metric", "seg_class"), summary(per_image), attrs),
         "segmentation_per_seed": (("seg_method", "n_real", "seg_seed", "seg_score", "seg_class"), per_seed),
         "segmentation_per_image": (("seg_method", "n_real", "seg_seed", "seg_image", "seg_score", "seg_class"),
                                    per_image.astype(np.float32)),
         "segmentation_seconds": (("seg_method", "n_real", "seg_seed"), seconds)},
        coords={"seg_method": list(methods), "n_real": list(n_real), "seg_metric": list(METRICS),
                "seg_class": list(classes), "seg_seed": list(seeds), "seg_image": list(test_ids),
                "seg_score": list(evaluate.SCORES),
                "seg_synthetic_file": ("seg_method", list(synthetic_files)),
                "seg_n_synthetic": ("seg_method", list(n_synthetic)),
                "seg_n_pretrain": ("seg_method", list(n_pretrain)),
                "seg_condition": ("seg_method", list(conditions))},
        attrs={"segmentation_parameters": json.dumps(parameters, sort_keys=True),
               "segmentation_notes": json.dumps(notes), "segmentation_layout": LAYOUT,
               "segmentation_software_version": compare.__version__,
               "segmentation_created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")})


def condition_suffix(ds: xr.Dataset, method: str) -> str:
    """` [what its training images are]` for chart legends (`real images`, or what a synthetic set's
    producer saw); empty for files written before that was recorded."""
    if "seg_condition" not in ds.coords:
        return ""
    return f" [{ds['seg_condition'].sel({'seg_method': method}).values}]"


def has_segmentation(ds: xr.Dataset) -> bool:
    return "segmentation" in ds


def check_layout(ds: xr.Dataset) -> None:
    """Refuse segmentation results of an older layout in one line (what to do instead)."""
    if int(ds.attrs.get("segmentation_layout", 1)) != LAYOUT:
        raise UsageError(f"the segmentation results in this file have layout {ds.attrs.get('segmentation_layout', 1)} "
                         f"(one seed, no intervals); this version reads layout {LAYOUT}: rerun `uscompare segment` "
                         f"with --overwrite")


def without_segmentation(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with every segmentation variable, coordinate and attribute removed."""
    names = [name for name, var in ds.variables.items() if set(var.dims) & set(DIMS) or name in DIMS]
    kept = ds.drop_vars(names)
    kept.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith(ATTR_PREFIX)}
    return kept


def check_target(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse, before any training, a results file that cannot take segmentation results."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.exists():
        ds = results.read(path)
        if has_segmentation(ds) and not overwrite:
            raise UsageError(f"{path} already holds segmentation results; pass --overwrite to replace them (the "
                             f"comparison results in it are kept)")


def add(path: str | os.PathLike, segmentation: xr.Dataset, *, overwrite: bool = False) -> Path:
    """Put the benchmark's Dataset into the results file at `path` (created when absent)."""
    path = Path(path)
    check_target(path, overwrite)
    if path.exists():
        merged = without_segmentation(results.read(path))
        merged.update(segmentation)
        merged.attrs.update(segmentation.attrs)
    else:
        merged = segmentation.copy()
        merged.attrs = {"results_format_version": RESULTS_FORMAT_VERSION, "software_version": compare.__version__,
                        "ussim_version": ussim.__version__, "notes": json.dumps([]),
                        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                        **segmentation.attrs}
    return results.write(merged, path, overwrite=True)


def notes_of(ds: xr.Dataset) -> list[str]:
    return list(json.loads(ds.attrs.get("segmentation_notes", "[]")))


def parameters_of(ds: xr.Dataset) -> dict:
    return json.loads(ds.attrs.get("segmentation_parameters", "{}"))


def verdicts(ds: xr.Dataset) -> list[str]:
    """One line per (method, n_real >= 1, foreground class, score): better, worse or not resolved
    against real-only at the same n_real, from the interval of the paired difference."""
    check_layout(ds)
    seg, lines = ds["segmentation"], []
    for method in ds["seg_method"].values.tolist()[1:]:
        for n in [int(n) for n in ds["n_real"].values if n > 0]:
            for c in ds["seg_class"].values.tolist()[1:]:
                for score in evaluate.SCORES:
                    at = seg.sel({"seg_method": method, "n_real": n, "seg_class": c})
                    low, high = (float(at.sel({"seg_metric": f"{score}{VS}{s}"})) for s in ("_low", "_high"))
                    word = intervals.verdict(low, high, HIGHER_IS_BETTER[score])
                    change = f"{float(at.sel({'seg_metric': f'{score}{VS}'})):+.3g} [{low:+.3g}, {high:+.3g}]"
                    text = ("not resolved at this sample size" if word == "not resolved" else
                            f"{word} than real-only")
                    lines.append(f"{row_name(method, n)} with {n} real images, {score} {c}: {text} (difference "
                                 f"{change})")
    return lines
