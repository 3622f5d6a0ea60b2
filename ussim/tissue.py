"""Class-to-tissue tables: how each label class scatters and attenuates (data/organs/*.toml).

A table maps class names to echogenicity (dB of backscattered power relative to reference
tissue), scatterer density (relative to the default 10 per resolution cell), attenuation
(dB/cm/MHz) and an optional smooth texture (heterogeneity: its level, its correlation length in
depth and the ratio of its lateral to that length). Beyond these, a class may have
- a second, fine texture (`streak_db`, `streak_mm`, `streak_aspect`): thin streaks elongated
  across the depth, as fibrous and layered connective tissue shows them; it redistributes the
  class's power without changing its mean, so `echogenicity_db` keeps its meaning;
- an amplitude distribution beyond Gaussian: a K-distributed amplitude (`amplitude_shape`, the
  shape of a gamma-distributed scatterer power; infinite = Gaussian, fully developed speckle) and
  a fraction of strong point scatterers with their own level (`strong_fraction`, `strong_db`);
- boundary layers: within `layer_mm[other]` of its border with class `other` the echogenicity
  changes by `layer_db[other]` (IVUS: bright adventitia, dark media, bright intimal border);
- specular interfaces: a coherent row of scatterers along its border with class `other`, of
  reflectivity `interface_db[other]` (dB relative to the speckle of reference tissue when the
  beam meets it at right angles; along the beam it cancels by physics);
- sub-structures drawn inside it (`inclusion_class`, e.g. follicles inside an ovary): a Poisson
  number per cm2, lognormal diameters (median `inclusion_mm`, log-sigma `inclusion_spread`), each
  imaged with the properties of another class of the table;
- an exam-to-exam spread of its echogenicity (`echogenicity_spread_db`): each exam (seed) moves the
  class's level by its own normal draw (`exam_offsets_db`), as patients differ.
Tables without these keys load and behave as before. A label mask plus a table is all
`ussim.anatomy` needs to place scatterers for that exact anatomy.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ussim import presets
from ussim.errors import UsageError


@dataclass(frozen=True)
class Tissue:
    echogenicity_db: float = 0.0
    density: float = 1.0                 # x the default scatterers per resolution cell
    attenuation_db_cm_mhz: float = 0.5
    heterogeneity_db: float = 0.0        # std of the smooth echogenicity texture
    heterogeneity_mm: float = 1.0        # its correlation length (Gaussian sigma) in depth
    heterogeneity_aspect: float = 1.0    # its lateral length over its depth length (1: isotropic)
    streak_db: float = 0.0               # std of a second, fine texture: streaks along the tissue's layers
    streak_mm: float = 0.3               # its correlation length (Gaussian sigma) in depth
    streak_aspect: float = 5.0           # its lateral length over its depth length
    amplitude_shape: float = math.inf    # K shape of the scatterer power (inf: Gaussian amplitudes)
    strong_fraction: float = 0.0         # fraction of scatterers that are strong point reflectors
    strong_db: float = 0.0               # their power above the class's ordinary scatterers
    layer_db: dict = field(default_factory=dict)      # neighbour class -> dB within layer_mm of it
    layer_mm: dict = field(default_factory=dict)      # neighbour class -> layer thickness (mm)
    interface_db: dict = field(default_factory=dict)  # neighbour class -> specular reflectivity (dB)
    inclusion_class: str = ""            # table class of the sub-structures drawn inside this one
    inclusions_per_cm2: float = 0.0
    inclusion_mm: float = 3.0            # median diameter
    inclusion_spread: float = 0.5        # log-sigma of the diameter
    echogenicity_spread_db: float = 0.0  # std of the echogenicity between exams (patients)


@dataclass(frozen=True)
class TissueTable:
    organ: str
    probe: str
    classes: dict[str, Tissue]
    display: dict = field(default_factory=dict)   # width_mm, depth_mm: the masks' field of view
    imaging: dict = field(default_factory=dict)   # simulation settings for this organ

    def for_classes(self, class_names: list[str]) -> list[Tissue]:
        """The tissues of a mask's classes, in index order; one line naming any class missing."""
        missing = [name for name in class_names if name not in self.classes]
        if missing:
            raise UsageError(f"class(es) {', '.join(missing)} of the mask are not in the {self.organ} tissue table "
                             f"(it has: {', '.join(self.classes)}); rename the classes or extend the table")
        return [self.classes[name] for name in class_names]


def organ_names() -> list[str]:
    return presets.names("organs")


