"""The image sets of one comparison: opened, named, checked against each other.

Stated policies (the results file records each one that applied, as a note):
  * Classes are matched by name, not by index. Per-class metrics run over the union of the
    sets' class names (the reference's order first); a class missing from a set, or without a
    pixel in it, gets NaN there, with a note.
  * Image sizes may differ. DECISION: feature backbones see every set at its native size (they
    resize to their own input size anyway) and so do the per-class statistics (histograms,
    speckle, gCNR); only SSIM and MS-SSIM, which compare pixel to pixel, see a candidate resized
    to the reference's size (bilinear, anti-aliased), and pair by sample id then (label maps of
    different sizes cannot be compared). `size_mismatch="error"` refuses instead.
  * NaN images: `image` and `label` are uint8 and cannot hold NaN; a NaN or infinite value in
    an `envelope` is refused with the file and the sample ids (see classstats). DECISION: refused,
    not skipped: it means a broken simulation, and silently dropping samples would change the
    image counts and the pairing behind every other number.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import xarray as xr
from skimage.transform import resize

from compare.defaults import SIZE_MISMATCH_POLICIES
from ussim import imageset
from ussim.errors import UsageError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*")


@dataclasses.dataclass
class ImageSet:
    name: str
    path: Path
    ds: xr.Dataset
    class_names: list[str]
    lookup: np.ndarray | None = None  # this set's class index -> index in the union of class names

    @property
    def size(self) -> tuple[int, int]:
        return int(self.ds.sizes["y"]), int(self.ds.sizes["x"])

    @property
    def n(self) -> int:
        return int(self.ds.sizes["sample"])

    def labels(self, index) -> np.ndarray:
        """Label maps of the samples at `index`, in union class indices."""
        return self.lookup[np.asarray(self.ds["label"][index].values)]


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UsageError(f"method name '{name}' must start with a letter or digit and hold only letters, digits "
                         f"and . _ : + -")
    return name


def open_sets(reference: tuple[str, Path], methods: list[tuple[str, Path]], check_names: bool = True
              ) -> list[ImageSet]:
    """The reference first, then the methods, each opened lazily and validated."""
    names = [check_name(name) if check_names else name for name, _ in [reference, *methods]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"method name(s) {', '.join(duplicates)} given twice (names must be distinct, and differ "
                         f"from the reference name '{reference[0]}')")
    if not methods:
        raise UsageError("nothing to compare: give at least one --method NAME=FILE.h5")
    sets = []
    try:
        for name, path in [reference, *methods]:
            ds = imageset.read(path)
            sets.append(ImageSet(name, Path(path), ds, imageset.class_names_of(ds)))
    except BaseException:
        close(sets)
        raise
    return sets


def open_method_sets(reference: tuple[str, Path], methods: list[tuple[str, list[Path]]]
                     ) -> tuple[ImageSet, dict[str, list[ImageSet]]]:
    """The reference, and per method its image sets (one per training seed), opened and validated.

    A method's sets after the first are named `<method>#<k>` (k = 2, 3, ...) in notes.
    """
    for name, paths in [(reference[0], [reference[1]]), *methods]:
        check_name(name)
        if not paths:
            raise UsageError(f"method {name}: no image-set file given")
        if len(set(paths)) != len(paths):
            raise UsageError(f"method {name}: the same file is given twice for one method ({', '.join(map(str, paths))})")
    flat = [(name if k == 0 else f"{name}#{k + 1}", path) for name, paths in methods for k, path in enumerate(paths)]
    opened = open_sets(reference, flat, check_names=False)  # '#' is ours alone: users cannot name a method so
    sets, grouped = iter(opened[1:]), {}
    for name, paths in methods:
        grouped[name] = [next(sets) for _ in paths]
    return opened[0], grouped


def close(sets: list[ImageSet]) -> None:
    for s in sets:
        s.ds.close()


def unite_classes(sets: list[ImageSet]) -> tuple[list[str], list[str]]:
    """Give every set its lookup into the union of class names; return (union, notes)."""
    union: list[str] = []
    for s in sets:
        union += [c for c in s.class_names if c not in union]
    if len(union) > 256:
        raise UsageError(f"the sets name {len(union)} distinct classes together; at most 256 fit uint8 labels")
    notes = []
    for s in sets:
        s.lookup = np.array([union.index(c) for c in s.class_names], np.uint8)
        missing = [c for c in union if c not in s.class_names]
        if missing:
            notes.append(f"class(es) {', '.join(missing)} missing from {s.name} ({s.path.name}): "
                         f"their per-class metrics are NaN there")
    return union, notes


def check_sizes(reference: ImageSet, candidates: list[ImageSet], policy: str) -> list[str]:
    """Apply the size-mismatch policy; return its notes."""
    if policy not in SIZE_MISMATCH_POLICIES:
        raise UsageError(f"unknown size-mismatch policy '{policy}' (allowed: {', '.join(SIZE_MISMATCH_POLICIES)})")
    notes = []
    for s in candidates:
        if s.size == reference.size:
            continue
        sizes = f"{s.size[0]}x{s.size[1]} px in {s.name} ({s.path.name}), {reference.size[0]}x{reference.size[1]} px " \
                f"in the reference"
        if policy == "error":
            raise UsageError(f"image sizes differ: {sizes}; pass --size-mismatch resize to compare them anyway")
        notes.append(f"image sizes differ ({sizes}): SSIM/MS-SSIM use {s.name}'s images resized to the reference "
                     f"size (bilinear, anti-aliased) and pair by sample id; features and per-class statistics "
                     f"use native pixels")
    return notes


def as_unit_float(images: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 images (n, h, w) as float64 in [0, 1], resized to `shape` when it differs."""
    out = np.asarray(images, np.float64) / 255
    if shape is not None and out.shape[1:] != tuple(shape):
        out = np.stack([resize(image, shape, order=1, anti_aliasing=True, mode="reflect") for image in out])
    return out
