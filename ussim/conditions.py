"""The three condition levels of the comparison, for the physical simulator.

    mask         the label mask only: each class from the organ's tissue model
    mask+sketch  plus an edge sketch (ussim.sketch, the GANs' Canny settings); its edges
                 outside the objects become coherent reflectors (ussim.side_scatterers)
    mask+image   plus a B-mode image whose gray values, the gray map undone, scale the
                 scatterer amplitudes (Field II's kidney phantom)

The sketch or image comes from one of two sources, as for ganlab's sketch models:

    reference  the masks file's own image of each mask (or its stored `sketch`): the held-out
               image the simulated one is scored against (the methods marked † in the comparison)
    training   an image of another set (--side-set), one per mask, chosen by a seeded RNG exactly
               as `ganlab generate --sketch-from training` chooses: that set's structures, none of
               the reference's own

`plan` checks the options, picks the images and returns them with the set's `condition`
statement (ussim.imageset) and the record that goes into params; the organ table's
[conditions] section holds the levels (`settings`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ussim import imageset, presets, sketch
from ussim.errors import UsageError

LEVELS = ("mask", "mask+sketch", "mask+image")
SOURCES = ("reference", "training")
SETTING_NAMES = ("sketch_reflector_db", "image_smoothing_grains", "image_scatterers", "image_noise",
                 "image_strong_offset_db", "image_refinement_grains")
# what a mask+image sample's scatterers are below the image's map (ussim.side_scatterers.flat_tissue):
# "plain" Gaussian amplitudes, or each class's own amplitude statistics from the "tissue" model
IMAGE_SCATTERERS = ("plain", "tissue")
# whose receiver noise a mask+image sample shows: the "reference" image's, left in the map (the
# simulator adds none), or the simulator's own, "simulated": the table's noise_db added as at mask,
# its power taken out of the map first (ussim.side_scatterers.echoes_beneath_noise_db)
IMAGE_NOISE = ("reference", "simulated")


@dataclass(frozen=True)
class Settings:
    """An organ table's [conditions]: how bright a perpendicular sketch reflector is (dB above the
    speckle RMS of reference tissue), how many speckle grains (sigma) smooth an image's map, and
    whether the scatterers beneath that map are plain or keep their class's amplitude statistics,
    and whose receiver noise a mask+image sample shows (the reference's, in its map, or the
    simulator's own), and how much brighter or weaker (dB) each class's strong scatterers are
    beneath the map than in the class's own tissue ("tissue" scatterers only), and over how many
    speckle grains (sigma) a mask+image sample's first image is compared with the reference to
    correct its map before the image that is kept (0: none; ussim.side_scatterers.refinement_db).
    The smoothing, the offset and the refinement are each one number for every class or a table
    with one per class name."""
    sketch_reflector_db: float
    image_smoothing_grains: float | dict
    image_scatterers: str = "plain"
    image_noise: str = "reference"
    image_strong_offset_db: float | dict = 0.0
    image_refinement_grains: float | dict = 0.0

    def smoothing_grains(self, class_name: str) -> float:
        """The speckle grains (sigma) that smooth the map of the class `class_name`."""
        return _of_class(self.image_smoothing_grains, "image_smoothing_grains", class_name)

    def strong_offset_db(self, class_name: str) -> float:
        """dB added to the strong scatterers' level of the class `class_name` beneath the map."""
        return _of_class(self.image_strong_offset_db, "image_strong_offset_db", class_name)

    def refinement_grains(self, class_name: str) -> float:
        """The speckle grains (sigma) over which the class `class_name`'s map is checked (0: not)."""
        return _of_class(self.image_refinement_grains, "image_refinement_grains", class_name)

    def refined(self) -> bool:
        """Whether any class's map is checked by imaging it (image_refinement_grains above 0)."""
        grains = self.image_refinement_grains
        return any(v > 0 for v in (grains.values() if isinstance(grains, dict) else [grains]))

    def offsets_by_class(self) -> dict:
        """image_strong_offset_db as a table by class name ('' for one value of every class)."""
        offsets = self.image_strong_offset_db
        return dict(offsets) if isinstance(offsets, dict) else {"": offsets}

    def strong_offset_text(self) -> str:
        """The offsets in words: 'strong scatterers -2 dB in background, +0 dB in ovary'."""
        return "strong scatterers " + ", ".join(f"{value:+g} dB" + (f" in {name}" if name else "")
                                                for name, value in self.offsets_by_class().items())

    def smoothing_text(self) -> str:
        """The smoothing in words: '1 speckle grain' or '3 speckle grains in background, 1 in ovary'."""
        grains = self.image_smoothing_grains
        if not isinstance(grains, dict):
            return f"{grains:g} speckle grain{'s' if grains != 1 else ''}"
        return ", ".join(f"{value:g}{' speckle grains' if k == 0 else ''} in {name}"
                         for k, (name, value) in enumerate(grains.items()))


def _of_class(value: float | dict, key: str, class_name: str) -> float:
    if not isinstance(value, dict):
        return value
    if class_name not in value:
        raise UsageError(f"[conditions] {key} names no value for the class '{class_name}' "
                         f"(it names {', '.join(value)})")
    return value[class_name]


def _by_class(organ: str, key: str, value, classes: list[str], allowed, allowed_text: str) -> float | dict:
    """A [conditions] value that is one number for every class or a table naming every class of the
    table and no other, each number `allowed`; refused in one line otherwise."""
    by_class = value if isinstance(value, dict) else {"": value}
    if not by_class or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and allowed(v)
                               for v in by_class.values()):
        raise UsageError(f"tissue table {organ}, [conditions]: {key} must be {allowed_text} or a "
                         f"table of them by class name (got {value!r})")
    if not isinstance(value, dict):
        return float(value)
    unknown = sorted(set(value) - set(classes))
    missing = [name for name in classes if name not in value]
    if unknown or missing:
        raise UsageError(f"tissue table {organ}, [conditions]: {key} must name every class of the "
                         f"table ({', '.join(classes)}) and no other: "
                         + "; ".join(([f"{', '.join(unknown)} not a class"] if unknown else [])
                                     + ([f"{', '.join(missing)} missing"] if missing else [])))
    return {k: float(v) for k, v in value.items()}


