"""Radiomic features of an image set for FRD (compare.metrics.frd), per image on the whole image
and on each class region, cached like the backbone features (compare.features).

The cache key is the SHA-256 of the pixels and of the label maps (in this comparison's class
indices), so a set whose pixels or masks changed is never served stale features.

The extractions run in spawned worker processes (one per core): a script that calls the
comparison (compare.runner.run) must start under `if __name__ == "__main__":`, as any user of
multiprocessing's spawn, since each worker imports the script's module.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import hashlib
import multiprocessing
import os
import warnings

import numpy as np
from ussim.progress import bar as progress_bar

from compare import features
from compare.defaults import cache_dir
from compare.sets import ImageSet
from ussim.errors import UsageError

BLOCK = 64
CACHE_KEY = "frd-v1"
# DECISION: pyradiomics runs one image at a time on one core (0.2-0.3 s an image or region at
# 256 px, the demo's metrics stage's largest part), so the extractions of a set are shared among
# processes, one per core up to this many; the features do not depend on how they were shared.
MAX_WORKERS = 8


def decide(mode: str, notes) -> bool:
    """Whether this run computes FRD: "off" no; "on" yes, refusing in one line when the library is
    missing; "auto" when it is installed, else a note saying FRD was left out and how to add it."""
    if mode == "off":
        return False
    from compare.metrics import frd

    if mode == "on":
        frd.require()
        return True
    try:
        frd.require()
    except UsageError as missing:
        notes.add(f"FRD not computed (--frd auto): {missing}")
        return False
    return True


def set_features(s: ImageSet, n_classes: int, *, progress: bool = True, cache: bool = True,
                 workers: int | None = None) -> dict:
    """{"image": (n, d), class index: (n, d)} radiomic features; NaN rows where a region is too small.
    `workers` processes share the extractions (None: default_workers(); 1: this process alone)."""
    from compare.metrics import frd

    frd.require()
    digest = _content_hash(s, n_classes)
    path = cache_dir() / "features" / CACHE_KEY / f"{digest}.npz"
    if cache and path.is_file():
        try:
            with np.load(path) as stored:
                found = {_key(name): stored[name] for name in stored.files}
            if len(found) == n_classes + 1 and all(len(v) == s.n for v in found.values()):
                return found
        except (OSError, ValueError):  # unreadable entry: recompute and replace it
            pass
    out: dict = {"image": [], **{c: [] for c in range(n_classes)}}
    workers = default_workers() if workers is None else workers
    # One task per (piece of a block, whole image or class region): pieces small enough that every
    # worker has one.
    tasks = []
    for start in range(0, s.n, BLOCK):
        block = slice(start, min(start + BLOCK, s.n))
        images, labels = np.asarray(s.ds["image"][block].values), s.labels(block)
        for piece in np.array_split(np.arange(len(images)), min(workers, len(images))):
            for key in ("image", *range(n_classes)):
                tasks.append((key, images[piece], None if key == "image" else labels[piece] == key))
    with progress_bar(total=len(tasks), unit="task", desc=f"radiomics {s.name}", enabled=progress) as done:
        if workers == 1:
            results = []
            for _, images, regions in tasks:
                results.append(frd.features_and_warnings(images, regions))
                done.update()
        else:
            futures = [_pool(workers).submit(frd.features_and_warnings, images, regions)
                       for _, images, regions in tasks]
            for future in concurrent.futures.as_completed(futures):
                done.update()
            results = [future.result() for future in futures]
    for (key, _, _), (rows, said) in zip(tasks, results):
        out[key].append(rows)
        for category, message in said:  # a worker's warnings, said here where the caller records them
            warnings.warn(message, category, stacklevel=2)
    found = {key: np.concatenate(parts) for key, parts in out.items()}
    if cache:
        features.save_atomically(path, lambda tmp: np.savez(tmp, **{str(k): v for k, v in found.items()}))
    return found


def default_workers() -> int:
    """The cores this process may use, at most MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


def _pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """One pool per process, kept for every later set (a worker takes ~1.5 s to import pyradiomics).
    spawn: a fresh interpreter (forking a process that holds torch's, numba's or ITK's thread pools
    can deadlock)."""
    if workers not in _POOLS:
        pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(pool.shutdown)  # before the interpreter tears down what the pool's threads use
        _POOLS[workers] = pool
    return _POOLS[workers]


_POOLS: dict[int, concurrent.futures.ProcessPoolExecutor] = {}  # this process's pools by worker count


def shutdown() -> None:
    """Close this process's pools. A process started by multiprocessing must call it before it
    returns: such a process joins its children before the atexit hooks run (multiprocessing.util),
    so a pool left open there waits for work that never comes."""
    while _POOLS:
        _POOLS.popitem()[1].shutdown()


def _key(name: str):
    return name if name == "image" else int(name)


def _content_hash(s: ImageSet, n_classes: int) -> str:
    digest = hashlib.sha256(f"{features.content_hash(s.ds['image'])}:{n_classes}".encode())
    for start in range(0, s.n, BLOCK):
        digest.update(np.ascontiguousarray(s.labels(slice(start, start + BLOCK)), np.uint8).tobytes())
    return digest.hexdigest()
