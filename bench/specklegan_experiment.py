"""SpeckleGAN vs its baseline with few training images (the SpeckleGAN paper's experiment, small).

For each data set (a training set and a held-out real set of the same organ and classes) and
each training-set size N, both models train with the same settings, seed and number of
iterations on the first N training images, through ganlab.train (the one training loop). Each
then generates one image per held-out mask (ganlab.generate, at the model's resolution), and
the generated images are compared with the held-out real images at that resolution:

  js_<class>        JS divergence (base 2) of the class's pooled 256-bin gray histograms
                    (compare.metrics.js, as the SpeckleGAN table); js_mean over the classes
  speckle_<class>   mean over images of compare.metrics.speckle.statistics of the class's
                    pixels (display gray values), for generated and real images alike;
                    speckle_error: mean |generated - real| of log_std_db over the classes

The claim checked: SpeckleGAN's JS is below the baseline's, by the most at the smallest N.

    python bench/specklegan_experiment.py --set ovary /tmp/ovary_train.h5 /tmp/ovary_val.h5 \
        [--set ivus-sim /tmp/ivus_sim200.h5 /tmp/ivus_real.h5] [--sizes 50 200] [--iters 400] \
        [--resolution 64] [--width 8] [--runs runs/specklegan_experiment] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from compare.metrics import js, speckle
from ganlab import data, generate, train
from ussim import imageset
from machine import describe  # bench/machine.py (the script's own folder is on sys.path)

MODELS = ("specklegan", "speckle-baseline")


# DECISION: the simulated IVUS phantoms label more classes than the real frames (outside_EEM,
# wall, lumen); the extra ones merge into the real class that holds them: catheter and guidewire
# lie in the lumen, plaque lies in the wall (between lumen and EEM).
MERGE = {"catheter": "lumen", "guidewire": "lumen", "plaque_fibrous": "wall", "plaque_lipid": "wall",
         "plaque_calcified": "wall"}


def first_n(path: str, n: int, out: Path, class_names: list[str]) -> Path:
    """The first n samples of an image set, its classes merged into `class_names`, as its own file."""
    with imageset.read(path) as ds:
        if ds.sizes["sample"] < n:
            raise SystemExit(f"{path} holds {ds.sizes['sample']} samples, fewer than {n}")
        part = ds.isel(sample=slice(0, n)).load()
        own = imageset.class_names_of(ds)
    if own != class_names:
        lut = np.array([class_names.index(MERGE.get(name, name)) for name in own], np.uint8)
        part["label"].values = lut[part["label"].values]
        part.attrs["class_names"] = list(class_names)
    imageset.write(part, out)
    return out


def class_speckle(images: np.ndarray, labels: np.ndarray, n_classes: int, min_pixels: int = 64) -> np.ndarray:
    """(classes, 3) mean over images of the speckle statistics of each class's pixels."""
    sums, counts = np.zeros((n_classes, len(speckle.NAMES))), np.zeros((n_classes, 1))
    for image, label in zip(images, labels, strict=True):
        for c in range(n_classes):
            pixels = image[label == c]
            if pixels.size >= min_pixels:
                stats = speckle.statistics(pixels)
                sums[c] += [stats[k] for k in speckle.NAMES]
                counts[c] += 1
    return sums / np.maximum(counts, 1)


def evaluate(generated: np.ndarray, real: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    n = len(class_names)
    hist_g, hist_r = js.class_histograms(generated, labels, n), js.class_histograms(real, labels, n)
    out = {f"js_{name}": round(js.js_divergence(hist_g[c], hist_r[c]), 4) for c, name in enumerate(class_names)}
    out["js_mean"] = round(float(np.mean([out[f"js_{name}"] for name in class_names])), 4)
    sp_g, sp_r = class_speckle(generated, labels, n), class_speckle(real, labels, n)
    for c, name in enumerate(class_names):
        out[f"speckle_{name}"] = {k: [round(float(sp_g[c, i]), 3), round(float(sp_r[c, i]), 3)]
                                  for i, k in enumerate(speckle.NAMES)}  # [generated, real]
    column = speckle.NAMES.index("log_std_db")
    out["speckle_error_log_std_db"] = round(float(np.mean(np.abs(sp_g[:, column] - sp_r[:, column]))), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", nargs=3, action="append", required=True, metavar=("NAME", "TRAIN", "HELDOUT"),
                        help="a data set: its name, training image set, held-out real image set")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="training-set sizes")
    parser.add_argument("--iters", type=int, default=400, help="training iterations of every run")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--width", type=int, default=8, help="g_width and d_width")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/specklegan_experiment")
    parser.add_argument("--json")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    print(f"date: {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}")
    print(f"command: {' '.join([sys.executable, *sys.argv])}", flush=True)
    size, results = args.resolution, []
    work = Path(tempfile.mkdtemp(prefix="specklegan_experiment_"))
    for name, train_path, heldout_path in args.set:
        held = data.load(heldout_path, size, canny=None, progress=False)
        for n in args.sizes:
            subset = first_n(train_path, n, work / f"{name}_{n}.h5", held.class_names)
            per_epoch = n // args.batch
            epochs = -(-args.iters // per_epoch)
            for model in MODELS:
                # DECISION: every run takes the same number of iterations (not epochs), so a
                # smaller set is not also a shorter training.
                overrides = {"resolution": size, "g_width": args.width, "d_width": args.width, "batch": args.batch,
                             "epochs": epochs, "max_iters": args.iters, "threads": args.threads, "seed": args.seed,
                             "grid_samples": 4}
                started = time.perf_counter()
                run = train.train(model, subset, preset="cpu-demo", overrides=overrides, runs_root=args.runs,
                                  progress=False)
                trained = time.perf_counter() - started
                snapshot = generate.load(run)
                made = generate.generate_set(snapshot, heldout_path, size=size, seed=args.seed, progress=False)
                generated = np.asarray(made["image"].values)
                config = json.loads((run / "config.json").read_text())["config"]
                row = {"data": name, "n_train": n, "model": model, "run": str(run), "iters": args.iters,
                       "epochs": epochs, "train_s": round(trained, 1), "polar": config["polar"],
                       "rotation": config["rotation"], "n_heldout": len(held),
                       **evaluate(generated, held.images.numpy(), held.labels.numpy(), held.class_names)}
                stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
                if stats and "speckle_d" in stats[-1]:
                    row["speckle_d_last_epoch"] = round(stats[-1]["speckle_d"], 2)
                results.append(row)
                print(json.dumps(row), flush=True)
    summary = {}
    for name, _, _ in args.set:
        for n in args.sizes:
            js_of = {r["model"]: r["js_mean"] for r in results if r["data"] == name and r["n_train"] == n}
            summary[f"{name}@{n}"] = {**js_of, "baseline_minus_specklegan": round(
                js_of["speckle-baseline"] - js_of["specklegan"], 4)}
    report = {"settings": vars(args), "summary_js_mean": summary, "runs": results}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
