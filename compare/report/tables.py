"""The report's tables, built once as strings and rendered both as HTML and as Markdown, so the two
documents hold exactly the same numbers.

    realism_table      the PGSgan paper's Table 1: rows = methods; FID, KID (mean ± std), SSIM,
                       MS-SSIM, diversity MS-SSIM, precision / recall, density / coverage, s / image
    js_table           the SpeckleGAN paper's Table 1: rows = methods, columns = classes
    speckle_table      speckle statistics and gCNR per set and class (targets: the reference row)
    segmentation_table Dice and HD95 per trained network and class, mean [95 % interval] over seeds

Every feature-based column names its backbone, e.g. `FID [texture-v1]`: one results file has one
backbone, so a weights-free backbone's numbers never share a table with Inception-based ones.
"""

from __future__ import annotations

import dataclasses
import html
import math

import xarray as xr

from compare import results
from compare.segmentation import intervals, store

MISSING = "–"  # an en dash for NaN: a metric these sets cannot give (the notes say why)


@dataclasses.dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""

    def to_html(self, level: int = 3) -> str:
        """`level`: the heading level of the title (3 in a one-comparison report, 4 under a comparison's own)."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        caption = f'<p class="caption">{html.escape(self.caption)}</p>' if self.caption else ""
        return f"<h{level}>{html.escape(self.title)}</h{level}><table><thead><tr>{head}</tr></thead><tbody>{body}" \
               f"</tbody></table>{caption}"

    def to_markdown(self, level: int = 3) -> str:
        def line(cells):
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
        lines = [f"{'#' * level} {self.title}", "", line(self.header), line(["---"] * len(self.header))]
        lines += [line(row) for row in self.rows]
        if self.caption:
            lines += ["", self.caption]
        return "\n".join(lines)


def fmt(value, digits: int = 4) -> str:
    """A number with `digits` significant digits; NaN as a dash."""
    value = float(value)
    return MISSING if not math.isfinite(value) else f"{value:.{digits}g}"


def pair(a, b, separator: str = " / ") -> str:
    if not math.isfinite(float(a)) and not math.isfinite(float(b)):
        return MISSING
    return f"{fmt(a)}{separator}{fmt(b)}"


def _value(ds: xr.Dataset, method: str, metric: str) -> float:
    return float(ds["value"].sel({"method": method, "metric": metric}))


def realism_table(ds: xr.Dataset) -> Table:
    backbone = ds.attrs["backbone"]

    def feature(metric: str) -> str:
        return results.feature_label(metric, backbone)
    header = ["Method", f"FID [{backbone}]", f"KID [{backbone}] (mean ± std)", "SSIM", "MS-SSIM",
              "diversity MS-SSIM", f"precision / recall [{backbone}]", f"density / coverage [{backbone}]",
              "seconds / image"]
    rows = []
    for method in ds["method"].values.tolist():
        v = {m: _value(ds, method, m) for m in ds["metric"].values.tolist()}
        rows.append([method, fmt(v[feature("fid")]), pair(v[feature("kid_mean")], v[feature("kid_std")], " ± "),
                     fmt(v["ssim"]), fmt(v["ms_ssim"]), fmt(v["diversity_ms_ssim"]),
                     pair(v[feature("precision")], v[feature("recall")]),
                     pair(v[feature("density")], v[feature("coverage")]), fmt(v["seconds_per_image"])])
    reference = ds.attrs.get("reference", "reference")
    caption = (f"Rows: methods; {reference} is the reference the others are measured against (its own row gives "
               f"its diversity and cost). FID, KID, precision/recall and density/coverage on the {backbone} "
               f"backbone's features; SSIM and MS-SSIM between images made from the same mask; diversity MS-SSIM "
               f"over random pairs of one set (lower = more diverse).")
    if not int(ds.attrs.get("backbone_is_inception", 0)):
        caption += (f" {backbone} is a weights-free backbone: its numbers are comparable only with other {backbone} "
                    f"numbers, never with published (Inception) FID or KID.")
    return Table("Realism and cost (as the PGSgan paper's Table 1)", header, rows, caption)


def sets_table(ds: xr.Dataset) -> Table:
    rows = []
    for method in ds["method"].values.tolist():
        at = ds.sel({"method": method})
        rows.append([method, str(at["role"].values), str(at["file"].values), str(at["image_size"].values),
                     fmt(_value(ds, method, "n_images")), fmt(_value(ds, method, "n_timed")),
                     fmt(_value(ds, method, "n_pairs")), str(at["speckle_source"].values)])
    return Table("Image sets", ["Method", "role", "file", "size (px)", "images", "timed images",
                                "pairs with the reference", "speckle measured on"], rows)


def js_table(ds: xr.Dataset) -> Table:
    classes = ds["class"].values.tolist()
    js = ds["class_value"].sel({"class_metric": "js"})
    rows = [[method] + [fmt(js.sel({"method": method, "class": c})) for c in classes]
            for method, role in zip(ds["method"].values.tolist(), ds["role"].values.tolist(), strict=True)
            if role != "reference"]
    return Table("Per-class JS divergence (as the SpeckleGAN paper's Table 1)", ["Method", *classes], rows,
                 "Jensen–Shannon divergence (base 2, 0 = identical, 1 = disjoint) between the 256-bin gray-value "
                 "histograms of each class, method against the reference.")


SPECKLE_COLUMNS = (("pixel_fraction", "pixel fraction"), ("speckle_mean_over_std", "mean / std"),
                   ("speckle_nakagami_m", "Nakagami m"), ("speckle_log_std_db", "std log (dB)"),
                   ("gcnr", "gCNR vs class 0"))


def speckle_table(ds: xr.Dataset) -> Table:
    rows = []
    for method in ds["method"].values.tolist():
        for c in ds["class"].values.tolist():
            at = ds["class_value"].sel({"method": method, "class": c})
            rows.append([method, c, *(fmt(at.sel({"class_metric": key})) for key, _ in SPECKLE_COLUMNS)])
    return Table("Speckle statistics and gCNR per class", ["Method", "class", *(title for _, title in SPECKLE_COLUMNS)],
                 rows, "Fully developed speckle of a linear envelope: mean / std 1.913, Nakagami m 1, std of the "
                       "log envelope 5.57 dB (display gray values, used where a set stores no envelope, do not "
                       "follow these targets; see the 'speckle measured on' column above).")


def interval(at: xr.DataArray, metric: str, signed: bool = False) -> str:
    """'mean [low, high]' of one segmentation metric (3 significant digits), a dash when NaN."""
    mean, low, high = (float(at.sel({"seg_metric": f"{metric}{part}"})) for part in ("", "_low", "_high"))
    if not math.isfinite(mean):
        return MISSING
    sign = "+" if signed else ""
    return f"{mean:{sign}.3g} [{low:{sign}.3g}, {high:{sign}.3g}]" if math.isfinite(low) else f"{mean:{sign}.3g} [–]"


def segmentation_table(ds: xr.Dataset) -> Table:
    """Rows: every trained network (real-only per n, per method synthetic-only and fine-tuned per n);
    per foreground class: Dice and HD95, mean [95 % interval] over seeds and test images, and the
    paired difference from real-only at the same n with its verdict."""
    store.check_layout(ds)
    seg = ds["segmentation"]
    classes = ds["seg_class"].values.tolist()[1:]  # DECISION: class 0, the background, as the papers leave it out
    header = ["Training", "real images", "synthetic images"]
    for c in classes:
        header += [f"Dice {c}", f"HD95 {c} (px)", f"Dice {c} vs real-only", f"HD95 {c} vs real-only"]
    rows = []
    for method in ds["seg_method"].values.tolist():
        for n in [int(n) for n in ds["n_real"].values]:
            if not store.protocol(method, n):
                continue
            used = int(ds["seg_n_pretrain"].sel({"seg_method": method}))
            row = [store.row_name(method, n), str(n), str(used)]
            for c in classes:
                at = seg.sel({"seg_method": method, "n_real": n, "seg_class": c})
                row += [interval(at, "dice"), interval(at, "hd95")]
                for score in ("dice", "hd95"):
                    difference = interval(at, f"{score}{store.VS}", signed=True)
                    if difference != MISSING:
                        low, high = (float(at.sel({"seg_metric": f"{score}{store.VS}{p}"})) for p in ("_low", "_high"))
                        difference += " " + intervals.verdict(low, high, store.HIGHER_IS_BETTER[score])
                    row.append(difference)
            rows.append(row)
    p = store.parameters_of(ds)
    return Table("Segmentation utility (both papers)", header, rows,
                 f"A U-Net (MONAI) trained on n real images only, on a method's synthetic images only, or pretrained "
                 f"on them and fine-tuned on the same n real images; Dice (higher is better) and HD95 (lower is "
                 f"better, pixels of the test labels) on the {p.get('n_test')} real test images, mean over "
                 f"{len(p.get('seeds', []))} training seeds [95 % interval over seeds and test images]. 'vs real-only': "
                 f"the paired difference from real-only at the same n; a row is better or worse only when that "
                 f"interval excludes 0, otherwise it is not resolved at this sample size.")

