"""Is the first timed image of a producer as fast as the others once the warm-up is excluded?

Each producer makes IMAGES images of one and the same mask (other scatterer or noise seeds), so
that the first image costs what the others cost unless it pays a set-up. It runs in a fresh
process (numba's on-disk kernel cache filled, no in-process cache, no torch call yet), REPEATS
times in each of two modes: `warm` as the producers now run (one untimed warm-up, then every
image timed), and `cold` with the warm-up switched off (the first image then pays the one-off
set-up, as before issue 14). Printed per run: the warm-up's own seconds, the first timed image,
and the median and range of the others.

    python bench/warmup.py [--images 6] [--repeats 2] [--size 128] [--producers ivus ovary sgan]
                           [--warm-ups 1] [--json bench/out/warmup.json]

Producers: `ussim phantom --mask` (phantom.simulate_set) on IVUS masks at the default density
and on ovary masks at 2 scatterers per cell (ten times faster, same set-up), and `ganlab
generate` (generate.generate_set) with an Sgan of the cpu-demo widths at 64 px trained for 2
iterations (four times as many images: they take milliseconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # bench/machine.py (the script's own folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]


def ussim_run(mode: str, organ: str, size: int, images: int, per_cell: float, folder: Path) -> dict:
    import numpy as np

    from ussim import imageset, phantom, tissue
    table = tissue.load(organ)
    grid = phantom.display_grid(table, (size, size))
    label = phantom.GENERATORS[organ].draw(grid.x, grid.z, np.random.default_rng(0))[0]
    labels = np.repeat(label[None], images, axis=0)
    masks = imageset.make(np.zeros_like(labels), labels, class_names=phantom.GENERATORS[organ].CLASS_NAMES,
                          organ=organ, method="bench", params={}, y_mm=grid.z * 1e3, x_mm=grid.x * 1e3)
    imageset.write(masks, folder / f"{organ}.h5", overwrite=True)
    return _timed(phantom, mode, lambda: phantom.simulate_set(folder / f"{organ}.h5", organ, per_cell=per_cell,
                                                             device="cpu", progress=False))


def gan_run(mode: str, images: int, folder: Path) -> dict:
    from ganlab import train
    from ussim import examples, imageset
    imageset.write(examples.toy_imageset(n=8, size=64, seed=3), folder / "train.h5", overwrite=True)
    one = examples.toy_imageset(n=1, size=64, seed=11)
    repeated = imageset.make(one["image"].values.repeat(images, 0), one["label"].values.repeat(images, 0),
                             class_names=examples.CLASS_NAMES, organ="ovary", method="bench", params={})
    imageset.write(repeated, folder / "heldout.h5", overwrite=True)
    tiny = {"resolution": 64, "grid_samples": 2, "max_iters": 2}  # cpu-demo widths at 64 px
    run = train.train("sgan", folder / "train.h5", preset="cpu-demo", overrides=tiny, runs_root=folder / "runs",
                      progress=False, echo=False)
    # A fresh process for generation alone: training made torch's first calls already.
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import warmup; "
            f"print(warmup.json.dumps(warmup.gan_generate({mode!r}, {str(run)!r}, {str(folder)!r})))")
    return json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                     text=True).stdout.splitlines()[-1])


def gan_generate(mode: str, run: str, folder: str) -> dict:
    import torch

    from ganlab import generate
    # One thread: on a shared two-core machine torch's two OpenMP threads spin against other work.
    torch.set_num_threads(1)
    snapshot = generate.load(run)
    return _timed(generate, mode, lambda: generate.generate_set(snapshot, Path(folder) / "heldout.h5", progress=False))


def _timed(module, mode: str, produce) -> dict:
    """Run `produce` with the module's warm_up timed and done K times (mode warm:K) or switched off (cold)."""
    original, spent = module.warm_up, []
    warm_ups = int(mode.split(":")[1]) if mode.startswith("warm") else 0

    def timed_warm_up(*args, **kwargs):
        start = time.perf_counter()
        for _ in range(warm_ups):
            original(*args, **kwargs)
        spent.append(time.perf_counter() - start)

    module.warm_up = timed_warm_up
    seconds = [float(s) for s in produce()["seconds"].values]
    rest = seconds[1:]
    return {"mode": mode, "warm_up_s": round(sum(spent), 4) if warm_ups else None, "first_s": round(seconds[0], 4),
            "rest_median_s": round(statistics.median(rest), 4),
            "rest_range_s": [round(min(rest), 4), round(max(rest), 4)], "seconds": [round(s, 4) for s in seconds]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warm-ups", type=int, default=1, help="warm-up calls in mode warm (the producers make 1)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--producers", nargs="+", choices=["ivus", "ovary", "sgan"], default=["ivus", "ovary", "sgan"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    jobs = [("ivus", f"ussim_run(MODE, 'ivus', {args.size}, {args.images}, 10.0, FOLDER)"),
            ("ovary (2 per cell)", f"ussim_run(MODE, 'ovary', {args.size}, {args.images}, 2.0, FOLDER)"),
            ("sgan (cpu-demo widths, 64 px)", f"gan_run(MODE, {4 * args.images}, FOLDER)")]
    results = []
    for name, call in jobs:
        if name.split()[0] not in args.producers:
            continue
        for mode in [f"warm:{args.warm_ups}", "cold"] * args.repeats:
            with tempfile.TemporaryDirectory() as folder:
                code = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import warmup; "
                        f"from pathlib import Path; MODE, FOLDER = {mode!r}, Path({folder!r}); "
                        f"print(warmup.json.dumps(warmup.{call}))")
                out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
                result = {"producer": name, **json.loads(out.stdout.splitlines()[-1])}
            results.append(result)
            print(json.dumps(result), flush=True)
    print(describe())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": describe(), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