def settings(organ: str) -> Settings:
    organ_table = presets.read("organs", organ, "organ")
    table = organ_table.get("conditions")
    if not isinstance(table, dict) or set(table) != set(SETTING_NAMES):
        raise UsageError(f"tissue table {organ}: needs a [conditions] section with exactly "
                         f"{', '.join(SETTING_NAMES)} (found {sorted(table) if isinstance(table, dict) else 'none'})")
    if table["image_scatterers"] not in IMAGE_SCATTERERS:
        raise UsageError(f"tissue table {organ}, [conditions]: image_scatterers '{table['image_scatterers']}' is not "
                         f"allowed: {' or '.join(IMAGE_SCATTERERS)}")
    if table["image_noise"] not in IMAGE_NOISE:
        raise UsageError(f"tissue table {organ}, [conditions]: image_noise '{table['image_noise']}' is not "
                         f"allowed: {' or '.join(IMAGE_NOISE)}")
    classes = list(organ_table.get("classes", {}))
    grains = _by_class(organ, "image_smoothing_grains", table["image_smoothing_grains"], classes,
                       lambda v: v >= 0, "a number >= 0")
    offsets = _by_class(organ, "image_strong_offset_db", table["image_strong_offset_db"], classes,
                        math.isfinite, "a finite number")
    refinement = _by_class(organ, "image_refinement_grains", table["image_refinement_grains"], classes,
                           lambda v: v >= 0, "a number >= 0")
    values = Settings(float(table["sketch_reflector_db"]), grains, table["image_scatterers"], table["image_noise"],
                      offsets, refinement)
    if values.image_scatterers != "tissue" and any(values.offsets_by_class().values()):
        raise UsageError(f"tissue table {organ}, [conditions]: image_strong_offset_db applies to image_scatterers = "
                         f"'tissue' only (plain scatterers have no strong ones); with "
                         f"'{values.image_scatterers}' it must be 0 (got {table['image_strong_offset_db']!r})")
    if not math.isfinite(values.sketch_reflector_db):
        raise UsageError(f"tissue table {organ}, [conditions]: sketch_reflector_db must be finite "
                         f"(got {values.sketch_reflector_db})")
    return values


