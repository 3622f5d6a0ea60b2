"""The `uscompare` command: `run` compares image sets into a results file, `segment` adds the
segmentation benchmark to it, `report` writes its HTML and Markdown report."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from compare import __version__
from compare.backbones import ALLOWED as BACKBONES
from compare.defaults import FRD_MODES, SIZE_MISMATCH_POLICIES, Settings, cache_dir
from compare.ellipse import PROTOCOLS
from compare.report import command as report_command
from compare.segmentation import command as segment_command
from ussim import cliargs
from ussim.errors import UsageError, run_cli

DEFAULTS = Settings()
EPILOG = """examples:
  uscompare run --reference real.h5 --method ussim=sim.h5 --method pgsgan=gan.h5 --out results.nc
  uscompare run --reference real.h5 --method ussim=sim.h5 --backbone texture-v1 --out results.nc
  uscompare run --reference real.h5 --method pgsgan=pgsgan_seed0.h5,pgsgan_seed1.h5 --backbone texture-v1 \\
      --out results.nc
  uscompare run --reference real.h5 --method ussim=sim.h5 --weights pt_inception-2015-12-05-6726825d.pth \\
      --out results.nc
  uscompare run --protocol ellipse --reference all_real_ivus.h5 --method specklegan=runs/00003-specklegan-ivus \\
      --backbone texture-v1 --out ellipse.nc
