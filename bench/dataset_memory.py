"""Peak memory of `ussim dataset` against the number of images N.

Runs the command in a child process and samples, every 0.2 s, the resident memory of its
whole process tree (the client, the local cluster's scheduler, nannies and workers); reports
the peak of that sum and the client's own peak, the wall time, and the output file's size.

    python bench/dataset_memory.py --organ ivus --n 200 2000 [--scatterers-per-cell 1] [--workers 2] [--engine full]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def measure(organ: str, n: int, size: int, per_cell: float, workers: int, folder: Path, engine: str = "fast") -> dict:
    out = folder / f"{organ}-{n}.h5"
    command = [sys.executable, "-m", "ussim", "dataset", "--organ", organ, "--n", str(n), "--size", str(size),
               "--scatterers-per-cell", f"{per_cell:g}", "--workers", str(workers), "--device", "cpu",
               "--engine", engine, "--out", str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(child.pid)
    peak_tree = peak_client = 0
    while child.poll() is None:
        try:
            processes = [root, *root.children(recursive=True)]
            rss = []
            for process in processes:
                try:
                    rss.append(process.memory_info().rss)
                except psutil.NoSuchProcess:
                    rss.append(0)
            peak_tree, peak_client = max(peak_tree, sum(rss)), max(peak_client, rss[0])
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    output = child.stdout.read()
    if child.returncode != 0:
        raise SystemExit(f"ussim dataset failed ({child.returncode}):\n{output}")
    result = {"organ": organ, "n": n, "size": size, "scatterers_per_cell": per_cell, "workers": workers,
              "seconds": round(time.perf_counter() - start, 1), "peak_tree_mb": round(peak_tree / 2**20),
              "peak_client_mb": round(peak_client / 2**20), "file_mb": round(out.stat().st_size / 2**20, 1),
              "command": " ".join(["ussim", *command[3:-2], "--out", out.name])}
    out.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organ", default="ivus", choices=("ivus", "ovary"))
    parser.add_argument("--n", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--scatterers-per-cell", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", default="fast", choices=("fast", "full"))
    args = parser.parse_args()
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; {datetime.date.today()}; python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as folder:
        for n in args.n:
            print(json.dumps(measure(args.organ, n, args.size, args.scatterers_per_cell, args.workers, Path(folder),
                                     args.engine)),
                  flush=True)


if __name__ == "__main__":
    main()
