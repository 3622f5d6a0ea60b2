"""Transducer probes: presets in data/probes/*.toml, loadable by name or path, in SI units.

Presets are written in the units of a data sheet (MHz, mm); a `Probe` holds SI units (Hz, m,
s). Element geometry lives in the imaging plane y = 0 with depth z increasing away from the
probe: linear and phased arrays lie on z = 0, a convex array on an arc of `radius` whose centre
is at (0, -radius), and an IVUS element sits on the catheter surface, turned per A-line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ussim import presets
from ussim.errors import UsageError

KINDS = ("linear", "convex", "phased", "ivus")
SPEED_OF_SOUND = 1540.0  # m/s, soft tissue: the usual Field II / MUST default


@dataclass(frozen=True)
class Probe:
    name: str
    kind: str
    center_frequency: float      # Hz
    bandwidth: float             # fractional -6 dB bandwidth of the two-way response
    n_elements: int
    pitch: float                 # m; arc length per element for convex arrays
    kerf: float                  # m
    height: float                # m, elevation aperture
    elevation_focus: float       # m; inf for an unfocused element
    sampling_frequency: float    # Hz
    radius: float = math.inf     # m, convex arrays
    catheter_radius: float = 0.0  # m, IVUS
    dead_zone: float = 0.0       # m, IVUS: radius shown black
    lines_per_turn: int = 0      # IVUS A-lines per rotation
    description: str = ""

    @property
    def width(self) -> float:
        """Element width (m): pitch minus kerf."""
        return self.pitch - self.kerf

    @property
    def wavelength(self) -> float:
        return SPEED_OF_SOUND / self.center_frequency

    def element_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Element centres x, z (m) and the angles of their normals from +z (rad).

        For IVUS this is the element at A-line angle 0; `ivus_element` turns it.
        """
        index = np.arange(self.n_elements) - (self.n_elements - 1) / 2
        if self.kind in ("linear", "phased"):
            return index * self.pitch, np.zeros(self.n_elements), np.zeros(self.n_elements)
        if self.kind == "convex":
            angle = index * self.pitch / self.radius
            return self.radius * np.sin(angle), self.radius * (np.cos(angle) - 1), angle
        return self.ivus_element(np.zeros(1))

    def ivus_element(self, angles: np.ndarray):
        """IVUS element centres and normals at the given A-line angles, catheter centre at 0."""
        angles = np.asarray(angles, dtype=np.float64)
        return self.catheter_radius * np.sin(angles), self.catheter_radius * np.cos(angles), angles

    def as_dict(self) -> dict:
        return asdict(self)


def validate(probe: Probe) -> Probe:
    """Raise UsageError naming the bad value and the allowed range."""
    fc, fs = probe.center_frequency, probe.sampling_frequency
    checks = [
        (probe.kind in KINDS, f"kind '{probe.kind}' (allowed: {', '.join(KINDS)})"),
        (fc > 0 and math.isfinite(fc), f"centre frequency {fc / 1e6:g} MHz (must be positive)"),
        (0 < probe.bandwidth < 2, f"fractional bandwidth {probe.bandwidth:g} (allowed 0 < B < 2)"),
        (probe.n_elements >= 1, f"{probe.n_elements} elements (need at least 1)"),
        (fs >= 4 * fc if fc > 0 else True,
         f"sampling frequency {fs / 1e6:g} MHz (must be at least 4 fc = {4 * fc / 1e6:g} MHz)"),
        (probe.pitch > 0 and 0 <= probe.kerf < probe.pitch,
         f"pitch {probe.pitch * 1e3:g} mm and kerf {probe.kerf * 1e3:g} mm (need 0 <= kerf < pitch)"),
        (probe.height > 0, f"element height {probe.height * 1e3:g} mm (must be positive)"),
        (probe.elevation_focus > 0, f"elevation focus {probe.elevation_focus * 1e3:g} mm (positive or inf)"),
    ]
    if probe.kind == "convex":
        checks.append((0 < probe.radius < math.inf,
                       f"convex radius {probe.radius * 1e3:g} mm (must be finite, positive)"))
    if probe.kind == "ivus":
        checks += [(probe.n_elements == 1, f"{probe.n_elements} elements (IVUS has one rotating element)"),
                   (probe.lines_per_turn >= 16, f"{probe.lines_per_turn} A-lines per turn (need at least 16)"),
                   (probe.catheter_radius > 0, "catheter radius (must be positive)"),
                   (probe.dead_zone >= probe.catheter_radius,
                    f"dead zone {probe.dead_zone * 1e3:g} mm (must cover the catheter radius)")]
    for ok, what in checks:
        if not ok:
            raise UsageError(f"probe '{probe.name}': bad {what}")
    return probe


def preset_names() -> list[str]:
    return presets.names("probes")


def load(name_or_path: str | Path) -> Probe:
    """A preset by name (see `preset_names()`) or a TOML file by path."""
    return from_table(presets.read("probes", name_or_path, "probe"), origin=str(name_or_path))


UNITS = {"center_frequency_mhz": ("center_frequency", 1e6), "sampling_frequency_mhz": ("sampling_frequency", 1e6),
         "pitch_mm": ("pitch", 1e-3), "kerf_mm": ("kerf", 1e-3), "height_mm": ("height", 1e-3),
         "elevation_focus_mm": ("elevation_focus", 1e-3), "radius_mm": ("radius", 1e-3),
         "catheter_radius_mm": ("catheter_radius", 1e-3), "dead_zone_mm": ("dead_zone", 1e-3)}
PLAIN = ("name", "kind", "bandwidth", "n_elements", "lines_per_turn", "description")


def from_table(table: dict, origin: str = "probe") -> Probe:
    """A validated Probe from a preset table in data-sheet units (MHz, mm)."""
    unknown = sorted(set(table) - set(UNITS) - set(PLAIN))
    if unknown:
        raise UsageError(f"probe {origin}: unknown key(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted([*UNITS, *PLAIN]))})")
    values = {key: table[key] for key in PLAIN if key in table}
    for key, (field, scale) in UNITS.items():
        if key in table:
            values[field] = float(table[key]) * scale
    required = ["name", "kind", "center_frequency", "bandwidth", "n_elements", "pitch", "kerf", "height",
                "elevation_focus", "sampling_frequency"]
    missing = [f for f in required if f not in values]
    if missing:
        raise UsageError(f"probe {origin}: missing {', '.join(missing)}")
    try:
        return validate(Probe(**values))
    except TypeError as error:
        raise UsageError(f"probe {origin}: {error}") from None
