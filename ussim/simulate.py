"""`simulate(scatterers, probe, ...)`: scatterers in, RF, envelope and B-mode image out.

The chain: transmit sequence -> pulse-echo channel data (ussim.engine) -> delay-and-sum
(ussim.beamform) -> envelope -> TGC -> scan conversion to a display grid in mm (ussim.scan) ->
the display: the organ's scanner display chain (ussim.display: gray map, gain, TGC points, field
of view and what the scanner draws) when `display_chain` names an organ table, else a linear log
compression against the fixed reference (ussim.bmode). The envelope stays physical either way.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from ussim import beamform, bmode, display, scan, scatter, transmit
from ussim import probe as probes
from ussim.engine import ChannelData, Scatterers, face_distance, resolve_device, simulate_channels
from ussim.errors import UsageError
from ussim.probe import SPEED_OF_SOUND, Probe


@dataclass(frozen=True)
class Settings:
    """Everything besides the scatterers that decides the image. One table of defaults.

    `None` means: chosen from the probe and the scene (see `resolve`).
    """
    scheme: str | None = None            # focused | plane (linear, phased) | diverging (convex) | ivus
    n_lines: int | None = None
    line_positions: tuple[float, ...] | None = None  # explicit line x (linear) or angles (sector)
    focus: float | None = None           # m, transmit focus along each line
    angles: tuple[float, ...] = (0.0,)   # rad, plane-wave compounding angles
    n_waves: int = 1                     # diverging waves compounded coherently (convex; ussim.transmit)
    depth: float | None = None           # m, imaging depth from the probe face
    tx_f_number: float = 2.0
    rx_f_number: float = 1.5
    tx_apodization: str = "rect"
    rx_apodization: str = "hann"         # DECISION: Hann on receive, as scanners, for low side lobes
    attenuation_db_cm_mhz: float = 0.5   # nominal medium (soft-tissue average): attenuates scatterers
                                         # without their own path integral, and sets the TGC
    tgc: bool = True                     # compensate the nominal attenuation
    # The share of the nominal two-way attenuation the TGC makes up: scanners' default TGC usually
    # leaves part of it in the image, and it lifts the receiver noise (noise_db) with depth alike.
    # With a display chain, this gain and the chain's TGC both act on the envelope by depth, so an
    # organ table sets the share only to keep the chain's fitted points inside their bounds.
    tgc_compensation: float = 1.0
    dynamic_range_db: float = 60.0
    gain_db: float = 0.0
    reference: float | None = None       # envelope shown at 0 dB (None: see reference_level)
    display_chain: str | None = None     # organ table (preset or .toml) whose display chain shows the
                                         # image (ussim.display); None: linear dynamic range and gain
    shape: tuple[int, int] = (256, 256)
    excitation_cycles: float = 1.0
    noise_db: float | None = None        # receiver noise RMS in dB re the fixed reference (receiver_noise); None: none
    floor_noise_db: float | None = None  # the digitiser's noise after the nominal TGC, dB re the reference (floor_noise)
    noise_seed: int = 0                  # seeds the receiver noise and the floor noise
    exam_gain_db: float = 0.0            # added to the display chain's gain: this exam's own setting
                                         # (ussim.display.exam_gain_db; ussim.phantom draws it per image)


@dataclass
class Simulation:
    probe: Probe
    settings: Settings
    channels: ChannelData | None  # None from the fast engine, which makes no channel data
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
    if not (np.isfinite(settings.tgc_compensation) and settings.tgc_compensation >= 0):
        raise UsageError(f"tgc_compensation {settings.tgc_compensation} (allowed: a finite share >= 0 of the "
                         f"nominal attenuation; 1 makes up all of it)")
    for key in NOISE_KEYS:
        if getattr(settings, key) is not None and not np.isfinite(getattr(settings, key)):
            raise UsageError(f"{key} {getattr(settings, key)} (allowed: a finite level in dB, or none)")
    scheme = settings.scheme or ("ivus" if probe.kind == "ivus" else "focused")
    schemes = {"ivus": ("ivus",), "convex": ("focused", "diverging")}.get(probe.kind, ("focused", "plane"))
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
    if settings.scheme == "diverging":
        return transmit.diverging_waves(probe, settings.n_waves, apodization=settings.tx_apodization)
    return transmit.focused_lines(probe, settings.n_lines, settings.focus, f_number=settings.tx_f_number,
                                  apodization=settings.tx_apodization, positions=settings.line_positions,
                                  rx_half_aperture=settings.depth / (2 * settings.rx_f_number))


def radii_for(settings: Settings, probe: Probe) -> np.ndarray:
    """Samples along each line: one per RF sample of round trip (c / 2 fs)."""
    start = probe.dead_zone - probe.catheter_radius if probe.kind == "ivus" else 0.0
    return np.arange(start, settings.depth, SPEED_OF_SOUND / (2 * probe.sampling_frequency))


ENGINES = ("full", "fast")


def simulate(scatterers: Scatterers, probe: Probe | str, settings: Settings | None = None, *,
             device: str = "auto", progress: bool = True, grid: scan.DisplayGrid | None = None,
             engine: str = "full", **overrides) -> Simulation:
    """Simulate one B-mode image of `scatterers` with `probe` (a Probe or a preset name).

    Keyword overrides change single settings: simulate(s, "linear-7.6", focus=0.02). `grid`
    fixes the display pixels (e.g. those of a label mask); by default they cover the scan.
    `engine`: "full" computes channel data and beamforms them (ussim.engine, ussim.beamform);
    "fast" convolves the scatterers on the beam grid with the full engine's point-spread
    functions of this probe and these settings (ussim.fast). Everything after the beamformed
    lines is the same code for both.
    """
    start = time.perf_counter()
    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}' (allowed: {', '.join(ENGINES)})")
    probe = probes.load(probe) if isinstance(probe, str) else probes.validate(probe)
    try:
        settings = replace(settings or Settings(), **overrides)
    except TypeError as error:
        raise UsageError(f"unknown simulation setting: {error}") from None
    settings = resolve(settings, probe, scatterers)
    events = events_for(settings, probe)
    radii = radii_for(settings, probe)
    line_angles = None
    if settings.scheme == "diverging":  # as many lines as asked for, over the array's field of view
        fov = np.abs(probe.element_positions()[2]).max()
        line_angles = np.linspace(-fov, fov, settings.n_lines)
    if engine == "fast":
        from ussim import fast
        channels = None
        geometry = beamform.line_geometry(events, probe, radii, line_angles=line_angles)
        # the GPU path: torch's FFTs on CUDA where the device resolves to it (the bank's point
        # targets run on the full engine's own device)
        backend = "torch" if resolve_device(device) == "cuda" else "numpy"
        beamformed = fast.beamformed(scatterers, probe, settings, events, radii, geometry, device=device,
                                     backend=backend)
    else:
        channels = simulate_channels(scatterers, probe, events, attenuation_db_cm_mhz=settings.attenuation_db_cm_mhz,
                                     device=device, excitation_cycles=settings.excitation_cycles, progress=progress)
        beamformed = beamform.beamform(channels, events, probe, radii, f_number=settings.rx_f_number,
                                       apodization=settings.rx_apodization, line_angles=line_angles)
    reference = settings.reference or reference_level(probe, settings, device)
    grid = grid or scan.default_grid(beamformed.geometry, settings.shape)
    lines = beamformed.lines + line_noise(beamformed.lines.shape, settings, reference, probe)
    envelope, envelope_image = detect(lines, beamformed.geometry, settings, probe, grid)
    image = display_image(envelope_image, beamformed.geometry, settings, grid, reference)
    params = {"probe": probe.as_dict(), "settings": {**settings.__dict__, "reference": reference},
              "scatterers": len(scatterers), "device": device, "engine": engine}
    if settings.display_chain is not None:
        params["display_chain"] = display.load(settings.display_chain).as_dict()
    return Simulation(probe, settings, channels, beamformed, envelope.astype(np.float32), grid,
                      envelope_image, image, time.perf_counter() - start, params)


# the settings that add noise to the beamformed lines (line_noise)
NOISE_KEYS = ("noise_db", "floor_noise_db")


def line_noise(shape: tuple[int, ...], settings: Settings, reference: float, probe: Probe) -> np.ndarray | float:
    """All the noise on the beamformed lines (`shape`): the receiver's before the TGC and the
    digitiser's after it (receiver_noise, floor_noise)."""
    return receiver_noise(shape, settings, reference) + floor_noise(shape, settings, reference, probe)


