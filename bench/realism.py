"""Realism benchmark: simulated images against held-out real ones, beside the real-versus-real floor
and the GANs of a `make demo` run.

Real images with expert masks (../shared/data/real, or $USSIM_REAL_DATA): frames 0..K-1 of each
archive (K = 36, realism_measures.TUNING_FRAMES; IVUS 12, half its pullback) are the tuning frames
(what bench/fit_display.py and bench/fit_tissue.py may fit on), frames K..2K-1 are held out (IVUS:
the dmolony pullback; ovary: the normal ovaries of the OTU_2D train split without Doppler, its
full-sector frames, app.demo.sets.OVARY_IMPORT). ussim images the held-out masks at
every condition its phantom API offers (`mask`; `mask+sketch` with the held-out image's own edge
sketch; `mask+image` with the held-out image itself: both the reference's own side information).

Rows of the table, each against a real set it was not made or tuned from:
  real floor     the tuning frames against the held-out frames (two disjoint real halves of equal size)
  ussim:<cond>   the held-out masks simulated, against the held-out frames
  demo:<set>     every set of a demo run (--demo runs/demo: GANs and the demo's own ussim set),
                 against that run's held-out reference (runs/demo/data/<organ>_reference.h5);
                 skipped when the folder is absent
Columns (bench/realism_measures.py): per-class JS (base 2, 256 bins), texture-FID (fid[texture-v1],
weights-free: never beside Inception FIDs) and FRD v1 of whole images, each with a 95 % bootstrap
interval over images; speckle size per class (autocorrelation widths along x across the beam, px,
pooled over images, with their intervals); the classifier two-sample test (compare.metrics.c2st)
on 32 x 32 patches inside the field of view: the mean of five runs, each with its own patches, folds
and networks, its interval over runs and images (one run's accuracy moves with its seed by more than
its interval over images is wide).

Simulated sets are kept as bench/out/realism_<organ>_<condition>_<label>.h5; `--reuse LABEL`
measures such kept sets again instead of simulating (e.g. today's "before" after a merge); a
condition with no set kept under that label is left out with one line (simulating it now would
label today's simulator as the kept one). Output:
bench/out/realism_<label>.json and .md, montages bench/realism_montage_<organ>_<label>.png.

    python bench/realism.py [--organ ivus|ovary|both] [--frames K] [--label before] [--demo runs/demo] [--conditions C ...]
                            [--reuse LABEL] [--per-cell N] [--engine full|fast] [--out bench/out]
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.distance import jensenshannon

import realism_measures as measures
from machine import describe

from app.demo import defaults as demo_defaults
from app.demo.sets import OVARY_IMPORT
from ussim import imageset, importers, measure, phantom, scan, scatter, tissue
from ussim import probe as probes

# The demo's selection of the ovary archive: normal ovaries of the train split, no Doppler.
IMPORTS = {"ivus": ("ivus_dmolony_256.npz", dict(organ="ivus")),
           "ovary": ("otu2d_ovary_256.npz", dict(OVARY_IMPORT, split="train"))}
CONDITIONS = ("mask", "mask+sketch", "mask+image")
# DECISION: expected seconds on 2 free cores, from bench/RESULTS.md (ussim per 256 px image, FRD
# radiomics per image) and this script's C2ST (per comparison); printed before the run starts.
# The ovary's 15 s: 36 images at `mask` took 10.1 min with their measuring (2026-12-02, bench/RESULTS.md
# "A larger split"; 36 s before the speckle reduction's refits, 12 s before issue 21); IVUS unchanged.
# The C2ST's: per run (compare.metrics.c2st.REPEATS of them) on 36 + 36 frames, scaled by the
# comparison's images (its patches): 12 s from the ovary's run at every condition, 2026-12-05
# (8.6 min, predicted 19 with the 35 s measured on 2026-12-03 and no scaling; the run of both organs
# with the demo's 26 sets took 21 min, predicted 98).
EXPECTED_SECONDS = {"ivus": 3.0, "ovary": 15.0, "frd_image": 0.6, "c2st": 12.0}
C2ST_FRAMES = 36
DEMO_HELD_OUT = demo_defaults.DEMO.held_out  # a demo run's reference images per organ (its sets have as many)
# the fast engine's seconds per image, the image's side information included (bench/RESULTS.md, "Fast engine")
EXPECTED_FAST_SECONDS = {"ivus": 0.5, "ovary": 1.5}
IVUS_FRAMES = 24  # the dmolony pullback: at most 12 tuning + 12 held-out frames


# --- kept for bench/fit_display.py and bench/fit_tissue.py, which import them ------------------

def js_divergence(real: np.ndarray, simulated: np.ndarray) -> float:
    histograms = [np.bincount(values, minlength=256) / values.size for values in (real, simulated)]
    return float(jensenshannon(*histograms, base=2) ** 2)


def class_statistics(real: np.ndarray, simulated: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    """Per class of `names`, pooled over the frames: JS of the gray histograms, gray mean and std,
    speckle grain (ussim.measure.speckle_grain_px) of real and simulated images, and the class's pixel count
    (bench/fit_tissue.py reports its fits with it)."""
    result = {}
    for index, name in enumerate(names):
        inside = labels == index
        if not inside.any():
            continue
        result[name] = {"js_divergence": js_divergence(real[inside], simulated[inside]),
                        "real_mean": float(real[inside].mean()), "simulated_mean": float(simulated[inside].mean()),
                        "real_std": float(real[inside].std()), "simulated_std": float(simulated[inside].std()),
                        "real_grain_px": measure.speckle_grain_px(real, inside),
                        "simulated_grain_px": measure.speckle_grain_px(simulated, inside),
                        "pixels": int(inside.sum())}
    return result


# --- the sets ----------------------------------------------------------------------------------

def available_conditions() -> list[str]:
    """The condition levels the installed ussim.phantom.mask_sample accepts."""
    if "condition" not in inspect.signature(phantom.mask_sample).parameters:
        return ["mask"]
    return list(CONDITIONS)


def simulate_held_out(real, index: np.ndarray, grid, organ: str, condition: str, per_cell: float,
                      engine: str = "full"):
    """The held-out masks through ussim (`engine`: full or fast) at one condition, seeds = frame
    numbers, as one image set."""
    names = imageset.class_names_of(real)
    samples = []
    for n, i in enumerate(index):
        extra = {}
        if condition != "mask":  # the held-out image's own side information (source "reference")
            image = real["image"].values[i]
            extra = {"condition": condition, "image": image} if condition == "mask+image" else \
                {"condition": condition, "sketch": edge_sketch(image)}
        samples.append(phantom.mask_sample(real["label"].values[i], grid, names, organ, seed=int(i),
                                           sample_id=str(real["sample_id"].values[i]), device="cpu", progress=False,
                                           per_cell=per_cell, warm=n == 0, engine=engine, **extra))
    joined = imageset.concat(samples) if len(samples) > 1 else samples[0]
    joined.attrs["timing"] = samples[0].attrs["timing"]
    return joined


def edge_sketch(image: np.ndarray) -> np.ndarray:
    """The GANs' edge sketch of an image (ussim.sketch, with the GANs' Canny settings for its size)."""
    from ussim import sketch

    return sketch.edge_sketch(image, **sketch.canny_for_size(image.shape[0]))


def grid_of(real, table) -> scan.DisplayGrid:
    """The grid the real masks are simulated and measured on: the archive's own mm centred on the
    catheter (IVUS; as ussim.phantom centres it, and display.field_of_view and beam_origin_px put
    the catheter at x = z = 0), or display_grid's (ovary: the archive has no mm)."""
    if "x_mm" in real.coords:
        x, z = real["x_mm"].values * 1e-3, real["y_mm"].values * 1e-3
        return scan.DisplayGrid(x - x.mean(), z - z.mean())
    return phantom.display_grid(table, (real.sizes["y"], real.sizes["x"]))


