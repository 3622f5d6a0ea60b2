"""What a generator sees beside each mask when it makes an image set, and the statement saying so.

Mask-only models (cgan, specklegan, speckle-baseline) see the label mask alone. Sketch models
(sgan, pgsgan) also see an edge sketch outside the mask's objects, from one of two sources:

    reference  the Canny sketch of the masks file's own image of that mask, or the file's stored
               `sketch`: drawn from the very image the generated one is scored against. What
               `ganlab generate` has always done, and what the PGSgan paper measures.
    training   the Canny sketch of a training image chosen by a seeded RNG: background structure
               as the model learnt it, but none of the reference's own.

The statement goes into the set's `condition`, `condition_source` and `condition_detail`
(ussim.imageset), the chosen training images into its params, so a reader of the numbers knows
which of the two levels a sketch model was measured at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganlab import data, runs
from ussim import imageset
from ussim.errors import UsageError

SKETCH_SOURCES = ("reference", "training")


@dataclass
class Sketches:
    """Each mask's sketch at the model's size: a stored map, or an image whose Canny sketch is
    drawn when that mask is generated (drawing is part of each image's timed work)."""
    stored: torch.Tensor | None
    drawn_from: torch.Tensor | None
    canny: dict | None

    def for_sample(self, index: int) -> torch.Tensor | None:
        if self.stored is not None:
            return self.stored[index]
        if self.drawn_from is None:
            return None
        return torch.from_numpy(data.edge_sketches(self.drawn_from[index][None].numpy(), self.canny)[0])


def check_options(spec, sketch_from: str, sketch_set) -> None:
    """One-line refusals of sketch options that cannot apply, before anything is loaded."""
    if sketch_from not in SKETCH_SOURCES:
        raise UsageError(f"--sketch-from '{sketch_from}' is not allowed: {' or '.join(SKETCH_SOURCES)}")
    if sketch_from == "training" and not spec.uses_sketch:
        raise UsageError(f"--sketch-from training: {spec.name} sees no sketch (it is conditioned on the mask "
                         f"alone); only sketch models (sgan, pgsgan) take a sketch source")
    if sketch_set is not None and sketch_from != "training":
        raise UsageError("--sketch-set applies to --sketch-from training only")


def plan(snapshot, masks: data.Masks, *, sketch_from: str, sketch_set, seed: int) -> tuple[Sketches, dict, dict]:
    """(the sketches, the `condition` statement for imageset.make, the record for params)."""
    name = snapshot.spec.name
    if not snapshot.spec.uses_sketch:
        return (Sketches(None, None, None),
                {"condition": "mask", "source": "none",
                 "detail": f"{name} saw the label mask only (one channel per class); no image or sketch"},
                {"from": None})
    canny = data.canny_settings(snapshot.config)
    drawn = (f"the Canny edge sketch (sigma {canny['sigma']:g}, thresholds {canny['low']:g}/{canny['high']:g}, "
             f"at {snapshot.resolution} px)")
    masks_file = Path(masks.source["path"]).name
    if sketch_from == "reference" and masks.sketches is not None:
        return (Sketches(masks.sketches, None, None),
                {"condition": "mask+sketch", "source": "reference",
                 "detail": f"{name} saw the label mask and, outside its objects, the sketch stored beside each "
                           f"mask in {masks_file} (its `sketch` variable), taken as drawn from the reference "
                           f"image the generated one is scored against"},
                {"from": "reference", "sketch": "stored"})
    if sketch_from == "reference":
        return (Sketches(None, masks.images, canny),
                {"condition": "mask+sketch", "source": "reference",
                 "detail": f"{name} saw the label mask and, outside its objects, {drawn} of the very image of "
                           f"{masks_file} that the mask belongs to: the reference the generated image is "
                           f"scored against"},
                {"from": "reference", "sketch": "canny", "canny": canny})
    path, role = _sketch_set(snapshot, sketch_set)
    images, ids, sha256 = _chosen_images(snapshot, masks, path, seed)
    record = {"from": "training", "sketch": "canny", "canny": canny, "path": str(path.resolve()),
              "sha256": sha256, "role": role, "seed": seed, "sample_ids": ids}
    return (Sketches(None, torch.from_numpy(images), canny),
            {"condition": "mask+sketch", "source": "other",
             "detail": f"{name} saw the label mask and, outside its objects, {drawn} of a training image "
                       f"instead of the reference's own: for each mask one image of {path.name} ({role}, "
                       f"SHA-256 {sha256}) drawn by a seeded RNG (seed {seed}), its sample ids in params "
                       f"sketch_source.sample_ids"},
            record)


def _sketch_set(snapshot, given) -> tuple[Path, str]:
    """The file to draw training sketches from and what it is: given, or the run's own training set."""
    run = snapshot.path.parent
    described = runs.read_config(run) if (run / runs.CONFIG).is_file() else {}
    trained_on = described.get("data_source", {}).get("sha256")
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise UsageError(f"--sketch-set {path}: no such image-set file")
        same = trained_on is not None and imageset.file_sha256(path) == trained_on
        return path, "the run's training set" if same else "a set given by --sketch-set"
    if "data" not in described:
        raise UsageError(f"--sketch-from training: {run} has no {runs.CONFIG} naming the run's training set; "
                         f"give --sketch-set TRAIN.h5")
    path = Path(described["data"])
    if not path.is_file():
        raise UsageError(f"--sketch-from training: the run's training set {path} is missing; "
                         f"give --sketch-set TRAIN.h5")
    if trained_on is not None and imageset.file_sha256(path) != trained_on:
        raise UsageError(f"--sketch-from training: {path} changed since run {run.name} trained on it "
                         f"(SHA-256 differs); give --sketch-set TRAIN.h5")
    return path, "the run's training set"


def _chosen_images(snapshot, masks: data.Masks, path: Path, seed: int) -> tuple[np.ndarray, list[str], str]:
    """One training image per mask, chosen by a seeded RNG, at the model's size; their ids; the file's hash.

    DECISION: drawn without replacement while the set has enough images (no two masks share a
    sketch), with replacement beyond; numpy's default_rng(seed) with the generation seed.
    """
    sha256 = imageset.file_sha256(path)
    if sha256 == masks.source["sha256"]:
        raise UsageError(f"--sketch-set {path} is the masks file itself: a training sketch must come from "
                         f"another set (use --sketch-from reference for the masks' own images)")
    with imageset.read(path) as ds:
        if ds.sizes["y"] != ds.sizes["x"]:
            raise UsageError(f"--sketch-set {path}: images are {ds.sizes['y']} x {ds.sizes['x']} px; sketches "
                             f"need square images, as training did (import with --size N)")
        names = imageset.class_names_of(ds)
        if names != masks.class_names:
            raise UsageError(f"--sketch-set {path}: classes {names} differ from the model's {masks.class_names}; "
                             f"the sketch set must be a training set of the model's classes")
        count = ds.sizes["sample"]
        chosen = np.random.default_rng(seed).choice(count, size=len(masks), replace=len(masks) > count)
        images = np.asarray(ds["image"].isel(sample=chosen).values)
        ids = [str(s) for s in ds["sample_id"].values[chosen]]
    return data.resize_images(images, snapshot.resolution), ids, sha256
