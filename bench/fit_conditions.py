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
every class, and measures per class the JS divergence against those frames (pooled 256-bin gray
histograms, fit_display.js_per_class) and the speckle size along and across the beam
(realism.speckle_sizes, as the realism benchmark reports it), and the classifier two-sample test
of the frames against the simulations (realism_measures.classifier_test, seed 0, inside the tuning
frames' footprint). A candidate's score for a class is the larger of its JS over issue 15's
mask+image goal (0.02) and its worse speckle width's relative error over the goal of 20 %: below 1
when it meets both. Each class large enough to measure takes, of the candidates that meet both
goals, the one the classifier tells least from the real frames (the issue's third figure, which
has no threshold: the goals are met first, then the images are made as hard to tell as the grid
allows; the held-out classifier stays the check), or the least score when none meets them; the
other classes take the candidate whose largest score is least. A class's pixels are imaged from
its own map (ussim.phantom composes the maps by class), so its figures at a shared candidate are
its figures at that candidate of its own, up to the point-spread function's reach across the
class's edge (the classifier sees whole patches: its figure is every class's at once);
the held-out frames are simulated at the fitted table and at the table's value, which checks it.
A grid, not an optimiser, for the reason above.

`--fit-strong --offsets 0 -2 -4` fits image_strong_offset_db the same way, per class and by the
same score: how many dB brighter (or weaker) a class's strong scatterers are beneath the map than
in its own tissue (tissue fit, `mask`). The map smoothed over less than a grain already carries
some of the reference's bright grains, which the class's strong scatterers would add once more.

`--fit-refinement --refinement-grains 0 1 2 4` fits image_refinement_grains the same way: over
how many speckle grains a sample's first image is compared with its reference to correct the map
before the image that is kept (0: no check; ussim.side_scatterers.refinement_db).

