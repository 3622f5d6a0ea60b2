"""The results file: one xarray Dataset per comparison run, stored as netCDF (h5netcdf).

    value                 (method, metric)                     every scalar metric of every set
    value_interval        (method, metric, bound)              its 95 % interval (bound: low, high);
                                                                NaN for counts and where not available
    class_value           (method, class_metric, class)        per-class metrics (JS, FRD, display
                                                                gray level, envelope, gCNR, pixel fraction)
    class_value_interval  (method, class_metric, class, bound)
    seed_value            (method, training_set, metric)       each training seed's own value (a method
                                                                trained with several seeds has one set each)
    coordinates  method (reference first), metric, class_metric, class, bound, training_set; per
                 method: role ("reference" / "candidate"), file (its first set), files (JSON list,
                 one per training seed), n_sets, training_seeds, image_size, has_envelope,
                 condition, condition_source, condition_detail (what the method saw of each
                 reference sample, see ussim.imageset), timing_device, timing_batch_size,
                 timing_threads, timing_clock, timing_warmup (how its seconds were measured)
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

Several comparisons in one file (write_comparisons / read_comparisons), e.g. ovary methods against
an ovary reference and IVUS methods against an IVUS reference:

    /            no variables; attributes results_format_version, software_version, ussim_version,
                 created_utc, comparisons (JSON list of the group names, in order) and the caller's
                 own (e.g. `notice`, a sentence a report shows at its top)
    /<name>      one group per comparison, each exactly the Dataset `build` returns (its own
                 attributes, plus e.g. `title`, the heading a report gives it)

`read` takes only a file of one comparison and refuses a grouped one in one line naming its
comparisons, so a consumer of one comparison (`uscompare segment` adding to a file) never silently
sees an empty root. `read_comparisons` reads both kinds.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

import compare
import ussim
from compare.defaults import RESULTS_FORMAT_VERSION
from ussim import atomicio
from ussim.errors import UsageError

SET_METRICS = ("n_images", "n_timed", "seconds_per_image", "diversity_ms_ssim")
PAIR_METRICS = ("n_pairs", "ssim", "ms_ssim")
FEATURE_METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")
RADIOMIC_METRICS = ("frd",)  # FRD v1 (radiomic features, no learned weights), NaN when not computed
CLASS_METRICS = ("js", "frd", "gray_mean", "gray_std", "gcnr", "envelope_mean_over_std", "envelope_nakagami_m",
                 "envelope_log_std_db", "pixel_fraction")
# Numbers that are counts or a spread of their own carry no interval.
WITHOUT_INTERVAL = ("n_images", "n_timed", "n_pairs", "kid_std")
BOUNDS = ("low", "high")
# What "better" means for the metrics a verdict may rank (compare.verdicts); others are descriptive.
LOWER_IS_BETTER = ("fid", "kid_mean", "frd", "js", "seconds_per_image")
HIGHER_IS_BETTER = ("ssim", "ms_ssim", "precision", "recall", "density", "coverage")


def feature_label(metric: str, backbone: str) -> str:
    return f"{metric}[{backbone}]"


def metric_names(backbone: str) -> list[str]:
    return [*SET_METRICS, *PAIR_METRICS, *(feature_label(m, backbone) for m in FEATURE_METRICS), *RADIOMIC_METRICS]


def base_metric(label: str) -> str:
    """`fid[texture-v1]` -> `fid`: the metric a label names, without its backbone."""
    return label.split("[", 1)[0]


def build(methods: list[str], classes: list[str], values: np.ndarray, class_values: np.ndarray, *,
          intervals: np.ndarray, class_intervals: np.ndarray, seed_values: np.ndarray, backbone: str,
          per_method: dict[str, list[str]], parameters: dict, extra_attrs: dict, notes: list[str]) -> xr.Dataset:
    """Assemble the Dataset; `per_method` holds the per-method string coordinates; the interval arrays
    end in a dimension (low, high), `seed_values` is (method, training set, metric)."""
    coords = {"method": methods, "metric": metric_names(backbone), "class_metric": list(CLASS_METRICS),
              "class": classes, "bound": list(BOUNDS), "training_set": np.arange(seed_values.shape[1])}
    coords.update({name: ("method", np.asarray(column, dtype=str)) for name, column in per_method.items()})
    ds = xr.Dataset({"value": (("method", "metric"), values),
                     "value_interval": (("method", "metric", "bound"), intervals),
                     "class_value": (("method", "class_metric", "class"), class_values),
                     "class_value_interval": (("method", "class_metric", "class", "bound"), class_intervals),
                     "seed_value": (("method", "training_set", "metric"), seed_values)}, coords=coords)
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
    return _write_atomic(Path(path), overwrite, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


def _write_atomic(path: Path, overwrite: bool, save: Callable[[Path], object]) -> Path:
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder")
    return atomicio.atomic_write(path, save)


ROOT_KEYS = ("results_format_version", "software_version", "ussim_version", "created_utc", "comparisons")


def write_comparisons(comparisons: dict[str, xr.Dataset], path: str | os.PathLike, *, overwrite: bool = False,
                      attrs: dict | None = None) -> Path:
    """Write several comparisons to one file, one group each in the given order (see the module docstring)."""
    if not comparisons:
        raise UsageError("write_comparisons needs at least one comparison, got none")
    for name, ds in comparisons.items():
        if not isinstance(name, str) or not name.strip() or "/" in name or name in (".", ".."):
            raise UsageError(f"comparison name {name!r} is not allowed: use a non-empty name without '/'")
        if not isinstance(ds, xr.Dataset) or "results_format_version" not in ds.attrs or (
                "value" not in ds and "segmentation" not in ds):
            raise UsageError(f"comparison {name!r} is not a comparison's Dataset (no results_format_version "
                             f"attribute, or neither `value` nor `segmentation`): pass what results.build returns")
    clash = sorted(set(attrs or {}) & set(ROOT_KEYS))
    if clash:
        raise UsageError(f"attribute(s) {', '.join(clash)} are written by write_comparisons itself; use other names")
    root = {"results_format_version": RESULTS_FORMAT_VERSION, "software_version": compare.__version__,
            "ussim_version": ussim.__version__,
            "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "comparisons": json.dumps(list(comparisons)), **(attrs or {})}
    tree = xr.DataTree.from_dict({"/": xr.Dataset(attrs=root), **{f"/{name}": ds for name, ds in comparisons.items()}})
    return _write_atomic(Path(path), overwrite, lambda tmp: tree.to_netcdf(tmp, engine="h5netcdf"))


def read(path: str | os.PathLike) -> xr.Dataset:
    """Load a results file of one comparison, refusing one that is not ours or has another format version."""
    path = Path(path)
    ds = _load(path, xr.load_dataset)
    if _grouped(ds):
        names = ", ".join(_group_names(ds.attrs, path))
        raise UsageError(f"{path} holds several comparisons ({names}), not one: this takes the file of a single "
                         f"`uscompare run`; the report and the app read both kinds")
    _check(ds, path)
    return ds


@dataclasses.dataclass
class Comparisons:
    """The comparisons of a results file in file order, and the file's root attributes."""
    datasets: dict[str, xr.Dataset]
    attrs: dict
    grouped: bool  # False: a plain file of one comparison (its attrs are that Dataset's)

    def title(self, name: str) -> str:
        return str(self.datasets[name].attrs.get("title") or name)


