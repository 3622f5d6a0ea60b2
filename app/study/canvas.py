"""The one canvas every study image is shown on: the organ's field of view, one outside fill.

Real frames carry what no synthetic image has outside the scanner's field of view (scanner text,
calipers, a black or constant-fill surround, a catheter ring), and synthetic images fill corners
that a scanner leaves empty. A reader could decide from the corners alone. So every case, real or
synthetic, is cut to the same mask (the organ's sector or circle, fitted from the real set by
bench/fit_display.py and kept in data/organs/<organ>.toml) and everything outside it is set to one
gray level. The rules: ../shared/ARCHITECTURE.md, "Reader study rules".
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from ussim import display, phantom, presets, tissue
from ussim.errors import UsageError

FIELDS_OF_VIEW = ("organ", "full")
# DECISION: the field of view is shrunk by 2 % of the image's shorter side (5 px at 256 px): the
# fitted sector matches the real frames' median content with IoU 0.95 only, so a real frame's own
# edge (a dark wedge, the scan-conversion seam) or the IVUS catheter's ring can lie just inside the
# fitted mask; a margin keeps these edges, which differ between real and synthetic images, out.
MARGIN_FRACTION = 0.02
# DECISION: a real convex-probe frame whose own sector is narrower than the fitted one shows a black
# wedge inside the canvas along its side or bottom edge (2 of the demo's 10 held-out ovary frames:
# 3.5 and 4.2 % of the canvas); no synthetic image has one. So a sector canvas is trimmed, once per
# study and for every case alike, by each real case's regions of exactly the fill that touch the
# canvas's outer edge (not the probe face). Exactly: the scanner's surround is exactly 0 in the
# archive, while dark anatomy is noisy; allowing 2 gray levels also cut a fluid pocket touching the
# side from every case (demo's 10 held-out ovary frames: 8.4 % of the canvas cut at 0 levels, 9.3 %
# at 2).
TRIM_GRAY_LEVELS = 0


@dataclasses.dataclass(frozen=True)
class Canvas:
    """Where a study image shows echoes (`inside`) and the single gray everything else takes."""
    field_of_view: str      # "organ" (the organ's sector or circle) or "full" (the whole square)
    organ: str | None
    shape: tuple[int, int]
    fill: int
    margin_px: int
    inside: np.ndarray       # bool (rows, columns)
    fov: str = "full"        # the organ's field-of-view shape: "sector", "circle", or "full"
    outer_edge: np.ndarray | None = None  # bool: the inside's border away from the probe face / catheter
    trimmed_pixels: int = 0  # taken off by `trimmed_to` (a real case's own narrower sector)

    def apply(self, image) -> np.ndarray:
        """The image on this canvas: its pixels inside the field of view, `fill` outside."""
        pixels = np.asarray(image)
        if pixels.shape != self.shape:
            raise UsageError(f"image is {pixels.shape[0]}x{pixels.shape[1]}, the study's canvas "
                             f"{self.shape[0]}x{self.shape[1]}")
        return np.where(self.inside, pixels, np.uint8(self.fill)).astype(np.uint8)

    def as_dict(self) -> dict:
        """The display settings of the study's design record (the mask is rebuilt from them)."""
        return {"field_of_view": self.field_of_view, "organ": self.organ, "fov": self.fov, "shape": list(self.shape),
                "fill": self.fill, "margin_px": self.margin_px, "margin_fraction": MARGIN_FRACTION,
                "trimmed_pixels": self.trimmed_pixels, "trim_gray_levels": TRIM_GRAY_LEVELS,
                "inside_pixels": int(self.inside.sum())}

    def trimmed_to(self, real_images) -> Canvas:
        """A sector canvas without the real cases' own outside: every region of a real image at the
        fill gray that touches the canvas's outer edge is taken off the canvas (for every case alike).
        Other canvases are returned as they are."""
        if self.fov != "sector" or self.outer_edge is None:
            return self
        outside_of_real = np.zeros(self.shape, bool)
        for image in real_images:
            dark = (np.abs(np.asarray(image, float) - self.fill) <= TRIM_GRAY_LEVELS) & self.inside
            regions, _ = ndimage.label(dark, structure=np.ones((3, 3)))
            touching = np.unique(regions[self.outer_edge & dark])
            outside_of_real |= np.isin(regions, touching[touching > 0])
        inside = self.inside & ~outside_of_real
        if not inside.any():
            raise UsageError("the real images show nothing inside the organ's field of view; check the real set")
        return dataclasses.replace(self, inside=inside, trimmed_pixels=int(outside_of_real.sum()))


