"""The labelled images of the segmentation benchmark: read, classes matched by name, split, resized.

The real training set defines the classes (names and order). Every other set (the real test set,
each method's synthetic set) has its class names matched to those by name, or through an explicit
map (`--class-map SYNTH=REAL`); a class that matches nothing is refused with one line: a silent
guess would train the network on a wrong target. A real class that a synthetic set never shows
is allowed (its pretraining cannot teach that class) and noted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from skimage.transform import resize

from compare.segmentation import presets
from ussim import imageset
from ussim.errors import UsageError

BLOCK = 64  # samples read and resized at a time


@dataclasses.dataclass
class Labelled:
    """Images and label maps of one set (labels in the real training set's class indices)."""

    path: Path
    images: np.ndarray   # (n, h, w) uint8
    labels: np.ndarray   # (n, h, w) uint8
    ids: list[str]
    params: dict         # the parameters that made the set (where its masks came from)

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> Labelled:
        index = np.asarray(index, dtype=np.int64)
        return Labelled(self.path, self.images[index], self.labels[index], [self.ids[i] for i in index], self.params)


def class_lookup(names: list[str], classes: list[str], class_map: dict[str, str], path: Path) -> np.ndarray:
    """This set's class index -> the real training set's class index, by (mapped) name."""
    mapped = [class_map.get(name, name) for name in names]
    unknown = [f"{name}" + (f" (mapped to {m})" if m != name else "") for name, m in zip(names, mapped, strict=True)
               if m not in classes]
    if unknown:
        raise UsageError(f"{path}: class(es) {', '.join(unknown)} are not classes of the real training set "
                         f"({', '.join(classes)}); map them with --class-map NAME=REAL_CLASS")
    return np.array([classes.index(m) for m in mapped], np.uint8)


def read(path: Path, classes: list[str] | None = None,
         class_map: dict[str, str] | None = None) -> tuple[Labelled, list[str]]:
    """An image set's samples and its class names (classes=None: its own)."""
    path = Path(path)
    with imageset.read(path) as ds:
        names = imageset.class_names_of(ds)
        lookup = class_lookup(names, classes, class_map or {}, path) if classes is not None else None
        images = np.asarray(ds["image"].values)
        labels = np.asarray(ds["label"].values)
        ids = [str(v) for v in ds["sample_id"].values.tolist()]
        params = imageset.params_of(ds)
    if lookup is not None:
        labels = lookup[labels]
    return Labelled(path, images, labels, ids, params), names


def choose(n: int, limit: int, seed: int) -> np.ndarray:
    """At most `limit` (0: all) of range(n). DECISION: a seeded random choice kept in file order,
    not the first ones, which a producer may have ordered by anatomy or seed."""
    if limit <= 0 or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def missing_classes(labelled: Labelled, classes: list[str]) -> list[str]:
    present = np.unique(labelled.labels)
    return [name for c, name in enumerate(classes) if c not in present]


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): a seeded random `test_fraction` of range(n) for testing."""
    if not 0 < test_fraction < 1:
        raise UsageError(f"test fraction must lie between 0 and 1, got {test_fraction}")
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n_test >= n:
        raise UsageError(f"a test fraction of {test_fraction} of {n} images leaves no test or no training image")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def real_sizes(n_available: int, n_real: list[int] | None, path: Path) -> tuple[list[int], str | None]:
    """The real training-set sizes and a note when the defaults were capped: `n_real` None means the
    defaults (presets.N_REAL), each capped at the pool's size; sizes asked for explicitly must fit."""
    if n_real is None:
        sizes = sorted({min(n, n_available) for n in presets.N_REAL})
        capped = [n for n in presets.N_REAL if n > n_available]
        note = (f"the default real training-set size(s) {', '.join(map(str, capped))} exceed the {n_available} real "
                f"training images of {Path(path).name}: capped at {n_available}" if capped else None)
        return sizes, note
    if any(n < 1 for n in n_real):
        raise UsageError(f"--n-real values must be at least 1, got {' '.join(map(str, n_real))}")
    if max(n_real) > n_available:
        raise UsageError(f"--n-real {max(n_real)} needs at least {max(n_real)} real training images; {path} "
                         f"has {n_available} (after taking out the test images)")
    return sorted(set(n_real)), None


def real_subsets(n_available: int, sizes: list[int], seed: int) -> dict[int, np.ndarray]:
    """For each size, that many training indices drawn with `seed`. DECISION: nested (the 25 are
    among the 50), the first n of one seeded permutation, so a larger set only adds images."""
    order = np.random.default_rng(seed).permutation(n_available)
    return {n: np.sort(order[:n]) for n in sizes}


def as_tensors(labelled: Labelled, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (n, 1, size, size) uint8 (bilinear, anti-aliased; uint8 keeps large synthetic sets small,
    batches become floats in [0, 1] when used) and labels (n, size, size) uint8 (nearest neighbour)."""
    images, labels = [], []
    for start in range(0, len(labelled), BLOCK):
        block = labelled.images[start:start + BLOCK].astype(np.float32) / 255
        label_block = labelled.labels[start:start + BLOCK]
        if block.shape[1:] != (size, size):
            block = resize(block, (len(block), size, size), order=1, anti_aliasing=True, mode="reflect")
            label_block = resize(label_block, (len(label_block), size, size), order=0, anti_aliasing=False,
                                 preserve_range=True, mode="edge")
        images.append(torch.from_numpy(np.round(np.asarray(block) * 255).astype(np.uint8)))
        labels.append(torch.from_numpy(np.asarray(label_block, np.uint8)))
    return torch.cat(images)[:, None], torch.cat(labels)
