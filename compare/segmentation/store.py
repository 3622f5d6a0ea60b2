"""Segmentation results in the results file, beside a comparison run's variables.

    segmentation          (seg_method, n_real, seg_metric, seg_class)  dice, dice_std, mhd, mhd_std,
                                                                       n_images per real test set class
    segmentation_seconds  (seg_method, n_real)                         wall seconds of the real-image phase
    coordinates           seg_method (real-only first, then the methods), n_real, seg_metric, seg_class;
                          per seg_method: seg_training, seg_synthetic_file, seg_n_synthetic,
                          seg_pretrain_seconds
    attributes            segmentation_parameters (JSON of every parameter; each also on the
                          `segmentation` variable), segmentation_notes (JSON list), ..._created_utc

DECISION: own dimensions (seg_method, seg_class), not the comparison's method and class: the
benchmark has a real-only row the comparison lacks, and its classes are the real training set's,
so sharing the dimensions would pad the comparison's tables with NaN rows. Method names are the
same strings, so a report can line the two up. A file may hold only segmentation results
(`uscompare segment` before or without `uscompare run`); it is still results format version 1.
The whole file is rewritten through a temporary file and a rename (results.write).
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import xarray as xr

import compare
import ussim
from compare import results
from compare.defaults import RESULTS_FORMAT_VERSION
from ussim.errors import UsageError

DIMS = ("seg_method", "n_real", "seg_metric", "seg_class")
ATTR_PREFIX = "segmentation_"


def has_segmentation(ds: xr.Dataset) -> bool:
    return "segmentation" in ds


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