def field_of_view(real_images: np.ndarray, grid, table) -> tuple[np.ndarray, str]:
    """The FOV mask for patches: ussim.display.field_of_view where it exists (within the real
    images' footprint too), else the real images' footprint alone; and which it was."""
    real = measures.footprint(real_images)
    try:
        from ussim import display
    except ImportError:
        return real, "footprint of the real images (ussim.display absent)"
    return real & np.asarray(display.field_of_view(grid, table), bool), \
        "ussim.display.field_of_view within the footprint of the real images"


# --- measuring ---------------------------------------------------------------------------------

class Reference:
    """A real set and everything measured against it, computed once."""

    def __init__(self, name, images, labels, names, fov, origin, seed, with_frd):
        self.name, self.images, self.labels, self.names = name, images, labels, names
        self.fov, self.origin, self.seed, self.with_frd = fov, origin, seed, with_frd
        self.histograms = measures.class_histograms(images, labels, len(names))
        self.texture = texture_features(images)
        self.radiomics = radiomic_features(images) if with_frd else None
        self.speckle_interval = speckle_intervals(images, labels, names, origin, fov, seed)
        self.speckle = speckle_values(self.speckle_interval)
        self.skewness = skewnesses(images, labels, names, fov, seed)
        self.texture_size = texture_sizes(images, labels, names, fov)
        self.contrast = contrasts(images, labels, names, fov, seed)

    def against(self, label: str, images: np.ndarray, labels: np.ndarray, seconds=None) -> dict:
        from compare.metrics import fid, frd

        start = time.perf_counter()
        speckle = speckle_intervals(images, labels, self.names, self.origin, self.fov, self.seed)
        js = measures.class_js(self.histograms, measures.class_histograms(images, labels, len(self.names)), self.seed)
        texture = texture_features(images)
        resampled = fid.ResampledFID(self.texture, texture)
        n_ref, n_other = len(self.texture), len(texture)
        row = {"set": label, "reference": self.name, "images": int(len(images)),
               "js": {name: {k: float(js[k][c]) for k in ("value", "low", "high")}
                      for c, name in enumerate(self.names)},
               "fid_texture_v1": measures.set_distance(
                   lambda a, b: resampled(np.bincount(a, minlength=n_ref), np.bincount(b, minlength=n_other)),
                   self.texture, texture, self.seed, nonnegative=True),
               "speckle_px": speckle_values(speckle),
               "speckle_px_interval": speckle,
               "texture_px": texture_sizes(images, labels, self.names, self.fov),
               "local_skewness": skewnesses(images, labels, self.names, self.fov, self.seed),
               "surroundings_contrast": contrasts(images, labels, self.names, self.fov, self.seed),
               "c2st": measures.classifier_test(self.images, images, self.fov, self.seed)}
        if self.with_frd:
            other = radiomic_features(images)
            row["frd_v1"] = measures.set_distance(lambda a, b: frd.frd_from_features(self.radiomics[a], other[b]),
                                                  self.radiomics, other, self.seed, nonnegative=False)
        if seconds is not None and np.isfinite(seconds).any():
            row["seconds_per_image"] = float(np.nanmean(seconds))
        row["reference_speckle_px"] = self.speckle
        row["reference_speckle_px_interval"] = self.speckle_interval
        row["reference_texture_px"] = self.texture_size
        row["reference_local_skewness"] = self.skewness
        row["reference_surroundings_contrast"] = self.contrast
        row["measure_seconds"] = round(time.perf_counter() - start, 1)
        print(f"  {label}: C2ST {row['c2st']['accuracy']:.3f}, JS " +
              ", ".join(f"{n} {v['value']:.3f}" for n, v in row["js"].items()), flush=True)
        return row


