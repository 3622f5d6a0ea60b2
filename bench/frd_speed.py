"""FRD v1: seconds per 256 × 256 image, and a sanity check that it orders real and blurred images.

Speed: radiomic features of 20 normal-ovary images of the OTU_2D train split, whole image and the
ovary region (mask == normal_ovary), one process. Sanity: the normal-ovary images of the
validation split (Doppler frames left out) in two halves by a seeded permutation; FRD of half B
against half A, and of half B blurred (Gaussian σ 1.5 px) against half A, whole image and ovary
region, each with a 95 % bootstrap interval (rows of both sets resampled, seeded).

    python bench/frd_speed.py [--data otu2d_ovary_256.npz] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine  # noqa: E402

from compare.metrics import frd  # noqa: E402
from ussim import importers  # noqa: E402

NORMAL_OVARY = 3
MAX_CHROMA = 0.01  # the data README's threshold for colour Doppler frames
BLUR_SIGMA_PX = 1.5
BOOTSTRAP = 200


def seconds_per_image(images: np.ndarray, regions: np.ndarray | None) -> float:
    start = time.perf_counter()
    frd.radiomic_features(images, regions, progress=False)
    return (time.perf_counter() - start) / len(images)


def bootstrap_interval(reference: np.ndarray, other: np.ndarray, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    values = [frd.frd_from_features(reference[rng.integers(0, len(reference), len(reference))],
                                    other[rng.integers(0, len(other), len(other))]) for _ in range(BOOTSTRAP)]
    return tuple(float(v) for v in np.percentile(values, [2.5, 97.5]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="the OTU_2D archive (default: otu2d_ovary_256.npz in "
                        "$USSIM_REAL_DATA or ../shared/data/real)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("bench/out/frd_speed.json"))
    args = parser.parse_args()
    frd.require()
    data_dir = importers.real_data_dir()
    if args.data is None and data_dir is None:
        raise SystemExit("frd_speed: no real data: pass --data or set $USSIM_REAL_DATA")
    data = np.load(args.data or data_dir / "otu2d_ovary_256.npz")
    normal = (data["image_class"] == NORMAL_OVARY) & (data["chroma_frac"] <= MAX_CHROMA)
    images, regions = data["images"], data["masks"] == NORMAL_OVARY

    train = np.flatnonzero(normal & (data["split"] == "train"))[:20]
    frd.feature_names()  # the one-off probe extraction is not part of the per-image time
    speed = {"whole image": seconds_per_image(images[train], None),
             "ovary region": seconds_per_image(images[train], regions[train])}

    validation = np.random.default_rng(args.seed).permutation(np.flatnonzero(normal & (data["split"] == "validation")))
    half_a, half_b = np.array_split(validation, 2)
    blurred_b = np.stack([ndimage.gaussian_filter(image, BLUR_SIGMA_PX) for image in images[half_b]])
    sanity, seconds_per_frd = {}, {}
    for name, mask in (("whole image", None), ("ovary region", regions)):
        a = frd.radiomic_features(images[half_a], None if mask is None else mask[half_a], progress=False)
        b = frd.radiomic_features(images[half_b], None if mask is None else mask[half_b], progress=False)
        blurred = frd.radiomic_features(blurred_b, None if mask is None else mask[half_b], progress=False)
        start = time.perf_counter()
        sanity[name] = {
            "real B vs real A": (frd.frd_from_features(a, b), *bootstrap_interval(a, b, args.seed)),
            f"blurred B (σ {BLUR_SIGMA_PX} px) vs real A": (frd.frd_from_features(a, blurred),
                                                             *bootstrap_interval(a, blurred, args.seed)),
        }
        seconds_per_frd[name] = (time.perf_counter() - start) / (2 * (BOOTSTRAP + 1))

    result = {"machine": machine.describe(), "date": datetime.date.today().isoformat(), "versions": frd.versions(),
              "n_speed": len(train), "n_half_a": len(half_a), "n_half_b": len(half_b),
              "seconds_per_image": speed, "frd": sanity, "seconds_per_frd": seconds_per_frd}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"{result['machine']}, {result['date']}, {result['versions']}")
    for name, seconds in speed.items():
        print(f"seconds per 256 x 256 image, {name} ({len(train)} images): {seconds:.2f}")
    for name, rows in sanity.items():
        print(f"{name}: one FRD (d = 398) takes {seconds_per_frd[name] * 1000:.1f} ms")
        for label, (value, low, high) in rows.items():
            print(f"  FRD {label} ({len(half_b)} vs {len(half_a)} images): {value:.3f} [{low:.3f}, {high:.3f}]")


if __name__ == "__main__":
    main()
