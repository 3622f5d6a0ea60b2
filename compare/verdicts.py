"""Which differences between methods the intervals resolve, in words, for the report and the dashboard.

DECISION: method A is called better than method B on a metric only when their 95 % intervals do
not overlap in A's favour (A's worse bound beats B's better bound). That is conservative (two
intervals may overlap while the difference's own interval excludes zero), so a "resolved" is
never a winner inside the noise; every other pair is "not resolved at this sample size". A method
without an interval (too few images) is never called better or worse. Methods that saw side
information from the reference image itself carry the † mark in every sentence.
DECISION: a method whose images collapsed (compare.methods.collapsed: one image whatever the
mask) is ranked against nothing: its FID or SSIM may look fine on a few held-out masks, but it
does not generate from the mask. One sentence says so instead, with its diversity.
"""

from __future__ import annotations

import math

import xarray as xr

from compare import methods as method_info
from compare import results

HEADLINE = ("fid", "kid_mean", "frd", "ssim", "ms_ssim", "seconds_per_image")
CLASS_HEADLINE = ("js",)
UNRESOLVED = "not resolved at this sample size"


def _direction(metric: str) -> int:
    """-1 when lower is better, +1 when higher is better (results' two tables; others are never ranked)."""
    base = results.base_metric(metric)
    if base in results.LOWER_IS_BETTER:
        return -1
    if base in results.HIGHER_IS_BETTER:
        return 1
    raise ValueError(f"metric {metric} has no direction: verdicts rank only {results.LOWER_IS_BETTER} and "
                     f"{results.HIGHER_IS_BETTER}")


def _better(a: tuple[float, float, float], b: tuple[float, float, float], direction: int) -> bool:
    """Whether a = (value, low, high) is better than b with separated intervals."""
    if not all(math.isfinite(v) for v in (*a, *b)):
        return False
    return a[1] > b[2] if direction > 0 else a[2] < b[1]


def metric_verdict(title: str, methods: list[str], numbers: dict[str, tuple[float, float, float]],
                   direction: int, shown: dict[str, str]) -> str | None:
    """One sentence on one metric: the resolved pairs, then those that are not."""
    present = [m for m in methods if math.isfinite(numbers[m][0])]
    if len(present) < 2:
        return None
    present.sort(key=lambda m: -direction * numbers[m][0])
    resolved, open_pairs = [], []
    for i, a in enumerate(present):
        beaten = [b for b in present[i + 1:] if _better(numbers[a], numbers[b], direction)]
        if beaten:
            resolved.append(f"{shown[a]} better than {', '.join(shown[b] for b in beaten)}")
        open_pairs += [f"{shown[a]} vs {shown[b]}" for b in present[i + 1:] if b not in beaten]
    goal = "lower is better" if direction < 0 else "higher is better"
    if not resolved:
        return f"{title} ({goal}): no difference between methods is resolved at this sample size (every pair of " \
               f"intervals overlaps, or an interval is missing)."
    text = f"{title} ({goal}): " + "; ".join(resolved) + "."
    if open_pairs:
        text += f" {UNRESOLVED.capitalize()}: " + ", ".join(open_pairs) + "."
    return text


def verdicts(ds: xr.Dataset) -> list[str]:
    """One sentence per headline metric (and per class for JS) on the candidate methods."""
    candidates = method_info.ordered(ds, candidates_only=True)
    methods = [m for m in candidates if not method_info.collapsed(ds, m)]
    shown = {m: method_info.marked(ds, m) for m in methods}
    backbone = ds.attrs["backbone"]
    lines = [collapse_sentence(ds, m) for m in candidates if method_info.collapsed(ds, m)]
    for metric in HEADLINE:
        label = results.feature_label(metric, backbone) if metric in results.FEATURE_METRICS else metric
        if label not in ds["metric"].values:
            continue
        numbers = {m: (float(ds["value"].sel({"method": m, "metric": label})),
                       *results.interval_of(ds, m, label)) for m in methods}
        line = metric_verdict(_title(label), methods, numbers, _direction(metric), shown)
        if line:
            lines.append(line)
    for metric in CLASS_HEADLINE:
        for name in ds["class"].values.tolist():
            numbers = {m: (float(ds["class_value"].sel({"method": m, "class_metric": metric, "class": name})),
                           *results.interval_of(ds, m, metric, name)) for m in methods}
            line = metric_verdict(f"{metric.upper()} of class {name}", methods, numbers, _direction(metric), shown)
            if line:
                lines.append(line)
    if any(name.endswith(method_info.FROM_REFERENCE_MARK) for name in shown.values()):
        lines.append(method_info.MARK_CAPTION)
    return lines


def _title(label: str) -> str:
    names = {"fid": "FID", "kid_mean": "KID", "frd": "FRD v1", "ssim": "SSIM", "ms_ssim": "MS-SSIM",
             "seconds_per_image": "seconds per image"}
    base = results.base_metric(label)
    return names.get(base, base) + label[len(base):].replace("[", " [")


def collapse_sentence(ds: xr.Dataset, method: str) -> str:
    """Why a collapsed method is ranked nowhere, with the diversity of its sets and of the reference."""
    detail = str(ds.sel({"method": method})["collapse_detail"].values)
    reference = ds.attrs.get("reference", "reference")
    own = float(ds["value"].sel({"method": reference, "metric": "diversity_ms_ssim"})) \
        if reference in ds["method"].values else math.nan
    return (f"{method_info.marked(ds, method)}: mode collapse, ranked in no verdict: its images are nearly the same "
            f"whatever the mask ({detail}; the reference's {own:.3f}).")