def texture_features(images: np.ndarray) -> np.ndarray:
    from compare.backbones.texture import TextureBackbone

    return TextureBackbone().features(images).astype(np.float64)


def radiomic_features(images: np.ndarray) -> np.ndarray:
    from compare.metrics import frd

    return frd.radiomic_features(images, progress=False)


def speckle_sizes(images, labels, names, origin, fov) -> dict:
    """Per class, inside the field of view: realism_measures.speckle_size_px (along x across the beam, px)."""
    return {name: list(measures.speckle_size_px(images, (labels == c) & fov, origin)) for c, name in enumerate(names)}


def speckle_intervals(images, labels, names, origin, fov, seed) -> dict:
    """Per class, inside the field of view: realism_measures.speckle_size_interval (along and across
    the beam, px, each with its interval)."""
    return {name: measures.speckle_size_interval(images, (labels == c) & fov, origin, seed)
            for c, name in enumerate(names)}


def speckle_values(intervals: dict) -> dict:
    """{class: [along, across]} of speckle_intervals' widths."""
    return {name: [sized["along"]["value"], sized["across"]["value"]] for name, sized in intervals.items()}


def skewnesses(images, labels, names, fov, seed) -> dict:
    """Per class, inside the field of view: realism_measures.local_skewness with its interval."""
    return {name: measures.local_skewness(images, (labels == c) & fov, seed) for c, name in enumerate(names)}


