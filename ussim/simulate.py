"""`simulate(scatterers, probe, ...)`: scatterers in, RF, envelope and B-mode image out.

The chain: transmit sequence -> pulse-echo channel data (ussim.engine) -> delay-and-sum
(ussim.beamform) -> envelope -> TGC -> log compression against a fixed reference -> scan
conversion to a display grid in mm (ussim.bmode, ussim.scan).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ussim import beamform, bmode, scan, transmit
from ussim import probe as probes
from ussim.engine import ChannelData, Scatterers, face_distance, simulate_channels
from ussim.errors import UsageError
from ussim.probe import SPEED_OF_SOUND, Probe


@dataclass(frozen=True)
class Settings:
    """Everything besides the scatterers that decides the image. One table of defaults.

    `None` means: chosen from the probe and the scene (see `resolve`).
    """
    scheme: str | None = None            # focused | plane | ivus
    n_lines: int | None = None
    line_positions: tuple[float, ...] | None = None  # explicit line x (linear) or angles (sector)
    focus: float | None = None           # m, transmit focus along each line
    angles: tuple[float, ...] = (0.0,)   # rad, plane-wave compounding angles
    depth: float | None = None           # m, imaging depth from the probe face
    tx_f_number: float = 2.0
    rx_f_number: float = 1.5
    tx_apodization: str = "rect"
    rx_apodization: str = "hann"         # DECISION: Hann on receive, as scanners, for low side lobes
    attenuation_db_cm_mhz: float = 0.5   # soft-tissue average
    tgc: bool = True                     # compensate the nominal attenuation
    dynamic_range_db: float = 60.0
    gain_db: float = 0.0
    reference: float | None = None       # envelope shown at 0 dB (None: a unit scatterer at the focus)
    shape: tuple[int, int] = (256, 256)
    excitation_cycles: float = 1.0


@dataclass
class Simulation:
    probe: Probe
    settings: Settings
    channels: ChannelData
    beamformed: beamform.Beamformed
    envelope: np.ndarray          # (n_lines, n_samples) linear envelope after TGC
    grid: scan.DisplayGrid
    envelope_image: np.ndarray    # float32 envelope on the display grid
    bmode: np.ndarray             # uint8 display image
    seconds: float
    params: dict = field(default_factory=dict)

    @property
    def rf(self) -> np.ndarray:
        """Beamformed RF lines."""
        return np.real(self.beamformed.lines)


def resolve(settings: Settings, probe: Probe, scatterers: Scatterers) -> Settings:
    """Fill the settings left open from the probe and the scene."""
    depth = settings.depth
    if depth is None:
        depth = float(face_distance(scatterers.x, scatterers.z, probe).max())
    if not depth > 0:
        raise UsageError(f"imaging depth {depth * 1e3:g} mm must be positive")
    scheme = settings.scheme or ("ivus" if probe.kind == "ivus" else "focused")
    schemes = ("ivus",) if probe.kind == "ivus" else ("focused", "plane")
    if scheme not in schemes:
        raise UsageError(f"scheme '{scheme}' does not suit a {probe.kind} probe (allowed: {', '.join(schemes)})")
    n_lines = settings.n_lines or (probe.lines_per_turn if scheme == "ivus" else
                                   96 if probe.kind == "phased" else 128)
    focus = settings.focus or depth / 2  # DECISION: focus mid-depth unless told otherwise
    return replace(settings, scheme=scheme, depth=depth, n_lines=n_lines, focus=focus)


def events_for(settings: Settings, probe: Probe):
    if settings.scheme == "ivus":
        return transmit.ivus_lines(probe, settings.n_lines)
    if settings.scheme == "plane":
        return transmit.plane_waves(probe, np.asarray(settings.angles), apodization=settings.tx_apodization)
    return transmit.focused_lines(probe, settings.n_lines, settings.focus, f_number=settings.tx_f_number,
                                  apodization=settings.tx_apodization, positions=settings.line_positions,
                                  rx_half_aperture=settings.depth / (2 * settings.rx_f_number))


def radii_for(settings: Settings, probe: Probe) -> np.ndarray:
    """Samples along each line: one per RF sample of round trip (c / 2 fs)."""
    start = probe.dead_zone - probe.catheter_radius if probe.kind == "ivus" else 0.0
    return np.arange(start, settings.depth, SPEED_OF_SOUND / (2 * probe.sampling_frequency))


def simulate(scatterers: Scatterers, probe: Probe | str, settings: Settings | None = None, *,
             device: str = "auto", progress: bool = True, **overrides) -> Simulation:
    """Simulate one B-mode image of `scatterers` with `probe` (a Probe or a preset name).

    Keyword overrides change single settings: simulate(s, "linear-7.6", focus=0.02).
    """
    start = time.perf_counter()
    probe = probes.load(probe) if isinstance(probe, str) else probes.validate(probe)
    try:
        settings = replace(settings or Settings(), **overrides)
    except TypeError as error:
        raise UsageError(f"unknown simulation setting: {error}") from None
    settings = resolve(settings, probe, scatterers)
    events = events_for(settings, probe)
    channels = simulate_channels(scatterers, probe, events, attenuation_db_cm_mhz=settings.attenuation_db_cm_mhz,
                                 device=device, excitation_cycles=settings.excitation_cycles, progress=progress)
    radii = radii_for(settings, probe)
    beamformed = beamform.beamform(channels, events, probe, radii, f_number=settings.rx_f_number,
                                   apodization=settings.rx_apodization)
    envelope = bmode.envelope(beamformed.lines)
    if settings.tgc:
        gain = bmode.tgc_gain_db(radii, attenuation_db_cm_mhz=settings.attenuation_db_cm_mhz,
                                 center_frequency=probe.center_frequency)
        envelope = bmode.apply_tgc(envelope, gain)
    reference = settings.reference or reference_level(probe, settings, device)
    grid = scan.default_grid(beamformed.geometry, settings.shape)
    envelope_image = scan.scan_convert(envelope, beamformed.geometry, grid)
    image = bmode.log_compress(envelope_image, reference=reference, dynamic_range_db=settings.dynamic_range_db,
                               gain_db=settings.gain_db)
    image[~scan.imaged_mask(beamformed.geometry, grid)] = 0
    params = {"probe": probe.as_dict(), "settings": {**settings.__dict__, "reference": reference},
              "scatterers": len(scatterers), "device": device}
    return Simulation(probe, settings, channels, beamformed, envelope.astype(np.float32), grid,
                      envelope_image, image, time.perf_counter() - start, params)


def reference_level(probe: Probe, settings: Settings, device: str = "auto") -> float:
    """The fixed 0 dB level: the envelope peak of a unit scatterer on the central line at the
    transmit focus (IVUS: 2 mm beyond the catheter), without attenuation.

    DECISION: a physical constant of probe and settings, never the image's own maximum, so
    that equal tissue looks equally bright in every image simulated with the same settings.
    """
    key = (probe, settings.scheme, settings.focus, settings.tx_f_number, settings.rx_f_number,
           settings.tx_apodization, settings.rx_apodization, settings.excitation_cycles, settings.angles)
    return _reference_level(key, device)


@functools.lru_cache(maxsize=32)
def _reference_level(key, device):
    probe, scheme, focus, *_ = key
    settings = Settings(scheme=scheme, focus=focus, tx_f_number=key[3], rx_f_number=key[4], tx_apodization=key[5],
                        rx_apodization=key[6], excitation_cycles=key[7], angles=key[8], attenuation_db_cm_mhz=0.0)
    if probe.kind == "ivus":
        x, z, depth = 0.0, probe.catheter_radius + 2e-3, 2e-3
    elif probe.kind == "convex":
        x, z, depth = 0.0, focus, focus
    else:
        x, z, depth = 0.0, focus, focus
    point = Scatterers([x], [0.0], [z], [1.0])
    settings = replace(settings, depth=depth * 1.2, n_lines=1)
    events = events_for(settings, probe)
    if settings.scheme == "ivus":
        events = [events[0]]
    elif settings.scheme == "focused":
        events = transmit.focused_lines(probe, 1, focus, f_number=settings.tx_f_number,
                                        apodization=settings.tx_apodization, positions=[0.0])
    channels = simulate_channels(point, probe, events, attenuation_db_cm_mhz=0.0, device=device,
                                 excitation_cycles=settings.excitation_cycles, progress=False)
    radii = radii_for(settings, probe)
    line_x = [0.0] if settings.scheme == "plane" else None
    lines = beamform.beamform(channels, events, probe, radii, f_number=settings.rx_f_number,
                              apodization=settings.rx_apodization, line_x=line_x).lines
    return float(np.abs(lines).max())
