"""CPU seconds per 256 x 256 image of the paper-size SpeckleGAN generator and its baseline, batch 1.

The paper-size generator (ganlab.specklegan_defaults, preset paper: width 64, z 128, 8 maps x 4
window sizes), eval mode, torch.inference_mode, float32, with N(0, 0.02) weights from seed 0.
The condition is a toy mask of two classes. Each variant is timed after --warmup calls, best and
median of --repeats calls; the speckle phases and z are drawn anew in every call, as in use.

  specklegan        Cartesian speckle layer (organs other than IVUS)
  specklegan-polar  speckle drawn on the polar grid (IVUS)
  speckle-baseline  the speckle layer replaced by the identity

    python bench/specklegan_speed.py [--threads 2 1] [--repeats 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time

import torch

from ganlab import sketch, spade
from ganlab.presets import RUNTIME
from ganlab.specklegan_defaults import PRESETS
from ussim import examples
from machine import describe  # bench/machine.py (the script's own folder is on sys.path)

VARIANTS = {"specklegan": (True, False), "specklegan-polar": (True, True), "speckle-baseline": (False, False)}


def time_variant(speckle: bool, polar: bool, mask: torch.Tensor, warmup: int, repeats: int) -> dict:
    config = {**PRESETS["specklegan"]["paper"], **RUNTIME, "polar": polar, "rotation": "none"}
    generator = spade.build_networks(config, mask.shape[1], speckle=speckle)[0].eval()
    parameters = sum(p.numel() for p in generator.parameters())
    seconds = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            image = generator(mask)
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
    assert image.shape == (1, 1, 256, 256)
    return {"best_s": round(min(seconds), 4), "median_s": round(statistics.median(seconds), 4),
            "parameters": parameters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch thread counts to time")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    sample = examples.toy_imageset(n=1, size=256, seed=0)
    mask = sketch.condition(torch.from_numpy(sample["label"].values), 2)
    print(f"machine: {describe()}")
    print(f"date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    results = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, (speckle, polar) in VARIANTS.items():
            result = time_variant(speckle, polar, mask, args.warmup, args.repeats)
            results[f"{name}@{threads}t"] = result
            print(f"{name:17s} {threads} thread(s): best {result['best_s']:.3f} s, median {result['median_s']:.3f} s "
                  f"per 256 x 256 image ({result['parameters']:,} parameters)", flush=True)
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
