import numpy as np
import pytest

from ussim import pulse
from ussim.errors import UsageError


@pytest.mark.parametrize("fc, bandwidth", [(7.6e6, 0.77), (20e6, 0.6), (2.72e6, 0.74)])
def test_two_way_band_is_the_probe_band(fc, bandwidth):
    model = pulse.design(fc, bandwidth, 16 * fc)
    low, high = model.band()
    assert (high - low) / fc == pytest.approx(bandwidth, rel=1e-3)
    assert (high + low) / 2 == pytest.approx(fc, rel=1e-3)


def test_envelope_peaks_at_time_zero_with_theoretical_width():
    model = pulse.design(7.6e6, 0.77, 8 * 30.4e6)
    g, centre = model.baseband()
    envelope = np.abs(g)
    assert np.argmax(envelope) == centre and envelope.max() == pytest.approx(1.0)
    width = np.count_nonzero(envelope >= 0.5) / model.rate
    assert width == pytest.approx(0.8825 / (0.77 * 7.6e6), rel=0.08)  # Gaussian -6 dB duration 0.8825 / B


def test_attenuation_shapes_the_pulse_by_its_spectrum():
    model = pulse.design(7.6e6, 0.77, 8 * 30.4e6)
    g0, _ = model.baseband()
    attenuation = 1e-7
    ga, _ = model.baseband(attenuation)
    f = np.linspace(1e3, 60e6, 60000)
    power = np.abs(model.spectrum(f)) ** 2
    expected = np.sum(power * np.exp(-2 * attenuation * (f - 7.6e6))) / np.sum(power)
    assert np.sum(np.abs(ga) ** 2) / np.sum(np.abs(g0) ** 2) == pytest.approx(expected, rel=1e-3)


def test_design_errors():
    with pytest.raises(UsageError, match="must be positive"):
        pulse.design(0.0, 0.5, 1e8)
    with pytest.raises(UsageError, match="limits the two-way bandwidth"):
        pulse.design(7.6e6, 0.9, 1e9, excitation_cycles=4)
