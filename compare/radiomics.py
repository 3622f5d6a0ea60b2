"""Radiomic features of an image set for FRD (compare.metrics.frd), per image on the whole image
and on each class region, cached like the backbone features (compare.features).

The cache key is the SHA-256 of the pixels and of the label maps (in this comparison's class
indices), so a set whose pixels or masks changed is never served stale features.
"""

from __future__ import annotations

import hashlib

import numpy as np
from ussim.progress import bar as progress_bar

from compare import features
from compare.defaults import cache_dir
from compare.sets import ImageSet
from ussim.errors import UsageError

BLOCK = 64
CACHE_KEY = "frd-v1"


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


def set_features(s: ImageSet, n_classes: int, *, progress: bool = True, cache: bool = True) -> dict:
    """{"image": (n, d), class index: (n, d)} radiomic features; NaN rows where a region is too small."""
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
    for start in progress_bar(range(0, s.n, BLOCK), unit="block", desc=f"radiomics {s.name}",
                      enabled=progress):
        block = slice(start, start + BLOCK)
        images, labels = np.asarray(s.ds["image"][block].values), s.labels(block)
        out["image"].append(frd.radiomic_features(images, progress=False))
        for c in range(n_classes):
            out[c].append(frd.radiomic_features(images, labels == c, progress=False))
    found = {key: np.concatenate(parts) for key, parts in out.items()}
    if cache:
        features.save_atomically(path, lambda tmp: np.savez(tmp, **{str(k): v for k, v in found.items()}))
    return found


def _key(name: str):
    return name if name == "image" else int(name)


def _content_hash(s: ImageSet, n_classes: int) -> str:
    digest = hashlib.sha256(f"{features.content_hash(s.ds['image'])}:{n_classes}".encode())
    for start in range(0, s.n, BLOCK):
        digest.update(np.ascontiguousarray(s.labels(slice(start, start + BLOCK)), np.uint8).tobytes())
    return digest.hexdigest()
