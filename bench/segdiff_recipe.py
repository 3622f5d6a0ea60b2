"""The segdiff cpu-demo recipe on the demo's real sets: does a short training visibly learn?

Columns printed: set | training images x iterations (seconds) | JS per class | outside / inside
(contrast) | class means | detail | FID[texture-v1] | seconds per image. Appends each result to
bench/out/segdiff_recipe/results.jsonl and keeps each generated set there for --rescore / --montage.

Trains segdiff (cpu-demo preset plus --set overrides) for exactly --iterations iterations (the
training loop's max_iters; epochs rounded up so the run ends there) on a demo run's training set
of each organ, images the demo's held-out masks with the preset's sampler, and measures against
the held-out real images:
  JS <class>        per-class Jensen-Shannon divergence of gray histograms [95 % bootstrap interval]
                    (bench/realism_measures.class_js, as bench/segdiff.py and bench/realism.py)
  outside / inside  mean gray (0-255) outside the real field of view (pixels that equal their
                    image's outside fill in EVERY held-out real image: the black beside the ovary
                    fan, the constant fill around the IVUS circle) and inside it
                    (bench/realism_measures.footprint); the real images' own values are printed too
  contrast          inside - outside: the "sector number" (0 when no field of view is drawn)
  class means       mean gray of each class inside the real field of view (real: in brackets)
  detail            std of gray less its Gaussian blur of TEXTURE_SIGMA_PX (4 px) inside the field of
                    view: speckle-scale grain (noise counts too; smooth blobs give ~1)
  FID[texture-v1]   of 10 or 8 images: rank-deficient and biased upward, a side number only
  train s, s/image  wall seconds of the whole training (sample grids and checkpoints included) and
                    the median per generated image (batch 1, at the run's resolution, resized to 256)
--seed seeds the training and the bootstrap; run two at a time to time them as the demo trains.

    PYTHONPATH=.:bench python bench/segdiff_recipe.py --demo /work/main/runs/demo --label after
        [--organ ovary|ivus|both] [--iterations N] [--set key=value ...] [--threads 1]
    PYTHONPATH=.:bench python bench/segdiff_recipe.py --demo ... --rescore before after   (measures only)
    PYTHONPATH=.:bench python bench/segdiff_recipe.py --demo ... --montage before after
        (after the runs: bench/segdiff_cpu_demo_recipe_<organ>.png, rows of held-out masks; columns mask,
        each label's image, the real image)
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from PIL import Image

import realism
import realism_measures as measures
from machine import describe

from app.demo.defaults import SEGDIFF_ITERATIONS
from ganlab import generate, presets, train
from ussim import imageset

OUT = Path("bench/out/segdiff_recipe")
MONTAGE_ROWS = (0, 3, 6)   # held-out masks shown in the montage (IVUS has 8, the ovary 10)


def field_of_view(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inside, outside) boolean masks of the real images' field of view."""
    corners = np.concatenate([real[:, :8, :8], real[:, :8, -8:], real[:, -8:, :8], real[:, -8:, -8:]],
                             axis=1).reshape(len(real), -1)
    fill = np.array([np.bincount(c, minlength=256).argmax() for c in corners], np.uint8)
    outside = (real == fill[:, None, None]).all(axis=0)
    return measures.footprint(real), outside


def sector(images: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> dict:
    images = images.astype(np.float64)
    out, into = float(images[:, outside].mean()), float(images[:, inside].mean())
    return {"outside": round(out, 1), "inside": round(into, 1), "contrast": round(into - out, 1)}


def run_organ(organ: str, args) -> dict:
    data = args.demo / "data"
    train_path, reference_path = data / f"{organ}_train.h5", data / f"{organ}_reference.h5"
    with imageset.read(train_path) as ds:
        n_train = ds.sizes["sample"]
    overrides = {**args.overrides, "seed": args.seed, "threads": args.threads}
    batch = presets.config_for("segdiff", "cpu-demo", {k: v for k, v in overrides.items()
                                                      if k not in presets.RUNTIME})["batch"]
    per_epoch = n_train // batch
    overrides.update(epochs=math.ceil(args.iterations / per_epoch), max_iters=args.iterations)
    started = time.perf_counter()
    run = train.train("segdiff", train_path, preset="cpu-demo", overrides=overrides, runs_root=OUT / "runs",
                      progress=False, echo=False)
    train_seconds = time.perf_counter() - started
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line]
    fake = generate.generate_set(generate.load(run), reference_path, seed=0, progress=False)
    imageset.write(fake, OUT / f"{organ}_{args.label}.h5", overwrite=True)
    return {"organ": organ, "label": args.label, "overrides": args.overrides, "train_images": int(n_train),
            "iterations": int(re.search(r"\((\d+) iterations in all\)", (run / "log.txt").read_text()).group(1)),
            "train_seconds": round(train_seconds, 1), "final_loss": stats[-1]["loss"] if stats else None,
            "seconds_per_image": float(np.median(fake["seconds"].values)), "run": str(run),
            **scores(organ, args.label, args.demo, args.seed)}


