"""SpeckleGAN's own evaluation protocol: generate from random ellipse masks, score against all real images.

PAPER: SpeckleGAN, "GAN evaluation": the generators are conditioned on artificial masks made of
randomly rotated and disturbed ellipses (lumen and intima/media), 1000 images are generated and
scored by FID against all real images, unpaired: how a GAN would be used to augment the set it
was trained with. Beside it stays the paired protocol of the demo and of `uscompare run` without
--protocol: every method images the held-out masks, so SSIM pairs images made from one mask.

    masks = ellipse_masks(reference, 1000, seed=0, folder=out_dir)   # an image set of masks only
    sets  = generate_for_runs("specklegan", [run0, run1], masks, out_dir, seed=0)

The masks come from ussim's IVUS anatomy generator (ussim.phantoms.ivus: lumen and EEM outlines
are randomly rotated, disturbed ellipses around the catheter, with plaque), mapped onto the real
set's three classes (ussim.phantoms.ivus.REAL_CLASS), on the reference set's own grid (its
x_mm / y_mm, centred on the catheter) or else the IVUS table's display width.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ussim import imageset, tissue
from ussim.errors import UsageError
from ussim.phantoms import ivus

PROTOCOLS = ("held-out", "ellipse")
ORGAN = "ivus"


def _grid_m(reference_ds) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres (x, z) in metres around the catheter at (0, 0), for the reference's image size."""
    rows, cols = reference_ds.sizes["y"], reference_ds.sizes["x"]
    if "x_mm" in reference_ds.coords and "y_mm" in reference_ds.coords:
        x = np.asarray(reference_ds["x_mm"].values, np.float64)
        z = np.asarray(reference_ds["y_mm"].values, np.float64)
        # DECISION: an IVUS frame is centred on its catheter (as ussim.phantom draws it), whatever
        # the origin its coordinates were given.
        return (x - x.mean()) * 1e-3, (z - z.mean()) * 1e-3
    width = tissue.load(ORGAN).display["width_mm"] * 1e-3
    return ((np.arange(cols) + 0.5) / cols - 0.5) * width, ((np.arange(rows) + 0.5) / rows - 0.5) * width


def ellipse_masks(reference: Path, count: int, *, seed: int, folder: Path) -> Path:
    """An image set of `count` random IVUS masks (blank images) on the reference's grid; reused when
    a file of the same reference, count and seed is already in `folder`."""
    with imageset.read(reference) as ds:
        organ, classes = str(ds.attrs["organ"]).lower(), imageset.class_names_of(ds)
        if organ != ORGAN:
            raise UsageError(f"--protocol ellipse draws IVUS masks (ussim.phantoms.ivus); the reference "
                             f"{reference} is organ '{organ}': use the held-out protocol for it")
        if list(classes) != list(ivus.REAL_CLASSES):
            raise UsageError(f"--protocol ellipse draws masks of classes {', '.join(ivus.REAL_CLASSES)}; the "
                             f"reference {reference} has {', '.join(classes)}")
        x, z = _grid_m(ds)
        size = (ds.sizes["y"], ds.sizes["x"])
        coords = {k: ds[k].values for k in ("y_mm", "x_mm") if k in ds.coords}
        digest = imageset.file_sha256(reference)[:12]
    path = Path(folder) / f"ellipse_masks_{digest}_{count}_seed{seed}.h5"
    if path.is_file():
        return path
    labels = np.empty((count, *size), np.uint8)
    anatomies = []
    for i in range(count):
        # DECISION: mask i is drawn from the seed sequence (seed, i), so one mask does not depend on
        # how many were asked for.
        label, anatomy = ivus.draw(x, z, np.random.default_rng([seed, i]))
        labels[i] = ivus.to_real_classes(label)
        anatomies.append(anatomy)
    params = {"generator": "compare.ellipse", "protocol": "ellipse", "masks": "ussim.phantoms.ivus.draw",
              "reference": str(Path(reference).resolve()), "count": count, "seed": seed}
    ds = imageset.make(np.zeros_like(labels), labels, class_names=list(ivus.REAL_CLASSES), organ=ORGAN,
                       method="masks:ellipse", params=params, seed=np.arange(count, dtype=np.int64),
                       sample_id=[f"ellipse-{seed}-{i:06d}" for i in range(count)], **coords)
    ds.attrs["anatomies"] = json.dumps(anatomies, default=float)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return imageset.write(ds, path, overwrite=True)


def generate_for_runs(name: str, runs: list[Path], masks: Path, folder: Path, *, seed: int,
                      progress: bool = True) -> list[Path]:
    """One generated image set per training run of method `name`, from the ellipse masks."""
    from ganlab import generate

    out = []
    for k, run in enumerate(runs):
        try:
            snapshot = generate.load(run)
        except UsageError as error:
            raise UsageError(f"--protocol ellipse: method {name} needs ganlab run folders (or snapshot.pt files) to "
                             f"generate from; {run}: {error}") from None
        ds = generate.generate_set(snapshot, masks, seed=seed, progress=progress)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        out.append(imageset.write(ds, Path(folder) / f"{safe}_ellipse_run{k}.h5", overwrite=True))
    return out
