"""The image-set file: the one format in which every package exchanges images.

One HDF5 file per image set, written through xarray with the h5netcdf engine, so both xarray
and plain h5py read it. Dimensions are `sample, y, x`; the variables and attributes are fixed
by ../shared/ARCHITECTURE.md ("The image-set file"):

    image     sample,y,x uint8    display B-mode image                      required
    label     sample,y,x uint8    class index per pixel                     required
    envelope  sample,y,x float32  linear envelope before log compression    simulator only
    sketch    sample,y,x uint8    binary edge sketch (GAN condition)        optional
    seed      sample int64        seed that made the sample (-1 for real)   required
    seconds   sample float32      wall time to make the sample (NaN real)   required
    y_mm,x_mm y / x float64       physical pixel-centre positions           when known
    sample_id sample str          stable id                                 required

Global attributes: organ, method, class_names, params (JSON), software_version, created_utc.
Generated sets also state what their producer saw of each sample and how `seconds` was measured:

    condition         "mask" (the label mask only), "mask+sketch" (plus an edge sketch) or
                      "mask+image" (plus the reference image itself)
    condition_source  where the side information came from: "none" (mask only), "reference"
                      (the held-out image the mask belongs to, i.e. the image the set is scored
                      against) or "other" (e.g. a seeded training image's sketch)
    condition_detail  one sentence saying exactly what was used (file, seed, ids)
    timing            JSON: {"warmup_excluded": bool, "device": the device that ran (not the one
                      asked for), "batch_size": int, "threads": int, "clock": "wall" | "cpu"}
Real sets carry none of these (they are what the others are scored against).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from ussim import __version__, atomicio
from ussim.errors import UsageError

# DECISION: a format version travels in the file (beside software_version) so that a reader
# can refuse a file written by a newer, incompatible layout with a clear line.
FORMAT_VERSION = 1
DIMS = ("sample", "y", "x")
PER_PIXEL = {"image": np.uint8, "label": np.uint8, "envelope": np.float32, "sketch": np.uint8}
PER_SAMPLE = {"seed": np.int64, "seconds": np.float32}
REQUIRED_VARIABLES = ("image", "label", "seed", "seconds")
REQUIRED_ATTRS = ("organ", "method", "class_names", "params", "software_version", "created_utc")
# DECISION: one sample per HDF5 chunk, gzip level 4: reading one image touches one chunk, and
# label maps and B-mode images compress several-fold at little cost.
COMPRESSION = {"compression": "gzip", "compression_opts": 4}
# DECISION: HDF5's Fletcher32 checksum filter on the pixel and per-sample variables (files written
# before it carry none and still read; their gzip stream's own Adler-32 still catches most damage).
CHECKSUM = {"fletcher32": True}
READ_CHUNK = 64  # samples per dask chunk when reading lazily
CONDITIONS = ("mask", "mask+sketch", "mask+image")
CONDITION_SOURCES = ("none", "reference", "other")
TIMING_KEYS = ("warmup_excluded", "device", "batch_size", "threads", "clock")
TIMING_CLOCKS = ("wall", "cpu")


class ImageSetError(UsageError):
    """An image set (in memory or on disk) that breaks the format."""


def make(image, label, *, class_names: Sequence[str], organ: str, method: str, params: dict,
         seed=None, seconds=None, envelope=None, sketch=None, sample_id=None,
         y_mm=None, x_mm=None, condition: dict | None = None, timing: dict | None = None) -> xr.Dataset:
    """Build a validated image set in memory from arrays.

    `seed` defaults to -1 and `seconds` to NaN per sample, as for real images; `sample_id`
    defaults to "<method>-<index>". A generated set passes `condition` ({"condition", "source",
    "detail"}, see `condition_attrs`) and `timing` (the keys of TIMING_KEYS).
    """
    image = np.asarray(image)
    n = image.shape[0] if image.ndim == 3 else 0
    # Plain Python lists take the format's dtypes; arrays must already have them.
    seed = np.full(n, -1, np.int64) if seed is None else np.asarray(seed, np.int64 if isinstance(seed, list) else None)
    seconds = (np.full(n, np.nan, np.float32) if seconds is None else
               np.asarray(seconds, np.float32 if isinstance(seconds, list) else None))
    if sample_id is None:
        sample_id = [f"{method}-{i:06d}" for i in range(n)]
    variables = {"image": (DIMS, image), "label": (DIMS, np.asarray(label)),
                 "seed": ("sample", seed), "seconds": ("sample", seconds)}
    for name, values in (("envelope", envelope), ("sketch", sketch)):
        if values is not None:
            variables[name] = (DIMS, np.asarray(values))
    coords = {"sample_id": ("sample", np.asarray(sample_id, dtype=str))}
    if y_mm is not None:
        coords["y_mm"] = ("y", np.asarray(y_mm))
    if x_mm is not None:
        coords["x_mm"] = ("x", np.asarray(x_mm))
    try:
        ds = xr.Dataset(variables, coords=coords)
    except ValueError as error:  # xarray's own message names the conflicting sizes
        raise ImageSetError(f"arrays do not fit one image set: {error}") from None
    ds.attrs = {"organ": organ, "method": method, "class_names": [str(c) for c in class_names],
                "params": json.dumps(params, sort_keys=True, default=_json_default),
                "software_version": __version__, "format_version": FORMAT_VERSION,
                "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    if condition is not None:
        ds.attrs.update(condition_attrs(**condition))
    if timing is not None:
        ds.attrs["timing"] = json.dumps(timing, sort_keys=True)
    validate(ds)
    return ds


def condition_attrs(condition: str, source: str, detail: str) -> dict:
    """The attributes that say what a producer saw of each sample (checked by `validate`)."""
    return {"condition": condition, "condition_source": source, "condition_detail": detail}


def condition_of(ds: xr.Dataset) -> dict | None:
    """{"condition", "source", "detail"} of a generated set; None for a set that states none (real)."""
    if "condition" not in ds.attrs:
        return None
    return {"condition": str(ds.attrs["condition"]), "source": str(ds.attrs.get("condition_source", "")),
            "detail": str(ds.attrs.get("condition_detail", ""))}


def timing_of(ds: xr.Dataset) -> dict | None:
    """How the set's `seconds` were measured (TIMING_KEYS); None when the producer did not say."""
    return json.loads(ds.attrs["timing"]) if "timing" in ds.attrs else None


