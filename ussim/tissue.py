"""Class-to-tissue tables: how each label class scatters and attenuates (data/organs/*.toml).

A table maps class names to echogenicity (dB of backscattered power relative to reference
tissue), scatterer density (relative to the default 10 per resolution cell), attenuation
(dB/cm/MHz) and an optional smooth texture (heterogeneity). A label mask plus a table is all
`ussim.anatomy` needs to place scatterers for that exact anatomy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ussim import presets
from ussim.errors import UsageError


@dataclass(frozen=True)
class Tissue:
    echogenicity_db: float = 0.0
    density: float = 1.0                 # x the default scatterers per resolution cell
    attenuation_db_cm_mhz: float = 0.5
    heterogeneity_db: float = 0.0        # std of the smooth echogenicity texture
    heterogeneity_mm: float = 1.0        # its correlation length


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


def load(name_or_path: str | Path) -> TissueTable:
    """An organ's table by name (see `organ_names()`) or a TOML file by path."""
    text = str(name_or_path)
    table = presets.read("organs", name_or_path, "organ")
    classes = {}
    for name, values in table.get("classes", {}).items():
        try:
            tissue = Tissue(**values)
        except TypeError as error:
            raise UsageError(f"tissue table {text}, class {name}: {error}") from None
        numbers = (tissue.echogenicity_db, tissue.density, tissue.attenuation_db_cm_mhz, tissue.heterogeneity_db,
                   tissue.heterogeneity_mm)
        if not all(math.isfinite(v) for v in numbers) or tissue.density < 0 or tissue.attenuation_db_cm_mhz < 0 \
                or tissue.heterogeneity_db < 0 or tissue.heterogeneity_mm <= 0:
            raise UsageError(f"tissue table {text}, class {name}: values must be finite, density, attenuation and "
                             f"heterogeneity >= 0, heterogeneity_mm > 0")
        classes[name] = tissue
    if not classes or "organ" not in table or "probe" not in table:
        raise UsageError(f"tissue table {text}: needs organ, probe and at least one [classes.NAME]")
    return TissueTable(organ=table["organ"], probe=table["probe"], classes=classes,
                       display=dict(table.get("display", {})), imaging=dict(table.get("imaging", {})))
