"""Fit [conditions] sketch_reflector_db of an organ table: how bright the mask+sketch reflectors are.

The statistic is ussim.side_scatterers.edge_contrast_gray: the mean gray on the Canny sketch's
background edges less the mean gray 2-6 px beside them, pooled (mean) over the tuning frames
0..K-1 (bench/realism.py's split; the held-out frames K..2K-1 are only reported). The real frames
and mask+sketch simulations of their own masks with their own sketches are compared at a few
reflector levels; the level where the simulated contrast meets the real one is interpolated
linearly between the two levels that bracket it (the contrast rises monotonically with the level,
and each level costs a simulation of every tuning frame, so a few levels and an interpolation
replace an optimiser's many evaluations).

    python bench/fit_conditions.py --organ ivus|ovary [--frames K] [--levels 5 10 15 20] [--engine full|fast]

`--engine fast` simulates with ussim's fast engine (PSF convolution, ussim.fast).

`--fit-smoothing --grains 1 2 3` fits image_smoothing_grains instead: how many speckle grains
(sigma) average the reference image's gray values into mask+image's echogenicity map, per class.
Each candidate simulates every tuning frame from its own image and mask with the candidate for
every class; each class large enough to measure takes the candidate whose JS divergence of that
class against those frames (pooled 256-bin gray histograms, fit_display.js_per_class) is smallest,
the others the candidate whose largest per-class JS is smallest. A class's pixels are imaged from
its own map (ussim.phantom composes the maps by class), so its JS at a shared candidate is its JS
at that candidate of its own, up to the point-spread function's reach across the class's edge;
the held-out frames are simulated at the fitted table and at the table's value, which checks it.
A grid, not an optimiser, for the reason above.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fit_display  # noqa: E402  (the split and the real grid, as the display fit uses them)

from ussim import conditions, imageset, phantom, side_scatterers, simulate, sketch, tissue  # noqa: E402


def contrast(images, sketches, labels) -> float:
    values = [side_scatterers.edge_contrast_gray(i, s, m) for i, s, m in zip(images, sketches, labels, strict=True)]
    return float(np.nanmean(values))


DEFAULT_LEVELS = (5.0, 10.0, 15.0, 20.0)  # sketch_reflector_db candidates, dB
DEFAULT_GRAINS = (1.0, 2.0, 3.0)          # image_smoothing_grains candidates (--fit-smoothing)


@contextlib.contextmanager
def replaced_settings(organ: str, **values):
    """The organ's [conditions] settings with `values` replaced, while the block runs."""
    original = conditions.settings
    current = original(organ)
    conditions.settings = lambda name: dataclasses.replace(current, **values)
    try:
        yield
    finally:
        conditions.settings = original


def simulated_contrast(organ, real, index, grid, sketches, level_db, engine="full") -> float:
    names = imageset.class_names_of(real)
    with replaced_settings(organ, sketch_reflector_db=level_db):
        images = [phantom.mask_sample(real["label"].values[i], grid, names, organ, seed=int(i), sample_id=str(i),
                                      device="cpu", progress=False, condition="mask+sketch", sketch=sketches[k],
                                      warm=k == 0, engine=engine)["image"].values[0] for k, i in enumerate(index)]
    return contrast(images, sketches, real["label"].values[index])


def image_js(organ, real, index, grid, grains: float | dict, engine="full") -> dict:
    """Per-class JS of the frames `index` against their mask+image simulations, each from its own
    image, the map smoothed at `grains` (one for every class, or one per class name); and the
    largest over the classes large enough to measure."""
    names = imageset.class_names_of(real)
    labels, images = real["label"].values[index], real["image"].values[index]
    with replaced_settings(organ, image_smoothing_grains=grains):
        simulated = np.stack([phantom.mask_sample(
            labels[k], grid, names, organ, seed=int(i), sample_id=str(i), device="cpu", progress=False,
            condition="mask+image", image=images[k], warm=k == 0, engine=engine)["image"].values[0]
            for k, i in enumerate(index)])
    js = fit_display.js_per_class(images, simulated, labels, names)
    measured = [names[c] for c in fit_display.measured_classes(labels, names)]
    return {"js": js, "measured": measured, "largest_js": max(js[name] for name in measured)}