def contrasts(images, labels, names, fov, seed) -> dict:
    """Per class but the first (the background every other lies in), inside the field of view:
    realism_measures.surroundings_contrast (gray, its mean over frames with its interval)."""
    return {name: measures.surroundings_contrast(images, labels, c, fov, seed)
            for c, name in enumerate(names) if c > 0}


def texture_sizes(images, labels, names, fov) -> dict:
    """Per class, inside the field of view: ussim.measure.texture_length_px (rows x columns, px)."""
    return {name: list(measure.texture_length_px(images, (labels == c) & fov)) for c, name in enumerate(names)}


def run(organ: str, args, with_frd: bool) -> dict:
    folder = importers.real_data_dir()
    archive, options = IMPORTS[organ]
    real = importers.import_npz(folder / archive, progress=False, **options)
    splits = measures.split_frames(real.sizes["sample"], args.frames)
    names = imageset.class_names_of(real)
    table = tissue.load(organ)
    grid = grid_of(real, table)
    images, labels = real["image"].values, real["label"].values
    fov, fov_source = field_of_view(images[np.r_[splits["tuning"], splits["held_out"]]], grid, table)
    origin = measures.beam_origin_px(organ, grid, probes.load(table.probe))
    held = splits["held_out"]
    print(f"{organ}: tuning frames {splits['tuning'][0]}..{splits['tuning'][-1]}, held out {held[0]}..{held[-1]}; "
          f"FOV: {fov_source}", flush=True)
    reference = Reference(f"real held-out frames {held[0]}-{held[-1]}", images[held], labels[held], names, fov, origin,
                          args.seed, with_frd)
    rows = [reference.against("real floor (tuning frames)", images[splits["tuning"]], labels[splits["tuning"]])]
    montage_columns = [images[held]]
    conditions = [c for c in available_conditions() if not args.conditions or c in args.conditions]
    if available_conditions() == ["mask"]:
        print("  ussim.phantom.mask_sample has no `condition` here: measuring the mask condition only", flush=True)
    for condition in conditions:
        path = args.out / f"realism_{organ}_{condition}_{args.reuse or args.label}.h5"
        if args.reuse and not path.is_file():
            print(f"  ussim:{condition} not measured: no set kept under '{args.reuse}' ({path.name})", flush=True)
            continue
        try:
            if args.reuse:
                with imageset.read(path) as kept:
                    simulated = kept.load()
            else:
                simulated = simulate_held_out(real, held, grid, organ, condition, args.per_cell, args.engine)
                imageset.write(simulated, path, overwrite=True)
        except (ImportError, TypeError, OSError, ValueError) as error:
            print(f"  ussim:{condition} not measured: {type(error).__name__}: {error}", flush=True)
            continue
        engine = "" if args.engine == "full" else f"[{args.engine}]"
        rows.append(reference.against(f"ussim{engine}:{condition}", simulated["image"].values, simulated["label"].values,
                                      simulated["seconds"].values))
        rows[-1]["set_file"] = str(path)
        montage_columns.append(simulated["image"].values)
    shown = np.arange(min(3, len(held)))
    Image.fromarray(measures.montage(montage_columns, shown)).save(
        Path(__file__).resolve().parent / f"realism_montage_{organ}_{args.label}.png")
    rows += demo_rows(organ, args, names, fov, origin, with_frd)
    return {"organ": organ, "frames": {k: [int(v[0]), int(v[-1])] for k, v in splits.items()},
            "fov": fov_source, "fov_pixels": int(fov.sum()), "beam_origin_px": list(origin), "classes": names,
            "conditions": conditions, "rows": rows}


def demo_set_paths(demo: Path, organ: str) -> list[Path]:
    """The image sets a demo run generated for `organ` (demo/sets/<organ>_*.h5). The segmentation
    stage's training sets (<organ>_segmentation_*) are left out: they image other masks, for another
    stage."""
    return sorted(path for path in (demo / "sets").glob(f"{organ}_*.h5")
                  if not path.stem.startswith(f"{organ}_segmentation_"))


