"""Physical validation of the simulator against theory (ARCHITECTURE: physics target).

Each test simulates a small scene with the real engine on the CPU; together they take about
half a minute on 2 cores.
"""

from dataclasses import replace

import numpy as np
import pytest

from ussim import beamform, engine, probe, scatter, simulate, transmit
from ussim.probe import SPEED_OF_SOUND

LINEAR = probe.load("linear-7.6")


def fwhm(profile: np.ndarray, step: float) -> float:
    """-6 dB full width of an envelope profile, edges interpolated between samples."""
    half = profile.max() / 2
    above = np.flatnonzero(profile >= half)
    lo, hi = above[0], above[-1]
    left = lo - (profile[lo] - half) / (profile[lo] - profile[lo - 1])
    right = hi + (profile[hi] - half) / (profile[hi] - profile[hi + 1])
    return (right - left) * step


def test_homogeneous_speckle_is_fully_developed():
    scatterers = scatter.homogeneous_box(LINEAR, (-3.5e-3, 3.5e-3), (15e-3, 25e-3), seed=1)
    sim = simulate.simulate(scatterers, LINEAR, line_positions=tuple(np.linspace(-2e-3, 2e-3, 41)), depth=25e-3,
                            focus=20e-3, attenuation_db_cm_mhz=0.0, tgc=False, device="cpu", progress=False)
    radii = simulate.radii_for(sim.settings, LINEAR)
    region = sim.envelope[:, (radii > 17e-3) & (radii < 23e-3)]
    # The focal gain changes the mean brightness by several dB across the region; dividing
    # each depth row by its RMS over the lines removes that trend (as TGC would) and keeps
    # the speckle distribution.
    envelope = (region / np.sqrt(np.mean(region ** 2, axis=0))).ravel()
    intensity = envelope ** 2
    assert envelope.mean() / envelope.std() == pytest.approx(1.913, abs=0.10)
    assert intensity.mean() ** 2 / intensity.var() == pytest.approx(1.0, abs=0.15)  # Nakagami m
    assert np.std(20 * np.log10(envelope)) == pytest.approx(5.57, abs=0.3)


def test_point_target_widths_match_theory():
    focus, f_number = 20e-3, 2.0
    target = engine.Scatterers([0.0], [0.0], [focus], [1.0])
    xs = np.linspace(-1.5e-3, 1.5e-3, 121)
    events = transmit.focused_lines(LINEAR, 0, focus, f_number=f_number, positions=xs)
    channels = engine.simulate_channels(target, LINEAR, events, attenuation_db_cm_mhz=0.0, device="cpu",
                                        progress=False)
    radii = np.arange(18e-3, 22e-3, 5e-6)
    envelope = np.abs(beamform.beamform(channels, events, LINEAR, radii, f_number=f_number,
                                        apodization="rect").lines)
    line, sample = np.unravel_index(envelope.argmax(), envelope.shape)
    assert radii[sample] == pytest.approx(focus, abs=20e-6) and xs[line] == pytest.approx(0.0, abs=1e-9)
    axial_theory = 0.883 * SPEED_OF_SOUND / (2 * LINEAR.bandwidth * LINEAR.center_frequency)
    lateral_theory = 0.886 * LINEAR.wavelength * f_number
    assert fwhm(envelope[line], radii[1] - radii[0]) == pytest.approx(axial_theory, rel=0.15)
    assert fwhm(envelope[:, sample], xs[1] - xs[0]) == pytest.approx(lateral_theory, rel=0.15)


def _mean_log_envelope(probe_, scatterers, alpha, band=(3e-3, 20e-3)):
    """Mean log envelope (dB) over depth of plane-wave lines within 6 mm of the axis, and the RF."""
    sim = simulate.simulate(scatterers, probe_, scheme="plane", depth=band[1] + 1e-3, attenuation_db_cm_mhz=alpha,
                            tgc=False, device="cpu", progress=False)
    radii = simulate.radii_for(sim.settings, probe_)
    keep = np.abs(sim.beamformed.geometry.x) < 6e-3
    inside = (radii > band[0]) & (radii < band[1])
    return radii[inside], np.mean(20 * np.log10(sim.envelope[keep][:, inside]), axis=0), sim.rf[keep][:, inside]


