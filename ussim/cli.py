"""The `ussim` command: inspect and import image sets, simulate phantoms and datasets of them."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from ussim import __version__, atomicio, cliargs, imageset, importers, raster
from ussim.errors import UsageError, run_cli

EPILOG = """examples:
  ussim import ../shared/data/real/otu2d_ovary_256.npz --split train --image-class normal_ovary \\
      --drop-unused-classes --rename normal_ovary=ovary --organ ovary --out ovary_train.h5
  ussim import --images OTU_2d/images --masks OTU_2d/annotations --mask-suffix _binary \\
      --classes background,lesion --size 256 --out otu.h5
  ussim info ovary_train.h5
  ussim phantom --organ ivus --seed 3 --out ivus.h5 --png ivus.png
  ussim phantom --organ ovary --mask ovary_train.h5 --samples 4 --out ovary_sim.h5
  ussim phantom --organ ovary --mask ovary_val.h5 --condition mask+sketch --out ovary_sim_sketch.h5
  ussim phantom --organ ovary --mask ovary_val.h5 --condition mask+sketch --sketch-from training \
      --side-set ovary_train.h5 --seed 1 --out ovary_sim_trainsketch.h5
  ussim phantom --organ ivus --mask ivus_real.h5 --condition mask+image --probe ivus-40 --out ivus_at40.h5
  ussim dataset --organ ivus --n 200 --workers 2 --out ivus200.h5
