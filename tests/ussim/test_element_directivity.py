"""The elements' directivity over the whole band (issue 21): a plane wave's echo from one point,
heard on the centre channel, against the analytic echo of a baffled array of rectangular
elements. After the echo come the pulses of the elements the plane wave's front does not cancel
(the array's grating lobes at the upper part of the band, pitch 1.5 wavelengths at fc); their
level is set by each element's directivity at their own frequency. With the directivity at fc
only, that tail was up to 10 dB too high (measured: -16.6, -20.6, -31.0, -48.6 dB against
-26.2, -26.6, -28.9, -28.4 dB analytic) and a cyst filled 4-5 dB more than in PyMUST
(bench/pymust_cyst.py). About 3 s."""

import numpy as np
import pytest
from scipy.signal import hilbert

from ussim import engine, probe, pulse, transmit
from ussim.probe import SPEED_OF_SOUND

# linear-7.6 cut to 48 elements, with an elevation small enough (0.1 mm, unfocused) to be a
# point in elevation at every range: the analytic echo below is then the whole physics.
SMALL = probe.from_table(dict(name="small-linear", kind="linear", center_frequency_mhz=7.6, bandwidth=0.77,
                              n_elements=48, pitch_mm=0.3, kerf_mm=0.03, height_mm=0.1,
                              elevation_focus_mm=float("inf"), sampling_frequency_mhz=30.4))
DEPTH = 6e-3
CENTRE = SMALL.n_elements // 2
WINDOWS_US = (0.5, 1.0, 1.5, 2.0)  # 0.5 us windows after the echo, up to the array's ends (2.1 us later)
TOLERANCE_DB = 1.5


def analytic_echo(n_samples: int) -> np.ndarray:
    """Centre channel's analytic signal: the pulse spectrum times the sum over transmit
    elements and the receive element of sinc(pi f w sin(theta) / c) cos(theta) exp(-i k r) / r."""
    ex = SMALL.element_positions()[0]
    f = np.linspace(0.05, 2.5, 400) * SMALL.center_frequency
    spectrum = pulse.design(SMALL.center_frequency, SMALL.bandwidth, 8 * SMALL.sampling_frequency).spectrum(f)
    r = np.hypot(ex, DEPTH)
    sine = ex / r
    k = 2 * np.pi * f / SPEED_OF_SOUND
    element = (np.sinc(f[None, :] * SMALL.width * sine[:, None] / SPEED_OF_SOUND) * (DEPTH / r)[:, None]
               / r[:, None] * np.exp(-1j * k[None, :] * r[:, None]))
    channel = spectrum * element.sum(axis=0) * element[CENTRE]
    t = np.arange(n_samples) / SMALL.sampling_frequency
    return np.exp(2j * np.pi * t[:, None] * f[None, :]) @ channel


def tail_db(envelope: np.ndarray) -> np.ndarray:
    t = np.arange(envelope.size) / SMALL.sampling_frequency
    peak = envelope.argmax()
    return np.array([20 * np.log10(envelope[(t > t[peak] + a * 1e-6) & (t < t[peak] + (a + 0.5) * 1e-6)].max()
                                   / envelope[peak]) for a in WINDOWS_US])


def simulated_tail() -> np.ndarray:
    event = transmit.plane_waves(SMALL, [0.0])[0]
    event.rx = np.array([CENTRE])
    rf = engine.simulate_channels(engine.Scatterers([0.0], [0.0], [DEPTH], [1.0]), SMALL, [event],
                                  attenuation_db_cm_mhz=0.0, device="cpu", progress=False).rf[0, 0]
    return tail_db(np.abs(hilbert(rf.astype(np.float64))))


@pytest.fixture(scope="module")
def theory() -> np.ndarray:
    ex = SMALL.element_positions()[0]
    n = int((DEPTH + np.hypot(ex[0], DEPTH) + 2e-3) / SPEED_OF_SOUND * SMALL.sampling_frequency)
    return tail_db(np.abs(analytic_echo(n)))


def test_plane_wave_echo_tail_matches_the_analytic_array(theory):
    assert theory.max() > -40  # the tail is there to be measured
    assert np.abs(simulated_tail() - theory).max() <= TOLERANCE_DB, (simulated_tail(), theory)


def test_directivity_at_fc_only_fails_the_same_check(theory, monkeypatch):
    monkeypatch.setattr(engine, "BAND_DIRECTIVITY", False)
    assert np.abs(simulated_tail() - theory).max() > 3 * TOLERANCE_DB
