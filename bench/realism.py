"""Realism of simulated images against real ones, on the real sets' own masks.

Each real mask (../shared/data/real) is simulated with the physical simulator. The frames are
split in two: the first K are the tuning frames, the next K are held out. Per label class the
gray-value histograms (256 bins) of real and simulated images, pooled over the frames, are
compared by the Jensen-Shannon divergence, base 2 (ARCHITECTURE: metric definitions); their
means and standard deviations, and the speckle grain (autocorrelation width) are reported for
both splits. A montage shows real beside simulated.

--fit searches, on the tuning frames only, the display dynamic range and a per-class
echogenicity offset that minimise the divergence; it re-maps the stored envelope (scaled per
class, log-compressed again) instead of simulating again, so it is a proxy that ignores the
blur across class borders. Put the values it suggests into data/organs/<organ>.toml and run
again without --fit to measure them, on the held-out frames above all.

    python bench/realism.py [--organ ivus|ovary|both] [--frames K] [--fit] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial.distance import jensenshannon

from app.demo.sets import OVARY_IMPORT
from ussim import bmode, imageset, importers, phantom, scan, tissue

# The demo's selection of the ovary archive: normal ovaries of the train split, no Doppler.
IMPORTS = {"ivus": ("ivus_dmolony_256.npz", dict(organ="ivus")),
           "ovary": ("otu2d_ovary_256.npz", dict(OVARY_IMPORT, split="train"))}
DYNAMIC_RANGES_DB = np.arange(30.0, 62.5, 2.5)
OFFSETS_DB = np.arange(-24.0, 24.5, 1.0)
TEXTURE_SIGMA_PX = 4.0  # removed before measuring the grain: texture coarser than speckle


def js_divergence(real: np.ndarray, simulated: np.ndarray) -> float:
    histograms = [np.bincount(values, minlength=256) / values.size for values in (real, simulated)]
    return float(jensenshannon(*histograms, base=2) ** 2)


def grain_px(images: np.ndarray, inside: np.ndarray) -> tuple[float, float]:
    """Mean speckle grain of a class, (rows, columns) in px: the width at half height of the
    autocorrelation of the gray values (less their smooth texture) over the class's pixels,
    normalised by the autocorrelation of the class mask itself."""
    widths = []
    for image, mask in zip(images, inside, strict=True):
        if mask.sum() < 200:
            continue
        gray = image.astype(np.float64)
        detail = (gray - ndimage.gaussian_filter(gray, TEXTURE_SIGMA_PX)) * mask
        detail[mask] -= detail[mask].mean()
        spectrum = np.fft.fft2(detail, s=[2 * n for n in detail.shape])
        support = np.fft.fft2(mask.astype(np.float64), s=[2 * n for n in detail.shape])
        correlation = np.fft.ifft2(np.abs(spectrum) ** 2).real
        overlap = np.maximum(np.fft.ifft2(np.abs(support) ** 2).real, 1.0)
        correlation = correlation / overlap
        if correlation[0, 0] <= 0:
            continue
        correlation /= correlation[0, 0]
        widths.append([2 * np.argmax(np.r_[correlation[:, 0], -1] < 0.5) - 1,
                       2 * np.argmax(np.r_[correlation[0, :], -1] < 0.5) - 1])
    return tuple(float(v) for v in np.mean(widths, axis=0)) if widths else (float("nan"), float("nan"))


def class_statistics(real: np.ndarray, simulated: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    result = {}
    for index, name in enumerate(names):
        inside = labels == index
        if not inside.any():
            continue
        result[name] = {"js_divergence": js_divergence(real[inside], simulated[inside]),
                        "real_mean": float(real[inside].mean()), "simulated_mean": float(simulated[inside].mean()),
                        "real_std": float(real[inside].std()), "simulated_std": float(simulated[inside].std()),
                        "real_grain_px": grain_px(real, inside), "simulated_grain_px": grain_px(simulated, inside),
                        "pixels": int(inside.sum())}
    return result


def fit_display(envelopes, references, real, labels, names, table) -> dict:
    """On the tuning frames: the dynamic range and per-class echogenicity offsets (dB) that
    minimise the mean per-class divergence, with the organ's gain kept."""
    gain = float(table.imaging.get("gain_db", 0.0))
    level_db = np.stack([20 * np.log10(np.maximum(e, bmode.ENVELOPE_FLOOR) / r) + gain
                         for e, r in zip(envelopes, references, strict=True)])
    best = None
    for dynamic_range in DYNAMIC_RANGES_DB:
        offsets, divergences = {}, {}
        for index, name in enumerate(names):
            inside = labels == index
            if not inside.any():
                continue
            scores = [js_divergence(real[inside], _gray(level_db[inside] + offset, dynamic_range))
                      for offset in OFFSETS_DB]
            offsets[name], divergences[name] = float(OFFSETS_DB[np.argmin(scores)]), float(min(scores))
        mean = float(np.mean(list(divergences.values())))
        if best is None or mean < best["mean_js"]:
            best = {"dynamic_range_db": float(dynamic_range), "offsets_db": offsets, "js": divergences,
                    "mean_js": mean}
    best["suggested_echogenicity_db"] = {name: table.classes[name].echogenicity_db + offset
                                         for name, offset in best["offsets_db"].items()}
    return best


