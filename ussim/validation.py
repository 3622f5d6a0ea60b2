"""The simulator's physical checks against theory (ARCHITECTURE: physics target).

Each check simulates a small scene with the real engine and returns what it measured beside
the theory; the test suite asserts the tolerances, and `python -m ussim.validation` prints
them (about a minute on 2 cores).

Two families: scenes on the linear reference probe (speckle, point target, attenuation,
downshift, cyst), and the same speckle and point-target checks for the configurations the organ
tables actually use (`CONFIGURATIONS`: each table's probe and [imaging] settings, and the other
presets of that probe kind an organ is imaged with), so the checks follow a change of scheme.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from ussim import beamform, engine, measure, probe, scatter, simulate, tissue, transmit
from ussim.errors import UsageError
from ussim.probe import SPEED_OF_SOUND

LINEAR = probe.load("linear-7.6")


def speckle(device: str = "cpu", seed: int = 1) -> dict:
    """Speckle statistics of homogeneous tissue at the default density around the focus.

    DECISION: lines over 6 mm and 8 mm of depth (about 1300 independent speckle cells), 2 mm
    inside the scatterer field's edges; smaller regions scatter the estimates by more than the
    tolerances (seeds 1, 5, 9 give mean/std 1.82-1.89 here). 31 lines, 0.2 mm apart: about two
    a speckle cell's width (lambda F# = 0.4 mm), so the independent cells are those of 61 lines
    at half the cost (seeds 1, 5, 9: mean/std 1.871, 1.816, 1.897; m 0.896, 0.862, 0.982; log std
    5.54, 5.70, 5.64 dB; 2026-12-02).
    """
    tissue = scatter.homogeneous_box(LINEAR, (-5e-3, 5e-3), (14e-3, 26e-3), seed=seed)
    sim = simulate.simulate(tissue, LINEAR, line_positions=tuple(np.linspace(-3e-3, 3e-3, 31)), depth=26e-3,
                            focus=20e-3, attenuation_db_cm_mhz=0.0, tgc=False, device=device, progress=False)
    radii = simulate.radii_for(sim.settings, LINEAR)
    stats = measure.speckle_statistics(sim.envelope[:, (radii > 16e-3) & (radii < 24e-3)])
    return {**stats, "theory": {"mean_over_std": 1.913, "nakagami_m": 1.0, "log_std_db": 5.57}}


def point_target(device: str = "cpu", f_number: float = 2.0, focus: float = 20e-3) -> dict:
    """-6 dB widths of a point at the transmit focus, rect apertures of the same f-number."""
    target = engine.Scatterers([0.0], [0.0], [focus], [1.0])
    xs = np.linspace(-1.5e-3, 1.5e-3, 121)
    events = transmit.focused_lines(LINEAR, 0, focus, f_number=f_number, positions=xs)
    channels = engine.simulate_channels(target, LINEAR, events, attenuation_db_cm_mhz=0.0, device=device,
                                        progress=False)
    radii = np.arange(focus - 2e-3, focus + 2e-3, 5e-6)
    envelope = np.abs(beamform.beamform(channels, events, LINEAR, radii, f_number=f_number,
                                        apodization="rect").lines)
    line, sample = np.unravel_index(envelope.argmax(), envelope.shape)
    return {"axial_m": measure.fwhm(envelope[line], radii[1] - radii[0]),
            "lateral_m": measure.fwhm(envelope[:, sample], xs[1] - xs[0]),
            "peak_x_m": float(xs[line]), "peak_z_m": float(radii[sample]),
            "theory": {"axial_m": 0.883 * SPEED_OF_SOUND / (2 * LINEAR.bandwidth * LINEAR.center_frequency),
                       "lateral_m": 0.886 * LINEAR.wavelength * f_number, "peak_z_m": focus}}


def attenuation_slope(bandwidth: float = LINEAR.bandwidth, alpha: float = 0.25, device: str = "cpu") -> dict:
    """Slope (dB/cm) of the mean log envelope with depth due to attenuation (TGC off).

    The same scatterers with and without attenuation isolate attenuation from diffraction.
    The slope is -2 alpha0 f at the imaging system's effective frequency, the power centroid
    of the beamformed RF, which for a broadband probe lies below fc: the beamformed speckle
    energy weights each frequency by the beam's area (~ wavelength). 0.25 dB/cm/MHz over
    3-20 mm keeps the second-order downshift small.
    """
    probe_ = replace(LINEAR, bandwidth=bandwidth)
    tissue = scatter.homogeneous_box(probe_, (-8e-3, 8e-3), (1e-3, 22e-3), seed=2, per_cell=5)
    band = (3e-3, 20e-3)
    logs, rf = [], None
    for a in (alpha, 0.0):
        sim = simulate.simulate(tissue, probe_, scheme="plane", depth=band[1] + 1e-3, attenuation_db_cm_mhz=a,
                                tgc=False, device=device, progress=False)
        radii = simulate.radii_for(sim.settings, probe_)
        keep = np.abs(sim.beamformed.geometry.x) < 6e-3
        inside = (radii > band[0]) & (radii < band[1])
        logs.append(np.mean(20 * np.log10(sim.envelope[keep][:, inside]), axis=0))
        rf = sim.rf[keep][:, inside]
    slope = float(np.polyfit(radii[inside] * 100, logs[0] - logs[1], 1)[0])
    power = np.mean(np.abs(np.fft.rfft(rf, axis=1)) ** 2, axis=0)
    f = np.fft.rfftfreq(rf.shape[1], 1 / probe_.sampling_frequency)
    effective = float(np.sum(f * power) / np.sum(power))
    return {"bandwidth": bandwidth, "alpha_db_cm_mhz": alpha, "slope_db_cm": slope, "effective_frequency": effective,
            "theory": {"at_fc_db_cm": -2 * alpha * probe_.center_frequency / 1e6,
                       "at_effective_db_cm": -2 * alpha * effective / 1e6}}


def downshift(device: str = "cpu", alpha: float = 0.5) -> dict:
    """Peak and spectral centroid of single echoes at 10 and 30 mm (centre channel)."""
    events = transmit.plane_waves(LINEAR, [0.0])
    result = {"depth_m": [10e-3, 30e-3], "peak": [], "centroid_hz": []}
    for depth in result["depth_m"]:
        target = engine.Scatterers([0.0], [0.0], [depth], [1.0])
        rf = engine.simulate_channels(target, LINEAR, events, attenuation_db_cm_mhz=alpha, device=device,
                                      progress=False).rf[0, LINEAR.n_elements // 2]
        power = np.abs(np.fft.rfft(rf)) ** 2
        f = np.fft.rfftfreq(rf.size, 1 / LINEAR.sampling_frequency)
        result["peak"].append(float(np.abs(rf).max()))
        result["centroid_hz"].append(float(np.sum(f * power) / np.sum(power)))
    return result


def cyst_contrast(device: str = "cpu") -> dict:
    """Contrast (dB) of an anechoic 5 mm cyst at the transmit focus, focused lines."""
    box = scatter.homogeneous_box(LINEAR, (-4e-3, 4e-3), (15e-3, 25e-3), seed=3)
    outside = np.hypot(box.x, box.z - 20e-3) > 2.5e-3
    tissue = engine.Scatterers(box.x[outside], box.y[outside], box.z[outside], box.amplitude[outside])
    xs = np.linspace(-3e-3, 3e-3, 49)
    sim = simulate.simulate(tissue, LINEAR, line_positions=tuple(xs), depth=25e-3, focus=20e-3,
                            attenuation_db_cm_mhz=0.0, tgc=False, device=device, progress=False)
    radii = simulate.radii_for(sim.settings, LINEAR)
    distance = np.hypot(xs[:, None], radii[None, :] - 20e-3)
    inside = sim.envelope[distance < 1.25e-3]
    ring = sim.envelope[(distance > 3.5e-3) & (np.abs(radii[None, :] - 20e-3) < 3e-3)]
    return {"contrast_db": float(20 * np.log10(np.mean(inside) / np.mean(ring))), "theory": {"below_db": -20.0}}


# --- the configurations the organ tables use ---------------------------------------------------

# (organ table, probe preset): each table's own probe, and the IVUS table with the 40 MHz catheter,
# which `ussim phantom --organ ivus --probe ivus-40` uses. tests/ussim/test_physics.py checks that
# every organ table's probe is listed, so a table moved to another probe cannot go unchecked.
CONFIGURATIONS = (("ovary", "convex-tv-7.5"), ("ivus", "ivus-20"), ("ivus", "ivus-40"))
# DECISION: the checks image without attenuation and without TGC, as the linear scenes above: the
# theory they compare with is for a lossless medium, and the tables' display settings (dynamic
# range, gain) do not touch the envelope.
PHYSICS_ONLY = {"attenuation_db_cm_mhz": 0.0, "tgc": False}


def configuration(organ: str, probe_name: str) -> tuple[probe.Probe, dict, tissue.TissueTable]:
    """The probe, the simulation settings of the table's [imaging] section, and the table."""
    table = tissue.load(organ)
    return probe.load(probe_name), {**table.imaging, **PHYSICS_ONLY}, table