@pytest.mark.parametrize("bandwidth", [0.4, 0.77])
def test_mean_log_envelope_falls_at_two_alpha_f(bandwidth):
    """The same scatterers with and without attenuation (TGC off) isolate attenuation from
    diffraction. The slope is -2 alpha0 f at the imaging system's effective frequency: the
    power centroid of the beamformed RF, which for a broadband probe lies below fc (the
    beamformed speckle energy weights each frequency by the beam's area, ~ wavelength).

    DECISION: the literal check against -2 alpha0 fc runs on a 40 %-bandwidth variant of the
    linear probe, where that centroid is within a few % of fc; the preset's 77 % is checked
    against its measured centroid (6.7 MHz for 7.6 MHz). 0.25 dB/cm/MHz over 3-20 mm keeps the
    second-order downshift (checked separately below) small.
    """
    probe_ = replace(LINEAR, bandwidth=bandwidth)
    alpha = 0.25
    scatterers = scatter.homogeneous_box(probe_, (-8e-3, 8e-3), (1e-3, 22e-3), seed=2, per_cell=5)
    radii, with_loss, _ = _mean_log_envelope(probe_, scatterers, alpha)
    _, without, rf = _mean_log_envelope(probe_, scatterers, 0.0)
    slope = np.polyfit(radii * 100, with_loss - without, 1)[0]  # dB per cm
    power = np.mean(np.abs(np.fft.rfft(rf, axis=1)) ** 2, axis=0)
    f = np.fft.rfftfreq(rf.shape[1], 1 / probe_.sampling_frequency)
    effective = np.sum(f * power) / np.sum(power)
    assert slope == pytest.approx(-2 * alpha * effective / 1e6, rel=0.10)
    if bandwidth <= 0.4:
        assert slope == pytest.approx(-2 * alpha * probe_.center_frequency / 1e6, rel=0.10)


def test_deeper_echoes_are_weaker_and_downshifted():
    events = transmit.plane_waves(LINEAR, [0.0])
    centroids, peaks = [], []
    for depth in (10e-3, 30e-3):
        target = engine.Scatterers([0.0], [0.0], [depth], [1.0])
        rf = engine.simulate_channels(target, LINEAR, events, attenuation_db_cm_mhz=0.5, device="cpu",
                                      progress=False).rf[0, LINEAR.n_elements // 2]
        spectrum = np.abs(np.fft.rfft(rf)) ** 2
        f = np.fft.rfftfreq(rf.size, 1 / LINEAR.sampling_frequency)
        centroids.append(np.sum(f * spectrum) / np.sum(spectrum))
        peaks.append(np.abs(rf).max())
    assert peaks[1] < peaks[0] * 10 ** (-10 / 20)
    assert centroids[1] < centroids[0] - 0.5e6


def test_anechoic_cyst_contrast_below_minus_20_db():
    box = scatter.homogeneous_box(LINEAR, (-4e-3, 4e-3), (15e-3, 25e-3), seed=3)
    outside = np.hypot(box.x, box.z - 20e-3) > 2.5e-3
    cyst = engine.Scatterers(box.x[outside], box.y[outside], box.z[outside], box.amplitude[outside])
    xs = np.linspace(-3e-3, 3e-3, 49)
    sim = simulate.simulate(cyst, LINEAR, line_positions=tuple(xs), depth=25e-3, focus=20e-3,
                            attenuation_db_cm_mhz=0.0, tgc=False, device="cpu", progress=False)
    radii = simulate.radii_for(sim.settings, LINEAR)
    distance = np.hypot(xs[:, None], radii[None, :] - 20e-3)
    inside = sim.envelope[distance < 1.25e-3]
    ring = sim.envelope[(distance > 3.5e-3) & (np.abs(radii[None, :] - 20e-3) < 3e-3)]
    assert 20 * np.log10(np.mean(inside) / np.mean(ring)) < -20