def canvas_for(field_of_view: str, organ: str | None, shape: tuple[int, int]) -> Canvas:
    """The canvas of a study: `organ` takes the organ's fitted field of view (ussim.display) and
    outside fill; `full` shows the whole square (only for sets with no scanner field of view,
    such as toy phantoms). One UsageError line for anything else."""
    shape = (int(shape[0]), int(shape[1]))
    if field_of_view == "full":
        return Canvas("full", organ, shape, 0, 0, np.ones(shape, bool))
    if field_of_view != "organ":
        raise UsageError(f"field of view {field_of_view!r} not allowed; use one of {', '.join(FIELDS_OF_VIEW)}")
    known = presets.names("organs")
    if organ not in known:
        raise UsageError(f"the real set's organ {organ!r} has no fitted field of view (organ tables: "
                         f"{', '.join(known)}); use field of view 'full' for sets without a scanner's field of view")
    grid = phantom.display_grid(tissue.load(organ), shape)
    chain = _geometry(organ)
    margin = max(1, round(MARGIN_FRACTION * min(shape)))
    inside = ndimage.binary_erosion(display.field_of_view(grid, chain), iterations=margin, border_value=0)
    if not inside.any():
        raise UsageError(f"{shape[0]}x{shape[1]} px leaves nothing of the {organ} field of view; use larger images")
    # The outer edge: the inside's border pixels more than 1 mm beyond the probe face / catheter.
    x_mm, z_mm = np.meshgrid(np.asarray(grid.x) * 1e3, np.asarray(grid.z) * 1e3)
    radius = np.hypot(x_mm, z_mm - (chain.apex_z_mm if chain.fov == "sector" else 0.0))
    outer_edge = inside & ~ndimage.binary_erosion(inside, border_value=0) & (radius > chain.inner_radius_mm + 1.0)
    # DECISION: the fill is the console's own outside gray (data/organs/<organ>.toml,
    # [display_chain] outside_gray: ovary 0, IVUS 30), so real frames keep their look.
    return Canvas("organ", organ, shape, int(round(chain.outside_gray)), margin, inside, chain.fov, outer_edge)


def _geometry(organ: str) -> display.DisplayChain:
    """The organ's field-of-view geometry ([display]) and outside fill ([display_chain] outside_gray).
    DECISION: only these two matter to the study's canvas, so the rest of the display chain (the
    gray map, TGC), which the simulator's fits rewrite, is neither read nor validated here: a study
    of images made earlier must not depend on today's gray map. The placeholder gray map below is
    never used."""
    table = presets.read("organs", organ, "organ")
    geometry = {key: table.get("display", {})[key] for key in ("fov", "apex_z_mm", "inner_radius_mm",
                                                               "outer_radius_mm", "half_angle_deg")
                if key in table.get("display", {})}
    if "fov" not in geometry:
        raise UsageError(f"organ table {organ} has no fitted field of view ([display] fov); use field of view 'full'")
    fill = float(table.get("display_chain", {}).get("outside_gray", 0.0))
    if not 0 <= fill <= 255:
        raise UsageError(f"organ table {organ}: outside_gray {fill:g} (a gray level must lie within 0..255)")
    return display.DisplayChain(**geometry, knots_db=(0.0, 1.0), knots_gray=(0.0, 1.0), outside_gray=fill)