def demo_rows(organ: str, args, names, fov, origin, with_frd) -> list[dict]:
    """Every set of a demo run against that run's own held-out real reference."""
    if args.demo is None:
        return []
    reference_path = args.demo / "data" / f"{organ}_reference.h5"
    sets = demo_set_paths(args.demo, organ)
    if not reference_path.is_file() or not sets:
        print(f"  demo sets skipped: no {reference_path} or no {args.demo / 'sets'}/{organ}_*.h5", flush=True)
        return []
    with imageset.read(reference_path) as ds:
        ref = ds.load()
    if imageset.class_names_of(ref) != names:
        print(f"  demo sets skipped: classes {imageset.class_names_of(ref)} differ from {names}", flush=True)
        return []
    reference = Reference(f"demo reference ({reference_path})", ref["image"].values, ref["label"].values, names, fov,
                          origin, args.seed, with_frd)
    rows = []
    for path in sets:
        with imageset.read(path) as ds:
            other = ds.load()
        rows.append(reference.against(f"demo:{path.stem.removeprefix(organ + '_')}", other["image"].values,
                                      other["label"].values, other["seconds"].values))
    return rows


# --- report ------------------------------------------------------------------------------------

def interval(entry: dict, digits: int = 3) -> str:
    if not np.isfinite(entry.get("value", np.nan)):
        return "–"
    return f"{entry['value']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"


def contrast_cell(entry: dict) -> str:
    """A class against its surroundings: the mean over frames with its interval, and the spread
    between frames (reports written before the measure existed: '–')."""
    return "–" if not entry.get("frames") else f"{interval(entry, 1)} (sd {entry['std']:.1f})"


def speckle_cell(row: dict, key: str, name: str) -> str:
    """along × across (px), each with its interval where the row has them (reports written before
    the widths were pooled over images hold the widths alone)."""
    sized = row.get(f"{key}_interval", {}).get(name)
    if sized is None:
        return "{:.1f} × {:.1f}".format(*row[key][name])
    return " × ".join(interval(sized[axis], 1) for axis in ("along", "across"))