# DECISION (2026-12-04): every other one of the table's focused lines that cross the box. The
# statistics are first-order (per sample): they need independent speckle cells, not every line. The
# ovary's lines lie 0.16 mm apart at its 7 mm focus, where the point target is 0.51 mm wide across
# them (bench/RESULTS.md): every other line still samples each cell across. Measured (seeds 1-3,
# mean/std, Nakagami m, log std dB): 1.911 / 0.961 / 5.56, 1.856 / 0.871 / 5.62, 1.845 / 0.936 /
# 5.74, in 35-43 s each beside another job; seed 2 with every line 1.855 / 0.874 / 5.67 in 147 s.
# On the depth marks' scale (focus 15 mm, 2026-12-04) the lines lie 0.24 mm apart at the focus and
# every other one 0.48 mm, while the beam there is wider than at 7 mm (the same aperture, twice the
# depth); tests/ussim/test_physics.py checks the statistics at that focus.
FOCUSED_LINE_STRIDE = 2


def configured_speckle(organ: str, probe_name: str, device: str = "cpu", seed: int = 1) -> dict:
    """Speckle statistics of homogeneous tissue imaged with the table's scheme and settings.

    Convex: a 30 x 24 mm box 20-44 mm below the face; the region measured is the sector's lines and
    radii at least 3 mm inside the box (26-38 mm), about 900 independent cells with a single
    diverging wave. Focused lines: a 15 x 12 mm box centred on the focus (from 1 mm below the face
    at least), imaged by every other one of the table's lines that cross it (FOCUSED_LINE_STRIDE),
    measured 1.5 mm inside it. Coherently compounded waves (n_waves > 1) narrow the speckle across the beam
    about threefold (the point target's width, 1.79 -> 0.55 mm for three waves of convex-tv-7.5
    at 16 mm, measured 2026-12-03), so a box
    half as wide (15 mm) holds more cells than the single wave's at half the scatterers (the
    cost grows with the waves). IVUS: a disc of scatterers round the catheter out to 55
    wavelengths beyond the element, measured over the full turn from 20 to 45 wavelengths (1.5-3.5 mm at 20 MHz,
    0.8-1.7 mm at 40 MHz; about 1000 cells), so that the cost does not grow with the frequency.
    DECISION: regions large enough that seeds 1-3 stay inside the tolerances of the linear
    check (printed by `python -m ussim.validation`); smaller ones scatter the estimates more.
    """
    probe_, settings, table = configuration(organ, probe_name)
    if probe_.kind == "ivus":
        lam = probe_.wavelength
        outer = probe_.catheter_radius + 55 * lam
        box = scatter.homogeneous_box(probe_, (-outer, outer), (-outer, outer), seed=seed)
        radius = np.hypot(box.x, box.z)
        keep = (radius > probe_.catheter_radius + 0.2e-3) & (radius < outer)  # a disc, none in the catheter
        tissue_ = engine.Scatterers(box.x[keep], box.y[keep], box.z[keep], box.amplitude[keep])
        sim = simulate.simulate(tissue_, probe_, device=device, progress=False,
                                **{**settings, "depth": outer - probe_.catheter_radius})
        radii = simulate.radii_for(sim.settings, probe_)
        region = sim.envelope[:, (radii > 20 * lam) & (radii < 45 * lam)]
    else:
        if settings.get("scheme") == "focused":
            # one transmit per line costs the full engine an event per line: a box about the focus
            # (where the lines' two-way beam is narrowest, so a small box holds enough cells),
            # imaged by the table's lines that cross it only
            focus = configured_focus(settings, table)
            half_width, box_z, margin = 7.5e-3, (max(focus - 6e-3, 1e-3), focus + 6e-3), 1.5e-3
            angles = np.array([event.direction for event in transmit.focused_lines(probe_, int(settings["n_lines"]),
                                                                                    focus)])
            crossing = angles[np.abs(np.sin(angles)) * (probe_.radius + box_z[1]) <= half_width][::FOCUSED_LINE_STRIDE]
            settings = {**settings, "line_positions": tuple(map(float, crossing)), "n_lines": crossing.size}
        else:
            half_width = 15e-3 if settings.get("n_waves", 1) == 1 else 7.5e-3
            box_z, margin = (20e-3, 44e-3), 3e-3
        box_x = (-half_width, half_width)
        tissue_ = scatter.homogeneous_box(probe_, box_x, box_z, seed=seed)
        sim = simulate.simulate(tissue_, probe_, device=device, progress=False,
                                **{**settings, "depth": box_z[1] + 1e-3})
        radii = simulate.radii_for(sim.settings, probe_)
        rows = (radii > box_z[0] + margin) & (radii < box_z[1] - margin)
        lines = _lines_inside(sim.beamformed.geometry, probe_.radius if probe_.kind == "convex" else 0.0, radii[rows],
                              box_x[1] - margin)
        region = sim.envelope[lines][:, rows]
    stats = measure.speckle_statistics(region)
    return {**stats, "organ": organ, "probe": probe_name, "scheme": sim.settings.scheme,
            "theory": {"mean_over_std": 1.913, "nakagami_m": 1.0, "log_std_db": 5.57}}


