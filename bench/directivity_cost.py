"""Cost of the element directivity over the band (issue 21): the same scenes simulated by two
source trees, back to back, each scene in a fresh process per tree and repeat.

Scenes: `plane` (one 0-degree plane wave of linear-7.6, 128 channels, 50 000 scatterers with
Gaussian amplitudes uniform in 24 x 34 mm, 0.5 dB/cm/MHz, `engine.simulate_channels`),
`ovary` and `ivus` (`phantom.random_sample`, seed 0, the sizes below: what `ussim phantom
--organ ... --size N` runs). Each child first runs the scene once untimed (numba compiles, the
aperture tables fill), then times it again: wall clock and the process's CPU time (on a shared
machine CPU time is the steadier of the two; both are reported, with the load average).

    python bench/directivity_cost.py --before /path/to/main/tree [--after .] [--repeats 2] [--threads 2]
                                     [--json bench/out/directivity_cost.json]

`--before` is a checkout of the tree to compare with (e.g. `git worktree add /tmp/main main`).
About 10 minutes on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import describe

SCENES = {"plane": {}, "ovary": {"size": 128}, "ivus": {"size": 64}}
PLANE_SCATTERERS = 50_000


def child(scene: str) -> dict:
    """Runs in the tree under test (its PYTHONPATH): one warm run, one timed run."""
    import numpy as np

    from ussim import engine, phantom, probe, transmit

    if scene == "plane":
        linear = probe.load("linear-7.6")
        rng = np.random.default_rng(0)
        n = PLANE_SCATTERERS
        cloud = engine.Scatterers(rng.uniform(-12e-3, 12e-3, n), np.zeros(n), rng.uniform(8e-3, 42e-3, n),
                                  rng.standard_normal(n))
        events = transmit.plane_waves(linear, [0.0])

        def run():
            return engine.simulate_channels(cloud, linear, events, device="cpu", progress=False)
    else:
        def run():
            return phantom.random_sample(scene, seed=0, size=SCENES[scene]["size"], device="cpu", progress=False)
    run()
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def run_isolated(tree: Path, scene: str, threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, __file__, "--child", scene], env=env, capture_output=True, text=True,
                          check=True)
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load_average": os.getloadavg()[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="the tree to compare with (e.g. a checkout of main)")
    parser.add_argument("--after", type=Path, default=Path("."), help="the tree under test (default: this one)")
    parser.add_argument("--scenes", nargs="+", choices=tuple(SCENES), default=list(SCENES))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--child", choices=tuple(SCENES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    if args.before is None:
        parser.error("--before is required: the source tree to compare with")
    for name, tree in (("--before", args.before), ("--after", args.after)):
        if not (tree / "ussim" / "engine.py").is_file():
            parser.error(f"{name} {tree}: no ussim/engine.py there (give the root of a source tree)")
    if args.repeats < 1 or args.threads < 1:
        parser.error(f"--repeats {args.repeats} and --threads {args.threads} must be at least 1")
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    results = {scene: {label: [] for label in trees} for scene in args.scenes}
    for repeat in range(args.repeats):
        for scene in args.scenes:
            for label, tree in trees.items():  # back to back, alternating
                results[scene][label].append(run_isolated(tree, scene, args.threads))
                print(f"{scene} {label} #{repeat}: {results[scene][label][-1]}", file=sys.stderr)
    summary = {}
    for scene, by_tree in results.items():
        median = {label: {key: statistics.median(r[key] for r in runs) for key in ("wall_s", "cpu_s")}
                  for label, runs in by_tree.items()}
        summary[scene] = {**median, "ratio_wall": median["after"]["wall_s"] / median["before"]["wall_s"],
                          "ratio_cpu": median["after"]["cpu_s"] / median["before"]["cpu_s"], "runs": by_tree}
    report = {"machine": describe(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "command": " ".join(sys.argv), "threads": args.threads, "trees": {k: str(v) for k, v in trees.items()}, "scenes": summary}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        temporary = args.json.with_suffix(".tmp")
        temporary.write_text(json.dumps(report, indent=2))
        temporary.replace(args.json)


if __name__ == "__main__":
    main()
