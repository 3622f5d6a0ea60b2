"""ussim against PyMUST on a cyst phantom, with both simulators' lateral beam profiles beside the
analytic profile of the array (issue 21).

The phantom (seeded): scatterers with Gaussian amplitudes uniform in a 24 x 34 mm box in the
imaging plane, an anechoic cyst and a +10 dB inclusion of 3 mm radius, and three point targets.
Both simulators image it with the `linear-7.6` probe (MUST's L11-5v), one 0-degree plane wave on
128 channels, no attenuation; every RF set goes through ussim's delay-and-sum (F# 1.5, Hann).
PyMUST runs twice: with its 3-D model (elevation focusing and 1/r spreading, as ussim) and with
its 2-D default. Reported: cyst contrast, CNR and gCNR, inclusion contrast, point widths, and
at two depths the one-way (transmit) and two-way (beamformed) lateral profiles of a plane wave,
each beside the analytic profile of a baffled array of rectangular elements computed with that
simulator's own pulse spectrum. A point echo's tail on the centre channel shows the cause of
the difference that issue 21 reported (the elements' directivity taken at fc only).

    pip install pymust            # benchmark-only dependency (the extra 'bench'), not required by ussim
    python bench/pymust_cyst.py [--scatterers 10000] [--seed 0] [--json bench/out/pymust_cyst.json]

About 6 minutes on 2 shared cores (measured at load average 13), most of it PyMUST.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy.signal import hilbert

try:
    import pymust
except ImportError:
    sys.exit("bench/pymust_cyst.py needs PyMUST, a benchmark-only dependency: pip install pymust "
             "(or pip install -e '.[bench]')")

from machine import describe
from ussim import beamform, engine, measure, probe, transmit
from ussim.engine import ChannelData, Scatterers
from ussim.probe import SPEED_OF_SOUND

PROBE = probe.load("linear-7.6")
F_NUMBER, APODIZATION = 1.5, "hann"
BOX_X, BOX_Z = (-12e-3, 12e-3), (8e-3, 42e-3)
CYST, INCLUSION, RADIUS = (-5e-3, 25e-3), (5e-3, 25e-3), 3e-3
POINTS = ((0.0, 15e-3), (0.0, 30e-3), (6e-3, 36e-3))
# DECISION: a point target is 20x (26 dB) a tissue scatterer's standard deviation: it stands
# clear of the speckle of about 15 scatterers per resolution cell.
POINT_AMPLITUDE = 20.0
PROFILE_DEPTHS = (15e-3, 30e-3)
# DECISION: contrast regions 1 mm inside and 1-3 mm outside the 3 mm edge, more than the
# lateral resolution (0.7 mm) away from it, so that the edge's blur is not counted.
INNER, RING = 2e-3, (4e-3, 6e-3)
# DECISION: PyMUST's 3-D model is used when any |y| >= 1 nm; 10 nm is far below any wavelength.
PYMUST_3D_Y = 1e-8
DEPTHS = np.arange(10e-3, 40e-3, SPEED_OF_SOUND / (4 * PROBE.sampling_frequency))
LINES = np.arange(-11e-3, 11e-3 + 1e-9, 0.1e-3)


@dataclass
class Phantom:
    tissue: Scatterers
    points: Scatterers


def phantom(n: int, seed: int) -> Phantom:
    """Uniform scatterers with Gaussian amplitudes, none in the cyst, x sqrt(10) in the inclusion."""
    rng = np.random.default_rng(seed)
    x, z = rng.uniform(*BOX_X, n), rng.uniform(*BOX_Z, n)
    amplitude = rng.standard_normal(n)
    keep = np.hypot(x - CYST[0], z - CYST[1]) > RADIUS
    x, z, amplitude = x[keep], z[keep], amplitude[keep]
    amplitude = np.where(np.hypot(x - INCLUSION[0], z - INCLUSION[1]) < RADIUS, amplitude * np.sqrt(10), amplitude)
    px, pz = (np.array(v) for v in zip(*POINTS, strict=True))
    points = Scatterers(px, np.zeros(px.size), pz, np.full(px.size, POINT_AMPLITUDE))
    tissue = Scatterers(np.r_[x, px], np.zeros(x.size + px.size), np.r_[z, pz], np.r_[amplitude, points.amplitude])
    return Phantom(tissue, points)


# --- the two simulators ------------------------------------------------------------------------

def run_ussim(scatterers: Scatterers, rx: np.ndarray | None = None) -> np.ndarray:
    event = transmit.plane_waves(PROBE, [0.0])[0]
    if rx is not None:
        event.rx = np.asarray(rx)
    return engine.simulate_channels(scatterers, PROBE, [event], attenuation_db_cm_mhz=0.0, device="cpu",
                                    progress=False).rf[0]


def pymust_param():
    param = pymust.getparam("L11-5v")
    param.fs = PROBE.sampling_frequency
    return param


def run_pymust(scatterers: Scatterers, three_d: bool = True, **options) -> np.ndarray:
    param = pymust_param()
    delays = pymust.txdelay(param, 0.0)
    extra = pymust.utils.Options()
    for key, value in options.items():
        extra[key] = value
    if three_d:
        rf, _ = pymust.simus(scatterers.x, np.full(len(scatterers), PYMUST_3D_Y), scatterers.z, scatterers.amplitude,
                             delays, param, extra)
    else:
        rf, _ = pymust.simus(scatterers.x, scatterers.z, scatterers.amplitude, delays, param, extra)
    return np.ascontiguousarray(rf.T, dtype=np.float32)


def envelope(rf: np.ndarray, depths: np.ndarray = DEPTHS, lines: np.ndarray = LINES) -> np.ndarray:
    """ussim's delay-and-sum of one plane wave; t0 = 0 for both simulators (PyMUST's echoes
    are 0.006 us early, bench/pymust_crosscheck.py: 1/20 of a fine sample)."""
    events = transmit.plane_waves(PROBE, [0.0])
    data = ChannelData(rf[None].astype(np.float32), PROBE.sampling_frequency, 0.0)
    return np.abs(beamform.beamform(data, events, PROBE, depths, f_number=F_NUMBER, apodization=APODIZATION,
                                    line_x=lines).lines)


# --- image measures ----------------------------------------------------------------------------

def regions(centre):
    x, z = np.meshgrid(LINES, DEPTHS, indexing="ij")
    distance = np.hypot(x - centre[0], z - centre[1])
    return distance < INNER, (distance > RING[0]) & (distance < RING[1])


def gcnr(inside: np.ndarray, outside: np.ndarray, bins: int = 256) -> float:
    """Generalized CNR, 1 - overlap of the two envelope histograms (Rodriguez-Molares et al.,
    IEEE TUFFC 2020). Hand-written: one histogram overlap, not in the libraries we use."""
    edges = np.histogram_bin_edges(np.r_[inside, outside], bins=bins)
    p, _ = np.histogram(inside, edges)
    q, _ = np.histogram(outside, edges)
    return float(1 - np.minimum(p / p.sum(), q / q.sum()).sum())


def image_measures(image: np.ndarray) -> dict:
    cyst_in, cyst_ring = (image[r] for r in regions(CYST))
    incl_in, incl_ring = (image[r] for r in regions(INCLUSION))
    return {"cyst_contrast_db": float(20 * np.log10(cyst_in.mean() / cyst_ring.mean())),
            "cyst_cnr": float(abs(cyst_ring.mean() - cyst_in.mean()) / np.hypot(cyst_ring.std(), cyst_in.std())),
            "cyst_gcnr": gcnr(cyst_in, cyst_ring),
            "inclusion_contrast_db": float(20 * np.log10(incl_in.mean() / incl_ring.mean()))}


def point_widths(image: np.ndarray) -> list[dict]:
    """-6 dB widths of each point in a +-1.5 mm (axial) by +-3 mm (lateral) window around it."""
    result = []
    for x, z in POINTS:
        lines, depths = np.abs(LINES - x) < 3e-3, np.abs(DEPTHS - z) < 1.5e-3
        local = image[lines][:, depths]
        line, sample = np.unravel_index(local.argmax(), local.shape)
        result.append({"x_mm": x * 1e3, "z_mm": z * 1e3,
                       "axial_mm": measure.fwhm(local[line], DEPTHS[1] - DEPTHS[0]) * 1e3,
                       "lateral_mm": measure.fwhm(local[:, sample], LINES[1] - LINES[0]) * 1e3})
    return result


# --- beam profiles -----------------------------------------------------------------------------

PROFILE_X = np.arange(-8e-3, 8e-3 + 1e-9, 0.1e-3)          # two-way: image lines around the point
ONE_WAY_X = np.arange(0.0, 16e-3 + 1e-9, 2e-3)             # one-way: point positions (symmetric array)
# A silent scatterer far out in every one-way run: PyMUST's RF amplitude scales with its frequency
# step, which it sets from the scene's largest element-scatterer distance (measured here: one
# point's echo 3.6 dB weaker at x = 16 mm than at 0 for that reason alone); with the anchor that
# distance, and so the scale, is the same in every run.
ANCHOR = (-20e-3, 45e-3)
REPORT_TWO_WAY_MM = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0)
REPORT_ONE_WAY_MM = (0.0, 4.0, 8.0, 12.0, 14.0, 16.0)
HALF_PULSE = 0.5e-3  # m of depth around the point over which a two-way profile takes its maximum
PROFILE_DEPTH_STEP = SPEED_OF_SOUND / (2 * PROBE.sampling_frequency)  # 25 um, a fifth of the pulse's -6 dB


def two_way_profile(rf: np.ndarray, depth: float) -> np.ndarray:
    """Envelope of the point at (0, depth) across image lines, max over +-0.5 mm of depth (dB)."""
    depths = np.arange(depth - HALF_PULSE, depth + HALF_PULSE, PROFILE_DEPTH_STEP)
    image = envelope(rf, depths, PROFILE_X).max(axis=1)
    return 20 * np.log10(image / image.max())


def one_way_profile(simulate, depth: float) -> np.ndarray:
    """The transmit field's energy at (x, depth) across x (dB re x = 0), heard by the element
    right above the point (normal incidence: its own response is the same for every x)."""
    energies = []
    for x in ONE_WAY_X:
        element = int(np.argmin(np.abs(PROBE.element_positions()[0] - x)))
        rf = simulate(Scatterers([x, ANCHOR[0]], [0.0, 0.0], [depth, ANCHOR[1]], [1.0, 0.0]), element)
        energies.append(float(np.sum(rf.astype(np.float64) ** 2)))
    energies = np.array(energies)
    return 10 * np.log10(energies / energies[0])


def ussim_spectrum(f: np.ndarray) -> np.ndarray:
    from ussim import pulse
    return pulse.design(PROBE.center_frequency, PROBE.bandwidth, engine.OVERSAMPLING * PROBE.sampling_frequency
                        ).spectrum(f)


def pymust_spectrum(f: np.ndarray) -> np.ndarray:
    param = pymust_param()
    w = 2 * np.pi * f
    return param.getPulseSpectrumFunction(None)(w) * param.getProbeFunction()(w) ** 2


class Theory:
    """The analytic pulse-echo field of a baffled array of rectangular elements in the imaging
    plane: per frequency, each element radiates sinc(pi f w sin(theta) / c) cos(theta) / r
    exp(-i k r) (Fraunhofer directivity of a strip, soft baffle as MUST and ussim), the plane
    wave is the sum over all elements (the array factor), and the echo is weighted by a pulse
    spectrum over its whole band. Written out here so that neither simulator's code is in it."""

    def __init__(self, spectrum):
        # DECISION: a 95 kHz step (echoes alias after 10.5 us, twice the longest plane-wave tail)
        f = np.linspace(0.05, 2.5, 200) * PROBE.center_frequency
        magnitude = np.abs(spectrum(f))
        keep = magnitude > 1e-3 * magnitude.max()
        self.f, self.p = f[keep], spectrum(f[keep])
        self.df = f[1] - f[0]
        self.ex = PROBE.element_positions()[0]

    def element(self, x, z):
        """Element responses (n_points, n_elements, n_f) at points (x, z) and their distances."""
        dx = np.asarray(x)[:, None] - self.ex[None, :]
        r = np.hypot(dx, z)
        sine = dx / r
        k = 2 * np.pi * self.f / SPEED_OF_SOUND
        directivity = np.sinc(self.f[None, None, :] * PROBE.width * sine[..., None] / SPEED_OF_SOUND)
        return directivity * (z / r)[..., None] / r[..., None] * np.exp(-1j * k * r[..., None]), r

    def one_way(self, depth):
        response, _ = self.element(ONE_WAY_X, depth)
        field = response.sum(axis=1)                       # the plane wave at each point
        above = np.argmin(np.abs(self.ex[None, :] - ONE_WAY_X[:, None]), axis=1)
        heard = field * response[np.arange(ONE_WAY_X.size), above]
        energy = np.sum(np.abs(self.p * heard) ** 2, axis=1)
        return 10 * np.log10(energy / energy[0])

    def two_way(self, depth):
        point, _ = self.element([0.0], depth)
        echo = self.p * point[0].sum(axis=0) * point[0]     # (n_elements, n_f) channel spectra
        depths = np.arange(depth - HALF_PULSE, depth + HALF_PULSE, PROFILE_DEPTH_STEP)
        best = np.zeros(PROFILE_X.size)
        for zi in depths:
            dx = self.ex[None, :] - PROFILE_X[:, None]
            u = dx * 2 * F_NUMBER / zi
            weight = np.where(np.abs(u) <= 1, np.cos(np.pi * u / 2) ** 2, 0.0)
            tau = (zi + np.hypot(dx, zi)) / SPEED_OF_SOUND
            value = np.einsum("xe,ef,xef->x", weight, echo, np.exp(2j * np.pi * self.f[None, None, :] * tau[..., None]))
            best = np.maximum(best, np.abs(value))
        return 20 * np.log10(best / best.max())