def configured_focus(settings: dict, table: tissue.TissueTable) -> float:
    """The depth (m) of the table's [imaging] focus, else half its display depth (where a scheme
    without its own focus puts it: `ussim.simulate.resolve`)."""
    return float(settings.get("focus") or table.display.get("depth_mm", table.display["width_mm"]) * 1e-3 / 2)


def _lines_inside(geometry, face_radius: float, radii: np.ndarray, half_width: float) -> np.ndarray:
    """Lines all of whose samples at `radii` (m from the face) lie within |x| <= half_width:
    sector lines from the centre of curvature (`face_radius` behind the face), or vertical lines."""
    if hasattr(geometry, "angles"):
        return np.flatnonzero(np.abs(np.sin(geometry.angles)) * (face_radius + radii.max()) <= half_width)
    return np.flatnonzero(np.abs(geometry.x) <= half_width)


def configured_point_target(organ: str, probe_name: str, device: str = "cpu") -> dict:
    """-6 dB widths of a point target imaged with the table's scheme, beside diffraction theory.

    Axial: 0.883 c / (2 B) for the two-way pulse of -6 dB bandwidth B (Gaussian spectrum), as the
    linear check. Lateral: the -6 dB width of the two-way focal-plane amplitude pattern of the
    apertures actually used (`lateral_theory`). With compounded diverging waves, each wave's
    amplitude at the point is read off its own beamformed image (the others' channels zeroed): the
    one input the Fraunhofer model does not give (the offset waves reach the point through
    obliquely facing elements: 0.78 of the central wave's for three waves of convex-tv-7.5); the width still
    tests the waves' phases and their sources' geometry.

    Convex: the point lies on the central line at the [imaging] focus, else at half the table's
    display depth (where a scheme without its own focus puts it: `ussim.simulate.resolve`). IVUS:
    the point lies at the start of the element's far field, the Fraunhofer distance 2 w^2 / lambda
    from the element (the quadratic phase over the aperture then stays below pi / 8; IEEE Std
    145, and Kino, Acoustic Waves, 1987, sec. 3.3): 6.5 mm for ivus-20 (w = 0.5 mm), 8.3 mm for
    ivus-40 (w = 0.4 mm). There the two-way pattern of an unfocused rectangular element of width w
    is sinc^2(w x / (lambda r)) at lateral offset x and range r, whose -6 dB width is
    0.886 lambda r / w (half-power of one sinc: Kino sec. 3.2; Szabo, Diagnostic Ultrasound
    Imaging, 2nd ed. 2014, sec. 6.6). The lateral width is measured along the arc through the
    point (A-line angle times the point's radius from the catheter centre).
    """
    probe_, settings, table = configuration(organ, probe_name)
    if probe_.kind == "ivus":
        return _ivus_point_target(probe_, settings, device) | {"organ": organ, "probe": probe_name}
    focus = configured_focus(settings, table)
    point = engine.Scatterers([0.0], [0.0], [focus], [1.0])
    resolved = simulate.resolve(simulate.Settings(**{**settings, "depth": focus + 3e-3, "focus": focus,
                                                     "line_positions": (0.0,)}), probe_, point)
    # DECISION: 241 lines over +-0.1 rad (about 4 mm either side at the focus of a 10 mm convex
    # array): the -6 dB width of a diverging wave with dynamic receive spans ~60 of them.
    angles = np.linspace(-0.1, 0.1, 241)
    radii = np.arange(focus - 2e-3, focus + 2e-3, 5e-6)
    wave_amplitudes = None
    if resolved.scheme == "diverging":
        events = simulate.events_for(resolved, probe_)
        channels = engine.simulate_channels(point, probe_, events, attenuation_db_cm_mhz=0.0, device=device,
                                            progress=False)

        def beamformed(rf):
            return beamform.beamform(engine.ChannelData(rf, channels.sampling_frequency, channels.t0), events, probe_,
                                     radii, f_number=resolved.rx_f_number, apodization=resolved.rx_apodization,
                                     line_angles=angles).lines
        lines = beamformed(channels.rf)
        if len(events) > 1:  # compounded waves: each one's amplitude at the point weights its source
            peak = np.unravel_index(np.abs(lines).argmax(), lines.shape)
            wave_amplitudes = [float(np.abs(beamformed(np.where(np.arange(len(events))[:, None, None] == k,
                                                                 channels.rf, 0))[peak])) for k in range(len(events))]
    elif resolved.scheme == "focused":
        events = simulate.events_for(simulate.replace(resolved, line_positions=tuple(angles)), probe_)
        channels = engine.simulate_channels(point, probe_, events, attenuation_db_cm_mhz=0.0, device=device,
                                            progress=False)
        lines = beamform.beamform(channels, events, probe_, radii, f_number=resolved.rx_f_number,
                                  apodization=resolved.rx_apodization).lines
    else:
        raise UsageError(f"no point-target theory for scheme '{resolved.scheme}' of the {organ} table "
                         f"(known: diverging, focused); add it to ussim.validation")
    envelope = np.abs(lines)
    line, sample = np.unravel_index(envelope.argmax(), envelope.shape)
    arc = probe_.radius + focus  # lateral distance per radian at the point, from the sector's apex
    central_events = simulate.events_for(simulate.replace(resolved, line_positions=(0.0,)), probe_)  # wave(s) or line
    return {"organ": organ, "probe": probe_name, "scheme": resolved.scheme, "depth_m": focus,
            "axial_m": measure.fwhm(envelope[line], radii[1] - radii[0]),
            "lateral_m": measure.fwhm(envelope[:, sample], (angles[1] - angles[0]) * arc),
            "peak_angle_rad": float(angles[line]), "peak_z_m": float(radii[sample]),
            "theory": {"axial_m": _axial_theory(probe_),
                       "lateral_m": lateral_theory(probe_, resolved, central_events, focus, wave_amplitudes),
                       "peak_z_m": focus, "wave_amplitudes": wave_amplitudes}}


