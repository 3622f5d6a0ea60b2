"""Scale of the engine: peak memory for a million scatterers, and a full 256 x 256 B-mode.

Each case runs in its own process, so the peak resident memory reported is that case's alone.

    python bench/engine_scale.py memory [--scatterers 1000000]
    python bench/engine_scale.py bmode [--probe linear-7.6]
    python bench/engine_scale.py all
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import numpy as np


def memory_case(n: int) -> dict:
    """One 0-degree plane wave, 128 channels, n scatterers in a 38 x 40 mm slab."""
    from ussim import engine, probe, transmit
    linear = probe.load("linear-7.6")
    rng = np.random.default_rng(0)
    cloud = engine.Scatterers(rng.uniform(-19e-3, 19e-3, n), rng.uniform(-1e-3, 1e-3, n), rng.uniform(2e-3, 42e-3, n),
                              rng.standard_normal(n))
    start = time.perf_counter()
    data = engine.simulate_channels(cloud, linear, transmit.plane_waves(linear, [0.0]), device="cpu")
    seconds = time.perf_counter() - start
    return {"case": "memory", "scatterers": n, "channels": linear.n_elements, "rf_shape": list(data.rf.shape),
            "seconds": seconds, "echoes_per_second": n * linear.n_elements ** 2 / seconds}


def bmode_case(probe_name: str) -> dict:
    """A 256 x 256 B-mode of homogeneous tissue at the default 10 scatterers per resolution cell.

    DECISION: the scene is one elevation resolution cell thick (the elevation beam's -6 dB
    width at its focus), the thinnest slab in which every 3-D resolution cell holds 10
    scatterers; one 0-degree plane wave for the linear array, a full turn for IVUS (a disc of
    5 mm radius), 128 focused lines otherwise.
    """
    from ussim import engine, probe, scatter, simulate
    p = probe.load(probe_name)
    cell = scatter.resolution_cell(p)
    if p.kind == "linear":
        x0, x1 = p.element_positions()[0][[0, -1]]
        cloud = scatter.homogeneous_box(p, (x0, x1), (1e-3, 40e-3), thickness=cell[2], seed=0)
        settings = dict(scheme="plane", depth=40e-3)
    elif p.kind == "ivus":
        box = scatter.homogeneous_box(p, (-5e-3, 5e-3), (-5e-3, 5e-3), thickness=cell[2], seed=0)
        radius = np.hypot(box.x, box.z)
        keep = (radius > p.catheter_radius) & (radius < 5e-3)
        cloud = engine.Scatterers(box.x[keep], box.y[keep], box.z[keep], box.amplitude[keep])
        settings = dict(depth=5e-3 - p.catheter_radius)
    else:
        cloud = scatter.homogeneous_box(p, (-15e-3, 15e-3), (1e-3, 40e-3), thickness=cell[2], seed=0)
        settings = dict(depth=40e-3, n_lines=128)
    warm = engine.Scatterers(cloud.x[:1000], cloud.y[:1000], cloud.z[:1000], cloud.amplitude[:1000])
    simulate.simulate(warm, p, device="cpu", progress=False, **settings)  # warm-up: compilation, reference level
    start = time.perf_counter()
    sim = simulate.simulate(cloud, p, device="cpu", **settings)
    seconds = time.perf_counter() - start
    return {"case": "bmode", "probe": probe_name, "scatterers": len(cloud), "image": list(sim.bmode.shape),
            "settings": settings, "seconds": seconds}


def run_isolated(args: list[str]) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=("memory", "bmode", "all"))
    parser.add_argument("--scatterers", type=int, default=1_000_000)
    parser.add_argument("--probe", default="linear-7.6")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = memory_case(args.scatterers) if args.case == "memory" else bmode_case(args.probe)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    cases = [["memory", "--scatterers", str(args.scatterers)]] if args.case in ("memory", "all") else []
    if args.case in ("bmode", "all"):
        probes = ["linear-7.6", "ivus-20", "ivus-40"] if args.case == "all" else [args.probe]
        cases += [["bmode", "--probe", name] for name in probes]
    header = {"machine": f"{platform.node()} {platform.machine()}, {__import__('os').cpu_count()} CPUs",
              "date": time.strftime("%Y-%m-%d")}
    print(json.dumps({**header, "results": [run_isolated(case) for case in cases]}, indent=2))


if __name__ == "__main__":
    main()