def read_comparisons(path: str | os.PathLike) -> Comparisons:
    """Load a grouped file (write_comparisons) or a plain one (write), checking every comparison in it."""
    path = Path(path)
    root = _load(path, xr.load_dataset)
    if not _grouped(root):
        _check(root, path)
        # DECISION: a plain file's one comparison is keyed by its reference set's name (a
        # segmentation-only file has none: then by the file's stem).
        return Comparisons({str(root.attrs.get("reference") or path.stem): root}, dict(root.attrs), grouped=False)
    _check_version(root.attrs, path)
    names = _group_names(root.attrs, path)
    tree = _load(path, xr.open_datatree)
    with tree:
        missing = [name for name in names if name not in tree.children]
        if missing:
            raise UsageError(f"{path}: comparison group(s) {', '.join(missing)} listed in its `comparisons` attribute "
                             f"are missing; the file is damaged: re-run to rewrite it")
        try:
            datasets = {name: tree[name].to_dataset(inherit=False).load() for name in names}
        except Exception as error:  # damaged data inside a readable file (h5py's OSError, a failed filter)
            reason = " ".join(str(error).split()) or type(error).__name__
            raise UsageError(f"{path}: unreadable data ({reason}); the file is damaged: re-run to rewrite it") from None
    for name, ds in datasets.items():
        _check(ds, path, f" (comparison {name})")
    return Comparisons(datasets, dict(root.attrs), grouped=True)


