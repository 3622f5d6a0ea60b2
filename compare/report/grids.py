"""Image grids for the report: one row per mask - the mask, the real image, each method's image made
from that mask (paired as SSIM pairs them, compare.pairing).

The results file records where each set was read from (coordinate `file`). A set is looked for
in --sets-dir (by file name) first, then at the recorded path, then beside the results file; a set
found nowhere is refused with one line naming it (the grids cannot be drawn without it; --no-grids
writes the report without them). DECISION: rows are masks that every method has an image of,
spread evenly over the reference set's order, so the grid is the same on every run; when no mask
is shared by all, the masks shared by most methods are used, and a missing image is a blank cell.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from pathlib import Path

import numpy as np
import xarray as xr
from PIL import Image

from compare import pairing
from compare.methods import marked
from compare.sets import ImageSet, close, open_sets, unite_classes
from ussim.errors import UsageError

# DECISION: class 0 black (background), then a colour-blind-safe qualitative palette (Okabe-Ito).
PALETTE = np.array([(0, 0, 0), (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
                    (213, 94, 0), (204, 121, 167), (153, 153, 153), (255, 255, 255)], np.uint8)
GAP = 4  # white pixels between montage cells


@dataclasses.dataclass
class Grid:
    columns: list[str]                      # "mask", then the reference's name, then each method's
    row_ids: list[str]                      # the reference sample id of each row
    cells: list[list[np.ndarray | None]]    # uint8 (h, w) gray or (h, w, 3) colour; None: no such image
    classes: list[str]
    notices: list[str]


def locate(recorded: str, sets_dir: Path | None, results_dir: Path, method: str) -> Path:
    recorded_path = Path(recorded)
    candidates = ([sets_dir / recorded_path.name] if sets_dir else []) + [recorded_path,
                                                                          results_dir / recorded_path.name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = f"--sets-dir {sets_dir}" if sets_dir else "the recorded path or beside the results file"
    raise UsageError(f"image set of {method} not found ({recorded_path.name} is not in {where}); the image grids "
                     f"need it: pass --sets-dir DIR holding {recorded_path.name}, or --no-grids")


def colour_mask(label: np.ndarray) -> np.ndarray:
    return PALETTE[label % len(PALETTE)]


def class_colour(k: int) -> str:
    """The mask colour of class `k` as #rrggbb."""
    return "#" + "".join(f"{int(v):02x}" for v in PALETTE[k % len(PALETTE)])


def build(ds: xr.Dataset, results_path: Path, sets_dir: Path | None = None, rows: int = 4) -> Grid | None:
    """The grid of the run in `ds`, reading its image sets; None when no method is paired to a mask."""
    methods = ds["method"].values.tolist()
    paths = [locate(str(f), sets_dir, results_path.parent, m)
             for m, f in zip(methods, ds["file"].values.tolist(), strict=True)]
    sets = open_sets((methods[0], paths[0]), list(zip(methods[1:], paths[1:], strict=True)))
    try:
        classes, _ = unite_classes(sets)
        measured = {s.name: int(ds["value"].sel({"method": s.name, "metric": "n_images"})) for s in sets}
        notices = [f"{s.name}: {s.path} now holds {s.n} images, the run measured {measured[s.name]}: the file "
                   f"changed since the run" for s in sets if s.n != measured[s.name]]
        by_reference = []  # per method: reference index -> the method's first image made from that mask
        for s in sets[1:]:
            mapping: dict[int, int] = {}
            for i, j in pairing.find_pairs(sets[0], s):
                mapping.setdefault(i, j)
            by_reference.append(mapping)
        chosen = choose_rows(sets[0].n, by_reference, rows)
        if not chosen:
            return None
        cells = [row_cells(sets, by_reference, i) for i in chosen]
        ids = [str(sets[0].ds["sample_id"].values[i]) for i in chosen]
        # each method's column says what it saw: † when the reference image itself fed it
        return Grid(["mask", *(marked(ds, m) for m in methods)], ids, cells, classes, notices)
    finally:
        close(sets)


def choose_rows(n_reference: int, by_reference: list[dict[int, int]], rows: int) -> list[int]:
    coverage = np.zeros(n_reference, int)
    for mapping in by_reference:
        coverage[list(mapping)] += 1
    if rows < 1 or coverage.max(initial=0) == 0:
        return []
    best = np.flatnonzero(coverage == coverage.max())
    if len(best) >= rows:
        return sorted({int(best[k]) for k in np.linspace(0, len(best) - 1, rows).round().astype(int)})
    order = sorted(np.flatnonzero(coverage > 0), key=lambda i: (-coverage[i], i))
    return sorted(int(i) for i in order[:rows])


def row_cells(sets: list[ImageSet], by_reference: list[dict[int, int]], i: int) -> list[np.ndarray | None]:
    reference = sets[0]
    cells = [colour_mask(reference.labels([i])[0]), np.asarray(reference.ds["image"][i].values)]
    for s, mapping in zip(sets[1:], by_reference, strict=True):
        cells.append(np.asarray(s.ds["image"][mapping[i]].values) if i in mapping else None)
    return cells


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")  # no metadata is added
    return buffer.getvalue()


def data_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def montage(grid: Grid) -> np.ndarray:
    """All cells in one RGB image (cells scaled to the first cell's size, blank cells light gray)."""
    height, width = grid.cells[0][0].shape[:2]
    n_rows, n_cols = len(grid.cells), len(grid.columns)
    out = np.full((n_rows * (height + GAP) - GAP, n_cols * (width + GAP) - GAP, 3), 255, np.uint8)
    for r, row in enumerate(grid.cells):
        for c, cell in enumerate(row):
            tile = np.full((height, width, 3), 220, np.uint8) if cell is None else fit(cell, height, width)
            out[r * (height + GAP):r * (height + GAP) + height, c * (width + GAP):c * (width + GAP) + width] = tile
    return out


def fit(cell: np.ndarray, height: int, width: int) -> np.ndarray:
    image = Image.fromarray(cell if cell.ndim == 3 else np.stack([cell] * 3, axis=-1))
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image)