def _ivus_point_target(probe_: probe.Probe, settings: dict, device: str) -> dict:
    far_field = 2 * probe_.width ** 2 / probe_.wavelength
    centre = probe_.catheter_radius + far_field  # the point's radius from the catheter centre
    point = engine.Scatterers([0.0], [0.0], [centre], [1.0])
    resolved = simulate.resolve(simulate.Settings(**{**settings, "depth": far_field + 1e-3}), probe_, point)
    # DECISION: 8192 A-lines per turn (0.77 mrad, ~5 um at the point) of which those within 0.25 rad
    # of the point (the -6 dB width spans ~0.13 rad at 20 MHz); each is beamformed on its own,
    # because a partial turn is no RadialLines geometry.
    fine = 8192
    events = simulate.events_for(simulate.replace(resolved, n_lines=fine), probe_)
    angle = np.angle(np.exp(1j * np.array([event.direction for event in events])))
    near = np.flatnonzero(np.abs(angle) < 0.25)
    near = near[np.argsort(angle[near])]
    events = [events[i] for i in near]
    channels = engine.simulate_channels(point, probe_, events, attenuation_db_cm_mhz=0.0, device=device,
                                        progress=False)
    radii = np.arange(far_field - 0.4e-3, far_field + 0.4e-3, 1e-6)
    envelope = np.stack([np.abs(beamform.beamform(engine.ChannelData(channels.rf[i:i + 1], channels.sampling_frequency,
                                                                     channels.t0), [event], probe_, radii).lines[0])
                         for i, event in enumerate(events)])
    line, sample = np.unravel_index(envelope.argmax(), envelope.shape)
    step = float(angle[near][1] - angle[near][0])
    return {"scheme": resolved.scheme, "depth_m": far_field,
            "axial_m": measure.fwhm(envelope[line], radii[1] - radii[0]),
            "lateral_m": measure.fwhm(envelope[:, sample], step * centre),
            "peak_angle_rad": float(angle[near][line]), "peak_z_m": float(radii[sample]),
            "theory": {"axial_m": _axial_theory(probe_),
                       "lateral_m": 0.886 * probe_.wavelength * far_field / probe_.width, "peak_z_m": far_field}}


