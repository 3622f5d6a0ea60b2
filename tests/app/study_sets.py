"""Image sets for reader-study tests: a real set and method sets that image the same label masks
(as every method of the demo images the held-out masks), small and fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ussim import examples, imageset


def write_sets(folder: Path, methods, n: int = 4, size: int = 32, organ: str = "phantom",
               real_corner: int | None = None) -> tuple[dict[str, str], str]:
    """A real set and one set per method, `n` masks of size x size shared by all. Every set has its
    own pixels (another toy seed) and records its name in its attributes, so a leak shows in a
    search. `real_corner`: the real images' top-left 6 x 6 corner set to this gray (a stand-in
    for scanner text outside the field of view)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    base = examples.toy_imageset(n=n, size=size, seed=0)

    def one(name: str, seed: int) -> str:
        pixels = examples.toy_imageset(n=n, size=size, seed=seed)["image"].values.copy()
        if name == "real" and real_corner is not None:
            pixels[:, :6, :6] = real_corner
        ds = imageset.make(pixels, base["label"].values, class_names=list(examples.CLASS_NAMES), organ=organ,
                           method=name, params={}, sample_id=[f"{name}-{i:03d}" for i in range(n)])
        return str(imageset.write(ds, Path(folder) / f"{name}.h5"))

    sets = {method: one(method, 100 * (i + 1)) for i, method in enumerate(methods)}
    return sets, one("real", 50)


def labels_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool((a == b).all())