def check_options(condition: str, sketch_from: str = "reference", side_set=None, *, masks_given: bool = True) -> None:
    """One-line refusals of condition options that cannot apply, before anything is simulated."""
    if condition not in LEVELS:
        raise UsageError(f"--condition '{condition}' is not allowed: {', '.join(LEVELS)}")
    if sketch_from not in SOURCES:
        raise UsageError(f"--sketch-from '{sketch_from}' is not allowed: {' or '.join(SOURCES)}")
    if not masks_given and condition != "mask":
        raise UsageError(f"--condition {condition} needs --mask REF.h5: a random anatomy has no image to take a "
                         f"sketch or gray values from (without --mask only --condition mask is allowed)")
    if condition == "mask" and (sketch_from != "reference" or side_set is not None):
        raise UsageError("--sketch-from and --side-set apply to --condition mask+sketch or mask+image only")
    if side_set is not None and sketch_from != "training":
        raise UsageError("--side-set applies to --sketch-from training only")
    if sketch_from == "training" and side_set is None:
        raise UsageError("--sketch-from training needs --side-set TRAIN.h5: the image set to draw each mask's "
                         "sketch or image from")


@dataclass
class SideInformation:
    """What the simulator sees beside each mask, the set's statement of it, and its params record."""
    condition: str
    source: str                      # none | reference | other (imageset.CONDITION_SOURCES)
    images: np.ndarray | None        # (n, y, x) uint8: the image each mask's sketch or gray values come from
    sketches: np.ndarray | None      # (n, y, x) uint8: stored sketches (reference with a `sketch` variable)
    statement: dict
    record: dict

    def for_sample(self, index: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(sketch, image) of mask `index`: a stored sketch, else the image to draw it from or to use."""
        if self.sketches is not None:
            return self.sketches[index], None
        return None, None if self.images is None else self.images[index]


def plan(masks, masks_path, count: int, *, organ: str, condition: str, sketch_from: str, side_set, seed: int,
         mask_statement: dict) -> SideInformation:
    """The side information of the first `count` masks of the open set `masks` (read from `masks_path`)."""
    check_options(condition, sketch_from, side_set)
    if condition == "mask":
        return SideInformation("mask", "none", None, None, mask_statement, {"condition": "mask"})
    level = settings(organ)
    shape = (masks.sizes["y"], masks.sizes["x"])
    canny = sketch.canny_for_size(shape[0])
    masks_sha = imageset.file_sha256(masks_path)
    record = {"condition": condition, "from": sketch_from, "masks": str(Path(masks_path).resolve()),
              "masks_sha256": masks_sha, **level.__dict__}
    sees = (f"as reflector rows ({level.sketch_reflector_db:g} dB above reference tissue when perpendicular to the "
            f"beam)" if condition == "mask+sketch" else
            f"as scatterer amplitudes (gray map undone, smoothed at {level.smoothing_text()}, as Field II's "
            f"kidney phantom; beneath it "
            + ("plain Gaussian scatterers" if level.image_scatterers == "plain" else
               "each class's own scatterer statistics: K shape, strong scatterers"
               + ("" if not any(level.offsets_by_class().values()) else f" ({level.strong_offset_text()})"))
            + ("; the receiver noise the simulator's own, its power taken out of the map"
               if level.image_noise == "simulated" else "; the reference's receiver noise left in the map")
            + ("; the map corrected once by the difference of the reference's and a first image's local mean gray"
               if level.refined() else "") + ")")
    drawn = (f"the Canny edge sketch (sigma {canny['sigma']:g} px, thresholds {canny['low']:g}/{canny['high']:g}, "
             f"at {shape[0]} px; the GANs' settings), outside the objects,")
    name = Path(masks_path).name
    if sketch_from == "reference":
        if condition == "mask+sketch" and "sketch" in masks:
            record.update(sketch="stored")
            return SideInformation(condition, "reference", None, np.asarray(masks["sketch"][:count].values),
                                   {"condition": condition, "source": "reference",
                                    "detail": f"the simulator saw the label mask and the sketch stored beside each "
                                              f"mask in {name} (its `sketch` variable, taken as drawn from the "
                                              f"reference image), outside the objects, {sees}"}, record)
        images = _images(masks, count, f"{masks_path}", condition)
        if condition == "mask+sketch":
            record.update(sketch="canny", canny=canny)
        what = drawn if condition == "mask+sketch" else "the gray values"
        return SideInformation(condition, "reference", images, None,
                               {"condition": condition, "source": "reference",
                                "detail": f"the simulator saw the label mask and {what} of the very image of {name} "
                                          f"that the mask belongs to (the reference it is scored against; "
                                          f"SHA-256 {masks_sha}), {sees}"}, record)
    path = Path(side_set)
    images, ids, sha = _chosen_images(masks, masks_sha, path, count, seed, condition)
    if condition == "mask+sketch":
        record.update(sketch="canny", canny=canny)
    record.update(path=str(path.resolve()), sha256=sha, seed=seed, sample_ids=ids)
    what = drawn if condition == "mask+sketch" else "the gray values, outside the objects,"
    return SideInformation(condition, "other", images, None,
                           {"condition": condition, "source": "other",
                            "detail": f"the simulator saw the label mask and {what} of an image of another set "
                                      f"instead of the reference's own, {sees}: for each mask one image of "
                                      f"{path.name} (--side-set, SHA-256 {sha}) drawn by a seeded RNG (seed "
                                      f"{seed}), its sample ids in params side_information.sample_ids"}, record)


def _images(ds, count: int, where: str, condition: str) -> np.ndarray:
    images = np.asarray(ds["image"][:count].values)
    if not images.any():
        raise UsageError(f"{where}: its images are blank (all 0): --condition {condition} needs images to take "
                         f"{'a sketch' if condition == 'mask+sketch' else 'gray values'} from (import the set with "
                         f"its images, or use --sketch-from training --side-set TRAIN.h5)")
    return images


def _chosen_images(masks, masks_sha: str, path: Path, count: int, seed: int,
                   condition: str) -> tuple[np.ndarray, list[str], str]:
    """One image of `path` per mask, chosen as ganlab.conditions chooses training sketches.

    DECISION (as ganlab): without replacement while the set has enough images, with replacement
    beyond; numpy's default_rng(seed) with the generation seed. DECISION: the side set's images
    must have the masks' pixels (resampling would change the speckle and the sketch's edges).
    """
    if not path.is_file():
        raise UsageError(f"--side-set {path}: no such image-set file")
    sha = imageset.file_sha256(path)
    if sha == masks_sha:
        raise UsageError(f"--side-set {path} is the masks file itself: side information from another set must "
                         f"come from another file (use --sketch-from reference for the masks' own images)")
    with imageset.read(path) as ds:
        names, expected = imageset.class_names_of(ds), imageset.class_names_of(masks)
        if names != expected:
            raise UsageError(f"--side-set {path}: classes {names} differ from the masks' {expected}; the side set "
                             f"must be a set of the same organ and classes")
        if (ds.sizes["y"], ds.sizes["x"]) != (masks.sizes["y"], masks.sizes["x"]):
            raise UsageError(f"--side-set {path}: images are {ds.sizes['y']} x {ds.sizes['x']} px, the masks "
                             f"{masks.sizes['y']} x {masks.sizes['x']} px; they must be equal")
        available = ds.sizes["sample"]
        chosen = np.random.default_rng(seed).choice(available, size=count, replace=count > available)
        images = _images(ds.isel(sample=chosen), count, f"--side-set {path}", condition)
        ids = [str(s) for s in ds["sample_id"].values[chosen]]
    return images, ids, sha
