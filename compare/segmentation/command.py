"""`uscompare segment`: the command-line face of compare.segmentation.benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path

from compare.segmentation import presets

EXAMPLES = """examples:
  uscompare segment --real real_train.h5 --test real_test.h5 --method ussim=sim.h5 --method pgsgan=gan.h5 \\
      --n-real 50 100 --preset cpu --results results.nc
  uscompare segment --real real.h5 --test-fraction 0.2 --method ussim=sim.h5 --class-map normal_ovary=ovary \\
      --preset paper --device cuda --results results.nc
"""


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    return name, value


def add_parser(commands) -> None:
    segment = commands.add_parser(
        "segment", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        help="segmentation utility: U-Net on real images only vs pretrained on each method's synthetic images",
        description="Train a residual U-Net on --n-real real images only, and for each --method one pretrained on\n"
                    "that method's synthetic images and fine-tuned on the same real images; score Dice and the\n"
                    "modified Hausdorff distance per class on real test images. The results go into RESULTS.nc\n"
                    "(added beside a comparison run's results, or a new file), with every parameter.")
    segment.add_argument("--real", type=Path, required=True, metavar="REAL.h5", help="real labelled image set")
    test = segment.add_mutually_exclusive_group()
    test.add_argument("--test", type=Path, metavar="TEST.h5",
                      help="real labelled test set (default: a split of --real)")
    test.add_argument("--test-fraction", type=float, metavar="F",
                      help="hold out this seeded fraction of --real for testing (default 0.2 without --test)")
    segment.add_argument("--split-seed", type=int, default=presets.SPLIT_SEED, metavar="N",
                         help=f"seed of that split (default {presets.SPLIT_SEED})")
    segment.add_argument("--method", type=_pair, action="append", default=[], metavar="NAME=SYNTH.h5",
                         help="a method's synthetic labelled set to pretrain on (repeatable; names as in `run`)")
    segment.add_argument("--n-real", type=int, nargs="+", default=list(presets.N_REAL), metavar="N",
                         help=f"real training-set sizes (default {' '.join(map(str, presets.N_REAL))})")
    segment.add_argument("--class-map", type=_pair, action="append", default=[], metavar="NAME=REAL_CLASS",
                         help="use a synthetic or test class under the real set's class name (repeatable)")
    segment.add_argument("--results", type=Path, required=True, metavar="RESULTS.nc",
                         help="results file to add to (created when absent)")
    segment.add_argument("--overwrite", action="store_true", help="replace segmentation results already in the file")
    segment.add_argument("--seed", type=int, default=presets.SEED, metavar="N",
                         help=f"seed of weights, real subsets, batches and flips (default {presets.SEED})")
    segment.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]", help="where to train (default auto)")
    segment.add_argument("--threads", type=int, metavar="N",
                         help="CPU threads for torch (default: torch's, all cores; on a shared machine fewer threads "
                              "than busy cores can be many times faster)")
    segment.add_argument("--no-progress", action="store_true", help="hide progress bars")
    training = segment.add_argument_group("preset and its overrides")
    training.add_argument("--preset", choices=list(presets.PRESETS), default="cpu",
                          help="; ".join(f"{name}: {', '.join(f'{k} {v}' for k, v in p.as_dict().items())}"
                                         for name, p in presets.PRESETS.items()) + " (default cpu)")
    for field, kind, text in (("size", int, "training image side in pixels"), ("width", int, "U-Net base width"),
                              ("depth", int, "U-Net levels"), ("batch-size", int, "images per step"),
                              ("learning-rate", float, "Adam learning rate"),
                              ("pretrain-steps", int, "steps on synthetic images"),
                              ("train-steps", int, "steps on real images"),
                              ("max-synthetic", int, "synthetic images used at most (0: all)")):
        training.add_argument(f"--{field}", type=kind, metavar="N" if kind is int else "X",
                              help=f"{text} (default: the preset's)")


def execute(args) -> None:
    from compare.segmentation import benchmark, store

    store.check_target(args.results, args.overwrite)  # before minutes of training, not after
    overrides = {name: getattr(args, name) for name in ("size", "width", "depth", "batch_size", "learning_rate",
                                                        "pretrain_steps", "train_steps", "max_synthetic")}
    ds = benchmark.run(args.real, [(name, Path(path)) for name, path in args.method], n_real=args.n_real,
                       preset=args.preset, overrides=overrides, test=args.test, test_fraction=args.test_fraction,
                       split_seed=args.split_seed, seed=args.seed, class_map=dict(args.class_map),
                       device=args.device, threads=args.threads, progress=not args.no_progress)
    store.add(args.results, ds, overwrite=args.overwrite)
    dice = ds["segmentation"].sel({"seg_metric": "dice"}).to_dataframe()["segmentation"].unstack("seg_class")
    print(dice.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nwrote segmentation results to {args.results}")
