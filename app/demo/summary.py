"""The demo's results in one Markdown table (runs/demo/summary.md, and the README's demo table):
per organ and method what it saw and the headline numbers of the report with their 95 % intervals,
with the date, machine and stage times, and which differences the intervals resolve."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from compare import methods, results, verdicts
from compare.report.tables import cell, fmt

HEADER = ["organ", "method", "sees", "FID [texture-v1]", "KID [texture-v1]", "FRD v1", "SSIM", "JS per class",
          "s / image", "training"]


def markdown(out_dir: Path) -> str:
    record = json.loads((out_dir / "demo.json").read_text())
    comparisons = results.read_comparisons(out_dir / "results.nc")
    machine, stages = record["machine"], record["stages"]
    data = "real images from ../shared/data/real" if record["real_data"] else "simulated images only (no real data)"
    gpu = machine.get("gpu") or "no GPU"
    lines = [f"Measured {record['created_utc'][:10]} on {machine['processor']}, {machine['cpus']} cores, {gpu}, "
             f"Python {machine['python']}, torch {machine['torch']} ({machine['platform']}); {data}. The demo took "
             f"{record['seconds'] / 60:.1f} min: " + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items()) + ".",
             "", "| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    resolved = []
    for organ, ds in comparisons.datasets.items():
        backbone = ds.attrs["backbone"]
        trainings = record["organs"][organ]["methods"]
        for method in methods.ordered(ds):
            per_class = " / ".join(f"{c} {cell(ds, method, 'js', c, 2)}" for c in ds["class"].values.tolist()
                                   if np.isfinite(float(ds["class_value"].sel(
                                       {"method": method, "class_metric": "js", "class": c}))))
            model = method.split(":")[0]
            trained = trainings.get(model) or []
            row = [organ, methods.marked(ds, method) + (" (reference)" if method == ds.attrs["reference"] else ""),
                   methods.sees(ds, method), cell(ds, method, f"fid[{backbone}]", digits=3),
                   cell(ds, method, f"kid_mean[{backbone}]", digits=3), cell(ds, method, "frd", digits=3),
                   cell(ds, method, "ssim", digits=3), per_class or "–",
                   cell(ds, method, "seconds_per_image", digits=3),
                   (f"{len(trained)} seeds x {trained[0]['iterations']} it, "
                    f"{fmt(np.mean([t['train_seconds'] for t in trained]), 3)} s each") if trained else "–"]
            lines.append("| " + " | ".join(row) + " |")
        resolved += [f"- {organ}: {line}" for line in verdicts.verdicts(ds)]
    lines += ["", "Each number: value [95 % interval] (bootstrap over the held-out images and the training seeds). "
              "Lower is closer to the reference for FID, KID, FRD and JS; higher for SSIM (same mask). "
              f"{methods.MARK_CAPTION} Full tables, image grids and every note: the demo's report.html.",
              "", "What the intervals resolve:", "", *resolved, *segmentation_lines(comparisons)]
    return "\n".join(lines) + "\n"


def segmentation_lines(comparisons) -> list[str]:
    """The segmentation-utility stage's table (Dice per class on the held-out images) and what its
    intervals (over segmentation training seeds) resolve; nothing when the results hold none."""
    from compare.segmentation import store

    found = {organ: ds for organ, ds in comparisons.datasets.items() if store.has_segmentation(ds)}
    if not found:
        return []
    lines = ["", "Segmentation utility (stage 5): a U-Net trained on each method's images of the training masks "
                 "(ussim by its fast engine), synthetic only or pretrained and fine-tuned on real training images, "
                 "against one trained on those real images only; Dice per class on the held-out images, mean over "
                 "the segmentation seeds [95 % interval]:", "",
             "| organ | method | protocol | Dice per class |", "| --- | --- | --- | --- |"]
    verdict_lines = []
    for organ, ds in found.items():
        seg = ds["segmentation"]
        for method in ds["seg_method"].values.tolist():
            for n_real in ds["n_real"].values.tolist():
                protocol = store.protocol(method, int(n_real))
                if not protocol:
                    continue
                cells = []
                for name in ds["seg_class"].values.tolist():
                    at = {"seg_method": method, "n_real": n_real, "seg_class": name}
                    value = float(seg.sel(seg_metric="dice", **at))
                    if np.isfinite(value):
                        cells.append(f"{name} {fmt(value, 3)} [{fmt(float(seg.sel(seg_metric='dice_low', **at)), 3)}, "
                                     f"{fmt(float(seg.sel(seg_metric='dice_high', **at)), 3)}]")
                where = protocol if int(n_real) == 0 else f"{protocol}, {n_real} real"
                lines.append(f"| {organ} | {method} | {where} | {' / '.join(cells) or '–'} |")
        verdict_lines += [f"- {organ}: {line}" for line in store.verdicts(ds)]
    return lines + ["", "What the segmentation intervals resolve:", "", *(verdict_lines or ["- nothing"])]