def _validate_statements(ds: xr.Dataset) -> None:
    """The optional `condition*` and `timing` attributes, when present, hold allowed values."""
    if "condition" in ds.attrs:
        condition, source = ds.attrs["condition"], ds.attrs.get("condition_source")
        if condition not in CONDITIONS:
            raise ImageSetError(f"condition '{condition}' is not one of {', '.join(CONDITIONS)}")
        if source not in CONDITION_SOURCES:
            raise ImageSetError(f"condition_source '{source}' is not one of {', '.join(CONDITION_SOURCES)}")
        if (condition == "mask") != (source == "none"):
            raise ImageSetError(f"condition '{condition}' with condition_source '{source}': a mask-only set has "
                                f"source 'none', a set with side information 'reference' or 'other'")
        if not str(ds.attrs.get("condition_detail", "")).strip():
            raise ImageSetError("condition_detail must say what the producer saw (one sentence)")
    elif "condition_source" in ds.attrs or "condition_detail" in ds.attrs:
        raise ImageSetError("condition_source/condition_detail given without condition")
    if "timing" in ds.attrs:
        try:
            timing = json.loads(ds.attrs["timing"])
        except (TypeError, json.JSONDecodeError):
            timing = None
        if not isinstance(timing, dict) or any(key not in timing for key in TIMING_KEYS):
            raise ImageSetError(f"attribute 'timing' must be a JSON object with {', '.join(TIMING_KEYS)}")
        if timing["clock"] not in TIMING_CLOCKS:
            raise ImageSetError(f"timing clock '{timing['clock']}' is not one of {', '.join(TIMING_CLOCKS)}")


def class_names_of(ds: xr.Dataset) -> list[str]:
    """The class names; netCDF returns a one-element list as a bare string, so normalise."""
    names = ds.attrs.get("class_names")
    if isinstance(names, (str, bytes)):
        names = [names]
    return [n.decode() if isinstance(n, bytes) else str(n) for n in np.atleast_1d(names)]


