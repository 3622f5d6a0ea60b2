"""The `ganlab` command: list the models, train one on an image set, generate images from masks."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ganlab import __version__
from ussim import cliargs
from ussim.errors import UsageError, run_cli

EPILOG = """examples:
  ganlab models
  ganlab train --model pgsgan --data ovary_train.h5 --preset cpu-demo
  ganlab train --model sgan --data ovary_sim.h5 --preset paper --set epochs=100
  ganlab train --resume runs/00003-pgsgan-ovary_train
  torchrun --nproc_per_node 2 -m ganlab train --model cgan --data ovary_train.h5 --preset cpu-demo
  ganlab generate --run runs/00003-pgsgan-ovary_train --masks ovary_val.h5 --out ovary_pgsgan.h5
  ganlab generate --run runs/00003-pgsgan-ovary_train --masks ovary_val.h5 --sketch-from training \\
      --seed 1 --out ovary_pgsgan_trainsketch.h5
  ganlab generate --run runs/00004-segdiff-ovary_train --masks ovary_val.h5 --sampler ddim --steps 50 \\
      --out ovary_segdiff.h5
"""


# DECISION: an output image is resized from the model's resolution in float32 by torch and kept
# as uint8 with its label (about 16 bytes per output pixel in all); a side that cannot fit is
# refused when parsed.
GENERATE_SIDE = cliargs.image_side(8, 16)


def build_parser() -> argparse.ArgumentParser:
    parser = cliargs.Parser(
        prog="ganlab", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="GANs and a diffusion model for ultrasound synthesis from label masks (cGAN, Sgan, PGSgan, "
                    "SpeckleGAN and its baseline, segdiff): train them on any "
                    "image-set file, real or simulated, and generate image sets from masks.")
    parser.add_argument("--version", action="version", version=f"ganlab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    models = commands.add_parser("models", help="list the registered models, the paper section each follows, presets",
                                 description="List every registered model with the paper section it follows, its "
                                             "presets and their main settings.")
    models.add_argument("--json", action="store_true",
                        help="print every setting of every preset (the keys --set accepts) as JSON")

    train = commands.add_parser(
        "train", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        help="train a model on an image-set file (or resume a run)",
        description="Train a model into a new numbered run folder RUNS/NNNNN-MODEL-DATANAME (config.json, log.txt, "
                    "stats.jsonl, a sample grid per epoch or every --set snap_epochs=N, snapshot.pt for inference, state.pt "
                    "for exact resume). "
                    "Runs on CUDA when present; under torchrun each process trains on its share of every batch.")
    train.add_argument("--model", help="registered model name: cgan, sgan, pgsgan, specklegan, speckle-baseline or "
                                       "segdiff (see `ganlab models`)")
    train.add_argument("--data", type=cliargs.input_file, metavar="FILE", help="image-set file to train on (real or simulated)")
    train.add_argument("--preset", help="settings table: paper (the publication's values; default) or cpu-demo "
                                        "(small networks that learn visibly in minutes on a laptop CPU)")
    train.add_argument("--resume", metavar="RUN", help="continue this run folder (or its number under --runs) from "
                                                       "its last saved state, with its own config")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override one setting of the preset (repeatable; VALUE is read as JSON, e.g. "
                            "epochs=50, g_width=32, phase_epochs=[10,5,5]); `ganlab models --json` lists them")
    train.add_argument("--epochs", type=cliargs.positive_int, help="shortcut for --set epochs=N")
    train.add_argument("--seed", type=cliargs.seed, help="shortcut for --set seed=S (weights, data order; default 0)")
    train.add_argument("--device", choices=("auto", "cpu", "cuda"),
                       help="where to train (default auto: CUDA if present)")
    train.add_argument("--threads", type=cliargs.positive_int, metavar="N", help="CPU threads for torch (default: torch's choice)")
    train.add_argument("--deterministic", action="store_true",
                       help="use deterministic algorithms only (with fixed --threads, bit-exact resume on CPU)")
    train.add_argument("--max-iters", type=cliargs.positive_int, metavar="N", help="stop after N iterations in all (smoke runs)")
    train.add_argument("--runs", type=cliargs.output_folder, default=Path("runs"), metavar="DIR",
                       help="folder that holds the numbered run folders (default runs/)")

    gen = commands.add_parser(
        "generate", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        help="generate one image per mask of an image-set file with a trained run",
        description="Generate one image per label mask of an image-set file with a run's snapshot. Sketch models "
                    "use the file's own `sketch` when it has one, else Canny sketches of its images drawn with the "
                    "run's settings: the sketch of the very image each generated one is scored against "
                    "(--sketch-from reference). --sketch-from training draws each mask's sketch from a training "
                    "image chosen by --seed instead. Writes an image-set file with the wall seconds each image "
                    "took (batch 1, after one untimed warm-up image) and what the model saw (condition).")
    gen.add_argument("--run", required=True, metavar="RUN", help="run folder, run number, or snapshot.pt file")
    gen.add_argument("--masks", required=True, type=cliargs.input_file, metavar="FILE", help="image-set file whose labels to use")
    gen.add_argument("--out", required=True, type=cliargs.output_file, metavar="FILE", help="image-set file to write (.h5)")
    gen.add_argument("--samples", type=cliargs.positive_int, metavar="K", help="only the first K masks")
    gen.add_argument("--size", type=GENERATE_SIDE, metavar="N", help="output size N x N (default: the masks' size)")
    gen.add_argument("--seed", type=cliargs.seed, default=0, help="seed of the first image (image i uses SEED+i; default 0)")
    gen.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to run (default auto)")
    gen.add_argument("--threads", type=cliargs.positive_int, metavar="N", help="CPU threads for torch (default: torch's choice)")
    gen.add_argument("--sketch-from", default="reference", metavar="{reference,training}",
                     help="sketch models: each mask's sketch from the masks file's own image of it (reference, "
                          "default) or from a training image chosen with --seed (training)")
    gen.add_argument("--sketch-set", type=cliargs.input_file, metavar="TRAIN.h5",
                     help="with --sketch-from training: the image set to draw sketches from (default: the run's "
                          "own training set, named in its config.json)")
    gen.add_argument("--sampler", metavar="{ddim,dpm++}",
                     help="diffusion models (segdiff): DDIM or DPM-Solver++ (default: the run's preset's)")
    gen.add_argument("--steps", type=cliargs.int_range(1), metavar="N",
                     help="diffusion models: sampling steps, 1 to the run's training steps (default: the preset's)")
    gen.add_argument("--guidance", type=cliargs.finite_float(0.0), metavar="W",
                     help="diffusion models: classifier-free guidance weight on the mask, 0 for none (default 0; "
                          "needs a run trained with cfg_p_uncond > 0)")
    gen.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    return parser


def parse_sets(items) -> dict:
    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"bad --set '{item}': write KEY=VALUE")
        try:
            overrides[key] = json.loads(text, parse_constant=_not_finite(item), parse_float=_finite(item))
        except json.JSONDecodeError:
            if text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
                _not_finite(item)(text)
            overrides[key] = text  # a bare word, e.g. device=cpu
    return overrides


def _not_finite(item: str):
    def refuse(text: str):
        raise UsageError(f"bad --set '{item}': {text} is not a finite number (settings take finite numbers)")
    return refuse


def _finite(item: str):
    def parse(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            _not_finite(item)(text)
        return value
    return parse


def cmd_models(args) -> int:
    from ganlab import presets, registry
    if args.json:
        tables = {name: {"follows": registry.get(name).follows,
                         "presets": {p: presets.config_for(name, p) for p in registry.get(name).presets}}
                  for name in registry.names()}
        print(json.dumps(tables, indent=2))
        return 0
    for name in registry.names():
        spec = registry.get(name)
        print(f"{name:8s} {spec.follows}")
        print(f"{'':8s} {spec.summary}")
        for preset, table in spec.presets.items():
            keys = ("resolution", "g_width", "g_blocks", "block_channels", "batch", "epochs", "lr_g", "lr_d", "lr",
                    "phase_epochs", "beta_schedule", "sampler", "sample_steps")
            shown = ", ".join(f"{k}={table[k]}" for k in keys if k in table)
            print(f"{'':8s} preset {preset}: {shown}")
    return 0


def cmd_train(args) -> int:
    from ganlab import train
    overrides = parse_sets(args.set)
    for key in ("epochs", "seed", "device", "threads", "max_iters"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.deterministic:
        overrides["deterministic"] = True
    run = train.train(args.model, args.data, preset=args.preset, overrides=overrides, runs_root=args.runs,
                      resume=args.resume)
    if train.is_main_process():
        print(f"run folder: {run}")
    return 0


def cmd_generate(args) -> int:
    import torch

    from ganlab import diversity, generate, train
    from ussim import imageset
    cliargs.check_new_output(args.out, args.overwrite)
    with imageset.read(args.masks, validate_labels=False, verify=False) as masks:  # the header: count and size
        count = min(masks.sizes["sample"], args.samples or masks.sizes["sample"])
        side = args.size or masks.sizes["x"]
    # The set is held in memory until written: image, label (and sketch) per pixel, 3 bytes.
    cliargs.check_fits_memory(count * side * side * 3, 1, f"{count} images of {side} x {side} px")
    if args.threads:
        torch.set_num_threads(args.threads)
    snapshot = generate.load(args.run, train.pick_device(args.device), sampler=args.sampler, steps=args.steps,
                             guidance=args.guidance)
    ds = generate.generate_set(snapshot, args.masks, samples=args.samples, size=args.size, seed=args.seed,
                               sketch_from=args.sketch_from, sketch_set=args.sketch_set)
    imageset.write(ds, args.out, overwrite=args.overwrite)
    seconds = ds["seconds"].values
    print(f"{args.out}: {ds.sizes['sample']} images by {snapshot.spec.name} (epoch {snapshot.epoch}), "
          f"median {float(sorted(seconds)[len(seconds) // 2]):.3g} s per image on {snapshot.device}")
    spread = json.loads(ds.attrs["diversity"])
    if spread["collapsed"]:
        print(f"warning: the set looks collapsed: diversity MS-SSIM {spread['diversity_ms_ssim']} >= "
              f"{diversity.COLLAPSE_MS_SSIM} (the same image whatever the mask); see ganlab/diversity.py")
    return 0


COMMANDS = {"models": cmd_models, "train": cmd_train, "generate": cmd_generate}


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


def main(argv=None) -> int:
    raise SystemExit(run_cli("ganlab", _main, argv))