def _axial_theory(probe_: probe.Probe) -> float:
    return 0.883 * SPEED_OF_SOUND / (2 * probe_.bandwidth * probe_.center_frequency)


def lateral_theory(probe_: probe.Probe, settings: simulate.Settings, transmits, depth: float,
                   wave_amplitudes=None) -> float:
    """-6 dB width (m) of the two-way lateral pattern at a point on the central line, `depth` below the face.

    Fraunhofer (focal-plane) diffraction: at its focus an aperture's amplitude pattern is the
    Fourier transform of its apodization over the sines of the angles at which its elements are
    seen from the point (Goodman, Introduction to Fourier Optics, 3rd ed., sec. 5.2); the two-way
    pattern is the product of the transmit and receive patterns (Szabo 2014, sec. 7.4). Receive:
    the dynamic aperture of ussim.beamform, the elements with |u| <= 1, u = 2 F# x tan(angle
    between the element normal and the point), weighted by the receive window of u. Transmit:
    a focused line's active elements and apodization; a diverging wave from the centre of
    curvature reaches every point at one radius alike (rotational symmetry), so it contributes
    no lateral pattern and the two-way width is the receive one. Several diverging waves summed
    coherently (`transmits`: the central line's events) synthesise a transmit aperture whose
    elements are their virtual sources (Montaldo et al., IEEE TUFFC 56, 2009, for plane waves;
    Papadacci et al., IEEE TUFFC 61, 2014, for diverging ones): a lateral offset dx of the
    scatterer changes wave k's transmit phase by 2 pi dx sin(theta_k) / lambda, theta_k the angle
    at which its source is seen from the point, so the transmit pattern is the sources' array
    factor, each source weighted by its wave's amplitude at the point (`wave_amplitudes`, in the
    order of `transmits`; equal without them). Checks (tests/ussim/
    test_physics.py): equal rect apertures give 0.886 lambda F#, a rect one-way aperture
    1.21 lambda F# and a Hann one 2.00 lambda F# (Harris, Proc. IEEE 66, 1978, table 1).
    """
    ex, ez, normal = probe_.element_positions()
    apex = (0.0, -probe_.radius) if probe_.kind == "convex" else (0.0, 0.0)
    px, pz = apex[0], apex[1] + (probe_.radius if probe_.kind == "convex" else 0.0) + depth
    dx, dz = px - ex, pz - ez
    along = dx * np.sin(normal) + dz * np.cos(normal)
    # elements facing away from the point (along <= 0) lie outside the aperture (u = 2), as ussim.beamform skips them
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(along > 0, (dx * np.cos(normal) - dz * np.sin(normal)) * 2 * settings.rx_f_number / along, 2.0)
    sines = -dx / np.hypot(dx, dz)  # the beam axis is the central line (+z)
    patterns = [(sines, transmit.window(settings.rx_apodization, u))]
    transmits = [transmits] if isinstance(transmits, engine.Transmit) else list(transmits)
    central = transmits[0]
    if central.kind == "focused":
        weights = np.zeros(probe_.n_elements)
        weights[central.tx] = central.apodization
        patterns.append((sines, weights))
    elif central.kind != "diverging":
        raise UsageError(f"no lateral theory for transmit kind '{central.kind}' (known: focused, diverging)")
    elif len(transmits) > 1:  # coherently compounded waves: their virtual sources' array factor
        sx, sz = np.array([event.origin for event in transmits], float).T
        weights = np.ones(sx.size) if wave_amplitudes is None else np.asarray(wave_amplitudes, float)
        patterns.append((-(px - sx) / np.hypot(px - sx, pz - sz), weights))
    return fraunhofer_width(patterns, probe_.wavelength)


