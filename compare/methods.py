"""What each method of a comparison states about itself, as the results file's per-method columns:
its files (one per training seed), what it saw of the reference (condition), how its seconds were
measured (timing), and the labels the report and the dashboard show for them.

Conditions (ussim.imageset): `mask` (label mask only), `mask+sketch`, `mask+image`, with the side
information's source: `reference` (taken from the held-out image the set is scored against) or
`other`. DECISION: a set that states no condition (written before conditions were recorded) is
`not stated`, never assumed mask-only; the reference row is `reference`.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from compare.sets import ImageSet
from ganlab.diversity import COLLAPSE_MS_SSIM
from ussim import imageset
from ussim.errors import UsageError

NOT_STATED = "not stated"
# Order of condition groups in every table: mask-only first, then side information from other
# images, then side information taken from the reference itself (marked), then unknown.
GROUP_ORDER = ("mask", "mask+sketch:other", "mask+image:other", "mask+sketch:reference", "mask+image:reference",
               NOT_STATED)
FROM_REFERENCE_MARK = "†"
# A method whose images collapsed (one image whatever the mask: ganlab.diversity) carries this flag
# beside its name everywhere and is ranked in no verdict (compare.verdicts).
COLLAPSED = "collapsed"
NOT_MEASURED = "not measured"
COLLAPSE_FLAG = "[COLLAPSED]"
# The per-method columns that say how seconds were measured, and their short titles.
TIMING_COLUMNS = (("timing_device", "device"), ("timing_batch_size", "batch"), ("timing_threads", "threads"),
                  ("timing_clock", "clock"), ("timing_warmup", "warm-up"))


def condition_key(condition: str, source: str) -> str:
    """`mask`, `mask+sketch:reference`, ...: the group a method belongs to."""
    if condition in ("reference", NOT_STATED) or condition == "mask":
        return condition
    return f"{condition}:{source}"


def condition_label(condition: str, source: str) -> str:
    """What the method saw, in words, with the mark of side information taken from the reference."""
    if condition == "reference":
        return "(reference)"
    if condition == NOT_STATED:
        return NOT_STATED
    if condition == "mask":
        return "mask only"
    seen = condition.replace("mask+", "mask + ")
    if source == "reference":
        return f"{seen} of the reference image {FROM_REFERENCE_MARK}"
    return f"{seen} of another image"


def fed_from_reference(condition: str, source: str) -> bool:
    return condition not in ("mask", "reference", NOT_STATED) and source == "reference"


def _condition(s: ImageSet) -> dict:
    found = imageset.condition_of(s.ds)
    return found or {"condition": NOT_STATED, "source": NOT_STATED,
                     "detail": "the image set does not say what its producer saw"}


def _timing(s: ImageSet) -> dict:
    found = imageset.timing_of(s.ds) or {}
    warm = found.get("warmup_excluded")
    return {"timing_device": str(found.get("device", NOT_STATED)),
            "timing_batch_size": str(found.get("batch_size", NOT_STATED)),
            "timing_threads": str(found.get("threads", NOT_STATED)),
            "timing_clock": str(found.get("clock", NOT_STATED)),
            "timing_warmup": NOT_STATED if warm is None else ("excluded" if warm else "included")}


def training_seed(s: ImageSet) -> str:
    """The training seed a generated set's model was trained with (ganlab records its config), else '–'."""
    config = imageset.params_of(s.ds).get("config")
    return str(config["seed"]) if isinstance(config, dict) and "seed" in config else "–"


def collapse_columns(sets: list[ImageSet], measured, threshold: float) -> dict:
    """`collapse`: "collapsed" when any of the method's sets (one per training seed) has a mean diversity
    MS-SSIM >= threshold, "no" when every set was measured below it, else "not measured";
    `collapse_detail`: each set's diversity, in words."""
    means = [None if measured[s.path].diversity is None else float(np.mean(measured[s.path].diversity)) for s in sets]
    seeds = [training_seed(s) for s in sets]
    detail = "; ".join(f"{'set' if seed == '–' else 'seed ' + seed}: {'–' if m is None else f'{m:.3f}'}"
                       for seed, m in zip(seeds, means, strict=True))
    if any(m is not None and m >= threshold for m in means):
        state = COLLAPSED
    elif all(m is not None for m in means):
        state = "no"
    else:
        state = NOT_MEASURED
    return {"collapse": state, "collapse_detail": f"diversity MS-SSIM {detail} (collapse at >= {threshold:g})"}


