"""Batched feature extraction with a per-image-set cache.

Features depend only on the pixels and the backbone, so they are cached under the SHA-256 of the
image set's pixel content (shape included) and the backbone's cache key: a second report on the
same sets skips the network entirely, whatever the file is called or wherever it lies, and a set
whose pixels changed is never served stale features. Cache files are written through a temporary
file and a rename, so concurrent runs and crashes never leave a half-written entry.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr
from ussim.progress import bar as progress_bar

from compare.defaults import CACHE_ENV, cache_dir
from ussim.errors import UsageError

HASH_BLOCK = 64  # samples read per step when hashing and extracting


def content_hash(images: xr.DataArray) -> str:
    """SHA-256 of the uint8 pixels (sample, y, x), shape included, read block by block."""
    digest = hashlib.sha256(f"uint8:{tuple(images.shape)}".encode())
    for start in range(0, images.sizes["sample"], HASH_BLOCK):
        digest.update(np.ascontiguousarray(images[start:start + HASH_BLOCK].values, np.uint8).tobytes())
    return digest.hexdigest()


def cache_path(backbone, digest: str, folder: Path | None = None) -> Path:
    return (folder or cache_dir() / "features") / backbone.cache_key / f"{digest}.npy"


def extract(images: xr.DataArray, backbone, *, batch_size: int = 50, progress: bool = True,
            cache: bool = True, cache_folder: Path | None = None, label: str = "") -> np.ndarray:
    """Features (n, backbone.dim) float32 of every image, from the cache when present."""
    if batch_size < 1:
        raise UsageError(f"--batch-size {batch_size} must be at least 1")
    path = cache_path(backbone, content_hash(images), cache_folder) if cache else None
    if path is not None and path.is_file():
        try:
            cached = np.load(path)
        except (OSError, ValueError):  # unreadable entry: recompute and replace it
            cached = None
        if cached is not None and cached.shape == (images.sizes["sample"], backbone.dim):
            return cached
    n = images.sizes["sample"]
    features = np.empty((n, backbone.dim), np.float32)
    with progress_bar(total=n, unit="img", desc=f"{backbone.name} features {label}".rstrip(),
              enabled=progress) as bar:
        for start in range(0, n, batch_size):
            batch = np.asarray(images[start:start + batch_size].values)
            features[start:start + len(batch)] = backbone.features(batch)
            bar.update(len(batch))
    if not np.all(np.isfinite(features)):
        bad = np.flatnonzero(~np.all(np.isfinite(features), axis=1))
        raise UsageError(f"backbone {backbone.name} gave non-finite features for {label or 'a set'} "
                         f"(samples {', '.join(map(str, bad[:5]))})")
    if path is not None:
        save_atomically(path, lambda tmp: np.save(tmp, features))
    return features


def save_atomically(path: Path, save: Callable[[Path], object]) -> None:
    """Cache entry `path`, written by `save(tmp)` to a temporary name with the same suffix, then renamed.

    DECISION: an unwritable cache slows the next run, never fails this one: it is a warning.
    """
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save(tmp)
        os.replace(tmp, path)
    except OSError as error:
        warnings.warn(f"cache entry not written ({error}); set ${CACHE_ENV} to a writable folder", stacklevel=3)
    finally:
        tmp.unlink(missing_ok=True)
