"""Random coronary IVUS anatomy around a catheter at (0, 0): label masks on a grid in mm.

PAPER (SpeckleGAN, "GAN evaluation"): lumen and vessel outlines are randomly rotated and disturbed
ellipses. Here the lumen holds the catheter, the external elastic membrane (EEM) holds the
lumen with a wall of varying thickness, and an eccentric plaque (fibrous, lipid under a fibrous
cap, or a calcified arc) thickens one side of the wall; a guidewire and a side branch are
optional. The extra classes map onto the real set's three classes through `REAL_CLASS`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ussim.phantoms.shapes import Blob, random_blob

CLASS_NAMES = ("outside_EEM", "wall", "lumen", "catheter", "plaque_fibrous", "plaque_lipid", "plaque_calcified",
               "guidewire")
(OUTSIDE, WALL, LUMEN, CATHETER, FIBROUS, LIPID, CALCIFIED, GUIDEWIRE) = range(len(CLASS_NAMES))
REAL_CLASSES = ("outside_EEM", "wall", "lumen")
# The documented table onto the real IVUS set's classes: blood-filled and device classes are
# lumen, plaque of any kind lies between lumen and EEM, so it is wall.
REAL_CLASS = {"outside_EEM": "outside_EEM", "wall": "wall", "lumen": "lumen", "catheter": "lumen",
              "guidewire": "lumen", "plaque_fibrous": "wall", "plaque_lipid": "wall", "plaque_calcified": "wall"}
PLAQUES = ("none", "fibrous", "lipid", "calcified")


@dataclass(frozen=True)
class IvusParams:
    """Ranges the generator draws from, lengths in mm.

    DECISION: coronary lumen radius 1.0-2.0 mm, wall (intima + media) 0.2-0.6 mm, plaque
    burden up to 1.2 mm more over 60-200 degrees; a calcified arc is 0.15-0.4 mm thick.
    """
    catheter_radius_mm: float = 0.5
    lumen_radius_mm: tuple[float, float] = (1.0, 2.0)
    wall_mm: tuple[float, float] = (0.2, 0.6)
    plaque_mm: tuple[float, float] = (0.3, 1.2)
    plaque_span_deg: tuple[float, float] = (60.0, 200.0)
    plaque_probabilities: tuple[float, float, float, float] = (0.2, 0.35, 0.25, 0.2)  # none, fibrous, lipid, calcified
    calcium_mm: tuple[float, float] = (0.15, 0.4)
    guidewire_probability: float = 0.7
    side_branch_probability: float = 0.2


def draw(x: np.ndarray, z: np.ndarray, rng: np.random.Generator,
         params: IvusParams = IvusParams()) -> tuple[np.ndarray, dict]:
    """A label mask (len(z), len(x)) uint8 over pixel centres x, z (m) and the drawn anatomy."""
    mm = 1e-3
    px, pz = np.meshgrid(x, z)
    catheter = params.catheter_radius_mm * mm
    radius = rng.uniform(*params.lumen_radius_mm) * mm
    shape = random_blob(rng, 0.0, 0.0, radius, radius * rng.uniform(0.75, 1.0), wobble=0.05)
    # The lumen holds the catheter with 0.2 mm of blood around it even at its narrowest.
    narrowest = min(shape.a, shape.b) * (1 - sum(shape.wobble))
    offset = rng.uniform(0, max(0.0, narrowest - catheter - 0.2 * mm))
    direction = rng.uniform(0, 2 * np.pi)
    lumen = Blob(offset * np.sin(direction), offset * np.cos(direction), shape.a, shape.b, shape.angle,
                 shape.wobble, shape.phase)
    wall = rng.uniform(*params.wall_mm) * mm
    plaque = PLAQUES[rng.choice(len(PLAQUES), p=params.plaque_probabilities)]
    burden = rng.uniform(*params.plaque_mm) * mm if plaque != "none" else 0.0
    toward = rng.uniform(0, 2 * np.pi)  # the plaque's side: the EEM centre shifts that way
    shift = burden / 2
    eem = Blob(lumen.cx + shift * np.sin(toward), lumen.cz + shift * np.cos(toward), lumen.a + wall + shift,
               lumen.b + wall + shift, lumen.angle, lumen.wobble, lumen.phase)

    label = np.zeros(px.shape, np.uint8)
    anatomy = {"lumen": asdict(lumen), "eem": asdict(eem), "wall_mm": wall / mm, "plaque": plaque,
               "params": asdict(params)}
    if rng.random() < params.side_branch_probability:
        branch_radius = rng.uniform(0.6, 1.2) * mm
        angle = rng.uniform(0, 2 * np.pi)
        distance = eem.extent + branch_radius
        branch = random_blob(rng, eem.cx + distance * np.sin(angle), eem.cz + distance * np.cos(angle),
                             branch_radius, branch_radius * rng.uniform(0.6, 0.9), wobble=0.05)
        label[branch.contains(px, pz, margin=0.2 * mm)] = WALL
        label[branch.contains(px, pz)] = LUMEN
        anatomy["side_branch"] = asdict(branch)
    in_eem = eem.contains(px, pz)
    in_lumen = lumen.contains(px, pz)
    label[in_eem] = WALL
    if plaque != "none":
        span = np.deg2rad(rng.uniform(*params.plaque_span_deg))
        around = np.angle(np.exp(1j * (np.arctan2(px - lumen.cx, pz - lumen.cz) - toward)))
        sector = in_eem & ~in_lumen & (np.abs(around) <= span / 2)
        label[sector] = FIBROUS
        if plaque == "lipid":  # a pool under a fibrous cap: the outer part of the sector
            label[sector & ~lumen.contains(px, pz, margin=burden / 2)] = LIPID
        elif plaque == "calcified":  # a bright arc at the lumen side of the plaque
            thickness = rng.uniform(*params.calcium_mm) * mm
            label[sector & lumen.contains(px, pz, margin=thickness)] = CALCIFIED
        anatomy.update(plaque_span_deg=float(np.rad2deg(span)), plaque_direction_rad=toward, plaque_mm=burden / mm)
    label[in_lumen] = LUMEN
    if rng.random() < params.guidewire_probability:
        for _ in range(100):
            distance, angle = rng.uniform(catheter + 0.25 * mm, radius), rng.uniform(0, 2 * np.pi)
            wx, wz = distance * np.sin(angle), distance * np.cos(angle)
            if lumen.contains(np.array(wx), np.array(wz), margin=-0.15 * mm):
                label[np.hypot(px - wx, pz - wz) <= 0.08 * mm] = GUIDEWIRE
                anatomy["guidewire_mm"] = [wx / mm, wz / mm]
                break
    label[np.hypot(px, pz) <= catheter] = CATHETER
    return label, anatomy


def to_real_classes(label: np.ndarray, class_names=CLASS_NAMES) -> np.ndarray:
    """The mask in the real IVUS set's classes (outside_EEM, wall, lumen) via REAL_CLASS."""
    lookup = np.array([REAL_CLASSES.index(REAL_CLASS[name]) for name in class_names], np.uint8)
    return lookup[label]
