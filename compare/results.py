"""The results file: one xarray Dataset per comparison run, stored as netCDF (h5netcdf).

    value        (method, metric)               every scalar metric of every set
    class_value  (method, class_metric, class)  per-class metrics (JS, speckle, gCNR, pixel fraction)
    coordinates  method (reference first), metric, class_metric, class; per method: role
                 ("reference" / "candidate"), file, image_size, speckle_source
    attributes   results_format_version, software versions, backbone, every parameter (one
                 attribute each and all of them as JSON in `parameters`), notes (JSON list of
                 every policy that applied and every metric left NaN, with why), created_utc
    segmentation (optional) the segmentation benchmark's variables: compare/segmentation/store.py

DECISION: the reference set is a row of its own (role "reference"): its per-set values (speckle,
gCNR, diversity, timing) are the targets the methods are read against; its comparison metrics
are NaN. Feature-based metric labels carry the backbone, e.g. `fid[texture-v1]`, so numbers from a
weights-free backbone can never be mistaken for (or tabled beside) Inception-based ones.
The file is written to a temporary name and renamed; a reader refuses another format version.

Select a method with a dict, `ds.sel({"method": "ussim"})`: `ds.sel(method=...)` is xarray's own
keyword for inexact matching and silently selects nothing.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from pathlib import Path

import numpy as np
import xarray as xr

import compare
import ussim
from compare.defaults import RESULTS_FORMAT_VERSION
from ussim.errors import UsageError

SET_METRICS = ("n_images", "n_timed", "seconds_per_image", "diversity_ms_ssim")
PAIR_METRICS = ("n_pairs", "ssim", "ms_ssim")
FEATURE_METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")
CLASS_METRICS = ("js", "speckle_mean_over_std", "speckle_nakagami_m", "speckle_log_std_db", "gcnr",
                 "pixel_fraction")


def feature_label(metric: str, backbone: str) -> str:
    return f"{metric}[{backbone}]"


def metric_names(backbone: str) -> list[str]:
    return [*SET_METRICS, *PAIR_METRICS, *(feature_label(m, backbone) for m in FEATURE_METRICS)]


def build(methods: list[str], classes: list[str], values: np.ndarray, class_values: np.ndarray, *,
          backbone: str, per_method: dict[str, list[str]], parameters: dict, extra_attrs: dict,
          notes: list[str]) -> xr.Dataset:
    """Assemble the Dataset; `per_method` holds the per-method string coordinates."""
    coords = {"method": methods, "metric": metric_names(backbone), "class_metric": list(CLASS_METRICS),
              "class": classes}
    coords.update({name: ("method", np.asarray(column, dtype=str)) for name, column in per_method.items()})
    ds = xr.Dataset({"value": (("method", "metric"), values),
                     "class_value": (("method", "class_metric", "class"), class_values)}, coords=coords)
    attrs = {"results_format_version": RESULTS_FORMAT_VERSION, "software_version": compare.__version__,
             "ussim_version": ussim.__version__, "backbone": backbone,
             "parameters": json.dumps(parameters, sort_keys=True), "notes": json.dumps(notes),
             "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    attrs.update(parameters)
    attrs.update(extra_attrs)
    ds.attrs = attrs
    return ds


def write(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write atomically: a temporary file in the same folder, fsync, rename."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read(path: str | os.PathLike) -> xr.Dataset:
    """Load a results file, refusing one that is not ours or has another format version."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such results file")
    try:
        ds = xr.load_dataset(path, engine="h5netcdf")
    except Exception as error:  # h5py/h5netcdf raise OSError, ValueError... for foreign files
        reason = " ".join(str(error).split()) or type(error).__name__
        raise UsageError(f"{path}: not a readable results file ({reason})") from None
    version = ds.attrs.get("results_format_version")
    if version is None or ("value" not in ds and "segmentation" not in ds):  # see compare.segmentation.store
        raise UsageError(f"{path}: not a uscompare results file (no results_format_version attribute)")
    # DECISION: any other version is refused, older ones too: a layout change may also change
    # what a metric name means, and re-running is cheap with the feature cache.
    if int(version) != RESULTS_FORMAT_VERSION:
        raise UsageError(f"{path} has results format version {int(version)} (written by uscompare "
                         f"{ds.attrs.get('software_version', '?')}); this uscompare {compare.__version__} reads "
                         f"version {RESULTS_FORMAT_VERSION}: re-run `uscompare run` to rewrite it")
    return ds


def notes_of(ds: xr.Dataset) -> list[str]:
    return list(json.loads(ds.attrs.get("notes", "[]")))


def parameters_of(ds: xr.Dataset) -> dict:
    return json.loads(ds.attrs["parameters"])