def floor_noise(shape: tuple[int, ...], settings: Settings, reference: float, probe: Probe) -> np.ndarray | float:
    """The digitiser's noise on the beamformed lines (`shape`): complex white Gaussian noise of RMS
    reference x 10^(floor_noise_db / 20) after the nominal TGC, so divided here by that TGC's gain
    at each sample (detect multiplies it back); seeded by settings.noise_seed, a stream of its own;
    0 when floor_noise_db is None.

    DECISION: a scanner's noise has two parts. The front end's thermal noise enters before the
    analog TGC amplifier, which lifts it with depth (receiver_noise); the converter's and the
    digital chain's enter after it, at one level at every depth. The ovary archive's anechoic
    regions read 5-7 gray at every depth, and 0.1 % of its ovaries' pixels lie at 0-2 gray, where
    the receiver noise alone, at the level that leaves the far field to the echoes (-59 dB), reads
    0-4 gray down to 35 mm (bench/RESULTS.md, "The far field was receiver noise"). The console's own TGC ([display_chain]
    tgc_db) acts after both, as the gray map does. No organ table names a floor yet: the ovary's
    trial (-46 dB beside a receiver noise of -65 dB) gained in the classifier's eyes at `mask` and
    lost the ovary's histogram and `mask+image`, so it was not adopted (bench/RESULTS.md, "The far
    field was receiver noise"); nor was a floor of -48 dB with no receiver noise and eight TGC points,
    which lost the background's held-out histogram ("Eight TGC points").
    """
    if settings.floor_noise_db is None:
        return 0.0
    noise = white_noise(shape, [settings.noise_seed, 4], reference * 10 ** (settings.floor_noise_db / 20))
    if settings.tgc:
        radii = radii_for(settings, probe)
        if radii.size != shape[-1]:
            raise ValueError(f"{shape[-1]} samples a line, the settings' depth gives {radii.size}")
        noise *= (10 ** (-nominal_tgc_db(radii, settings, probe) / 20)).astype(np.float32)
    return noise


