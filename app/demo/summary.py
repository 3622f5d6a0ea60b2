"""The demo's results in one Markdown table (runs/demo/summary.md, and the README's demo table):
per organ and method the headline numbers of the report, with the date, machine and stage times."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from compare import results
from compare.report.tables import fmt

HEADER = ["organ", "method", "FID [texture-v1]", "KID [texture-v1]", "SSIM", "JS per class", "s / image",
          "training"]


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
    for organ, ds in comparisons.datasets.items():
        backbone = ds.attrs["backbone"]
        js = ds["class_value"].sel({"class_metric": "js"})
        for k, method in enumerate(ds["method"].values.tolist()):
            value = ds["value"].sel({"method": method})

            def metric(name, value=value):
                return fmt(value.sel({"metric": name}).values)

            trained = record["organs"][organ]["methods"].get(method)
            per_class = " / ".join(f"{c} {fmt(v, 2)}" for c, v in zip(ds["class"].values.tolist(),
                                                                       js.sel({"method": method}).values, strict=True)
                                   if np.isfinite(v))
            row = [organ, method + (" (reference)" if k == 0 else ""),
                   metric(f"fid[{backbone}]"), metric(f"kid_mean[{backbone}]"), metric("ssim"), per_class or "–",
                   metric("seconds_per_image"),
                   f"{trained['iterations']} it, {trained['train_seconds']:.0f} s" if trained else "–"]
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Lower is closer to the reference for FID, KID and JS; higher for SSIM (same mask). "
              "Full tables, image grids and every note: the demo's report.html."]
    return "\n".join(lines) + "\n"