# (key, test, what is allowed) for every number of a class; every failure names key and value
_RULES = (("echogenicity_db", lambda v: True, "finite"),
          ("density", lambda v: v >= 0, ">= 0"),
          ("attenuation_db_cm_mhz", lambda v: v >= 0, ">= 0"),
          ("heterogeneity_db", lambda v: v >= 0, ">= 0"),
          ("heterogeneity_mm", lambda v: v > 0, "> 0"),
          ("heterogeneity_aspect", lambda v: v > 0, "> 0"),
          ("streak_db", lambda v: v >= 0, ">= 0"),
          ("streak_mm", lambda v: v > 0, "> 0"),
          ("streak_aspect", lambda v: v > 0, "> 0"),
          ("strong_fraction", lambda v: 0 <= v < 1, "in [0, 1)"),
          ("strong_db", lambda v: True, "finite"),
          ("inclusions_per_cm2", lambda v: v >= 0, ">= 0"),
          ("inclusion_mm", lambda v: v > 0, "> 0"),
          ("inclusion_spread", lambda v: v >= 0, ">= 0"),
          ("echogenicity_spread_db", lambda v: v >= 0, ">= 0"))


def validate(tissue: Tissue, where: str, class_names) -> Tissue:
    """`tissue` if all its values are allowed, else one UsageError line naming the bad value."""
    for key, test, allowed in _RULES:
        value = getattr(tissue, key)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not test(value):
            raise UsageError(f"{where}: {key} = {value!r} is not allowed (must be {allowed})")
    shape = tissue.amplitude_shape
    if not isinstance(shape, (int, float)) or math.isnan(shape) or not shape > 0:
        raise UsageError(f"{where}: amplitude_shape = {shape!r} is not allowed (must be > 0; inf = Gaussian)")
    for key, positive in (("layer_db", False), ("layer_mm", True), ("interface_db", False)):
        values = getattr(tissue, key)
        if not isinstance(values, dict):
            raise UsageError(f"{where}: {key} = {values!r} must be a table of neighbour class = number")
        for other, value in values.items():
            if other not in class_names:
                raise UsageError(f"{where}: {key} names class '{other}', which is not in the table "
                                 f"(it has: {', '.join(class_names)})")
            if not isinstance(value, (int, float)) or not math.isfinite(value) or (positive and value <= 0):
                raise UsageError(f"{where}: {key}.{other} = {value!r} is not allowed "
                                 f"(must be {'> 0' if positive else 'finite'})")
    if set(tissue.layer_db) != set(tissue.layer_mm):
        raise UsageError(f"{where}: layer_db and layer_mm must name the same neighbour classes "
                         f"(got {sorted(tissue.layer_db)} and {sorted(tissue.layer_mm)})")
    if tissue.inclusion_class and tissue.inclusion_class not in class_names:
        raise UsageError(f"{where}: inclusion_class '{tissue.inclusion_class}' is not a class of the table "
                         f"(it has: {', '.join(class_names)})")
    if tissue.inclusions_per_cm2 > 0 and not tissue.inclusion_class:
        raise UsageError(f"{where}: inclusions_per_cm2 = {tissue.inclusions_per_cm2:g} needs an inclusion_class")
    return tissue


def load(name_or_path: str | Path) -> TissueTable:
    """An organ's table by name (see `organ_names()`) or a TOML file by path."""
    text = str(name_or_path)
    table = presets.read("organs", name_or_path, "organ")
    known = {f.name for f in fields(Tissue)}
    sections = table.get("classes", {})
    classes = {}
    for name, values in sections.items():
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"tissue table {text}, class {name}: unknown key(s) {', '.join(unknown)} "
                             f"(allowed: {', '.join(sorted(known))})")
        classes[name] = validate(Tissue(**values), f"tissue table {text}, class {name}", list(sections))
    if not classes or "organ" not in table or "probe" not in table:
        raise UsageError(f"tissue table {text}: needs organ, probe and at least one [classes.NAME]")
    return TissueTable(organ=table["organ"], probe=table["probe"], classes=classes,
                       display=dict(table.get("display", {})), imaging=dict(table.get("imaging", {})))


def exam_offsets_db(table: TissueTable, seed: int) -> dict[str, float]:
    """The echogenicity offset (dB) of every class with an `echogenicity_spread_db` in the exam
    seeded by `seed`: normal, of that std, one stream per class name (adding a class to the table
    leaves the others' draws as they were).

    DECISION: the classes of one exam vary independently of each other (what they share is the
    exam's gain, ussim.display.exam_gain_db). On the ovary archive's tuning frames the per-frame
    median levels of background and ovary correlate by 0.07; with one exam gain shared by both,
    the simulated frames' median grays correlated by 0.64 (the real ones' by 0.09; bench/RESULTS.md,
    "Each exam's own tissue"): the patients differ in their tissue more than in their gain. Fitted by bench/fit_display.py --fit-exam-spread.
    """
    return {name: float(np.random.default_rng([seed, 6, zlib.crc32(name.encode())])
                        .normal(0.0, t.echogenicity_spread_db))
            for name, t in table.classes.items() if t.echogenicity_spread_db > 0}


def with_offsets(table: TissueTable, offsets_db: dict[str, float]) -> TissueTable:
    """`table` with each named class's echogenicity moved by its offset (dB)."""
    classes = {name: dataclasses.replace(t, echogenicity_db=t.echogenicity_db + offsets_db[name])
               if name in offsets_db else t for name, t in table.classes.items()}
    return dataclasses.replace(table, classes=classes)
