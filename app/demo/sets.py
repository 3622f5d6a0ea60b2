"""The demo's image sets per organ: what the GANs train on and the held-out reference every
method is compared with, from the real archives when present, else from random anatomies.

Real:      ovary  train = OTU_2D train split (normal ovaries, no Doppler, full-sector frames),
                  reference = the first masks of the validation split;
           IVUS   train = the first frames of the pullback, reference = the last ones.
Simulated: random anatomies of each organ through ussim's fast engine (`ussim dataset`, on
           dask); the last ones are the reference.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from app.demo.defaults import DemoConfig
from ussim import imageset, importers

# DECISION: the demo's ovary set is the normal_ovary images of the OTU_2D archive (the ovary
# itself is masked there), without colour-Doppler frames (> 1 % coloured pixels, the threshold
# the archive's README suggests), with the class renamed to the organ name, and only the frames of
# the full-sector screen layout: originals at least 1.5 times as wide as tall (about 960 x 535 px;
# 80 of the 205 train frames, 10 of the 27 validation frames). The archive squashed every original
# to 256 x 256, and 117 train frames are a cropped layout (about 480 x 535 px) whose pixels span half
# the tissue across the beam: on 18 held-out frames of each, the real background's speckle is
# 10.4 px wide across the beam in the cropped layout and 5.8 px in the full sector (bench/RESULTS.md,
# "Two screen layouts in the ovary archive"). A reference that mixes them asks every method for two
# pixel scales it is not told apart, so all methods train and are compared on one layout.
OVARY_IMPORT = dict(organ="ovary", image_class="normal_ovary", drop_unused_classes=True,
                    rename={"normal_ovary": "ovary"}, max_color_fraction=0.01, source_aspect=(1.5, 3.0))
ARCHIVES = {"ovary": "otu2d_ovary_256.npz", "ivus": "ivus_dmolony_256.npz"}


@dataclasses.dataclass(frozen=True)
class OrganSets:
    organ: str
    real: bool             # True: train and reference are real images
    train: Path            # the GANs' training set
    reference: Path        # held-out images; every method images their masks
    description: str       # one line for the report and the console


def prepare(organ: str, folder: Path, config: DemoConfig, real_dir: Path | None, progress: bool) -> OrganSets:
    """Write `<organ>_train.h5` and `<organ>_reference.h5` into `folder`."""
    train_path, reference_path = folder / f"{organ}_train.h5", folder / f"{organ}_reference.h5"
    held_out, limit = config.held_out[organ], config.real_train_limit[organ]
    if real_dir is not None:
        train, reference, source = _real(organ, real_dir, held_out, progress)
        if limit is not None:
            train = imageset.select(train, index=np.arange(min(limit, train.sizes["sample"])))
        imageset.write(train, train_path, overwrite=True)
        imageset.write(reference, reference_path, overwrite=True)
        return OrganSets(organ, True, train_path, reference_path,
                         f"{organ}: {train.sizes['sample']} real training images, {held_out} real held-out "
                         f"images ({source})")
    from ussim import dataset  # numba and dask: loaded only when simulating

    n_train = config.simulated_train[organ]
    everything = folder / f"{organ}_simulated.h5"
    # DECISION: the fast engine (ussim.fast, `ussim dataset`'s default): 50 images by the full
    # engine took 5 of the 18 minutes, and the segmentation stage needs that time; the ussim row
    # images the same masks by the same engine with other scatterer seeds (app.demo.models.simulate)
    dataset.run(organ, n_train + held_out, everything, seed=config.seed, size=config.image_size,
                per_cell=config.scatterers_per_cell, overwrite=True, progress=progress, engine="fast")
    with imageset.read(everything) as ds:
        imageset.write(imageset.select(ds, index=np.arange(n_train)).load(), train_path, overwrite=True)
        imageset.write(imageset.select(ds, index=np.arange(n_train, n_train + held_out)).load(), reference_path,
                       overwrite=True)
    everything.unlink()
    return OrganSets(organ, False, train_path, reference_path,
                     f"{organ}: {n_train} simulated training images, {held_out} simulated held-out images "
                     f"(random anatomies by ussim's fast engine, seeds {config.seed}..{config.seed + n_train + held_out - 1})")


def _real(organ: str, real_dir: Path, held_out: int, progress: bool):
    archive = real_dir / ARCHIVES[organ]
    if organ == "ovary":
        train = importers.import_npz(archive, split="train", progress=progress, **OVARY_IMPORT)
        validation = importers.import_npz(archive, split="validation", progress=progress, **OVARY_IMPORT)
        reference = imageset.select(validation, index=np.arange(min(held_out, validation.sizes["sample"])))
        return train, reference, "MMOTU OTU_2D, normal ovaries: train split / first of the validation split"
    frames = importers.import_npz(archive, organ="ivus", progress=progress)
    n = frames.sizes["sample"]
    # DECISION: the reference is the last frames of the pullback, a contiguous block, so that no
    # held-out frame has a training frame as its immediate neighbour except at the one border.
    train = imageset.select(frames, index=np.arange(n - held_out))
    reference = imageset.select(frames, index=np.arange(n - held_out, n))
    return train, reference, f"IVUS pullback of {n} frames: first {n - held_out} / last {held_out}"
