"""Parameter counts and CPU inference time of every model's `paper` preset (issue 18, point 6).

For each registered model: the networks of its `paper` preset as the training loop builds them
(ganlab.registry), generator and discriminator parameters counted; then the generator's seconds
per image at batch 1 on the CPU (eval mode, torch.inference_mode, float32, seeded N(0, 0.02)
weights), after --warmup untimed calls, best and median of --repeats. PGSgan's generator is timed
as it ends training (grown, both fade-in paths, alpha at its cap); SpeckleGAN's with the polar
speckle of IVUS, the paper's organ. The condition is a random label map of 3 classes (and a random
sketch for the sketch models). segdiff (diffusion, no discriminator) is timed per sampling step
(one UNet evaluation with the EMA weights, DDIM): its seconds per image are that times the
preset's sample_steps; its parameter count is the UNet's (the EMA copy, as large again, is not counted).

    python bench/paper_presets.py [--threads 1] [--repeats 3] [--model NAME ...] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time

import torch

from ganlab import presets, registry, sketch
from ganlab.growing import resize
from machine import describe  # bench/machine.py (the script's own folder is on sys.path)

CLASSES = 3


def measure(model: str, warmup: int, repeats: int) -> dict:
    spec = registry.get(model)
    config = presets.config_for(model, "paper")
    if spec.for_organ is not None:
        config = spec.for_organ(config, "ivus")
    networks = spec.build(config, sketch.condition_channels(CLASSES, spec.uses_sketch))
    state = spec.schedule(config, float(config["epochs"]))  # the end of training
    spec.apply_schedule(networks, state)
    generator = networks.generator.eval()
    size = config["resolution"]
    draw = torch.Generator().manual_seed(0)
    label = torch.randint(0, CLASSES, (1, size, size), generator=draw)
    sketch_map = (torch.rand((1, size, size), generator=draw) < 0.05).to(torch.uint8) if spec.uses_sketch else None
    condition = resize(spec.condition(label, sketch_map, CLASSES), state["g_size"])
    seconds = []
    per_step = spec.sample is not None  # diffusion: one sampling step, times the preset's steps
    options = {"sampler": "ddim", "steps": 1, "guidance": 0.0}
    with torch.inference_mode():
        for call in range(warmup + repeats):
            started = time.perf_counter()
            registry.make_images(spec, generator, condition, options) if per_step else generator(condition)
            if call >= warmup:
                seconds.append(time.perf_counter() - started)
    steps = config["sample_steps"] if per_step else 1
    count = lambda net: 0 if net is None else sum(p.numel() for p in net.parameters())  # noqa: E731
    trained = networks.generator.unet if per_step else networks.generator
    return {"model": model, "resolution": size, "g_parameters": count(trained),
            "d_parameters": count(networks.discriminator), "steps": steps,
            "best_s": round(min(seconds) * steps, 3), "median_s": round(statistics.median(seconds) * steps, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", action="append", help="only this model (repeatable; default: every one)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [measure(model, args.warmup, args.repeats) for model in (args.model or registry.names())]
    print(f"{describe()}; {args.threads} torch thread(s); load average {os.getloadavg()[0]:.1f}; "
          f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print("| model | size | G (UNet) parameters | D parameters | s per image (best / median) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        steps = f" ({r['steps']} steps)" if r["steps"] > 1 else ""
        print(f"| {r['model']} | {r['resolution']} | {r['g_parameters'] / 1e6:.2f} M | {r['d_parameters'] / 1e6:.2f} M "
              f"| {r['best_s']:.2f} / {r['median_s']:.2f}{steps} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"threads": args.threads, "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