def sample(profile: np.ndarray, positions: np.ndarray, at_mm) -> dict:
    return {f"{mm:g}": round(float(profile[np.argmin(np.abs(positions - mm * 1e-3))]), 1) for mm in at_mm}


def side_lobe_energy_db(profile_db: np.ndarray, beyond: float = 1e-3) -> float:
    """Energy of the two-way profile beyond +-1 mm relative to the whole (dB)."""
    power = 10 ** (profile_db / 10)
    return float(10 * np.log10(power[np.abs(PROFILE_X) > beyond].sum() / power.sum()))


def echo_tail(rf_centre: np.ndarray) -> dict:
    """Centre channel envelope after a point's echo: peak level (dB re the echo) in 0.5 us
    windows 1-5 us later, where the plane wave's non-cancelled element pulses arrive."""
    env = np.abs(hilbert(rf_centre.astype(np.float64)))
    t = np.arange(env.size) / PROBE.sampling_frequency
    peak = env.argmax()
    return {f"{a:g}us": round(float(20 * np.log10(env[(t > t[peak] + a * 1e-6) & (t < t[peak] + (a + 0.5) * 1e-6)].max()
                                                   / env[peak])), 1) for a in (1.0, 2.0, 3.0, 4.0, 5.0)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scatterers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.scatterers < 100:
        parser.error(f"--scatterers {args.scatterers}: need at least 100")
    started = time.perf_counter()
    scene = phantom(args.scatterers, args.seed)
    report = {"machine": describe(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(["python", *sys.argv]), "pymust": importlib.metadata.version("pymust"),
              "scatterers": len(scene.tissue), "seed": args.seed}
    simulators = {
        "ussim": lambda s, rx=None: run_ussim(s, None if rx is None else [rx]),
        "pymust_3d": lambda s, rx=None: run_pymust(s, True) if rx is None else run_pymust(s, True)[rx],
        "pymust_2d": lambda s, rx=None: run_pymust(s, False) if rx is None else run_pymust(s, False)[rx],
    }
    spectra = {"ussim": ussim_spectrum, "pymust_3d": pymust_spectrum, "pymust_2d": pymust_spectrum}
    images, theories = {}, {}
    for name, simulate in simulators.items():
        t = time.perf_counter()
        images[name] = envelope(simulate(scene.tissue))
        entry = {"rf_seconds": round(time.perf_counter() - t, 1), **image_measures(images[name])}
        points_rf = simulate(scene.points)
        entry["points"] = point_widths(envelope(points_rf))
        entry["two_way"], entry["one_way"] = {}, {}
        theory = theories.setdefault(spectra[name], Theory(spectra[name]))
        for depth in PROFILE_DEPTHS:
            key = f"{depth * 1e3:g}mm"
            single = simulate(Scatterers([0.0], [0.0], [depth], [1.0]))
            measured, expected = two_way_profile(single, depth), theory.two_way(depth)
            entry["two_way"][key] = {"measured_db": sample(measured, PROFILE_X, REPORT_TWO_WAY_MM),
                                     "theory_db": sample(expected, PROFILE_X, REPORT_TWO_WAY_MM),
                                     "side_lobe_energy_db": round(side_lobe_energy_db(measured), 1),
                                     "theory_side_lobe_energy_db": round(side_lobe_energy_db(expected), 1)}
            measured, expected = one_way_profile(simulate, depth), theory.one_way(depth)
            entry["one_way"][key] = {"measured_db": sample(measured, ONE_WAY_X, REPORT_ONE_WAY_MM),
                                     "theory_db": sample(expected, ONE_WAY_X, REPORT_ONE_WAY_MM)}
        report[name] = entry
        print(f"{name}: {json.dumps({k: v for k, v in entry.items() if not isinstance(v, (dict, list))})}",
              file=sys.stderr)
    report["envelope_correlation_ussim_pymust_3d"] = float(np.corrcoef(images["ussim"].ravel(),
                                                                       images["pymust_3d"].ravel())[0, 1])
    report["envelope_correlation_ussim_pymust_2d"] = float(np.corrcoef(images["ussim"].ravel(),
                                                                       images["pymust_2d"].ravel())[0, 1])
    # The cause: the tail after a point echo on the centre channel, with the element directivity
    # over the band and at fc only, in both simulators (PyMUST: full-frequency directivity, and
    # one segment per element, whose directivity is its sinc at fc).
    point = Scatterers([0.0], [0.0], [20e-3], [1.0])
    centre = PROBE.n_elements // 2 - 1
    tails = {"ussim": echo_tail(run_ussim(point)[centre])}
    engine.BAND_DIRECTIVITY = False
    try:
        tails["ussim_directivity_at_fc"] = echo_tail(run_ussim(point)[centre])
        fc_only_image = envelope(run_ussim(scene.tissue))
    finally:
        engine.BAND_DIRECTIVITY = True
    report["ussim_directivity_at_fc"] = image_measures(fc_only_image)
    tails["pymust_3d"] = echo_tail(run_pymust(point)[centre])
    tails["pymust_3d_full_frequency_directivity"] = echo_tail(run_pymust(point, FullFrequencyDirectivity=True)[centre])
    tails["pymust_3d_directivity_at_fc"] = echo_tail(run_pymust(point, ElementSplitting=1)[centre])
    report["echo_tail_db"] = tails
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        temporary = args.json + ".tmp"
        with open(temporary, "w") as handle:
            json.dump(report, handle, indent=2)
        os.replace(temporary, args.json)


if __name__ == "__main__":
    main()