def scores(organ: str, label: str, demo: Path, seed: int) -> dict:
    """The measures of one generated set (OUT/<organ>_<label>.h5) against the demo's held-out real images."""
    from compare.metrics import fid

    with imageset.read(demo / "data" / f"{organ}_reference.h5") as ds:
        ref = ds.load()
    with imageset.read(OUT / f"{organ}_{label}.h5") as ds:
        images = ds["image"].values
    names = imageset.class_names_of(ref)
    real_images, labels = ref["image"].values, ref["label"].values
    inside, outside = field_of_view(real_images)
    reference = measures.class_histograms(real_images, labels, len(names))
    js = measures.class_js(reference, measures.class_histograms(images, labels, len(names)), seed)

    def class_means(images):  # mean gray of each class inside the real field of view
        return {n: round(float(images[(labels == c) & inside].mean()), 1) for c, n in enumerate(names)}

    def detail(images):  # speckle-scale detail: std of gray less its smooth texture, inside the field of view
        sigma = measures.TEXTURE_SIGMA_PX
        smooth = ndimage.gaussian_filter(images.astype(np.float64), (0, sigma, sigma))
        return round(float((images - smooth)[:, inside].std()), 1)

    with warnings.catch_warnings():  # FID of 10 images is rank-deficient: a side number, said in the docstring
        warnings.simplefilter("ignore")
        texture_fid = fid.fid(realism.texture_features(real_images), realism.texture_features(images))
    return {"detail": detail(images), "real_detail": detail(real_images),
            "js": {n: [round(float(js[k][i]), 3) for k in ("value", "low", "high")] for i, n in enumerate(names)},
            "fid_texture_v1": round(texture_fid, 2),
            "class_means": class_means(images), "real_class_means": class_means(real_images),
            "sector": sector(images, inside, outside), "real_sector": sector(real_images, inside, outside)}


def row(result: dict) -> str:
    js = " | ".join(f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in result["js"].values())
    s, r = result["sector"], result["real_sector"]
    return (f"| {result['label']} | {result['train_images']} x {result['iterations']}"
            f" ({result['train_seconds']:.0f} s) | {js}"
            f" | {s['outside']:.0f} / {s['inside']:.0f} ({s['contrast']:+.0f}; real {r['contrast']:+.0f})"
            f" | {means(result['class_means'])} (real {means(result['real_class_means'])})"
            f" | {result['detail']:.1f} (real {result['real_detail']:.1f}) | {result['fid_texture_v1']:.1f}"
            f" | {result['seconds_per_image']:.2f} |")


def means(values: dict) -> str:
    return " / ".join(f"{v:.0f}" for v in values.values())


def montage(organ: str, labels: list[str], demo: Path) -> Path:
    with imageset.read(demo / "data" / f"{organ}_reference.h5") as ds:
        real, masks = ds["image"].values, ds["label"].values
    columns = [(masks * (255 // max(1, masks.max()))).astype(np.uint8)]
    for label in labels:
        with imageset.read(OUT / f"{organ}_{label}.h5") as ds:
            columns.append(ds["image"].values)
    columns.append(real)
    small = [np.stack([np.asarray(Image.fromarray(i).resize((128, 128), Image.BILINEAR)) for i in c]) for c in columns]
    path = Path(f"bench/segdiff_cpu_demo_recipe_{organ}.png")
    Image.fromarray(measures.montage(small, np.array(MONTAGE_ROWS))).save(path, optimize=True)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, required=True, help="a `make demo` run folder with data/")
    parser.add_argument("--organ", choices=("ovary", "ivus", "both"), default="both")
    parser.add_argument("--iterations", type=int, default=SEGDIFF_ITERATIONS)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a preset override, the value in JSON (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="run")
    parser.add_argument("--montage", nargs="+", metavar="LABEL", help="only draw the montage of these labels")
    parser.add_argument("--rescore", nargs="+", metavar="LABEL", help="only measure these labels' saved sets")
    args = parser.parse_args()
    organs = ["ovary", "ivus"] if args.organ == "both" else [args.organ]
    if args.rescore:  # the measures of sets made before (the training record left empty)
        for organ in organs:
            for label in args.rescore:
                result = {"label": label, "train_images": 0, "iterations": 0, "train_seconds": float("nan"),
                          "seconds_per_image": float("nan"), **scores(organ, label, args.demo, args.seed)}
                print(organ, row(result), flush=True)
        return
    if args.montage:
        for organ in organs:
            print(montage(organ, args.montage, args.demo))
        return
    if not (args.demo / "data").is_dir():
        raise SystemExit(f"--demo {args.demo}: no data/ folder (run `make demo` with the real data first)")
    args.overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.sets)}
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    print(describe(), flush=True)
    for organ in organs:
        result = run_organ(organ, args)
        with open(OUT / "results.jsonl", "a") as f:
            f.write(json.dumps(result) + "\n")
        print(row(result), flush=True)


if __name__ == "__main__":
    main()