def fraunhofer_width(apertures: list[tuple[np.ndarray, np.ndarray]], wavelength: float) -> float:
    """-6 dB full width (m) of the product of the focal-plane amplitude patterns of `apertures`,
    each given as (sines of the angles at which its elements are seen from the focus, weights)."""
    extent = max(np.ptp(sines[weights > 0]) for sines, weights in apertures)
    x = np.linspace(-4, 4, 8001) * wavelength / max(extent, 1e-6)
    product = np.ones_like(x)
    for sines, weights in apertures:
        product *= np.abs(np.exp(-2j * np.pi * np.outer(x, sines) / wavelength) @ weights)
    return measure.fwhm(product, x[1] - x[0])


def run_all(device: str = "cpu") -> dict:
    configured = {f"{organ}/{name}": {"speckle": configured_speckle(organ, name, device),
                                      "point_target": configured_point_target(organ, name, device)}
                  for organ, name in CONFIGURATIONS}
    return {"speckle": speckle(device), "point_target": point_target(device),
            "attenuation_narrowband": attenuation_slope(0.4, device=device),
            "attenuation_preset": attenuation_slope(device=device), "downshift": downshift(device),
            "cyst": cyst_contrast(device), "configured": configured}


if __name__ == "__main__":
    print(json.dumps(run_all(), indent=2))
