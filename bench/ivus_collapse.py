"""Does `make demo` train IVUS models that collapse? The demo's IVUS stage, one model and seed at a time.

Trains `model` exactly as the demo does (app.demo.models.train_and_generate: the cpu-demo preset, the
demo's iteration count and training seed) on a training set, generates one image per held-out mask,
and prints one JSON line:

    diversity      the generated set's collapse statistics (ganlab.diversity; collapse at >= 0.75)
    real           the same statistics of the held-out real images
    mask_spread    per-pixel std over the held-out masks with one fixed z (-1..1 scale): how much
                   the mask moves the image (0 = the mask is ignored)
    z_spread       per-pixel std over 8 draws of z (and speckle) for the first mask
    last_epoch     the last line of the run's stats.jsonl (its grid's diversity included)

    python bench/ivus_collapse.py MODEL SEED TRAIN.h5 HELD_OUT.h5 [--runs DIR] [--threads 1]

The demo's sets: runs/demo/data/ivus_train.h5 and ivus_reference.h5 (real pullback), or a simulated
pair made with `python bench/ivus_collapse.py --simulate DIR` (16 + 8 random IVUS anatomies through
ussim, as the demo does without real data).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from app.demo.defaults import DEMO
from app.demo.models import train_and_generate
from app.demo.sets import OrganSets
from ganlab import data, diversity, generate
from ussim import imageset


def simulate(folder: Path) -> None:
    from app.demo.sets import prepare
    prepare("ivus", folder, DEMO, None, progress=False)


def spreads(run: Path, held_out: Path, seed: int) -> dict:
    snapshot = generate.load(run)
    masks = data.load(held_out, snapshot.resolution, canny=None, progress=False)
    n_classes = len(snapshot.class_names)
    condition = torch.stack([snapshot.spec.condition(label[None], None, n_classes)[0] for label in masks.labels])
    draw = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(1, snapshot.generator.z_dim, generator=draw).expand(len(condition), -1)
        by_mask = snapshot.generator(condition, z=z, generator=draw)
        by_z = snapshot.generator(condition[:1].expand(8, -1, -1, -1), generator=draw)
    return {"mask_spread": round(float(by_mask.std(dim=0).mean()), 4),
            "z_spread": round(float(by_z.std(dim=0).mean()), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?")
    parser.add_argument("seed", nargs="?", type=int)
    parser.add_argument("train", nargs="?", type=Path)
    parser.add_argument("held_out", nargs="?", type=Path)
    parser.add_argument("--runs", type=Path, default=Path("runs/ivus_collapse"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--simulate", type=Path, metavar="DIR", help="write ivus_train.h5 / ivus_reference.h5 here")
    args = parser.parse_args()
    if args.simulate:
        args.simulate.mkdir(parents=True, exist_ok=True)
        simulate(args.simulate)
        return
    torch.set_num_threads(args.threads)
    args.runs.mkdir(parents=True, exist_ok=True)
    with imageset.read(args.train) as ds:
        real = not str(ds.attrs["method"]).startswith("ussim")
    sets = OrganSets("ivus", real, args.train, args.held_out, "bench")
    config = DEMO
    started = time.perf_counter()
    paths, trained = train_and_generate(args.model, sets, args.runs, args.runs, config, args.seed, progress=False)
    (path,) = paths.values()
    with imageset.read(path) as ds:
        own = json.loads(ds.attrs["diversity"])
    with imageset.read(args.held_out) as ds:
        reference = diversity.diversity(np.asarray(ds["image"].values))
    stats = [json.loads(line) for line in (Path(trained["run"]) / "stats.jsonl").read_text().splitlines() if line]
    print(json.dumps({"model": args.model, "seed": args.seed, "train": str(args.train), "real_data": real,
                      "iterations": trained["iterations"], "seconds": round(time.perf_counter() - started),
                      "threads": args.threads, "diversity": own, "real": reference,
                      **spreads(Path(trained["run"]), args.held_out, args.seed), "last_epoch": stats[-1]}),
          flush=True)


if __name__ == "__main__":
    sys.exit(main())