def receiver_noise(shape: tuple[int, ...], settings: Settings, reference: float) -> np.ndarray | float:
    """The receiver's noise on the beamformed lines (`shape`): complex white Gaussian noise of RMS
    reference x 10^(noise_db / 20), seeded by settings.noise_seed; 0 when noise_db is None.

    DECISION: added to the beamformed lines, before envelope and TGC, at one level for every
    sample: a scanner's thermal noise enters every channel alike and sums incoherently in the
    beamformer, and its TGC lifts it with depth, so anechoic regions are not black and the far field
    turns noisy. An organ table may name one level ([imaging] noise_db), fitted with its tissue by
    bench/fit_tissue.py (now with --fit-noise only) or with the gray map by bench/fit_display.py
    --fit-noise: the ovary's does (fitted on 36 tuning frames, it brings the held-out ovary
    class closer; on 12 it had not: bench/RESULTS.md, "Receiver noise" and "A larger split"); the
    IVUS table names none. The lines that `Simulation.beamformed`
    keeps are the echoes alone; the envelope and the image carry the noise.
    """
    if settings.noise_db is None:
        return 0.0
    return white_noise(shape, [settings.noise_seed, 3], reference * 10 ** (settings.noise_db / 20))


def white_noise(shape: tuple[int, ...], seed: list[int], rms: float) -> np.ndarray:
    """Complex white Gaussian noise (complex64) of RMS `rms`, from the random stream `seed` (the
    noise seed and a stream number of its own beside the scatterers': 3 receiver, 4 floor)."""
    noise = np.random.default_rng(seed).standard_normal((*shape, 2), dtype=np.float32) * np.float32(rms / np.sqrt(2))
    return noise[..., 0] + 1j * noise[..., 1]


def nominal_tgc_db(radii: np.ndarray, settings: Settings, probe: Probe) -> np.ndarray:
    """The nominal TGC's gain (dB) at each sample depth `radii`: the settings' share of the
    nominal attenuation (bmode.tgc_gain_db)."""
    return bmode.tgc_gain_db(radii, attenuation_db_cm_mhz=settings.attenuation_db_cm_mhz,
                             center_frequency=probe.center_frequency, compensation=settings.tgc_compensation)


def detect(lines: np.ndarray, geometry: scan.Geometry, settings: Settings, probe: Probe,
           grid: scan.DisplayGrid) -> tuple[np.ndarray, np.ndarray]:
    """Beamformed lines to (envelope after TGC per line, envelope image on `grid`): envelope,
    nominal TGC, anti-aliasing along the lines, scan conversion. Linear in |lines|, so scatterer
    groups beamformed apart can be recombined before it (bench/fit_tissue.py)."""
    radii = radii_for(settings, probe)
    envelope = bmode.envelope(lines)
    if settings.tgc:
        envelope = bmode.apply_tgc(envelope, nominal_tgc_db(radii, settings, probe))
    return envelope, scan.scan_convert(antialiased(envelope, radii, grid), geometry, grid)


