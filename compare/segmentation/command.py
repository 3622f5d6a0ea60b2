"""`uscompare segment`: the command-line face of compare.segmentation.benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path

from compare.segmentation import presets
from ussim import cliargs

EXAMPLES = """examples:
  uscompare segment --real real_train.h5 --test real_test.h5 --method ussim=sim_fresh.h5 \\
      --method pgsgan=gan_from_train_masks.h5 --seeds 0 1 2 --preset cpu --threads 1 --results results.nc
  uscompare segment --real real.h5 --test-fraction 0.2 --method ussim=sim_fresh.h5 --class-map follicle=ovary \\
      --n-real 50 100 --preset paper --device cuda --results results.nc

A synthetic set made from the test masks (same sample ids, the same mask pixels at native or
training size, or params naming the test file as its mask source) is refused before training.
"""


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    return name, value


def add_parser(commands) -> None:
    segment = commands.add_parser(
        "segment", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        help="segmentation utility: U-Net on synthetic only, pretrained + fine-tuned, or real only",
        description="For each seed: train MONAI's residual U-Net on N real images only for each --n-real N, and\n"
                    "for each --method one on that method's synthetic images only, then fine-tuned on the same\n"
                    "N real images. Score Dice and HD95 (MONAI) per class on real test images; report the mean\n"
                    "over seeds with a 95 % interval and the per-seed values. The results go into RESULTS.nc\n"
                    "(added beside a comparison run's results, or a new file), with every parameter.")
    segment.add_argument("--real", type=cliargs.input_file, required=True, metavar="REAL.h5", help="real labelled image set")
    test = segment.add_mutually_exclusive_group()
    test.add_argument("--test", type=cliargs.input_file, metavar="TEST.h5",
                      help="real labelled test set (default: a split of --real)")
    test.add_argument("--test-fraction", type=cliargs.finite_float(0, 1, low_open=True, high_open=True), metavar="F",
                      help="hold out this seeded fraction of --real for testing (default 0.2 without --test)")
    segment.add_argument("--split-seed", type=cliargs.seed, default=presets.SPLIT_SEED, metavar="N",
                         help=f"seed of that split and of the synthetic images chosen under --max-synthetic "
                              f"(default {presets.SPLIT_SEED})")
    segment.add_argument("--method", type=_pair, action="append", default=[], metavar="NAME=SYNTH.h5",
                         help="a method's synthetic labelled set to pretrain on (repeatable; names as in `run`)")
    segment.add_argument("--n-real", type=cliargs.positive_int, nargs="+", metavar="N",
                         help=f"real training-set sizes (default {' '.join(map(str, presets.N_REAL))}, each capped "
                              f"at the real pool's size; sizes given here must fit)")
    segment.add_argument("--class-map", type=_pair, action="append", default=[], metavar="NAME=REAL_CLASS",
                         help="use a synthetic or test class under the real set's class name (repeatable)")
    segment.add_argument("--results", type=cliargs.output_file, required=True, metavar="RESULTS.nc",
                         help="results file to add to (created when absent)")
    segment.add_argument("--overwrite", action="store_true", help="replace segmentation results already in the file")
    segment.add_argument("--seeds", type=cliargs.seed, nargs="+", default=list(presets.SEEDS), metavar="N",
                         help=f"training seeds, at least 2: each sets initial weights, the real subsets drawn, "
                              f"batches and flips (default {' '.join(map(str, presets.SEEDS))})")
    segment.add_argument("--device", type=cliargs.device, default="auto", metavar="auto|cpu|cuda[:N]", help="where to train (default auto)")
    segment.add_argument("--threads", type=cliargs.positive_int, metavar="N",
                         help="CPU threads for torch (default: torch's, all cores; on a shared machine fewer threads "
                              "than busy cores can be many times faster)")
    segment.add_argument("--no-progress", action="store_true", help="hide progress bars")
    training = segment.add_argument_group("preset and its overrides")
    training.add_argument("--preset", choices=list(presets.PRESETS), default="cpu",
                          help="; ".join(f"{name}: {', '.join(f'{k} {v}' for k, v in p.as_dict().items())}"
                                         for name, p in presets.PRESETS.items()) + " (default cpu)")
    # DECISION: a training side up to 4096 px; a U-Net's activations take about 4 KiB per pixel and image.
    for field, kind, text in (("size", cliargs.image_side(8, 4096, 4096), "training image side in pixels"),
                              ("width", cliargs.positive_int, "U-Net base width"),
                              ("depth", cliargs.int_range(2, 12), "U-Net levels"),
                              ("res-units", cliargs.non_negative_int, "residual units per level"),
                              ("batch-size", cliargs.positive_int, "images per step"),
                              ("learning-rate", cliargs.positive_float, "Adam learning rate"),
                              ("pretrain-steps", cliargs.positive_int, "steps on synthetic images"),
                              ("train-steps", cliargs.positive_int, "steps on real images"),
                              ("max-synthetic", cliargs.non_negative_int, "synthetic images used at most (0: all)")):
        training.add_argument(f"--{field}", type=kind, metavar="X" if kind is cliargs.positive_float else "N",
                              help=f"{text} (default: the preset's)")


def execute(args) -> None:
    from compare.segmentation import benchmark, store

    store.check_target(args.results, args.overwrite)  # before minutes of training, not after
    overrides = {name: getattr(args, name) for name in ("size", "width", "depth", "res_units", "batch_size",
                                                        "learning_rate", "pretrain_steps", "train_steps",
                                                        "max_synthetic")}
    ds = benchmark.run(args.real, [(name, Path(path)) for name, path in args.method], n_real=args.n_real,
                       preset=args.preset, overrides=overrides, test=args.test, test_fraction=args.test_fraction,
                       split_seed=args.split_seed, seeds=args.seeds, class_map=dict(args.class_map),
                       device=args.device, threads=args.threads, progress=not args.no_progress)
    store.add(args.results, ds, overwrite=args.overwrite)
    print(table_text(ds))
    print(f"\nwrote segmentation results to {args.results}")


def table_text(ds) -> str:
    """Mean [95 % interval] of every foreground class's Dice and HD95, one line per trained row."""
    from compare.segmentation import evaluate, store

    lines = []
    for method in ds["seg_method"].values.tolist():
        for n in [int(n) for n in ds["n_real"].values]:
            if not store.protocol(method, n):
                continue
            at = ds["segmentation"].sel({"seg_method": method, "n_real": n})
            cells = [f"{score} {c} {float(at.sel(seg_metric=score, seg_class=c)):.3f} "
                     f"[{float(at.sel(seg_metric=score + '_low', seg_class=c)):.3f}, "
                     f"{float(at.sel(seg_metric=score + '_high', seg_class=c)):.3f}]"
                     for c in ds["seg_class"].values.tolist()[1:] for score in evaluate.SCORES]
            lines.append(f"{store.row_name(method, n)}, {n} real: {'; '.join(cells)}")
    return "\n".join(lines)