"""


# DECISION: working memory per output pixel, estimated generously (the display chain's float64
# intermediates, the envelope and the set's variables: about 25 arrays of 8 bytes), so that a size
# that cannot fit is refused when parsed, not after minutes of simulation. An import holds the
# image and the label of each source image (2 bytes per pixel and image), checked per import.
SIM_BYTES_PER_PIXEL = 200
phantom_side = cliargs.image_side(8, SIM_BYTES_PER_PIXEL)


def _size_arg(text: str) -> tuple[int, int]:
    try:
        size = raster.parse_size(text)
        cliargs.check_fits_memory(size[0] * size[1], 2, f"an image of {size[0]} x {size[1]} px")
        return size
    except UsageError as error:  # argparse only keeps the message of an ArgumentTypeError
        raise argparse.ArgumentTypeError(str(error)) from None


def _aspect_range(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError
        bounds = float(low), float(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not MIN:MAX (two numbers, e.g. 1.5:3)") from None
    if not (all(math.isfinite(b) for b in bounds) and 0 < bounds[0] <= bounds[1]):
        raise argparse.ArgumentTypeError(f"'{text}': need 0 < MIN <= MAX")
    return bounds


def build_parser() -> argparse.ArgumentParser:
    parser = cliargs.Parser(
        prog="ussim", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Physical ultrasound simulation and the image-set files the toolkit exchanges.")
    parser.add_argument("--version", action="version", version=f"ussim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    info = commands.add_parser("info", help="summarise an image-set file",
                               description="Print what an image-set file holds: samples, size, method, "
                                           "organ, classes with pixel fractions, seconds per image, and for "
                                           "generated sets how they were timed and what their producer saw "
                                           "(condition, its source and detail).")
    info.add_argument("file", type=Path, help="image-set file (.h5)")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")

    imp = commands.add_parser(
        "import", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        help="import images with masks (an .npz archive, or image and mask folders)",
        description="Import real (or any) images with label masks into an image-set file. Give either an "
                    ".npz archive (keys images, masks, class_names; optional ids, split, image_class, orig_hw, "
                    "chroma_frac, pixel_mm) or --images DIR --masks DIR (files matched by name). Pixel values: "
                    + raster.PIXEL_RULE + ".")
    imp.add_argument("archive", nargs="?", type=cliargs.input_file, help=".npz archive to import")
    imp.add_argument("--images", type=Path, metavar="DIR", help="folder of images (PNG/JPG/BMP/TIFF)")
    imp.add_argument("--masks", type=Path, metavar="DIR", help="folder of masks, one per image, same file stem")
    imp.add_argument("--out", type=cliargs.output_file, required=True, metavar="FILE", help="image-set file to write (.h5)")
    imp.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    imp.add_argument("--organ", default="unknown", help="organ recorded in the set (e.g. ovary, ivus)")
    imp.add_argument("--method", help="method recorded in the set (default real:<source name>)")
    geometry = imp.add_argument_group("size and pixels")
    geometry.add_argument("--size", type=_size_arg, metavar="N|HxW",
                          help="fit every image to this size (default: keep; all must then be equal)")
    geometry.add_argument("--fit", choices=raster.FIT_MODES, default="letterbox",
                          help="letterbox keeps the aspect ratio and pads with class 0; resize stretches")
    geometry.add_argument("--gray", choices=raster.GRAY_MODES, default="luma",
                          help="colour to grayscale: luma (ITU-R BT.601 weights) or mean of R,G,B")
    geometry.add_argument("--pixel-mm", type=cliargs.positive_float, metavar="MM",
                          help="folder import: source pixel size in mm, to record physical coordinates")
    select = imp.add_argument_group("selection")
    select.add_argument("--split", action="append", metavar="NAME",
                        help="archive import: keep only this split (repeatable), e.g. train")
    select.add_argument("--image-class", action="append", metavar="NAME",
                        help="archive import: keep only images of this class (repeatable)")
    select.add_argument("--max-color-fraction", type=cliargs.probability, metavar="F",
                        help="exclude images whose fraction of coloured pixels exceeds F (Doppler "
                             "overlays); 0.01 is a good value for B-mode studies")
    select.add_argument("--source-aspect", type=_aspect_range, metavar="MIN:MAX",
                        help="keep only images whose original width/height lies in MIN..MAX (an archive "
                             "gives it in orig_hw): one screen layout of a set that mixes several, e.g. "
                             "1.5:3 for the OTU_2D ovaries' full-sector frames")
    classes = imp.add_argument_group("classes")
    classes.add_argument("--classes", metavar="A,B,...", help="folder import: names of the mask indices 0,1,...")
    classes.add_argument("--palette", metavar="'R,G,B=NAME;...'",
                         help="folder import: colour-coded masks, one colour per class, in class order")
    classes.add_argument("--palette-tolerance", type=cliargs.int_range(0, 255), default=0, metavar="T",
                         help="accept colours within T per channel of a palette colour (JPEG masks)")
    classes.add_argument("--mask-suffix", default="", metavar="S",
                         help="mask file stem = image stem + S (e.g. _binary, _mask)")
    classes.add_argument("--rename", action="append", metavar="OLD=NEW", help="rename a class (repeatable)")
    classes.add_argument("--drop-unused-classes", action="store_true",
                         help="archive import: drop classes no kept mask uses and renumber the rest")
    phantom = commands.add_parser(
        "phantom", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=PHANTOM_EPILOG,
        help="simulate a phantom image (random anatomy, or the masks of a file)",
        description="Simulate B-mode images with the physical simulator: a random anatomy of the organ\n"
                    "(seeded), or the label masks of an image-set file (--mask), at one of the comparison's\n"
                    "three condition levels (--condition). Writes an image-set file with the label, envelope,\n"
                    "seed and seconds of each image and what the simulator saw, and optionally a PNG.")
    phantom.add_argument("--organ", required=True, choices=sorted(phantom_module().GENERATORS),
                         help="organ: its anatomy generator, tissue table and default probe")
    phantom.add_argument("--seed", type=cliargs.seed, default=0, help="seed of the anatomy and the scatterers (default 0)")
    phantom.add_argument("--size", type=phantom_side, default=256, metavar="N", help="image size N x N for random anatomy")
    phantom.add_argument("--probe", metavar="NAME|TOML", help="probe preset or file (default: the organ's)")
    phantom.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                         help="where the pulse-echo kernel runs (auto: CUDA when a GPU is present)")
    # DECISION: fast by default (2026-12-04, issue 15): the ovary's table images 256 focused lines,
    # about 1 h 45 min an image by the full engine on 2 cores against half a second by the fast one,
    # whose images agree with the full engine's within the measured limits (bench/RESULTS.md, "Fast
    # engine" and "Focused lines for the ovary"); the full engine stays the physics they are measured from.
    phantom.add_argument("--engine", choices=("full", "fast"), default="fast",
                         help="fast (default: the full engine's point-spread functions convolved, "
                              "ussim.fast; within measured limits, bench/RESULTS.md) or full (pulse-echo "
                              "channel data and delay-and-sum: the physics the fast engine is measured "
                              "from; an ovary image of 256 focused lines takes about 1 h 45 min on 2 cores)")
    phantom.add_argument("--mask", type=cliargs.input_file, metavar="FILE", help="simulate the masks of this image-set file")
    phantom.add_argument("--samples", type=cliargs.positive_int, metavar="K", help="with --mask: only the first K samples")
    side = phantom.add_argument_group("condition (with --mask; see the levels below)")
    side.add_argument("--condition", default="mask", metavar="{mask,mask+sketch,mask+image}",
                      help="what the simulator sees beside each mask (default mask; a random anatomy: mask only)")
    side.add_argument("--sketch-from", default="reference", metavar="{reference,training}",
                      help="whose sketch or image: the masks file's own image of each mask (reference, default) "
                           "or a seeded choice of images of --side-set (training)")
    side.add_argument("--side-set", type=cliargs.input_file, metavar="TRAIN.h5",
                      help="with --sketch-from training: the image set to draw sketches or images from "
                           "(one per mask, chosen with --seed as ganlab generate chooses)")
    phantom.add_argument("--out", type=cliargs.output_file, required=True, metavar="FILE", help="image-set file to write (.h5)")
    phantom.add_argument("--png", type=cliargs.output_file, metavar="FILE", help="also save the (first) image as PNG")
    phantom.add_argument("--scatterers-per-cell", type=cliargs.positive_float, default=10.0, metavar="D",
                         help="scatterers per resolution cell (default 10: fully developed speckle; "
                              "fewer is faster, brightness stays the same)")
    phantom.add_argument("--overwrite", action="store_true", help="replace existing output files")

    dataset = commands.add_parser(
        "dataset", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="simulate N random phantoms in parallel (dask.distributed) into one image-set file",
        description="Simulate N random phantoms of an organ, with seeds SEED..SEED+N-1, on dask.distributed: "
                    "a local cluster by default, or a running scheduler (--scheduler). Work is cut into shards "
                    "written to FILE.shards/ under names that hash their parameters and seeds; rerunning an "
                    "interrupted command with the same arguments resumes, reusing finished shards. The shards "
                    "are then merged into FILE.",
        epilog="examples:\n  ussim dataset --organ ivus --n 200 --out ivus200.h5\n"
               "  ussim dataset --organ ovary --n 2000 --out ovary.h5 --scheduler tcp://10.0.0.5:8786\n"
               "  (with --scheduler, FILE.shards/ must be on storage every worker sees under the same path)")
    dataset.add_argument("--organ", required=True, choices=sorted(phantom_module().GENERATORS),
                         help="organ: its anatomy generator, tissue table and default probe")
    dataset.add_argument("--n", type=cliargs.positive_int, required=True, help="number of images")
    dataset.add_argument("--out", type=cliargs.output_file, required=True, metavar="FILE", help="image-set file to write (.h5)")
    dataset.add_argument("--seed", type=cliargs.seed, default=0, help="seed of the first image (default 0)")
    dataset.add_argument("--size", type=phantom_side, default=256, metavar="N", help="image size N x N (default 256)")
    dataset.add_argument("--probe", metavar="NAME|TOML", help="probe preset or file (default: the organ's)")
    dataset.add_argument("--scatterers-per-cell", type=cliargs.positive_float, default=10.0, metavar="D",
                         help="scatterers per resolution cell (default 10)")
    dataset.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                         help="where each worker runs the pulse-echo kernel (auto: CUDA when present)")
    dataset.add_argument("--engine", choices=("full", "fast"), default="fast",
                         help="fast (default: thousands of images; the full engine's point-spread functions "
                              "convolved, within measured limits, bench/RESULTS.md) or full (pulse-echo "
                              "channel data and delay-and-sum, tens of seconds per image)")
    where = dataset.add_mutually_exclusive_group()
    where.add_argument("--workers", type=cliargs.positive_int, metavar="K",
                       help="local cluster of K worker processes (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running dask scheduler, e.g. tcp://host:8786")
    dataset.add_argument("--shard-size", type=cliargs.positive_int, default=8, metavar="S", help="images per shard (default 8)")
    dataset.add_argument("--keep-shards", action="store_true", help="keep FILE.shards/ after merging")
    dataset.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    return parser


PHANTOM_EPILOG = """condition levels (with --mask; the comparison's levels, recorded in the set):
  mask         the label mask only; every class from the organ's tissue table
  mask+sketch  plus the Canny edge sketch the GANs (sgan, pgsgan) get: the masks file's stored
               `sketch`, else Canny of its images with the GANs' settings; edges outside the
               objects become coherent reflector rows, bright where perpendicular to the beam
  mask+image   plus the image itself: its gray map undone, smoothed over speckle grains (per
               class, the organ table's [conditions]), scales the scatterer amplitudes
               (Field II's kidney phantom); the anatomy re-imaged by the physics with
               --probe, its frequency and depth; where the table says so (ovary), the
               simulator's receiver noise is taken out of the map and added back
sources (--sketch-from):
  reference    each mask's own image in the masks file: the held-out image the simulated one is
               scored against. This feeds the reference's own information to the simulator (the
               methods marked †, dagger, in the comparison): not an equal footing with
               methods that saw the mask only
  training     images of --side-set TRAIN.h5 chosen by a seeded RNG (--seed), as
               `ganlab generate --sketch-from training`; mask+image uses them outside the objects
"""


def phantom_module():
    from ussim import phantom  # imported on demand: it pulls in numba kernels
    return phantom


def cmd_phantom(args) -> int:
    for path in (args.out, args.png):
        cliargs.check_new_output(path, args.overwrite)
    if args.png is not None and args.png.resolve() == args.out.resolve():
        raise UsageError(f"--png {args.png} is the --out file; give another name")
    phantom = phantom_module()
    from ussim import conditions
    conditions.check_options(args.condition, args.sketch_from, args.side_set, masks_given=args.mask is not None)
    if args.mask is None:
        if args.samples is not None:
            raise UsageError("--samples applies to --mask only")
        ds = phantom.random_sample(args.organ, seed=args.seed, size=args.size, probe_name=args.probe,
                                   device=args.device, per_cell=args.scatterers_per_cell, engine=args.engine)
    else:
        ds = phantom.simulate_set(args.mask, args.organ, seed=args.seed, samples=args.samples, probe_name=args.probe,
                                  device=args.device, per_cell=args.scatterers_per_cell, condition=args.condition,
                                  sketch_from=args.sketch_from, side_set=args.side_set, engine=args.engine)
    write_phantom(ds, args.out, args.png)
    print(format_summary(args.out, imageset.summary(ds)))
    return 0


def write_phantom(ds, out: Path, png: Path | None) -> None:
    """The image set and its PNG appear together or not at all (atomicio.write_together)."""
    imageset.validate(ds)
    writers = {out: lambda tmp: imageset.to_file(ds, tmp)}
    if png is not None:
        from PIL import Image
        writers[png] = lambda tmp: Image.fromarray(np.asarray(ds["image"].values[0])).save(tmp, format="PNG")
    atomicio.write_together(writers)


def cmd_dataset(args) -> int:
    from ussim import dataset
    cliargs.check_new_output(args.out, args.overwrite)
    if args.seed + args.n - 1 > cliargs.SEED_MAX:
        raise UsageError(f"--seed {args.seed} with --n {args.n} runs past the largest seed {cliargs.SEED_MAX}")
    out = dataset.run(args.organ, args.n, args.out, seed=args.seed, size=args.size, probe=args.probe,
                      per_cell=args.scatterers_per_cell, shard_size=args.shard_size, workers=args.workers,
                      scheduler=args.scheduler, device=args.device, overwrite=args.overwrite,
                      keep_shards=args.keep_shards, engine=args.engine)
    with imageset.read(out) as ds:
        print(format_summary(out, imageset.summary(ds)))
    return 0


def cmd_info(args) -> int:
    with imageset.read(args.file) as ds:
        facts = imageset.summary(ds)
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    print(format_summary(args.file, facts))
    return 0


def format_summary(path, facts: dict) -> str:
    lines = [str(path)]
    real = facts["real_samples"]
    lines.append(f"  samples   {facts['samples']}" + (f" ({real} real)" if real else ""))
    size = f"{facts['height']} x {facts['width']} px"
    if facts["pixel_mm"]:
        size += f"  ({facts['pixel_mm'][0]:.4g} x {facts['pixel_mm'][1]:.4g} mm per pixel)"
    lines += [f"  size      {size}", f"  method    {facts['method']}", f"  organ     {facts['organ']}",
              "  classes   pixel fraction"]
    width = max(len(name) for name in facts["classes"])
    for index, (name, fraction) in enumerate(facts["classes"].items()):
        lines.append(f"    {index:>3}  {name:<{width}}  {100 * fraction:6.2f} %")
    lines.append(f"  envelope  {'yes' if facts['envelope'] else 'no'}")
    lines.append(f"  sketch    {'yes' if facts['sketch'] else 'no'}")
    if facts["seconds_median"] is None:
        lines.append("  seconds   unknown (real images carry no generation time)")
    else:
        lines.append(f"  seconds   median {facts['seconds_median']:.4g} s per image "
                     f"({facts['seconds_known']} of {facts['samples']} timed)")
    if facts.get("timing"):
        timing = facts["timing"]
        excluded = timing["warmup_excluded"]
        warmup = ("warm-up excluded" if excluded is True else "warm-up NOT excluded" if excluded is False
                  else f"warm-up excluded: {excluded}")
        lines.append(f"  timing    {timing['clock']} clock, batch {timing['batch_size']} on {timing['device']}, "
                     f"{timing['threads']} threads, {warmup}")
    if facts.get("condition"):
        condition = facts["condition"]
        lines.append(f"  condition {condition['condition']} (source: {condition['source']})")
        lines.append(f"            {condition['detail']}")
    lines.append(f"  written   {facts['created_utc']} by ussim {facts['software_version']}")
    return "\n".join(lines)


def _pairs(items, flag):
    pairs = {}
    for item in items or []:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise UsageError(f"bad {flag} '{item}': write OLD=NEW")
        pairs[old] = new
    return pairs


def cmd_import(args) -> int:
    cliargs.check_new_output(args.out, args.overwrite)
    common = dict(organ=args.organ, method=args.method, size=args.size, fit=args.fit, gray=args.gray,
                  max_color_fraction=args.max_color_fraction, source_aspect=args.source_aspect)
    if args.archive is not None:
        if args.images or args.masks:
            raise UsageError("give an .npz archive or --images/--masks, not both")
        for flag, value in (("--classes", args.classes), ("--palette", args.palette), ("--pixel-mm", args.pixel_mm),
                            ("--mask-suffix", args.mask_suffix or None)):
            if value is not None:
                raise UsageError(f"{flag} applies to folder imports; an archive carries its own")
        ds = importers.import_npz(args.archive, split=args.split, image_class=args.image_class,
                                  rename=_pairs(args.rename, "--rename"),
                                  drop_unused_classes=args.drop_unused_classes, **common)
    elif args.images and args.masks:
        for flag, value in (("--split", args.split), ("--image-class", args.image_class),
                            ("--rename", args.rename), ("--drop-unused-classes", args.drop_unused_classes or None)):
            if value is not None:
                raise UsageError(f"{flag} applies to archive imports only")
        names = [c.strip() for c in args.classes.split(",")] if args.classes else None
        ds = importers.import_folder(args.images, args.masks, class_names=names, palette=args.palette,
                                     palette_tolerance=args.palette_tolerance, mask_suffix=args.mask_suffix,
                                     pixel_mm=args.pixel_mm, **common)
    else:
        raise UsageError("give an .npz archive, or both --images DIR and --masks DIR")
    imageset.write(ds, args.out, overwrite=args.overwrite)
    params = imageset.params_of(ds)
    for excluded, why in ((params["excluded_color"], f"with more than {args.max_color_fraction or 0:g} coloured pixels"),
                          (params["excluded_aspect"], f"whose source's width/height is outside "
                                                      f"{':'.join(f'{b:g}' for b in args.source_aspect or ())}")):
        if excluded:
            print(f"excluded {len(excluded)} image(s) {why}: {', '.join(excluded[:8])}{' ...' if len(excluded) > 8 else ''}")
    print(format_summary(args.out, imageset.summary(ds)))
    return 0


COMMANDS = {"info": cmd_info, "import": cmd_import, "phantom": cmd_phantom, "dataset": cmd_dataset}


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


def main(argv=None) -> int:
    raise SystemExit(run_cli("ussim", _main, argv))