Why speckle size too: the map keeps the reference's own speckle where it is smoothed little, and
the simulator's point-spread function blurs it once more, so the smoothing that fits the gray
histogram best can widen the grain by a quarter (bench/RESULTS.md, "mask+image: grain size and the
strong scatterers beneath the map").
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
import realism  # noqa: E402  (the speckle sizes, as the realism benchmark reports them)

from compare.metrics import c2st  # noqa: E402
from ussim import conditions, imageset, phantom, side_scatterers, simulate, sketch, tissue  # noqa: E402
from ussim import probe as probes  # noqa: E402
from ussim.errors import UsageError  # noqa: E402


def contrast(images, sketches, labels) -> float:
    values = [side_scatterers.edge_contrast_gray(i, s, m) for i, s, m in zip(images, sketches, labels, strict=True)]
    return float(np.nanmean(values))


DEFAULT_LEVELS = (5.0, 10.0, 15.0, 20.0)  # sketch_reflector_db candidates, dB
DEFAULT_GRAINS = (0.25, 0.5, 1.0, 2.0)    # image_smoothing_grains candidates (--fit-smoothing)
DEFAULT_OFFSETS = (0.0, -2.0, -4.0, -6.0)   # image_strong_offset_db candidates, dB (--fit-strong)
DEFAULT_REFINEMENT = (0.0, 1.0, 2.0, 4.0)   # image_refinement_grains candidates (--fit-refinement)
# The goals the per-class fits score a candidate by (issue 15, point 5): per-class JS at most 0.02 at
# mask+image (0.03 at mask: bench/fit_streaks.py), speckle widths within 20 % of the real ones.
JS_GOAL = 0.02
MASK_JS_GOAL = 0.03
SPECKLE_GOAL = 0.2


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


def image_figures(organ, real, index, grid, origin, fov, engine="full", **setting) -> dict:
    """Per-class JS and speckle size (along, across the beam, px) of the frames `index` against their
    mask+image simulations, each from its own image, with the [conditions] `setting` replaced (one
    value for every class, or one per class name); the classes large enough to measure, the largest
    JS over them, and the classifier two-sample test of the frames against the simulations on
    patches inside `fov` (realism_measures.classifier_test, seed 0)."""
    names = imageset.class_names_of(real)
    labels, images = real["label"].values[index], real["image"].values[index]
    with replaced_settings(organ, **setting):
        simulated = np.stack([phantom.mask_sample(
            labels[k], grid, names, organ, seed=int(i), sample_id=str(i), device="cpu", progress=False,
            condition="mask+image", image=images[k], warm=k == 0, engine=engine)["image"].values[0]
            for k, i in enumerate(index)])
    return {**figures(real, index, simulated, origin, fov), "c2st": classifier(real, index, simulated, fov)}


def figures(real, index, simulated, origin, fov) -> dict:
    """Per-class JS and speckle size (along, across the beam, px) of the frames `index` against
    `simulated`; the classes large enough to measure and the largest JS over them."""
    names = imageset.class_names_of(real)
    labels, images = real["label"].values[index], real["image"].values[index]
    js = fit_display.js_per_class(images, simulated, labels, names)
    measured = [names[c] for c in fit_display.measured_classes(labels, names)]
    speckle = {name: [round(v, 3) for v in size]
               for name, size in realism.speckle_sizes(simulated, labels, names, origin, fov).items() if name in measured}
    return {"js": js, "speckle_px": speckle, "measured": measured, "largest_js": max(js[name] for name in measured)}


def classifier(real, index, simulated, fov) -> dict:
    """The classifier two-sample test of the frames `index` against `simulated` on patches inside
    `fov` (realism_measures.classifier_test, seed 0): accuracy and interval."""
    result = realism.measures.classifier_test(real["image"].values[index], simulated, fov, seed=0)
    return {key: round(result[key], 4) for key in ("accuracy", "low", "high")}


def reference_of(organ, real, grid, tuning) -> tuple:
    """What every per-class fit measures against: the beam origin (px), the tuning frames' field of
    view (their footprint within the display's) and the real frames' speckle sizes by class, as a
    function of the frames' index."""
    names = imageset.class_names_of(real)
    table = tissue.load(organ)
    origin = realism.measures.beam_origin_px(organ, grid, probes.load(table.probe))
    fov, _ = realism.field_of_view(real["image"].values[tuning], grid, table)

    def real_speckle(index):
        return realism.speckle_sizes(real["image"].values[index], real["label"].values[index], names, origin, fov)
    return origin, fov, real_speckle


def candidate_score(js: float, speckle_px, real_speckle_px, js_goal: float = JS_GOAL) -> float:
    """The larger of JS / js_goal and the worse speckle width's |relative error| / SPECKLE_GOAL
    (JS alone where a width cannot be measured): below 1 when the candidate meets both goals."""
    errors = [abs(s / r - 1) for s, r in zip(speckle_px, real_speckle_px, strict=True)
              if np.isfinite(s) and np.isfinite(r) and r > 0]
    return max([js / js_goal] + [e / SPECKLE_GOAL for e in errors])


def chosen_by_class(tuned: dict, real_speckle: dict, names, js_goal: float = JS_GOAL,
                    value=float) -> tuple[dict, float, dict]:
    """Per class, of the candidates that meet both goals (candidate_score below 1; `tuned`: candidate
    -> image_figures) the one the classifier tells least from the real frames, the least score
    breaking a tie; without any such candidate the least score. Classes too small to measure take
    the candidate whose largest score over the measured ones is least. Returns the choice, that
    shared candidate (each turned by `value` from its key in `tuned`) and every score."""
    measured = next(iter(tuned.values()))["measured"]
    scores = {c: {name: round(candidate_score(result["js"][name], result["speckle_px"][name], real_speckle[name],
                                              js_goal), 4)
                  for name in measured} for c, result in tuned.items()}

    def best(name):
        meeting = [c for c in scores if scores[c][name] < 1]
        if meeting:
            return min(meeting, key=lambda c: (tuned[c]["c2st"]["accuracy"], scores[c][name]))
        return min(scores, key=lambda c: scores[c][name])

    shared = value(min(scores, key=lambda c: max(scores[c].values())))
    chosen = {name: value(best(name)) if name in measured else shared for name in names}
    return chosen, shared, scores


def fit_by_class(organ, real, splits, grid, setting: str, candidates, engine) -> dict:
    """Fit the [conditions] `setting` per class among `candidates` (chosen_by_class on the tuning
    frames); the held-out frames at the fitted value and at the table's."""
    names = imageset.class_names_of(real)
    tuning, held = splits["tuning"], splits["held_out"]
    origin, fov, real_speckle = reference_of(organ, real, grid, tuning)

    def rounded(sizes):
        return {name: [round(v, 3) for v in size] for name, size in sizes.items()}

    tuned = {str(c): image_figures(organ, real, tuning, grid, origin, fov, engine, **{setting: c})
             for c in sorted(candidates)}
    for c, result in tuned.items():
        print(json.dumps({setting: float(c), **result}), file=sys.stderr, flush=True)
    chosen, shared, scores = chosen_by_class(tuned, real_speckle(tuning), names)
    table_value = getattr(conditions.settings(organ), setting)
    held_figures = {"real_speckle_px": rounded(real_speckle(held)),
                    "fitted": image_figures(organ, real, held, grid, origin, fov, engine, **{setting: chosen}),
                    "table": image_figures(organ, real, held, grid, origin, fov, engine, **{setting: table_value})}
    return {"setting": setting, "tuning": tuned, "real_speckle_px": rounded(real_speckle(tuning)), "scores": scores,
            "fitted": chosen, "shared": shared, "table": table_value, "held_out": held_figures}


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
    parser.add_argument("--fit-strong", action="store_true",
                        help="fit image_strong_offset_db (mask+image, 'tissue' scatterers) instead of "
                             "sketch_reflector_db")
    parser.add_argument("--offsets", type=float, nargs="+",
                        help=f"with --fit-strong: the candidate offsets of the strong scatterers, dB (default "
                             f"{' '.join(map(str, DEFAULT_OFFSETS))})")
    parser.add_argument("--fit-refinement", action="store_true",
                        help="fit image_refinement_grains (mask+image: over how many speckle grains the map is "
                             "checked by imaging it once) instead of sketch_reflector_db")
    parser.add_argument("--refinement-grains", type=float, nargs="+",
                        help=f"with --fit-refinement: the candidates, in speckle grains, 0 for no check (default "
                             f"{' '.join(map(str, DEFAULT_REFINEMENT))})")
    args = parser.parse_args()
    per_class = [flag for flag, given in (("--fit-smoothing", args.fit_smoothing), ("--fit-strong", args.fit_strong),
                                          ("--fit-refinement", args.fit_refinement)) if given]
    if len(per_class) > 1:
        parser.error(f"{' and '.join(per_class)} fit one setting each: give one of them")
    if args.refinement_grains is not None and not args.fit_refinement:
        parser.error("--refinement-grains applies to --fit-refinement only")
    if args.grains is not None and not args.fit_smoothing:
        parser.error("--grains applies to --fit-smoothing only")
    if args.offsets is not None and not args.fit_strong:
        parser.error("--offsets applies to --fit-strong only")
    if args.levels is not None and per_class:
        parser.error(f"--levels applies to the reflector fit, not to {per_class[0]}")
    args.grains = DEFAULT_GRAINS if args.grains is None else args.grains
    args.offsets = DEFAULT_OFFSETS if args.offsets is None else args.offsets
    args.levels = DEFAULT_LEVELS if args.levels is None else args.levels
    args.refinement_grains = DEFAULT_REFINEMENT if args.refinement_grains is None else args.refinement_grains
    if min(args.grains) < 0:
        parser.error(f"--grains {' '.join(map(str, args.grains))}: every value must be >= 0")
    if min(args.refinement_grains) < 0 or not all(np.isfinite(args.refinement_grains)):
        parser.error(f"--refinement-grains {' '.join(map(str, args.refinement_grains))}: every value must be a "
                     f"finite number >= 0")
    if not all(np.isfinite(args.offsets)):
        parser.error(f"--offsets {' '.join(map(str, args.offsets))}: every value must be finite")
    if per_class and args.frames < c2st.FOLDS:  # the classifier's folds
        parser.error(f"--frames {args.frames}: the classifier test needs at least {c2st.FOLDS} tuning frames")
    if args.fit_strong and conditions.settings(args.organ).image_scatterers != "tissue":
        parser.error(f"--fit-strong: the {args.organ} table's image_scatterers is "
                     f"'{conditions.settings(args.organ).image_scatterers}', which has no strong scatterers "
                     f"(allowed with 'tissue' only)")
    start = time.perf_counter()
    real, splits = fit_display.load_real(args.organ, args.frames)
    grid = realism.grid_of(real, tissue.load(args.organ))
    report = {"organ": args.organ, "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv),
              "engine": args.engine}
    if per_class:
        setting, candidates = {"--fit-smoothing": ("image_smoothing_grains", args.grains),
                               "--fit-strong": ("image_strong_offset_db", args.offsets),
                               "--fit-refinement": ("image_refinement_grains", args.refinement_grains)}[per_class[0]]
        report.update(fit_by_class(args.organ, real, splits, grid, setting, candidates, args.engine),
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


def run_command(main, script: str) -> None:
    """`main()`, a bad value found past the command line's checks (UsageError) ending in one line
    and status 2, as argparse's own errors do."""
    try:
        main()
    except UsageError as error:
        print(f"{Path(script).name}: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run_command(main, __file__)