def params_of(ds: xr.Dataset) -> dict:
    """The parameters that made the set, decoded from their JSON attribute."""
    return json.loads(ds.attrs["params"])


def validate(ds: xr.Dataset, *, check_labels: bool = True) -> None:
    """Raise ImageSetError, with one line naming the problem, unless `ds` is a valid image set."""
    for name in REQUIRED_VARIABLES:
        if name not in ds.variables:
            raise ImageSetError(f"not an image set: variable '{name}' is missing "
                                f"(required: {', '.join(REQUIRED_VARIABLES)})")
    for name, dtype in PER_PIXEL.items():
        if name in ds.variables:
            _check_variable(ds, name, DIMS, dtype)
    for name, dtype in PER_SAMPLE.items():
        _check_variable(ds, name, ("sample",), dtype)
    if ds.sizes["sample"] == 0:
        raise ImageSetError("image set has no samples")
    if "sample_id" not in ds.coords or ds["sample_id"].dims != ("sample",):
        raise ImageSetError("not an image set: coordinate 'sample_id' along 'sample' is missing")
    ids = ds["sample_id"].values
    if len(set(ids.tolist())) != len(ids):
        raise ImageSetError("sample_id values are not unique")
    for name, dim in (("y_mm", "y"), ("x_mm", "x")):
        if name in ds.coords:
            _check_variable(ds, name, (dim,), np.float64)
            if ds.sizes[dim] > 1 and not np.all(np.diff(ds[name].values) > 0):
                raise ImageSetError(f"coordinate '{name}' must increase strictly")
    missing = [a for a in REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        raise ImageSetError(f"not an image set: attribute(s) {', '.join(missing)} missing")
    if int(ds.attrs.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
        raise ImageSetError(f"image set has format version {ds.attrs['format_version']}; this "
                            f"ussim {__version__} reads up to {FORMAT_VERSION}: upgrade ussim")
    names = class_names_of(ds)
    if not names or any(not n for n in names) or len(set(names)) != len(names):
        raise ImageSetError(f"class_names must be unique non-empty names, got {names}")
    if len(names) > 256:
        raise ImageSetError(f"{len(names)} classes do not fit uint8 labels (at most 256)")
    try:
        params = json.loads(ds.attrs["params"])
    except (TypeError, json.JSONDecodeError):
        params = None
    if not isinstance(params, dict):
        raise ImageSetError("attribute 'params' must be a JSON object")
    _validate_statements(ds)
    seconds = ds["seconds"].values
    if np.any(seconds < 0):
        raise ImageSetError("'seconds' must not be negative (NaN where unknown)")
    if check_labels:
        top = int(max(int(block.max()) for block in _blocks(ds["label"])))
        if top >= len(names):
            raise ImageSetError(f"label value {top} is outside class_names {names} "
                                f"(allowed 0..{len(names) - 1})")


def _check_variable(ds, name, dims, dtype):
    var = ds[name]
    if var.dims != dims:
        raise ImageSetError(f"'{name}' has dimensions {var.dims}, expected {dims}")
    if var.dtype != np.dtype(dtype):
        raise ImageSetError(f"'{name}' has dtype {var.dtype}, expected {np.dtype(dtype)}")


def _blocks(var: xr.DataArray, size: int = READ_CHUNK):
    """Yield `var` as numpy blocks along `sample`, so big lazy sets stream through memory."""
    for start in range(0, var.sizes["sample"], size):
        yield np.asarray(var[start:start + size].values)


def write(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Validate `ds` and write it to `path` atomically (temporary file, fsync, rename).

    A crash at any moment leaves either the old file or the complete new one at `path`, never
    a half-written set. Lazy (dask-backed) sets are streamed chunk by chunk.
    """
    path = Path(path)
    validate(ds)
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a folder")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    atomicio.atomic_write(path, lambda tmp: to_file(ds, tmp))
    return path


def to_file(ds: xr.Dataset, path: Path) -> None:
    """Write `ds` to `path` as it stands (no checks, not atomic: `write` is the public way)."""
    shape = (1, ds.sizes["y"], ds.sizes["x"])
    # Fletcher32 on every variable of the format: HDF5 checks each chunk on reading, so flipped
    # bytes inside a valid file are detected rather than read as pixels (`verify_checksums`).
    encoding = {name: {**COMPRESSION, **CHECKSUM, "chunksizes": shape} for name in PER_PIXEL if name in ds}
    # Per-sample variables in chunks of READ_CHUNK samples, as `read` asks dask for them (a checksum
    # needs a chunked layout; chunks that dask's would split make xarray warn on every read).
    samples = (min(READ_CHUNK, ds.sizes["sample"]),)
    encoding.update({name: {**CHECKSUM, "chunksizes": samples} for name in PER_SAMPLE if name in ds})
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)


def read(path: str | os.PathLike, *, validate_labels: bool = True, verify: bool = True) -> xr.Dataset:
    """Open an image set lazily: pixel variables stay on disk as dask arrays until used.

    Per-sample variables and coordinates are small and are loaded at once. `verify` first reads
    every variable once (`verify_checksums`), so that damaged data is reported here in one line
    and not as an error deep inside whatever reads the pixels later. Close the returned dataset
    (or use it in a `with` block) when done.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not an image-set file")
    if not path.is_file():
        raise UsageError(f"{path}: no such image-set file")
    if verify:
        verify_checksums(path)
    try:
        ds = xr.open_dataset(path, engine="h5netcdf", chunks={"sample": READ_CHUNK}, phony_dims="access")
    except Exception as error:  # h5py/h5netcdf raise OSError, ValueError, KeyError... for bad files
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ImageSetError(f"{path}: not a readable image-set file ({reason})") from None
    try:
        for name in ("seed", "seconds", "sample_id", "y_mm", "x_mm"):
            if name in ds.variables:
                ds[name] = ds[name].load()
        validate(ds, check_labels=validate_labels)
    except ImageSetError as error:
        ds.close()
        raise ImageSetError(f"{path}: {error}") from None
    except Exception as error:  # a truncated file may open and fail only on the first read
        ds.close()
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ImageSetError(f"{path}: unreadable data ({reason})") from None
    return ds


def verify_checksums(path: str | os.PathLike) -> None:
    """Read every variable of the file at `path` once, block by block, so that HDF5 checks each
    chunk (Fletcher32 where the writer added it, the gzip stream's checksum anyway); raise
    ImageSetError naming the damaged variable.

    DECISION: verified on opening rather than wherever pixels are first read: readers (ganlab,
    compare, app) then need no error handling of their own, at the cost of one sequential read
    (measured: 0.7 s for 200 images of 256 x 256 px with envelope, 60 MB, on a loaded 2-core
    machine; 0.05 s for a 64-image set of 64 px). Files that h5py cannot open are left to `read`.
    """
    import h5py

    try:
        handle = h5py.File(path, "r")
    except Exception:  # not HDF5 at all: `read` says so in its own words
        return
    name = "(the file's index)"
    try:
        with handle:
            for name in list(handle):
                variable = handle[name]
                if not isinstance(variable, h5py.Dataset) or not variable.shape:
                    continue
                step = max(READ_CHUNK if len(variable.shape) > 1 else variable.shape[0], 1)
                for start in range(0, variable.shape[0], step):
                    variable[start:start + step]
    except Exception as error:  # h5py raises OSError (no errno) for a failed filter, KeyError for a bad header...
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ImageSetError(f"{path}: the data of variable '{name}' is damaged ({reason}); the file is "
                            f"corrupt: re-copy or remake it") from None


def select(ds: xr.Dataset, *, index=None, sample_id=None) -> xr.Dataset:
    """The samples at positions `index`, or with the ids in `sample_id` (in the order given)."""
    if (index is None) == (sample_id is None):
        raise UsageError("select needs exactly one of index= or sample_id=")
    if sample_id is not None:
        position = {sid: i for i, sid in enumerate(ds["sample_id"].values.tolist())}
        unknown = [s for s in sample_id if s not in position]
        if unknown:
            raise UsageError(f"unknown sample_id(s): {', '.join(map(str, unknown[:5]))}")
        index = [position[s] for s in sample_id]
    index = np.asarray(index, dtype=np.int64)
    n = ds.sizes["sample"]
    if index.size and (index.min() < -n or index.max() >= n):
        raise UsageError(f"sample index out of range 0..{n - 1}")
    return ds.isel(sample=index)


def concat(sets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Join image sets along `sample`.

    They must share organ, class names and image size, and their sample ids must be distinct.
    Optional variables and coordinates are kept only when every set has them (with a warning
    when one is dropped). Differing methods give method "a+b" and params listing each source.
    """
    if not sets:
        raise UsageError("concat needs at least one image set")
    first = sets[0]
    for other in sets[1:]:
        for key, get in (("organ", lambda d: d.attrs["organ"]), ("class_names", class_names_of),
                         ("image size", lambda d: (d.sizes["y"], d.sizes["x"]))):
            if get(other) != get(first):
                raise UsageError(f"cannot concatenate image sets with different {key}: "
                                 f"{get(first)} and {get(other)}")
    optional = [n for n in ("envelope", "sketch", "y_mm", "x_mm") if any(n in d.variables for d in sets)]
    dropped = [n for n in optional if not all(n in d.variables for d in sets)]
    for name in ("y_mm", "x_mm"):
        if name in optional and name not in dropped and not all(
                np.array_equal(d[name].values, first[name].values) for d in sets):
            dropped.append(name)
    if dropped:
        warnings.warn(f"concat drops {', '.join(dropped)}: not present (or not equal) in every set",
                      stacklevel=2)
    parts = [d.drop_vars(dropped, errors="ignore") for d in sets]
    joined = xr.concat(parts, dim="sample", data_vars="all", coords="minimal",
                       compat="override", combine_attrs="override", join="exact")
    methods = list(dict.fromkeys(d.attrs["method"] for d in sets))
    if len(methods) > 1 or len({d.attrs["params"] for d in sets}) > 1:
        sources = [{"method": d.attrs["method"], "params": params_of(d), "n": d.sizes["sample"]}
                   for d in sets]
        joined.attrs["params"] = json.dumps({"concat_of": sources}, sort_keys=True)
    joined.attrs["method"] = "+".join(methods)
    joined.attrs["software_version"] = __version__
    joined.attrs["created_utc"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    validate(joined, check_labels=False)  # every part was validated; ids may still collide
    return joined


def summary(ds: xr.Dataset) -> dict:
    """Facts about a set for `ussim info`: counts, size, classes with pixel fractions, seconds, and
    the producer's statements of its condition and timing (None when it made none)."""
    names = class_names_of(ds)
    counts = np.zeros(max(256, len(names)), np.int64)
    for block in _blocks(ds["label"]):
        counts += np.bincount(block.ravel(), minlength=counts.size)
    total = counts.sum()
    seconds = ds["seconds"].values
    known = seconds[np.isfinite(seconds)]
    pixel_mm = None
    if "y_mm" in ds.coords and "x_mm" in ds.coords and ds.sizes["y"] > 1 and ds.sizes["x"] > 1:
        pixel_mm = [float(np.median(np.diff(ds["y_mm"].values))),
                    float(np.median(np.diff(ds["x_mm"].values)))]
    return {
        "samples": int(ds.sizes["sample"]), "height": int(ds.sizes["y"]), "width": int(ds.sizes["x"]),
        "method": ds.attrs["method"], "organ": ds.attrs["organ"],
        "classes": {name: float(counts[i] / total) for i, name in enumerate(names)},
        "envelope": "envelope" in ds, "sketch": "sketch" in ds,
        "seconds_median": float(np.median(known)) if known.size else None,
        "seconds_known": int(known.size), "real_samples": int(np.sum(ds["seed"].values == -1)),
        "pixel_mm": pixel_mm, "software_version": ds.attrs["software_version"],
        "created_utc": ds.attrs["created_utc"], "condition": condition_of(ds), "timing": timing_of(ds),
    }


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks: the identity of an input (an archive, an
    image set, a weights file) that outputs record beside their parameters."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(value):
    """Let numpy scalars and arrays, and paths, travel in `params`."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"params value of type {type(value).__name__} is not JSON serialisable")
