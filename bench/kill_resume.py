"""Issue 19, point 5: `ganlab train` and `ussim dataset`, killed with SIGKILL at random moments,
always resume to the result of an uninterrupted run and leave nothing a rerun trips over.

For each command: one uninterrupted reference run; then the same job started, killed after a
random delay (seeded), restarted (`ganlab train --resume RUN`, or the same `ussim dataset`
command line), killed again, ... KILLS times, then let finish. The kill takes the whole process
group (the command and, for `dataset`, its dask workers), as a power cut or an OOM kill of the
job would. After every kill the folder must hold no temporary that a rerun would trip over
(rerunning is the test of that) and, at the end, none at all; the finished result must equal the
reference: the same images, labels and envelopes (dataset), the same generator and
discriminator weights and the same per-epoch losses (train; deterministic CPU training, 1 thread).

    python bench/kill_resume.py [--kills 10] [--seed 0] [--only train|dataset]

Prints one line per kill and a summary; results go to bench/RESULTS.md by hand (machine, date,
command).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402
from ussim import examples, imageset  # noqa: E402

EPOCHS, SHARDS = 40, 6  # as in TRAIN and DATASET
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
DATASET = ["--organ", "ivus", "--size", "96", "--scatterers-per-cell", "1", "--device", "cpu", "--shard-size", "1",
           "--n", "6", "--workers", "1"]
TRAIN = ["--model", "cgan", "--preset", "cpu-demo", "--set", "resolution=32", "--set", "g_width=8", "--set",
         "d_width=8", "--set", "g_blocks=1", "--set", "grid_samples=2", "--set", "batch=2", "--epochs", "40",
         "--threads", "1", "--deterministic", "--device", "cpu"]


def start(argv: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as handle:
        return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=ENV, start_new_session=True,
                                stdout=handle, stderr=subprocess.STDOUT)


def run_to_end(argv: list[str], log: Path, first_output: tuple[Path, str] | None = None) -> tuple[float, float]:
    """Run to the end; the seconds in all and the seconds until a file matching `first_output`
    (folder, glob pattern) appeared (polled)."""
    began = time.perf_counter()
    child = start(argv, log)
    first = None
    while child.poll() is None:
        if first is None and first_output is not None and any(first_output[0].glob(first_output[1])):
            first = time.perf_counter() - began
        time.sleep(0.05)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {child.returncode}; see {log}")
    seconds = time.perf_counter() - began
    return seconds, seconds if first is None else first


def kill_delay(rng: random.Random, seconds: float, first: float, left: float) -> float:
    """A random moment of a started job: a quarter of the kills during its start-up (before the first
    unit of work is written: `first` s in the reference run), the rest within the work it has left
    (the `left` fraction of the reference's remaining seconds)."""
    # DECISION: drawn over the whole reference duration, 4 of 10 kills landed before the run folder
    # existed and 4 after the last epoch (2026-12-02, load 7): a resumed job has less work than the
    # reference, so most draws fell after its end. Drawing within the work left spreads the kills
    # over the work itself while still killing some start-ups.
    if rng.random() < 0.25:
        return rng.uniform(0.5, max(first, 0.6))
    return rng.uniform(first, first + max(seconds - first, 0.1) * left)


def kill_after(child: subprocess.Popen, delay: float) -> bool:
    """SIGKILL the child's process group after `delay` s; False when it finished first."""
    try:
        child.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        return True


def temporaries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*.tmp"))


def dataset_loop(folder: Path, kills: int, rng: random.Random) -> dict:
    log = folder / "dataset.log"
    reference = folder / "reference.h5"
    seconds, first = run_to_end(["-m", "ussim", "dataset", *DATASET, "--out", str(reference)], log,
                                first_output=(folder, "reference.h5.shards/shard-*.h5"))
    target = folder / "killed.h5"
    argv = ["-m", "ussim", "dataset", *DATASET, "--out", str(target)]
    done, finished_early, restarts = 0, 0, 0
    while done < kills:
        restarts += 1
        shards = len(list(folder.glob("killed.h5.shards/shard-*.h5")))
        if kill_after(start(argv, log), kill_delay(rng, seconds, first, 1 - shards / SHARDS + 0.1)):
            done += 1
            print(f"dataset kill {done}: shards {len(list(folder.glob('killed.h5.shards/shard-*.h5')))}, "
                  f"temporaries {temporaries(folder)}", flush=True)
        else:  # finished before the kill: compare, then start over
            finished_early += 1
            compare_sets(reference, target)
            target.unlink()
    run_to_end(argv, log)
    compare_sets(reference, target)
    left = sorted(p.name for p in folder.iterdir() if p.name.startswith("killed"))
    assert left == ["killed.h5"], f"left behind: {left}"
    assert not temporaries(folder), temporaries(folder)
    return {"reference_s": round(seconds, 1), "kills": done, "starts": restarts + 1,
            "finished_before_kill": finished_early}


def compare_sets(reference: Path, other: Path) -> None:
    with imageset.read(reference) as a, imageset.read(other) as b:
        assert a["seed"].values.tolist() == b["seed"].values.tolist()
        for name in ("image", "label", "envelope"):
            assert np.array_equal(a[name].values, b[name].values), name


def train_loop(folder: Path, kills: int, rng: random.Random) -> dict:
    log = folder / "train.log"
    data = imageset.write(examples.toy_imageset(n=16, size=32, seed=3), folder / "toy.h5")
    seconds, first = run_to_end(["-m", "ganlab", "train", *TRAIN, "--data", str(data), "--runs",
                                 str(folder / "reference")], log, first_output=(folder, "reference/0*/stats.jsonl"))
    (reference,) = list((folder / "reference").glob("0*"))
    runs = folder / "killed"
    done, starts, finished_early = 0, 0, 0
    while True:
        existing = sorted(runs.glob("0*")) if runs.is_dir() else []
        if existing and completed(existing[0]) and done < kills:
            # The job ended between two kills (the last kill came after its final checkpoint): check
            # it, then start the job over, so that every kill counted lands on a job with work left.
            finished_early += 1
            compare_runs(reference, only_run(runs))
            shutil.rmtree(runs)
            continue
        argv = (["-m", "ganlab", "train", "--resume", str(existing[0]), "--threads", "1"] if existing else
                ["-m", "ganlab", "train", *TRAIN, "--data", str(data), "--runs", str(runs)])
        starts += 1
        if done >= kills:
            run_to_end(argv, log)
            break
        stats = existing[0] / "stats.jsonl" if existing else None
        logged = len(stats.read_text().splitlines()) if stats and stats.is_file() else 0
        if kill_after(start(argv, log), kill_delay(rng, seconds, first, 1 - logged / EPOCHS + 0.1)):
            done += 1
            folders = sorted(runs.glob("0*")) if runs.is_dir() else []
            stats = folders[0] / "stats.jsonl" if folders else None
            epochs = len(stats.read_text().splitlines()) if stats and stats.is_file() else 0
            print(f"train kill {done}: run folders {[p.name for p in folders]}, epochs logged when killed {epochs}, "
                  f"temporaries {temporaries(folder)}", flush=True)
        else:  # finished before the kill: compare, then start the job over
            finished_early += 1
            compare_runs(reference, only_run(runs))
            shutil.rmtree(runs)
    compare_runs(reference, only_run(runs))
    assert not temporaries(folder), temporaries(folder)
    return {"reference_s": round(seconds, 1), "kills": done, "starts": starts, "finished_before_kill": finished_early}


def completed(run: Path) -> bool:
    log = run / "log.txt"
    return log.is_file() and " stopped at epoch 40 " in log.read_text(errors="replace")


def only_run(runs: Path) -> Path:
    found = list(runs.iterdir())
    assert len(found) == 1, found  # one run folder, no leftover of a killed start
    return found[0]


def compare_runs(reference: Path, other: Path) -> None:
    import torch
    a, b = (torch.load(run / "state.pt", map_location="cpu", weights_only=True) for run in (reference, other))
    for network in ("generator", "discriminator"):
        for key, tensor in a[network].items():
            assert torch.equal(tensor, b[network][key]), (network, key)
    assert (a["epoch"], a["total"]) == (b["epoch"], b["total"])
    losses = [[{k: v for k, v in json.loads(line).items() if k != "seconds"}
               for line in (run / "stats.jsonl").read_text().splitlines()] for run in (reference, other)]
    assert losses[0] == losses[1], "per-epoch statistics differ"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("train", "dataset"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(describe(), flush=True)
    folder = Path(tempfile.mkdtemp(prefix="kill_resume_"))
    try:
        for name, loop in (("train", train_loop), ("dataset", dataset_loop)):
            if args.only in (None, name):
                began = time.perf_counter()
                (folder / name).mkdir()
                facts = loop(folder / name, args.kills, rng)
                print(f"{name}: {facts}, {time.perf_counter() - began:.0f} s in all: resumed to the uninterrupted "
                      f"result, nothing left behind", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
