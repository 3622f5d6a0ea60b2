"""CPU seconds per 512 x 512 image of the paper-size PGSgan generator, batch 1.

The paper reports 5.58 s per image on its CPU; the goal here is at most 2 s on 2 threads, by
honest means only: the same network and weights in float32, the output unchanged within a
stated tolerance. Variants, each timed after warm-up, best and median of --repeats runs:

  instance-norm   eager, torch.no_grad, nn.InstanceNorm2d: the plain pix2pix implementation
  eager           eager, torch.no_grad, ganlab's networks (instance norm computed by GroupNorm)
  inference       eager, torch.inference_mode
  channels-last   torch.inference_mode, channels-last memory format (with nn.InstanceNorm2d:
                  PyTorch's channels-last CPU group-norm kernel loses precision when a channel's
                  mean dwarfs its spread, 0.8 on this network's first layer)
  compiled        torch.inference_mode, torch.compile (inductor with weight freezing: norms,
                  ReLUs, residual additions and fades fused into generated C++ kernels, oneDNN
                  weights prepacked)
  compiled-cl     the same in channels-last memory format

The generator is the grown network at the end of training (both fade-in paths, alpha 0.5),
width 64, 10 residual blocks, input two classes plus the sketch channel. Weights are drawn from
N(0, 0.02) with seed 0 unless --snapshot gives a trained run's.

    python bench/pgsgan_speed.py [--threads 2] [--repeats 5] [--snapshot RUN] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

from ganlab import sketch
from ganlab.growing import GrowingGenerator
from ganlab.networks import init_weights
from machine import describe  # bench/machine.py (the script's own folder is on sys.path)

TOLERANCE = 1e-4  # largest allowed |difference| in the -1..1 output (0.013 gray levels)


def paper_generator(snapshot: str | None) -> tuple[nn.Module, torch.Tensor]:
    """The generator and one realistic condition (a toy mask with its Canny sketch) at 512 px."""
    from ussim import examples
    sample = examples.toy_imageset(n=1, size=512, seed=0)
    label = torch.from_numpy(sample["label"].values)
    drawn = sketch.edge_sketch(sample["image"].values[0], sigma=4.0, low=0.1, high=0.2)
    condition = sketch.condition(label, 2, torch.from_numpy(drawn)[None])
    if snapshot:
        from ganlab import generate
        loaded = generate.load(snapshot)
        if loaded.resolution != 512 or not bool(loaded.generator.grown):
            raise SystemExit(f"{snapshot}: not a grown 512 px generator")
        return loaded.generator, condition
    generator = GrowingGenerator(3, 1, width=64, blocks=10)
    init_weights(generator, generator=torch.Generator().manual_seed(0))
    generator.set_growth(True, 0.5)
    return generator.eval(), condition


def with_instance_norm(generator: nn.Module) -> nn.Module:
    """A copy whose GroupNorm(C, C) layers are nn.InstanceNorm2d(C): the same function."""
    plain = copy.deepcopy(generator)
    for module in plain.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.GroupNorm):
                setattr(module, name, nn.InstanceNorm2d(child.num_channels, eps=child.eps))
    return plain


def timed(run, repeats: int) -> list[float]:
    run()  # warm-up: oneDNN primitive creation, allocator
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant after warm-up (default 5)")
    parser.add_argument("--snapshot", help="a trained pgsgan run (or snapshot.pt) at 512 px instead of random weights")
    parser.add_argument("--skip-compile", action="store_true", help="leave out the torch.compile variant")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator, condition = paper_generator(args.snapshot)
    plain = with_instance_norm(generator)
    with torch.no_grad():
        reference = generator(condition)
    last = condition.contiguous(memory_format=torch.channels_last)

    def no_grad(net, x):
        def run():
            with torch.no_grad():
                return net(x)
        return run

    def inference(net, x):
        def run():
            with torch.inference_mode():
                return net(x)
        return run

    variants = {"instance-norm": no_grad(plain, condition), "eager": no_grad(generator, condition),
                "inference": inference(generator, condition),
                "channels-last": inference(copy.deepcopy(plain).to(memory_format=torch.channels_last), last)}
    compile_seconds = {}
    if not args.skip_compile:
        import torch._inductor.config as inductor
        inductor.freezing = True
        for name, net, x in (("compiled", copy.deepcopy(generator), condition),
                             ("compiled-cl", copy.deepcopy(generator).to(memory_format=torch.channels_last), last)):
            compiled = torch.compile(net.grown_forward)
            start = time.perf_counter()
            inference(compiled, x)()
            compile_seconds[name] = round(time.perf_counter() - start, 1)
            variants[name] = inference(compiled, x)

    results = {"machine": describe(), "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "command": " ".join([os.path.basename(sys.executable), *sys.argv]), "threads": args.threads,
               "batch": 1, "size": 512, "weights": args.snapshot or "N(0, 0.02), seed 0",
               "load_average_at_start": os.getloadavg()[0], "compile_seconds": compile_seconds,
               "tolerance": TOLERANCE, "paper_seconds": 5.58, "variants": {}}
    for name, run in variants.items():
        seconds = timed(run, args.repeats)
        out = run()
        difference = float((out - reference).abs().max())
        pixels = int(np.sum(sketch.to_uint8(out) != sketch.to_uint8(reference)))
        results["variants"][name] = {"best_s": min(seconds), "median_s": statistics.median(seconds),
                                     "max_abs_difference": difference, "uint8_pixels_changed": pixels,
                                     "within_tolerance": difference <= TOLERANCE}
    results["load_average_at_end"] = os.getloadavg()[0]

    print(f"machine   {results['machine']}")
    print(f"date      {results['date']}")
    print(f"command   {results['command']}")
    print(f"setting   paper-size PGSgan generator (grown, alpha 0.5), 512 x 512, batch 1, {args.threads} threads, "
          f"weights {results['weights']}; load average {results['load_average_at_start']:.2f} at start")
    print(f"{'variant':14s} {'best s':>8s} {'median s':>9s} {'max |diff|':>11s} {'uint8 px changed':>17s}")
    for name, r in results["variants"].items():
        print(f"{name:14s} {r['best_s']:8.3f} {r['median_s']:9.3f} {r['max_abs_difference']:11.2e} "
              f"{r['uint8_pixels_changed']:17d}{'' if r['within_tolerance'] else '  OVER TOLERANCE'}")
    if compile_seconds:
        print(f"compile   seconds once, not in the per-image times: {compile_seconds}")
    print(f"paper     5.58 s per image on the paper's CPU; tolerance {TOLERANCE:g} on the -1..1 output")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0 if all(r["within_tolerance"] for r in results["variants"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