def method_columns(reference: ImageSet, methods: dict[str, list[ImageSet]], reference_data, measured,
                   collapse_threshold: float = COLLAPSE_MS_SSIM) -> dict:
    """The per-method coordinates of the results Dataset (reference first)."""
    columns: dict[str, list[str]] = {}

    def add(**values):
        for key, value in values.items():
            columns.setdefault(key, []).append(str(value))

    rows = [("reference", [reference])] + [("candidate", seeds) for seeds in methods.values()]
    for role, sets in rows:
        first = sets[0]
        condition = {"condition": "reference", "source": "none", "detail": "the held-out images every method is "
                     "scored against"} if role == "reference" else _condition(first)
        add(role=role, file=first.path.absolute(), files=json.dumps([str(s.path.absolute()) for s in sets]),
            n_sets=len(sets), training_seeds=",".join(training_seed(s) for s in sets),
            image_size=f"{first.size[0]}x{first.size[1]}",
            has_envelope=int(measured[first.path].stats.envelope is not None),
            condition=condition["condition"], condition_source=condition["source"],
            condition_detail=condition["detail"], **_timing(first),
            **collapse_columns(sets, measured, collapse_threshold))
    return columns


def describe(name: str, seeds: list[ImageSet]) -> list[str]:
    """Notes on a method's sets: refuses sets of one method that saw different things; says when
    their timing was measured differently."""
    stated = sorted({f"{c['condition']} (source {c['source']})" for c in map(_condition, seeds)})
    if len(stated) > 1:
        raise UsageError(f"method {name}: its image sets state different conditions ({'; '.join(stated)}): "
                         f"give them as separate methods")
    notes = []
    if len({json.dumps(_timing(s), sort_keys=True) for s in seeds}) > 1:
        notes.append(f"{name}: its image sets were timed on different devices, batch sizes or threads; the "
                     f"columns show the first set's")
    if len(seeds) > 1:
        notes.append(f"{name}: {len(seeds)} image sets (training seeds {', '.join(training_seed(s) for s in seeds)}): "
                     f"values are means over them, intervals a two-level bootstrap over seeds and images")
    return notes


# What a results file says of its methods (for the report, the verdicts and the dashboard).

def ordered(ds: xr.Dataset, candidates_only: bool = False) -> list[str]:
    """The reference first, then the methods grouped by what they saw (methods.GROUP_ORDER), in file order
    within a group."""
    rows = []
    for method, role in zip(ds["method"].values.tolist(), ds["role"].values.tolist(), strict=True):
        if role == "reference":
            if not candidates_only:
                rows.append((-1, method))
            continue
        key = condition_key(*condition_of(ds, method))
        rows.append((GROUP_ORDER.index(key) if key in GROUP_ORDER else len(
            GROUP_ORDER), method))
    return [method for _, method in sorted(rows, key=lambda r: r[0])]


def condition_of(ds: xr.Dataset, method: str) -> tuple[str, str]:
    """(condition, source) of a method; results files without them say 'not stated'."""
    at = ds.sel({"method": method})
    if "condition" not in ds.coords:
        return ("reference", "none") if str(at["role"].values) == "reference" else (NOT_STATED,) * 2
    return str(at["condition"].values), str(at["condition_source"].values)


def collapsed(ds: xr.Dataset, method: str) -> bool:
    """Whether the method's images collapsed (results files without the column: never flagged)."""
    return "collapse" in ds.coords and str(ds.sel({"method": method})["collapse"].values) == COLLAPSED


def marked(ds: xr.Dataset, method: str) -> str:
    """The method's name, with † when it saw side information taken from the reference image, and the
    collapse flag when its images collapsed."""
    return method + (f" {FROM_REFERENCE_MARK}" if fed_from_reference(
        *condition_of(ds, method)) else "") + (f" {COLLAPSE_FLAG}" if collapsed(ds, method) else "")


def labelled(ds: xr.Dataset, method: str) -> str:
    """Name, mark and condition in one short label, for chart axes and legends: `sgan † [mask+sketch,
    reference]`, `cgan [mask]`."""
    condition, source = condition_of(ds, method)
    if condition == "reference":
        return method
    shown = condition if condition in ("mask", NOT_STATED) else f"{condition}, {source}"
    return f"{marked(ds, method)} [{shown}]"


def sees(ds: xr.Dataset, method: str) -> str:
    return condition_label(*condition_of(ds, method))


MARK_CAPTION = (f"{FROM_REFERENCE_MARK}: the method saw side information taken from the very reference "
                f"image it is scored against (e.g. its edge sketch): its numbers measure reconstruction from a hint, "
                f"not synthesis from the mask, and are not comparable with mask-only rows.")