def fit_smoothing(organ, real, splits, grid, grains, engine) -> dict:
    tuned = {str(g): image_js(organ, real, splits["tuning"], grid, g, engine) for g in sorted(grains)}
    for g, result in tuned.items():
        print(json.dumps({"grains": float(g), **result}), file=sys.stderr, flush=True)
    shared = float(min(tuned, key=lambda g: tuned[g]["largest_js"]))
    measured = next(iter(tuned.values()))["measured"]
    chosen = {name: float(min(tuned, key=lambda g: tuned[g]["js"][name])) if name in measured else shared
              for name in imageset.class_names_of(real)}
    table_value = conditions.settings(organ).image_smoothing_grains
    held = {"fitted": image_js(organ, real, splits["held_out"], grid, chosen, engine),
            "table": image_js(organ, real, splits["held_out"], grid, table_value, engine)}
    return {"tuning": tuned, "fitted_grains": chosen, "shared_grains": shared, "table_grains": table_value,
            "held_out": held}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organ", choices=("ivus", "ovary"), required=True)
    parser.add_argument("--frames", type=fit_display.measures.frames_argument, default=fit_display.measures.TUNING_FRAMES,
                        help="tuning frames; as many again are held out (default %(default)s)")
    parser.add_argument("--levels", type=float, nargs="+",
                        help=f"the reflector levels tried, dB (default {' '.join(map(str, DEFAULT_LEVELS))})")
    parser.add_argument("--engine", choices=simulate.ENGINES, default="full",
                        help="the simulator: full, or fast (PSF convolution, ussim.fast)")
    parser.add_argument("--fit-smoothing", action="store_true",
                        help="fit image_smoothing_grains (mask+image) instead of sketch_reflector_db")
    parser.add_argument("--grains", type=float, nargs="+",
                        help=f"with --fit-smoothing: the candidate smoothings, in speckle grains (default "
                             f"{' '.join(map(str, DEFAULT_GRAINS))})")
    args = parser.parse_args()
    if args.grains is not None and not args.fit_smoothing:
        parser.error("--grains applies to --fit-smoothing only")
    if args.levels is not None and args.fit_smoothing:
        parser.error("--levels applies to the reflector fit, not to --fit-smoothing")
    args.grains = DEFAULT_GRAINS if args.grains is None else args.grains
    args.levels = DEFAULT_LEVELS if args.levels is None else args.levels
    if min(args.grains) < 0:
        parser.error(f"--grains {' '.join(map(str, args.grains))}: every value must be >= 0")
    start = time.perf_counter()
    real, splits = fit_display.load_real(args.organ, args.frames)
    grid = fit_display.real_grid(args.organ, real, tissue.load(args.organ), (real.sizes["y"], real.sizes["x"]))
    report = {"organ": args.organ, "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
              "engine": args.engine}
    if args.fit_smoothing:
        report.update(fit_smoothing(args.organ, real, splits, grid, args.grains, args.engine),
                      seconds=time.perf_counter() - start)
        print(json.dumps(report, indent=2))
        return
    images = real["image"].values
    canny = sketch.canny_for_size(images.shape[1])
    for split, index in splits.items():
        sketches = [sketch.edge_sketch(images[i], **canny) for i in index]
        report[f"real_{split}"] = contrast(images[index], sketches, real["label"].values[index])
    tuning = splits["tuning"]
    sketches = [sketch.edge_sketch(images[i], **canny) for i in tuning]
    levels = sorted(args.levels)
    simulated = [simulated_contrast(args.organ, real, tuning, grid, sketches, level, args.engine) for level in levels]
    report["simulated_tuning"] = dict(zip(map(str, levels), simulated, strict=True))
    target = report["real_tuning"]
    if not min(simulated) <= target <= max(simulated):
        report["fitted_db"] = None
        report["note"] = "the real contrast lies outside the simulated range: widen --levels"
    else:
        report["fitted_db"] = round(float(np.interp(target, simulated, levels)), 1)
        held = splits["held_out"]
        held_sketches = [sketch.edge_sketch(images[i], **canny) for i in held]
        report["simulated_held_out_at_fit"] = simulated_contrast(args.organ, real, held, grid, held_sketches,
                                                                 report["fitted_db"], args.engine)
    report["seconds"] = time.perf_counter() - start
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