def _gray(level_db: np.ndarray, dynamic_range: float) -> np.ndarray:
    return np.clip(np.rint((level_db + dynamic_range) / dynamic_range * 255), 0, 255).astype(np.uint8)


def run(organ: str, frames: int, out: Path, fit: bool) -> dict:
    folder = importers.real_data_dir()
    if folder is None:
        raise SystemExit("real archives absent: ../shared/data/real (or $USSIM_REAL_DATA) not found")
    archive, options = IMPORTS[organ]
    real = importers.import_npz(folder / archive, progress=False, **options)
    count = min(2 * frames, real.sizes["sample"])
    splits = {"tuning": np.arange(0, count // 2), "held_out": np.arange(count // 2, count)}
    names = imageset.class_names_of(real)
    table = tissue.load(organ)
    if "x_mm" in real.coords:
        grid = scan.DisplayGrid(real["x_mm"].values * 1e-3, real["y_mm"].values * 1e-3)
    else:
        grid = phantom.display_grid(table, (real.sizes["y"], real.sizes["x"]))
    start = time.perf_counter()
    simulated = [phantom.mask_sample(real["label"].values[i], grid, names, organ, seed=i,
                                     sample_id=str(real["sample_id"].values[i]), device="cpu", progress=False,
                                     warm=i == 0)
                 for i in range(count)]
    seconds = time.perf_counter() - start
    sim_images = np.stack([s["image"].values[0] for s in simulated])
    real_images, labels = real["image"].values[:count], real["label"].values[:count]
    shown = splits["held_out"][:3]
    montage = np.concatenate([np.concatenate([real_images[i], sim_images[i]], axis=1) for i in shown])
    Image.fromarray(montage).save(out / f"realism_{organ}.png")
    result = {"organ": organ, "frames": {k: [int(v[0]), int(v[-1])] for k, v in splits.items()},
              "montage_frames": [int(i) for i in shown], "seconds_per_image": seconds / count,
              "display": {k: table.imaging.get(k) for k in ("dynamic_range_db", "gain_db")},
              "echogenicity_db": {name: table.classes[name].echogenicity_db for name in names}}
    for split, index in splits.items():
        result[split] = class_statistics(real_images[index], sim_images[index], labels[index], names)
    if fit:
        tuning = splits["tuning"]
        envelopes = [simulated[i]["envelope"].values[0] for i in tuning]
        references = [imageset.params_of(simulated[i])["simulation"]["settings"]["reference"] for i in tuning]
        result["fit_on_tuning_frames"] = fit_display(envelopes, references, real_images[tuning], labels[tuning],
                                                     names, table)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--organ", choices=("ivus", "ovary", "both"), default="both")
    parser.add_argument("--frames", type=int, default=12, help="tuning frames; as many again are held out")
    parser.add_argument("--fit", action="store_true", help="suggest display range and echogenicities")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    organs = ["ivus", "ovary"] if args.organ == "both" else [args.organ]
    report = {"machine": f"{platform.node()} {platform.machine()}", "date": time.strftime("%Y-%m-%d"),
              "results": [run(organ, args.frames, args.out, args.fit) for organ in organs]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
