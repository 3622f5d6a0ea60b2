"""Cross-check ussim against an independent simulator, PyMUST's simus, on identical inputs.

Both simulate the same scatterers with the same probe (ussim's linear-7.6 is MUST's L11-5v)
and one 0-degree plane wave on 128 channels, without attenuation (MUST's default). Both RF sets
go through ussim's delay-and-sum, so the comparison is of the simulators alone. Reported:
simulation time (median of repeats, in one run side by side), the speed ratio, throughput,
speckle statistics of a homogeneous region, and point-target widths.

    pip install pymust            # benchmark-only dependency
    python bench/pymust_crosscheck.py [--scatterers 50000] [--repeats 5] [--pymust-repeats 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import pymust

from ussim import beamform, engine, measure, probe, transmit
from ussim.engine import ChannelData, Scatterers

PROBE = probe.load("linear-7.6")


def scene(n: int, seed: int = 0) -> Scatterers:
    """The issue's workload: uniform scatterers in 24 x 30 mm, Gaussian amplitudes, in plane."""
    rng = np.random.default_rng(seed)
    return Scatterers(rng.uniform(-12e-3, 12e-3, n), np.zeros(n), rng.uniform(5e-3, 35e-3, n), rng.standard_normal(n))


def points() -> Scatterers:
    depths = np.array([10e-3, 20e-3, 30e-3])
    return Scatterers(np.zeros(3), np.zeros(3), depths, np.ones(3))


def run_ussim(scatterers: Scatterers) -> tuple[np.ndarray, float]:
    events = transmit.plane_waves(PROBE, [0.0])
    start = time.perf_counter()
    data = engine.simulate_channels(scatterers, PROBE, events, attenuation_db_cm_mhz=0.0, device="cpu", progress=False)
    return data.rf[0], time.perf_counter() - start


def run_pymust(scatterers: Scatterers) -> tuple[np.ndarray, float]:
    param = pymust.getparam("L11-5v")
    param.fs = PROBE.sampling_frequency
    delays = pymust.txdelay(param, 0.0)
    start = time.perf_counter()
    rf, _ = pymust.simus(scatterers.x, scatterers.z, scatterers.amplitude, delays, param)
    return np.ascontiguousarray(rf.T, dtype=np.float32), time.perf_counter() - start


def time_origin(rf: np.ndarray) -> float:
    """t0 that puts the first point echo (10 mm, centre channels) at its round-trip time."""
    from scipy.signal import hilbert
    centre = PROBE.n_elements // 2
    envelope = np.abs(hilbert(rf[centre - 1: centre + 1].mean(axis=0)))
    first = np.argmax(envelope[: int(2 * 15e-3 / 1540 * PROBE.sampling_frequency)])
    x = PROBE.element_positions()[0][centre - 1: centre + 1].mean()
    return (10e-3 + np.hypot(x, 10e-3)) / 1540 - first / PROBE.sampling_frequency


def image(rf: np.ndarray, t0: float, depths: np.ndarray, xs: np.ndarray) -> np.ndarray:
    events = transmit.plane_waves(PROBE, [0.0])
    data = ChannelData(rf[None].astype(np.float32), PROBE.sampling_frequency, t0)
    return np.abs(beamform.beamform(data, events, PROBE, depths, f_number=1.5, apodization="hann", line_x=xs).lines)


def widths(envelope: np.ndarray, depths: np.ndarray, xs: np.ndarray) -> list[dict]:
    result = []
    for depth in (10e-3, 20e-3, 30e-3):
        window = np.abs(depths - depth) < 1.5e-3
        local = envelope[:, window]
        line, sample = np.unravel_index(local.argmax(), local.shape)
        result.append({"depth_mm": depth * 1e3,
                       "axial_mm": measure.fwhm(local[line], depths[1] - depths[0]) * 1e3,
                       "lateral_mm": measure.fwhm(local[:, sample], xs[1] - xs[0]) * 1e3})
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scatterers", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5, help="timed ussim runs (after one warm-up)")
    parser.add_argument("--pymust-repeats", type=int, default=2, help="timed PyMUST runs")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    cloud = scene(args.scatterers)
    run_ussim(cloud)  # warm-up: numba compilation and this scene's aperture tables are not timed
    ussim_times = [run_ussim(cloud)[1] for _ in range(args.repeats)]
    pymust_runs = [run_pymust(cloud) for _ in range(args.pymust_repeats)]
    ussim_rf = run_ussim(cloud)[0]
    pymust_rf = pymust_runs[0][0]
    pymust_times = [t for _, t in pymust_runs]

    depths = np.arange(6e-3, 34e-3, 1540 / (2 * PROBE.sampling_frequency))
    xs = np.linspace(-10e-3, 10e-3, 201)
    report = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                         f"{__import__('os').cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d"),
              "scatterers": args.scatterers, "channels": PROBE.n_elements}
    samples = ussim_rf.shape[1]
    ussim_median, pymust_median = statistics.median(ussim_times), statistics.median(pymust_times)
    report["ussim_seconds"] = ussim_times
    report["pymust_seconds"] = pymust_times
    report["speedup_median"] = pymust_median / ussim_median
    report["ussim_echoes_per_second"] = args.scatterers * PROBE.n_elements ** 2 / ussim_median
    report["ussim_scatterer_element_samples_per_second"] = args.scatterers * PROBE.n_elements * samples / ussim_median
    report["pymust_scatterer_element_samples_per_second"] = (args.scatterers * PROBE.n_elements * pymust_rf.shape[1]
                                                             / pymust_median)
    origins = {"ussim": 0.0, "pymust": time_origin(run_pymust(points())[0])}
    point_rf = {"ussim": run_ussim(points())[0], "pymust": run_pymust(points())[0]}
    for name, rf in (("ussim", ussim_rf), ("pymust", pymust_rf)):
        speckle_region = image(rf, origins[name], depths, xs)[:, (depths > 15e-3) & (depths < 25e-3)]
        report[f"{name}_speckle"] = measure.speckle_statistics(speckle_region)
        report[f"{name}_points"] = widths(image(point_rf[name], origins[name], depths, xs), depths, xs)
    report["pymust_time_origin_us"] = origins["pymust"] * 1e6
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
