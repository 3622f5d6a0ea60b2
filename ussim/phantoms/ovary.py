"""Random ovary anatomy for a transvaginal view: label masks on a display grid in mm.

The ovary is a deformed ellipse of heterogeneous stroma holding 0-15 non-overlapping deformed
follicles (anechoic fluid, 2-25 mm); around it lies pelvic tissue with, optionally, free fluid,
an iliac vessel and a loop of bowel. Every range below is a parameter (`OvaryParams`), every
draw comes from the seeded generator, and `draw` returns the mask with what it drew.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ussim.phantoms.shapes import Blob, random_blob

CLASS_NAMES = ("background", "ovary", "follicle", "free_fluid", "vessel", "bowel")
BACKGROUND, OVARY, FOLLICLE, FREE_FLUID, VESSEL, BOWEL = range(len(CLASS_NAMES))
REAL_CLASSES = ("background", "ovary")
# The table onto the real ovary set's classes (the normal ovaries of OTU_2D, as the demo imports
# them): its masks mark the whole ovary, follicles included, and nothing else, so a follicle is
# ovary and every structure outside the ovary is background.
REAL_CLASS = {"background": "background", "ovary": "ovary", "follicle": "ovary", "free_fluid": "background",
              "vessel": "background", "bowel": "background"}


@dataclass(frozen=True)
class OvaryParams:
    """Ranges the generator draws from; lengths in mm, depths from the probe face.

    DECISION: sizes, depths and offsets as the real ovary masks show them in the organ table's
    field of view, whose scale the scanner's depth marks give (bench/fit_display.py, 5 mm marks:
    0.478 x 0.270 mm per px, 59.7 mm of tissue below the face). On the 36 tuning frames of the
    full-sector layout (normal ovaries, OTU_2D train split) the masks' long axes (4 sigma of their
    pixels) span 13-30 mm from the 5th to the 95th percentile (median 21), their short-over-long
    axis 0.4-0.9, their centres lie 10-31 mm below the face (median 17) and 15 mm either side of
    the centre line. That is the literature's adult ovary (25-50 mm long at 20-45 mm from a
    transvaginal probe) at its small end. Follicles take the literature's 2-25 mm (the issue's
    range), each fitting across the ovary's short axis, up to 15, at least `gap_mm` of stroma
    between them. Before the depth marks were read (2026-12-04) the ranges were half these: the
    table's scale then rested on the probe's face radius alone.
    """
    follicles: tuple[int, int] = (0, 15)
    follicle_diameter_mm: tuple[float, float] = (2.0, 25.0)
    ovary_length_mm: tuple[float, float] = (13.0, 30.0)
    ovary_aspect: tuple[float, float] = (0.4, 0.9)        # short / long axis
    ovary_depth_mm: tuple[float, float] = (10.0, 31.0)    # centre
    ovary_offset_mm: float = 15.0                          # centre, +- from the centre line
    ovary_tilt_deg: float = 25.0                           # +- from horizontal
    gap_mm: float = 0.4
    free_fluid_probability: float = 0.3
    vessel_probability: float = 0.4
    bowel_probability: float = 0.3


def draw(x: np.ndarray, z: np.ndarray, rng: np.random.Generator,
         params: OvaryParams = OvaryParams()) -> tuple[np.ndarray, dict]:
    """A label mask (len(z), len(x)) uint8 over pixel centres x, z (m) and the drawn anatomy."""
    px, pz = np.meshgrid(x, z)
    label = np.zeros(px.shape, np.uint8)
    mm = 1e-3
    length = rng.uniform(*params.ovary_length_mm) * mm
    ovary = random_blob(rng, rng.uniform(-params.ovary_offset_mm, params.ovary_offset_mm) * mm,
                        rng.uniform(*params.ovary_depth_mm) * mm, length / 2,
                        length / 2 * rng.uniform(*params.ovary_aspect), wobble=0.06,
                        angle=np.deg2rad(rng.uniform(-params.ovary_tilt_deg, params.ovary_tilt_deg)))
    surroundings = _surroundings(ovary, rng, params)
    for blob, index in surroundings:  # drawn first: the ovary and its follicles lie on top
        label[blob.contains(px, pz)] = index
    label[ovary.contains(px, pz)] = OVARY
    follicles = _follicles(ovary, rng, params)
    for follicle in follicles:
        label[follicle.contains(px, pz)] = FOLLICLE
    anatomy = {"ovary": asdict(ovary), "follicles": [asdict(f) for f in follicles],
               "follicle_diameters_mm": [round(2e3 * max(f.a, f.b), 2) for f in follicles],
               "surroundings": [[CLASS_NAMES[i], asdict(b)] for b, i in surroundings], "params": asdict(params)}
    return label, anatomy


def _follicles(ovary: Blob, rng: np.random.Generator, params: OvaryParams) -> list[Blob]:
    """Largest first, each at a random free place inside the ovary; a follicle that finds no
    place in 200 tries is dropped (a crowded ovary holds fewer)."""
    mm = 1e-3
    count = int(rng.integers(params.follicles[0], params.follicles[1] + 1))
    largest = 2 * min(ovary.a, ovary.b) * 0.8 / mm  # a follicle fits across the ovary's short axis
    low, high = params.follicle_diameter_mm
    high = max(low, min(high, largest))
    # DECISION: log-uniform diameters: an ovary holds many small follicles and few large ones.
    diameters = np.sort(np.exp(rng.uniform(np.log(low), np.log(high), count)))[::-1]
    placed: list[Blob] = []
    for diameter in diameters:
        radius = diameter * mm / 2
        for _ in range(200):
            u, v = rng.uniform(-1, 1, 2) * (ovary.a, ovary.b)  # in the ovary's own (rotated) frame
            cx = ovary.cx + u * np.cos(ovary.angle) - v * np.sin(ovary.angle)
            cz = ovary.cz + u * np.sin(ovary.angle) + v * np.cos(ovary.angle)
            candidate = random_blob(rng, cx, cz, radius, radius * rng.uniform(0.75, 1.0), wobble=0.05)
            if _fits(candidate, ovary, placed, params.gap_mm * mm):
                placed.append(candidate)
                break
    return placed


def _fits(candidate: Blob, ovary: Blob, placed: list[Blob], gap: float) -> bool:
    ring = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    edge_x = candidate.cx + candidate.extent * np.cos(ring)
    edge_z = candidate.cz + candidate.extent * np.sin(ring)
    if not np.all(ovary.contains(edge_x, edge_z, margin=-gap)):
        return False
    return all(np.hypot(candidate.cx - o.cx, candidate.cz - o.cz) > candidate.extent + o.extent + gap for o in placed)


def _surroundings(ovary: Blob, rng: np.random.Generator, params: OvaryParams) -> list[tuple[Blob, int]]:
    """Optional free fluid (flat, beside or below), an iliac vessel (round) and bowel."""
    mm = 1e-3
    side = rng.choice([-1, 1])
    found = []
    if rng.random() < params.free_fluid_probability:
        found.append((random_blob(rng, ovary.cx - side * (ovary.a + 6 * mm), ovary.cz + ovary.b,
                                  rng.uniform(6, 15) * mm, rng.uniform(1.5, 4) * mm, wobble=0.1,
                                  angle=rng.uniform(-0.3, 0.3)), FREE_FLUID))
    if rng.random() < params.vessel_probability:
        radius = rng.uniform(3, 5) * mm
        found.append((random_blob(rng, ovary.cx + side * (ovary.a + radius + 3 * mm),
                                  ovary.cz + rng.uniform(-5, 10) * mm,
                                  radius, radius * rng.uniform(0.7, 0.9), wobble=0.03), VESSEL))
    if rng.random() < params.bowel_probability:
        found.append((random_blob(rng, ovary.cx + rng.uniform(-15, 15) * mm,
                                  ovary.cz + ovary.b + rng.uniform(8, 15) * mm,
                                  rng.uniform(6, 12) * mm, rng.uniform(4, 7) * mm, wobble=0.12), BOWEL))
    return found
