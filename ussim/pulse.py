"""The two-way pulse: excitation convolved with the transmit and receive impulse responses.

The engine works in complex baseband: an echo from round-trip time tau is `g(t - tau)
exp(i w0 (t - tau))`, whose real part is the RF pulse. This module designs g from the probe
and gives the attenuated versions of it that the engine needs, one per attenuation bin.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize

from ussim.errors import UsageError

NEPER_PER_DB = np.log(10) / 20
# DECISION: frequencies are resolved on a grid of 1/4096 of the sampling rate and the pulse
# is cut where its envelope falls below -60 dB of its peak.
SPECTRUM_POINTS = 1 << 14
CUT_DB = -60.0


def db_per_cm_mhz_to_np_per_m_hz(alpha_db_cm_mhz: float) -> float:
    """Attenuation slope in Np/(m Hz) from the clinical dB/(cm MHz)."""
    return alpha_db_cm_mhz * NEPER_PER_DB * 100 / 1e6


@dataclass(frozen=True)
class Pulse:
    """Two-way pulse of a probe and excitation, sampled in complex baseband at `rate`."""
    center_frequency: float
    bandwidth: float            # fractional -6 dB bandwidth of the two-way spectrum
    excitation_cycles: float
    rate: float                 # Hz, sampling rate of the baseband tables
    transducer_sigma: float     # Hz, Gaussian width of each one-way transducer response
    transducer_center: float    # Hz, centre of the transducer response (puts the band's middle at fc)

    def spectrum(self, f: np.ndarray) -> np.ndarray:
        """Two-way spectrum at frequencies f > 0: excitation x H_tx x H_rx (complex)."""
        return excitation_spectrum(f, self.center_frequency, self.excitation_cycles) * \
            np.exp(-((f - self.transducer_center) ** 2) / self.transducer_sigma ** 2)

    def band(self) -> tuple[float, float]:
        """The -6 dB band (Hz) of the two-way spectrum, edges interpolated between grid points."""
        f = np.linspace(1e-3, 4, 4001) * self.center_frequency
        magnitude = np.abs(self.spectrum(f))
        half = magnitude.max() / 2
        above = np.flatnonzero(magnitude >= half)
        lo, hi = above[0], above[-1]
        low = f[lo] - (magnitude[lo] - half) / (magnitude[lo] - magnitude[lo - 1]) * (f[lo] - f[lo - 1])
        high = f[hi] + (magnitude[hi] - half) / (magnitude[hi] - magnitude[hi + 1]) * (f[hi + 1] - f[hi])
        return float(low), float(high)

    def baseband(self, attenuation: float = 0.0) -> tuple[np.ndarray, int]:
        """Pulse envelope g(t) (complex, peak |g| = 1 at zero attenuation) and its centre index.

        `attenuation` (Np/Hz, two-way path integral) applies exp(-a (f - fc)): the part of
        frequency-dependent attenuation that shapes the pulse (downshift). The part at fc,
        exp(-a fc), is a plain amplitude that the engine applies per scatterer.
        """
        n = SPECTRUM_POINTS
        offsets = np.fft.fftfreq(n, 1 / self.rate)  # baseband frequency f - fc
        f = self.center_frequency + offsets
        spectrum = np.where(f > 0, self.spectrum(np.abs(f)), 0)
        # The burst is centred at t = 0 and the transducer responses are zero-phase, so the
        # envelope peaks at t = 0: echo times are envelope-peak times and a beamformer needs
        # no pulse-delay correction. DECISION (Field II starts time at the response's onset).
        peak = abs(spectrum.sum()) / n
        g = np.fft.fftshift(np.fft.ifft(spectrum * np.exp(-attenuation * offsets))) / peak
        keep = np.flatnonzero(np.abs(g) >= 10 ** (CUT_DB / 20) * np.abs(g).max())
        half = max(n // 2 - keep[0], keep[-1] - n // 2)
        return g[n // 2 - half: n // 2 + half + 1], half

    def rf(self, rate: float) -> tuple[np.ndarray, np.ndarray]:
        """The real RF pulse sampled at `rate`, with its times (s): Re{g(t) exp(i w0 t)}."""
        g, centre = replace(self, rate=rate).baseband()
        t = (np.arange(g.size) - centre) / rate
        return np.real(g * np.exp(2j * np.pi * self.center_frequency * t)), t


def excitation_spectrum(f, fc, cycles):
    """Spectrum of a rectangular sine burst of `cycles` periods at fc, centred at t = 0."""
    duration = cycles / fc
    # PAPER(Field II, MUST): a short sine burst at fc drives the transducer; its spectrum is
    # the sum of two sincs at +-fc.
    return 0.5j * duration * (np.sinc((f + fc) * duration) - np.sinc((f - fc) * duration))


@functools.lru_cache(maxsize=64)
def design(center_frequency: float, bandwidth: float, rate: float, excitation_cycles: float = 1.0) -> Pulse:
    """The pulse whose two-way -6 dB band is exactly fc (1 -+ bandwidth / 2).

    The transducer's one-way response is Gaussian; its width and centre are solved so that
    excitation x H_tx x H_rx has the probe's two-way bandwidth centred on fc: data sheets give
    the pulse-echo centre frequency as the middle of the -6 dB band, and the axial resolution
    0.883 c / (2 B) assumes that bandwidth.
    """
    if not center_frequency > 0:
        raise UsageError(f"centre frequency {center_frequency / 1e6:g} MHz must be positive")
    if not 0 < bandwidth < 2:
        raise UsageError(f"fractional bandwidth {bandwidth:g} is outside 0 < B < 2")
    if not excitation_cycles > 0:
        raise UsageError(f"excitation of {excitation_cycles:g} cycles must be positive")
    fc = center_frequency

    def candidate(log_sigma, centre):
        return Pulse(fc, bandwidth, excitation_cycles, rate, float(np.exp(log_sigma)), centre)

    widest = candidate(np.log(100 * fc), fc).band()
    if (widest[1] - widest[0]) / fc < bandwidth:
        raise UsageError(f"an excitation of {excitation_cycles:g} cycles limits the two-way bandwidth to "
                         f"{(widest[1] - widest[0]) / fc:.2f}; the probe asks for {bandwidth:g}: use fewer cycles")
    centre, log_sigma = fc, np.log(fc)
    for _ in range(30):  # fixed point: width for the bandwidth, then centre for the band's middle
        log_sigma = optimize.brentq(lambda v, c=centre: np.subtract(*candidate(v, c).band()[::-1]) / fc - bandwidth,
                                    np.log(1e-3 * fc), np.log(10 * fc))
        low, high = candidate(log_sigma, centre).band()
        if abs((low + high) / 2 - fc) < 1e-6 * fc:
            break
        centre += fc - (low + high) / 2
    return candidate(log_sigma, centre)