"""


def _method_arg(text: str) -> tuple[str, list[Path]]:
    name, sep, paths = text.partition("=")
    files = [part for part in paths.split(",")]
    if not sep or not name or not all(files):
        raise argparse.ArgumentTypeError(f"expected NAME=FILE.h5 or NAME=SEED0.h5,SEED1.h5,..., got '{text}'")
    return name, [Path(f) for f in files]


def build_parser() -> argparse.ArgumentParser:
    parser = cliargs.Parser(
        prog="uscompare", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Compare sources of synthetic ultrasound (physics simulation, GANs) against real images.")
    parser.add_argument("--version", action="version", version=f"uscompare {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run(commands)
    segment_command.add_parser(commands)
    report_command.add_parser(commands)
    return parser


def _add_run(commands) -> None:
    run = commands.add_parser(
        "run", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        help="compare image sets with a reference set; write every metric to a results file (.nc)",
        description="Compare one or more image sets (--method) with a reference set of real images:\n"
                    "  FID, KID, precision/recall, density/coverage on a feature backbone's features;\n"
                    "  SSIM and MS-SSIM between images made from the same mask; diversity MS-SSIM;\n"
                    "  FRD v1 on radiomic features (whole image and per class region) when frd-score is installed;\n"
                    "  per class: JS divergence of gray values, display gray levels, gCNR, envelope statistics\n"
                    "  (sets that store an envelope); seconds per image with device, batch and warm-up.\n"
                    "Every metric carries a 95 % bootstrap interval (over images, paired where the metric is, and\n"
                    "over training seeds: give a method one file per seed, comma-separated); the report calls a\n"
                    "method better only where intervals separate. Each method's condition (what it saw of the\n"
                    "reference: mask, sketch, image) is read from its file and kept beside its numbers.\n"
                    "Writes an xarray Dataset (method x metric, and method x class_metric x class, with intervals)\n"
                    "as netCDF; every parameter, the backbone and every note are in its attributes.")
    run.add_argument("--reference", type=cliargs.input_file, required=True, metavar="REAL.h5", help="reference image set (real)")
    run.add_argument("--method", type=_method_arg, action="append", required=True, metavar="NAME=FILE.h5[,FILE.h5...]",
                     help="an image set to compare, under the name NAME (repeatable); several comma-separated files "
                          "are one set per training seed of the same method (value: mean over seeds; interval: "
                          "over seeds and images)")
    run.add_argument("--out", type=cliargs.output_file, required=True, metavar="RESULTS.nc", help="results file to write")
    run.add_argument("--overwrite", action="store_true", help="replace RESULTS.nc if it exists")
    run.add_argument("--reference-name", default="reference", metavar="NAME",
                     help="name of the reference set in the results (default: reference)")
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    protocol = run.add_argument_group("protocol")
    protocol.add_argument("--protocol", choices=PROTOCOLS, default=DEFAULTS.protocol,
                          help="held-out (default): every method images the reference's masks, SSIM pairs images of "
                               "one mask; ellipse (the SpeckleGAN paper's evaluation): each --method names ganlab run "
                               "folders, which generate from random IVUS ellipse masks (ussim.phantoms.ivus), scored "
                               "unpaired against all the reference's real images")
    protocol.add_argument("--ellipse-samples", type=cliargs.int_range(2), default=DEFAULTS.ellipse_samples, metavar="N",
                          help=f"ellipse protocol: images generated per run (default {DEFAULTS.ellipse_samples}, "
                               f"the paper's)")
    protocol.add_argument("--ellipse-seed", type=cliargs.seed, default=DEFAULTS.ellipse_seed, metavar="N",
                          help=f"ellipse protocol: seed of the masks and of the generation "
                               f"(default {DEFAULTS.ellipse_seed})")
    protocol.add_argument("--ellipse-dir", type=cliargs.output_folder, metavar="DIR",
                          help="ellipse protocol: where the masks and generated sets are written (default: "
                               "RESULTS_ellipse_sets beside --out)")
    feats = run.add_argument_group("feature backbone (FID, KID, precision/recall, density/coverage)")
    feats.add_argument("--backbone", default=DEFAULTS.backbone, metavar="NAME",
                       help=f"one of: {BACKBONES} (default {DEFAULTS.backbone}); a weights-free backbone's name is "
                            f"part of every feature metric's label")
    feats.add_argument("--weights", type=cliargs.input_file, metavar="PATH",
                       help="inception-fid only: the weights file pt_inception-2015-12-05-6726825d.pth (SHA-256 "
                            f"checked); default: look in {cache_dir() / 'weights'} and torch hub's checkpoints, "
                            "then download")
    feats.add_argument("--offline", action="store_true", help="never download the Inception weights")
    feats.add_argument("--device", type=cliargs.device, default=DEFAULTS.device, metavar="auto|cpu|cuda[:N]",
                       help="where the network runs (default auto: cuda when available)")
    feats.add_argument("--batch-size", type=cliargs.positive_int, default=DEFAULTS.batch_size, metavar="N",
                       help=f"images per network batch (default {DEFAULTS.batch_size})")
    feats.add_argument("--no-cache", action="store_true",
                       help=f"neither read nor write the feature cache (default: {cache_dir() / 'features'}, "
                            f"set $USCOMPARE_CACHE to move it)")
    metric = run.add_argument_group("metric parameters")
    metric.add_argument("--kid-subsets", type=cliargs.positive_int, default=DEFAULTS.kid_subsets, metavar="N",
                        help=f"KID subsets (default {DEFAULTS.kid_subsets})")
    metric.add_argument("--kid-subset-size", type=cliargs.positive_int, default=DEFAULTS.kid_subset_size, metavar="N",
                        help=f"images per KID subset (default {DEFAULTS.kid_subset_size}; reduced to the smaller "
                             f"set's size with a warning)")
    metric.add_argument("--kid-seed", type=cliargs.seed, default=DEFAULTS.kid_seed, metavar="N",
                        help=f"seed of the KID subsets (default {DEFAULTS.kid_seed}, torch-fidelity's)")
    metric.add_argument("--pr-k", type=cliargs.positive_int, default=DEFAULTS.precision_recall_k, metavar="K",
                        help=f"neighbours for precision/recall (default {DEFAULTS.precision_recall_k})")
    metric.add_argument("--dc-k", type=cliargs.positive_int, default=DEFAULTS.density_coverage_k, metavar="K",
                        help=f"neighbours for density/coverage (default {DEFAULTS.density_coverage_k})")
    metric.add_argument("--diversity-pairs", type=cliargs.positive_int, default=DEFAULTS.diversity_pairs, metavar="N",
                        help=f"random image pairs per set for diversity MS-SSIM (default {DEFAULTS.diversity_pairs})")
    metric.add_argument("--diversity-seed", type=cliargs.seed, default=DEFAULTS.diversity_seed, metavar="N",
                        help=f"seed of those pairs (default {DEFAULTS.diversity_seed})")
    metric.add_argument("--collapse-ms-ssim", type=cliargs.finite_float(0, 1, low_open=True), default=DEFAULTS.collapse_ms_ssim, metavar="X",
                        help=f"a set whose diversity MS-SSIM reaches X is flagged as collapsed (one image whatever "
                             f"the mask) and ranked in no verdict (default {DEFAULTS.collapse_ms_ssim:g}, measured: "
                             f"see ganlab/diversity.py)")
    metric.add_argument("--min-class-pixels", type=cliargs.positive_int, default=DEFAULTS.min_class_pixels, metavar="N",
                        help=f"smallest class region (pixels in one image) measured for speckle and gCNR "
                             f"(default {DEFAULTS.min_class_pixels})")
    metric.add_argument("--bootstrap", type=cliargs.positive_int, default=DEFAULTS.bootstrap_resamples, metavar="N",
                        help=f"bootstrap resamples behind every 95 %% interval (default "
                             f"{DEFAULTS.bootstrap_resamples})")
    metric.add_argument("--bootstrap-seed", type=cliargs.seed, default=DEFAULTS.bootstrap_seed, metavar="N",
                        help=f"seed of the resamples (default {DEFAULTS.bootstrap_seed})")
    metric.add_argument("--frd", choices=FRD_MODES, default=DEFAULTS.frd,
                        help="FRD v1 on radiomic features: auto (when frd-score is installed, else a note says it was "
                             "left out), on (refuse without it), off (default auto)")
    metric.add_argument("--size-mismatch", choices=SIZE_MISMATCH_POLICIES, default=DEFAULTS.size_mismatch,
                        help="image sets of different sizes: resize the method's images to the reference size for "
                             "SSIM/MS-SSIM (features and per-class statistics use native pixels), or refuse "
                             "(default resize)")


def settings_from(args) -> Settings:
    return Settings(backbone=args.backbone, batch_size=args.batch_size, device=args.device,
                    kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size, kid_seed=args.kid_seed,
                    precision_recall_k=args.pr_k, density_coverage_k=args.dc_k,
                    diversity_pairs=args.diversity_pairs, diversity_seed=args.diversity_seed,
                    collapse_ms_ssim=args.collapse_ms_ssim, protocol=args.protocol,
                    ellipse_samples=args.ellipse_samples, ellipse_seed=args.ellipse_seed,
                    min_class_pixels=args.min_class_pixels, size_mismatch=args.size_mismatch,
                    bootstrap_resamples=args.bootstrap, bootstrap_seed=args.bootstrap_seed, frd=args.frd)


def run_command(args) -> None:
    from compare import results, runner

    cliargs.check_new_output(args.out, args.overwrite)  # fail before minutes of work, not after
    methods = args.method
    if args.protocol == "ellipse":
        methods = ellipse_sets(args)
    ds = runner.run(args.reference, methods, settings_from(args), reference_name=args.reference_name,
                    weights=args.weights, download=not args.offline, progress=not args.no_progress,
                    cache=not args.no_cache)
    results.write(ds, args.out, overwrite=args.overwrite)
    print(console_table(ds))
    print(f"\nwrote {args.out} (backbone {ds.attrs['backbone']}, {len(results.notes_of(ds))} note(s))")


def ellipse_sets(args) -> list[tuple[str, list[Path]]]:
    """The ellipse protocol's image sets: random IVUS masks, then each method's runs generating from them."""
    from compare import ellipse

    if args.ellipse_samples < 2:
        raise UsageError(f"--ellipse-samples {args.ellipse_samples} not allowed: need at least 2 images")
    folder = args.ellipse_dir or args.out.with_name(f"{args.out.stem}_ellipse_sets")
    masks = ellipse.ellipse_masks(args.reference, args.ellipse_samples, seed=args.ellipse_seed, folder=folder)
    return [(name, ellipse.generate_for_runs(name, runs, masks, folder, seed=args.ellipse_seed,
                                              progress=not args.no_progress)) for name, runs in args.method]


def console_table(ds) -> str:
    """Metrics (rows) x methods (columns) as `value [low, high]`, what `uscompare run` prints."""
    import pandas as pd

    from compare import results
    from compare.report.tables import with_interval

    metrics, methods = ds["metric"].values.tolist(), ds["method"].values.tolist()
    cells = {method: [with_interval(float(ds["value"].sel({"method": method, "metric": metric})),
                                    *results.interval_of(ds, method, metric)) for metric in metrics]
             for method in methods}
    return pd.DataFrame(cells, index=metrics).to_string()


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"uscompare: note: {' '.join(str(message).split())}", file=sys.stderr)


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("run", "segment"):
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            (run_command if args.command == "run" else segment_command.execute)(args)
    elif args.command == "report":
        report_command.execute(args)
    return 0


def main(argv=None) -> int:
    raise SystemExit(run_cli("uscompare", _main, argv))