def display_image(envelope_image: np.ndarray, geometry: scan.Geometry, settings: Settings, grid: scan.DisplayGrid,
                  reference: float) -> np.ndarray:
    """The uint8 image shown: the organ's display chain (ussim.display) when the settings name
    one, else a linear log compression with the settings' range and gain, black where no line reached."""
    imaged = scan.imaged_mask(geometry, grid)
    if settings.display_chain is None:
        image = bmode.log_compress(envelope_image, reference=reference, dynamic_range_db=settings.dynamic_range_db,
                                   gain_db=settings.gain_db)
        image[~imaged] = 0
        return image
    # the scanner's own chain; pixels it shows but no line reached stay as dark as no echo
    chain = display.with_gain(display.load(settings.display_chain), settings.exam_gain_db)
    return display.render(np.where(imaged, envelope_image, 0.0), reference, grid, chain)


def antialiased(envelope: np.ndarray, radii: np.ndarray, grid: scan.DisplayGrid) -> np.ndarray:
    """The envelope low-passed along each line to the display's pixel pitch before scan
    conversion, as a scanner decimates: RF samples lie several to a pixel, and sampling the
    envelope at the pixel centres alone would alias the speckle into a finer, pixel-sized grain.
    DECISION: a Gaussian of sigma (pitch / sample step - 1) / 2 samples, scikit-image's
    anti-aliasing rule for downscaling; across lines nothing, the lines being about as dense as
    the pixels.
    """
    pitch = float(np.sqrt(np.mean(np.diff(grid.x)) * np.mean(np.diff(grid.z))))
    sigma = (pitch / float(radii[1] - radii[0]) - 1) / 2
    return ndimage.gaussian_filter1d(envelope, sigma, axis=-1, mode="nearest") if sigma > 0 else envelope


# DECISION: 0 dB (white) lies 20 dB above the expected speckle RMS of tissue at the default
# density: typical tissue shows mid-to-light gray and bright reflectors have 20 dB of headroom.
# Speckle intensity is density x integral of |PSF|^2, about 1.5 cells' worth of the peak for a
# Gaussian-like PSF, so the RMS is the point peak x sqrt(1.5 x scatterers per cell).
REFERENCE_HEADROOM_DB = 20.0
PSF_VOLUME_FACTOR = 1.5


def reference_level(probe: Probe, settings: Settings, device: str = "auto") -> float:
    """The fixed 0 dB envelope of probe and settings, never the image's own maximum, so that
    equal tissue looks equally bright in every image made with the same settings.

    From the envelope peak of a unit scatterer on the central line at the transmit focus (IVUS:
    2 mm beyond the catheter), without attenuation; see REFERENCE_HEADROOM_DB.
    """
    key = (probe, settings.scheme, settings.focus, settings.tx_f_number, settings.rx_f_number,
           settings.tx_apodization, settings.rx_apodization, settings.excitation_cycles, settings.angles,
           settings.n_waves)
    speckle_rms = _point_peak(key, device) * np.sqrt(PSF_VOLUME_FACTOR * scatter.SCATTERERS_PER_CELL)
    return float(speckle_rms * 10 ** (REFERENCE_HEADROOM_DB / 20))


@functools.lru_cache(maxsize=32)
def _point_peak(key, device):
    probe, scheme, focus, tx_f, rx_f, tx_apod, rx_apod, cycles, angles, n_waves = key
    depth = 2e-3 if probe.kind == "ivus" else focus
    z = probe.catheter_radius + depth if probe.kind == "ivus" else focus
    point = Scatterers([0.0], [0.0], [z], [1.0])
    # the imaging scheme's own transmit, reduced to the central line: a reference from another
    # scheme (e.g. a focused line for a diverging-wave image) would misplace the brightness
    settings = Settings(scheme=scheme, n_lines=16 if probe.kind == "ivus" else 1, line_positions=(0.0,),
                        focus=focus, angles=angles, depth=depth * 1.2, tx_f_number=tx_f, rx_f_number=rx_f,
                        tx_apodization=tx_apod, rx_apodization=rx_apod, n_waves=n_waves)
    # a compounded diverging-wave image sums all its waves at every point: keep them all
    events = events_for(settings, probe)
    events = events if scheme == "diverging" else events[:1]
    channels = simulate_channels(point, probe, events, attenuation_db_cm_mhz=0.0, device=device,
                                 excitation_cycles=cycles, progress=False)
    lines = beamform.beamform(channels, events, probe, radii_for(settings, probe), f_number=rx_f,
                              apodization=rx_apod, line_x=[0.0] if scheme == "plane" else None,
                              line_angles=[0.0] if scheme == "diverging" else None).lines
    return float(np.abs(lines).max())