def _grouped(root: xr.Dataset) -> bool:
    """Whether `root` (a file's root group) is that of write_comparisons; a plain file never has these."""
    return "comparisons" in root.attrs and "results_format_version" in root.attrs and not root.data_vars


def _load(path: Path, opener):
    if not path.is_file():
        raise UsageError(f"{path}: no such results file")
    try:
        return opener(path, engine="h5netcdf")
    except Exception as error:  # h5py/h5netcdf raise OSError, ValueError... for foreign files
        reason = " ".join(str(error).split()) or type(error).__name__
        raise UsageError(f"{path}: not a readable results file ({reason})") from None


def _group_names(attrs: dict, path: Path) -> list[str]:
    try:
        names = json.loads(attrs["comparisons"])
    except (TypeError, ValueError):
        names = None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise UsageError(f"{path}: its `comparisons` attribute is not a JSON list of comparison names")
    return names


def _check(ds: xr.Dataset, path: Path, where: str = "") -> None:
    if ds.attrs.get("results_format_version") is None or ("value" not in ds and "segmentation" not in ds):
        # see compare.segmentation.store for a file of segmentation results only
        raise UsageError(f"{path}{where}: not a uscompare results file (no results_format_version attribute)")
    _check_version(ds.attrs, path, where)


def _check_version(attrs: dict, path: Path, where: str = "") -> None:
    version = attrs.get("results_format_version")
    if version is None:
        raise UsageError(f"{path}{where}: not a uscompare results file (no results_format_version attribute)")
    # DECISION: any other version is refused, older ones too: a layout change may also change
    # what a metric name means, and re-running is cheap with the feature cache.
    if int(version) != RESULTS_FORMAT_VERSION:
        raise UsageError(f"{path}{where} has results format version {int(version)} (written by uscompare "
                         f"{attrs.get('software_version', '?')}); this uscompare {compare.__version__} reads "
                         f"version {RESULTS_FORMAT_VERSION}: re-run `uscompare run` to rewrite it")


def interval_of(ds: xr.Dataset, method: str, metric: str, class_name: str | None = None) -> tuple[float, float]:
    """(low, high) of a metric's 95 % interval (a class metric when `class_name` is given)."""
    if class_name is None:
        at = ds["value_interval"].sel({"method": method, "metric": metric})
    else:
        at = ds["class_value_interval"].sel({"method": method, "class_metric": metric, "class": class_name})
    return float(at.sel({"bound": "low"})), float(at.sel({"bound": "high"}))


def notes_of(ds: xr.Dataset) -> list[str]:
    return list(json.loads(ds.attrs.get("notes", "[]")))


def parameters_of(ds: xr.Dataset) -> dict:
    return json.loads(ds.attrs["parameters"])
