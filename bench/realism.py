"""Realism of simulated images against real ones, on the real sets' own masks.

Each real mask (../shared/data/real) is simulated with the physical simulator; per label class
the gray-value histograms (256 bins) of real and simulated images, pooled over the samples, are
compared by the Jensen-Shannon divergence, base 2 (ARCHITECTURE: metric definitions), and their
means and standard deviations are reported. A montage shows real beside simulated.

    python bench/realism.py [--organ ivus|ovary|both] [--samples K] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.distance import jensenshannon

from ussim import imageset, importers, phantom, scan, tissue

# The demo's selection of the ovary archive: normal ovaries of the train split, no Doppler.
IMPORTS = {"ivus": ("ivus_dmolony_256.npz", dict(organ="ivus")),
           "ovary": ("otu2d_ovary_256.npz", dict(organ="ovary", split="train", image_class="normal_ovary",
                                                 drop_unused_classes=True, rename={"normal_ovary": "ovary"},
                                                 max_color_fraction=0.01))}


def class_statistics(real: np.ndarray, simulated: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    result = {}
    for index, name in enumerate(names):
        inside = labels == index
        if not inside.any():
            continue
        histograms = [np.bincount(images[inside], minlength=256) / inside.sum() for images in (real, simulated)]
        result[name] = {"js_divergence": float(jensenshannon(*histograms, base=2) ** 2),
                        "real_mean": float(real[inside].mean()), "simulated_mean": float(simulated[inside].mean()),
                        "real_std": float(real[inside].std()), "simulated_std": float(simulated[inside].std()),
                        "pixels": int(inside.sum())}
    return result


def run(organ: str, samples: int, out: Path) -> dict:
    folder = importers.real_data_dir()
    if folder is None:
        raise SystemExit("real archives absent: ../shared/data/real (or $USSIM_REAL_DATA) not found")
    archive, options = IMPORTS[organ]
    real = importers.import_npz(folder / archive, progress=False, **options)
    count = min(samples, real.sizes["sample"])
    names = imageset.class_names_of(real)
    table = tissue.load(organ)
    if "x_mm" in real.coords:
        grid = scan.DisplayGrid(real["x_mm"].values * 1e-3, real["y_mm"].values * 1e-3)
    else:
        grid = phantom.display_grid(table, (real.sizes["y"], real.sizes["x"]))
    start = time.perf_counter()
    simulated = [phantom.mask_sample(real["label"].values[i], grid, names, organ, seed=i,
                                     sample_id=str(real["sample_id"].values[i]), device="cpu", progress=False)
                 for i in range(count)]
    seconds = time.perf_counter() - start
    sim_images = np.stack([s["image"].values[0] for s in simulated])
    real_images, labels = real["image"].values[:count], real["label"].values[:count]
    montage = np.concatenate([np.concatenate([real_images[i], sim_images[i]], axis=1) for i in range(min(3, count))])
    Image.fromarray(montage).save(out / f"realism_{organ}.png")
    return {"organ": organ, "samples": count, "seconds_per_image": seconds / count,
            "classes": class_statistics(real_images, sim_images, labels, names)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organ", choices=("ivus", "ovary", "both"), default="both")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    organs = ["ivus", "ovary"] if args.organ == "both" else [args.organ]
    report = {"machine": f"{platform.node()} {platform.machine()}", "date": time.strftime("%Y-%m-%d"),
              "results": [run(organ, args.samples, args.out) for organ in organs]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
