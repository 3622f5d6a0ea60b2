"""The report's tables, built once as strings and rendered both as HTML and as Markdown, so the two
documents hold exactly the same numbers.

    sets_table         the image sets: what each method saw of the reference, files, seeds, counts
    realism_table      the PGSgan paper's Table 1: rows = methods; FID, KID, FRD, SSIM, MS-SSIM,
                       diversity MS-SSIM, precision / recall, density / coverage
    timing_table       seconds per image with the device, batch size, threads, clock and warm-up
    js_table           the SpeckleGAN paper's Table 1: rows = methods, columns = classes (and FRD
                       per class region when computed)
    gray_table         display gray-level statistics and gCNR per set and class (every set)
    envelope_table     envelope statistics per class, only for sets that store a linear envelope
    segmentation_table Dice and HD95 per trained network and class, mean [95 % interval] over seeds

Every number is shown with its 95 % interval, `value [low, high]` (compare.bootstrap); every
method with what it saw (compare.methods), its rows grouped by that, and a method fed from the
reference image itself marked †. No cell is highlighted as a winner: which differences the
intervals resolve is said in words (compare.verdicts). Every feature-based column names its
backbone, e.g. `FID [texture-v1]`, so a weights-free backbone's numbers never share a table with
Inception-based ones.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math

import xarray as xr

from compare import methods
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


def with_interval(value, low, high, digits: int = 4) -> str:
    """`value [low, high]`; the value alone when there is no interval; a dash for NaN."""
    if not math.isfinite(float(value)):
        return MISSING
    if not (math.isfinite(float(low)) and math.isfinite(float(high))):
        return fmt(value, digits)
    return f"{fmt(value, digits)} [{fmt(low, 3)}, {fmt(high, 3)}]"


def pair(a, b, separator: str = " / ") -> str:
    if not math.isfinite(float(a)) and not math.isfinite(float(b)):
        return MISSING
    return f"{fmt(a)}{separator}{fmt(b)}"


def _value(ds: xr.Dataset, method: str, metric: str) -> float:
    return float(ds["value"].sel({"method": method, "metric": metric}))


def cell(ds: xr.Dataset, method: str, metric: str, class_name: str | None = None, digits: int = 4) -> str:
    """A metric of a method (a class metric when `class_name` is given) as `value [low, high]`."""
    if class_name is None:
        value = _value(ds, method, metric)
    else:
        value = float(ds["class_value"].sel({"method": method, "class_metric": metric, "class": class_name}))
    return with_interval(value, *results.interval_of(ds, method, metric, class_name), digits=digits)


INTERVAL_CAPTION = ("Each cell: value [95 % interval] (bootstrap over the held-out images, paired where the metric is, "
                    "and over training seeds where a method has several); which differences are resolved is said "
                    "under 'What the intervals resolve'.")


def realism_table(ds: xr.Dataset) -> Table:
    backbone = ds.attrs["backbone"]

    def feature(metric: str) -> str:
        return results.feature_label(metric, backbone)
    with_frd = int(ds.attrs.get("frd_computed", 0))
    header = ["Method", "sees", f"FID [{backbone}]", f"KID [{backbone}]", *(["FRD v1"] if with_frd else []),
              "SSIM", "MS-SSIM", "diversity MS-SSIM", f"precision [{backbone}]", f"recall [{backbone}]",
              f"density [{backbone}]", f"coverage [{backbone}]"]
    rows = []
    for method in methods.ordered(ds):
        rows.append([methods.marked(ds, method), methods.sees(ds, method), cell(ds, method, feature("fid")),
                     cell(ds, method, feature("kid_mean")), *([cell(ds, method, "frd")] if with_frd else []),
                     cell(ds, method, "ssim"), cell(ds, method, "ms_ssim"), cell(ds, method, "diversity_ms_ssim"),
                     *(cell(ds, method, feature(m)) for m in ("precision", "recall", "density", "coverage"))])
    reference = ds.attrs.get("reference", "reference")
    caption = (f"Rows: methods, grouped by what they saw of the reference; {reference} is the reference the others are "
               f"measured against (its own row gives its diversity). FID, KID, precision/recall and density/coverage "
               f"on the {backbone} backbone's features"
               + ("; FRD v1 on radiomic features of the whole image" if with_frd else "")
               + "; SSIM and MS-SSIM between images made from the same mask; diversity MS-SSIM over random pairs of "
               f"one set (lower = more diverse). KID is the mean over subsets (its subset spread, where subsets "
               f"differ, is in the results file as kid_std). {INTERVAL_CAPTION} {methods.MARK_CAPTION}")
    if not int(ds.attrs.get("backbone_is_inception", 0)):
        caption += (f" {backbone} is a weights-free backbone: its numbers are comparable only with other {backbone} "
                    f"numbers, never with published (Inception) FID or KID.")
    return Table("Realism (as the PGSgan paper's Table 1)", header, rows, caption)


def sets_table(ds: xr.Dataset) -> Table:
    rows = []
    for method in methods.ordered(ds):
        at = ds.sel({"method": method})
        files = ", ".join(json.loads(str(at["files"].values))) if "files" in ds.coords else str(at["file"].values)
        detail = str(at["condition_detail"].values) if "condition_detail" in ds.coords else methods.NOT_STATED
        rows.append([methods.marked(ds, method), str(at["role"].values), methods.sees(ds, method), detail, files,
                     str(at["training_seeds"].values) if "training_seeds" in ds.coords else "–",
                     str(at["image_size"].values), fmt(_value(ds, method, "n_images")),
                     fmt(_value(ds, method, "n_pairs")),
                     "yes" if "has_envelope" in ds.coords and str(at["has_envelope"].values) == "1" else "no"])
    return Table("Image sets and what each method saw", ["Method", "role", "sees", "what exactly", "file(s)",
                                                         "training seeds", "size (px)", "images per set",
                                                         "pairs with the reference", "envelope stored"], rows,
                 methods.MARK_CAPTION)


def timing_table(ds: xr.Dataset) -> Table:
    rows = []
    for method in methods.ordered(ds, candidates_only=True):
        at = ds.sel({"method": method})
        stated = [str(at[key].values) if key in ds.coords else methods.NOT_STATED for key, _ in methods.TIMING_COLUMNS]
        rows.append([methods.marked(ds, method), cell(ds, method, "seconds_per_image"),
                     fmt(_value(ds, method, "n_timed")), *stated])
    return Table("Cost: seconds per image", ["Method", "seconds / image", "timed images",
                                             *(title for _, title in methods.TIMING_COLUMNS)], rows,
                 "Seconds per generated image as each producer measured it, on the device that ran (not the one "
                 "asked for), at the stated batch size and threads; 'warm-up excluded' means the producer's first "
                 "call (loading, compilation, tables) was run before timing and not counted. Only rows with the same "
                 "device and clock compare directly. Training time is not included.")


def js_table(ds: xr.Dataset) -> Table:
    classes = ds["class"].values.tolist()
    rows = [[methods.marked(ds, method), methods.sees(ds, method), *(cell(ds, method, "js", c, 3) for c in classes)]
            for method in methods.ordered(ds, candidates_only=True)]
    return Table("Per-class JS divergence (as the SpeckleGAN paper's Table 1)", ["Method", "sees", *classes], rows,
                 "Jensen–Shannon divergence (base 2, 0 = identical, 1 = disjoint) between the 256-bin gray-value "
                 f"histograms of each class, method against the reference. {INTERVAL_CAPTION}")


def class_frd_table(ds: xr.Dataset) -> Table | None:
    if not int(ds.attrs.get("frd_computed", 0)):
        return None
    classes = ds["class"].values.tolist()
    rows = [[methods.marked(ds, method), methods.sees(ds, method), cell(ds, method, "frd"),
             *(cell(ds, method, "frd", c) for c in classes)] for method in methods.ordered(ds, candidates_only=True)]
    return Table("FRD v1 per class region", ["Method", "sees", "whole image", *classes], rows,
                 "Fréchet Radiomics Distance (Konz, Osuala et al. 2026; frd-score) between radiomic features of each "
                 f"image's whole field and of each class region, method against the reference. {INTERVAL_CAPTION}")


def gray_table(ds: xr.Dataset) -> Table:
    rows = []
    for method in methods.ordered(ds):
        for c in ds["class"].values.tolist():
            rows.append([methods.marked(ds, method), c, fmt(ds["class_value"].sel(
                {"method": method, "class_metric": "pixel_fraction", "class": c}), 3),
                *(cell(ds, method, key, c, 3) for key in ("gray_mean", "gray_std", "gcnr"))])
    return Table("Display gray levels per class (every set)", ["Method", "class", "pixel fraction", "gray mean",
                                                                "gray std", "gCNR vs class 0"], rows,
                 "Statistics of the uint8 gray values a reader sees (after log compression and the display chain), "
                 "per image over class regions large enough, averaged over images: the same measurement for the "
                 "reference, real or not, and every method, ussim's display image included. gCNR: 0 = the class is "
                 f"indistinguishable from class 0, 1 = never overlaps. {INTERVAL_CAPTION}")


ENVELOPE_COLUMNS = (("envelope_mean_over_std", "mean / std"), ("envelope_nakagami_m", "Nakagami m"),
                    ("envelope_log_std_db", "std log envelope (dB)"))


def envelope_table(ds: xr.Dataset) -> Table | None:
    if "has_envelope" not in ds.coords:
        return None
    with_envelope = [m for m in methods.ordered(ds) if str(ds.sel({"method": m})["has_envelope"].values) == "1"]
    if not with_envelope:
        return None
    rows = [[methods.marked(ds, m), c, *(cell(ds, m, key, c, 3) for key, _ in ENVELOPE_COLUMNS)]
            for m in with_envelope for c in ds["class"].values.tolist()]
    return Table("Envelope statistics per class (sets that store a linear envelope)",
                 ["Method", "class", *(title for _, title in ENVELOPE_COLUMNS)], rows,
                 "Of the linear envelope before log compression, which only a simulator stores: fully developed "
                 "speckle has mean / std 1.913, Nakagami m 1 and a log-envelope std of 5.57 dB. Display images "
                 "(real scans, GANs) have no envelope and are not in this table: their gray values are in the table "
                 f"above. {INTERVAL_CAPTION}")


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
    header = ["Training", "synthetic set made from", "real images", "synthetic images"]
    for c in classes:
        header += [f"Dice {c}", f"HD95 {c} (px)", f"Dice {c} vs real-only", f"HD95 {c} vs real-only"]
    rows = []
    for method in ds["seg_method"].values.tolist():
        for n in [int(n) for n in ds["n_real"].values]:
            if not store.protocol(method, n):
                continue
            used = int(ds["seg_n_pretrain"].sel({"seg_method": method}))
            seen = (str(ds["seg_condition"].sel({"seg_method": method}).values) if "seg_condition" in ds.coords
                    else methods.NOT_STATED)
            row = [store.row_name(method, n), seen, str(n), str(used)]
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