def markdown(report: dict) -> str:
    lines = [f"Realism benchmark ({report['label']}), {report['date']}, `{report['command']}`", "",
             f"Machine: {report['machine']}", ""]
    for result in report["results"]:
        names = result["classes"]
        lines += [f"### {result['organ']} (FOV: {result['fov']})", "",
                  "| set | vs | n | " + " | ".join(f"JS {n}" for n in names) + " | FID[texture-v1] | FRD v1 | "
                  + " | ".join(f"speckle {n} (px)" for n in names) + " | "
                  + " | ".join(f"texture {n} (px)" for n in names) + " | "
                  + " | ".join(f"local skewness {n}" for n in names) + " | "
                  + " | ".join(f"{n} against its surroundings (gray)" for n in names[1:]) + " | C2ST accuracy |",
                  "|" + " --- |" * (6 + 5 * len(names) - 1)]
        for row in result["rows"]:
            c2st = row["c2st"]
            lines.append(f"| {row['set']} | {row['reference'].split(' (')[0]} | {row['images']} | "
                         + " | ".join(interval(row["js"][n]) for n in names)
                         + f" | {interval(row['fid_texture_v1'], 4)}"
                         f" | {interval(row.get('frd_v1', {}), 2)} | "
                         + " | ".join(speckle_cell(row, "speckle_px", n) for n in names) + " | "
                         + " | ".join("{:.1f} × {:.1f}".format(*row.get("texture_px", {}).get(n, [np.nan] * 2))
                                      for n in names) + " | "
                         + " | ".join(interval(row.get("local_skewness", {}).get(n, {}), 2) for n in names) + " | "
                         + " | ".join(contrast_cell(row.get("surroundings_contrast", {}).get(n, {})) for n in names[1:])
                         + f" | {c2st['accuracy']:.3f} [{c2st['low']:.3f}, {c2st['high']:.3f}] |")
        real = next(r for r in result["rows"] if r["set"].startswith("real floor"))
        lines += ["", "Speckle size of the held-out real frames (along × across the beam, px): "
                  + ", ".join(f"{n} {speckle_cell(real, 'reference_speckle_px', n)}" for n in real["reference_speckle_px"])
                  + "; texture size (rows × columns, px): "
                  + ", ".join("{} {:.1f} × {:.1f}".format(n, *v) for n, v in real.get("reference_texture_px", {}).items())
                  + "; local skewness: " + ", ".join(f"{n} {interval(v, 2)}" for n, v in
                                                      real.get("reference_local_skewness", {}).items())
                  + "; each class against its surroundings (gray): "
                  + ", ".join(f"{n} {contrast_cell(v)}" for n, v in real.get("reference_surroundings_contrast", {}).items()),
                  ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organ", choices=("ivus", "ovary", "both"), default="both")
    parser.add_argument("--frames", type=measures.frames_argument, default=measures.TUNING_FRAMES,
                        help="tuning frames K; frames K..2K-1 are held out (default %(default)s)")
    parser.add_argument("--label", default="current", help="names the outputs (e.g. before, after)")
    parser.add_argument("--reuse", metavar="LABEL", help="measure the sets kept under LABEL instead of simulating "
                                                         "(conditions with no set kept under LABEL are left out)")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS,
                        help="only these condition levels (default: every one the phantom API offers)")
    parser.add_argument("--demo", type=Path, help="a `make demo` run folder (e.g. runs/demo): its sets too")
    parser.add_argument("--per-cell", type=float, default=scatter.SCATTERERS_PER_CELL,
                        help="scatterers per resolution cell (lower only for quick trials)")
    parser.add_argument("--engine", choices=("full", "fast"), default="full",
                        help="ussim's engine for the held-out masks: full (channel data and delay-and-sum) or fast "
                             "(PSF convolution calibrated against it; rows named ussim[fast]:<condition>)")
    parser.add_argument("--seed", type=int, default=0, help="seeds bootstraps, patch positions and the C2ST")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    if importers.real_data_dir() is None:
        raise SystemExit("real archives absent: ../shared/data/real (or $USSIM_REAL_DATA) not found; "
                         "nothing to measure")
    from compare.metrics import frd

    with_frd = frd.available()
    args.out.mkdir(parents=True, exist_ok=True)
    organs = ["ivus", "ovary"] if args.organ == "both" else [args.organ]
    command = "python bench/realism.py " + " ".join(sys.argv[1:])
    conditions = len([c for c in available_conditions() if not args.conditions or c in args.conditions])
    demo_sets = {o: len(demo_set_paths(args.demo, o)) if args.demo else 0 for o in organs}
    frames = {o: min(args.frames, IVUS_FRAMES // 2) if o == "ivus" else args.frames for o in organs}
    demo_frames = {o: DEMO_HELD_OUT.get(o, frames[o]) for o in organs}
    per_image = EXPECTED_SECONDS if args.engine == "full" else EXPECTED_FAST_SECONDS

    def measuring(images):  # one comparison of `images` against as many: its C2ST and FRD
        return (EXPECTED_SECONDS["c2st"] * measures.c2st.REPEATS * images / C2ST_FRAMES
                + images * EXPECTED_SECONDS["frd_image"] * with_frd)
    expected = sum(frames[o] * (0 if args.reuse else per_image[o] * conditions)
                   + (2 + conditions) * measuring(frames[o]) + demo_sets[o] * measuring(demo_frames[o]) for o in organs)
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"{describe()}\n{started:%Y-%m-%d %H:%M} UTC: {command}\nexpected about {expected / 60:.0f} min on 2 free "
          f"cores (5-6 x that when other jobs load them){'' if with_frd else '; FRD left out (pyradiomics absent)'}",
          flush=True)
    report = {"label": args.label, "engine": args.engine, "machine": describe(),
              "date": f"{started:%Y-%m-%d %H:%M} UTC", "command": command,
              "results": [run(organ, args, with_frd) for organ in organs]}
    report["minutes"] = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds() / 60, 1)
    (args.out / f"realism_{args.label}.json").write_text(json.dumps(report, indent=1, default=float))
    (args.out / f"realism_{args.label}.md").write_text(markdown(report))
    print(markdown(report))
    print(f"done in {report['minutes']} min: {args.out}/realism_{args.label}.json and .md")


if __name__ == "__main__":
    main()
