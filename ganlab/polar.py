"""Cartesian <-> polar resampling around the image centre, for IVUS speckle.

PAPER: SpeckleGAN, "Speckle layer" (coordinate transforms for IVUS): an IVUS frame is a radial scan around the catheter,
so its speckle follows the beam geometry: fine along each beam (range), coarse across beams,
and coarser across them the deeper they go. The speckle layer therefore draws its speckle on a
polar grid (rows = radius, columns = angle) and the result is resampled back to the Cartesian
image; a square window in the polar spectrum then gives grains of fixed size in (range, angle),
which is what a scan with a fixed angular beam width produces.

Both directions are `grid_sample` (bilinear), so gradients flow through them to the maps
before the layer. The sampling grids are computed once per size and kept as buffers.

DECISION: the catheter sits at the image centre ((H-1)/2, (W-1)/2 in pixel-centre units), as
in the real IVUS frames and the ussim IVUS phantoms.
DECISION: the polar grid spans the inscribed disc (radius min(H, W)/2 - 1/2), the field of
view of a radial scan: outside it the real frames hold a constant fill, and the Cartesian
image gets zeros there from this transform (the networks around it paint the fill from the
mask). Radii are sampled from 0 at the centre to the disc's edge inclusive.
DECISION: the polar grid has as many radii as the image has rows and as many angles as it
has columns (256 x 256 at 256 px, like the 256 A-lines of a common IVUS frame): the speckle
layer then costs the same in both coordinate systems, the radial step is 1/2 px and the
angular step is 2 pi/W (3.1 px at the disc's edge).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ussim.errors import UsageError

SMALLEST = 8  # px; a smaller image has no disc worth resampling


class PolarGrid(nn.Module):
    """Resamples (N, C, H, W) images to (N, C, n_radii, n_angles) polar maps and back."""

    def __init__(self, height: int, width: int, n_radii: int | None = None, n_angles: int | None = None):
        super().__init__()
        n_radii, n_angles = n_radii or height, n_angles or width
        for name, value in (("height", height), ("width", width), ("n_radii", n_radii), ("n_angles", n_angles)):
            if not isinstance(value, int) or value < SMALLEST:
                raise UsageError(f"polar grid {name} {value!r} not allowed: need a whole number >= {SMALLEST}")
        self.height, self.width, self.n_radii, self.n_angles = height, width, n_radii, n_angles
        cy, cx = (height - 1) / 2, (width - 1) / 2
        self.radius = min(cy, cx)  # px, the inscribed disc

        # Cartesian -> polar: where each (radius, angle) sample lies in the image.
        r = torch.linspace(0.0, self.radius, n_radii, dtype=torch.float64)[:, None]
        theta = (torch.arange(n_angles, dtype=torch.float64) * (2 * math.pi / n_angles))[None, :]
        x, y = cx + r * torch.cos(theta), cy + r * torch.sin(theta)
        to_polar = torch.stack([2 * x / (width - 1) - 1, 2 * y / (height - 1) - 1], dim=-1)

        # Polar -> Cartesian: where each pixel lies in the polar map. The map is padded with one
        # wrapped column on each side (angle 2 pi - step before 0, angle 2 pi after the last) so
        # that interpolation across the 0 / 2 pi seam sees both neighbours.
        yy, xx = torch.meshgrid(torch.arange(height, dtype=torch.float64) - cy,
                                torch.arange(width, dtype=torch.float64) - cx, indexing="ij")
        row = torch.hypot(yy, xx) / self.radius * (n_radii - 1)
        column = torch.remainder(torch.atan2(yy, xx), 2 * math.pi) / (2 * math.pi) * n_angles + 1
        to_cartesian = torch.stack([2 * column / (n_angles + 1) - 1, 2 * row / (n_radii - 1) - 1], dim=-1)

        # Buffers follow .to(device) but stay out of state dicts: they are a function of the size.
        self.register_buffer("grid_to_polar", to_polar[None].float(), persistent=False)
        self.register_buffer("grid_to_cartesian", to_cartesian[None].float(), persistent=False)

    def to_polar(self, image: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, n_radii, n_angles); row 0 is the centre, column 0 points along +x."""
        self._check(image, (self.height, self.width), "image")
        return _sample(image, self.grid_to_polar)

    def to_cartesian(self, polar: torch.Tensor) -> torch.Tensor:
        """(N, C, n_radii, n_angles) -> (N, C, H, W); zero outside the inscribed disc."""
        self._check(polar, (self.n_radii, self.n_angles), "polar map")
        wrapped = torch.cat([polar[..., -1:], polar, polar[..., :1]], dim=-1)
        return _sample(wrapped, self.grid_to_cartesian)

    def inside(self) -> torch.Tensor:
        """(H, W) bool: the pixels inside the inscribed disc, where a round trip keeps the image."""
        yy, xx = torch.meshgrid(torch.arange(self.height) - (self.height - 1) / 2,
                                torch.arange(self.width) - (self.width - 1) / 2, indexing="ij")
        return torch.hypot(yy, xx) <= self.radius

    @staticmethod
    def _check(x: torch.Tensor, shape: tuple[int, int], what: str) -> None:
        if x.dim() != 4 or tuple(x.shape[-2:]) != shape:
            raise ValueError(f"{what} of shape {tuple(x.shape)}; this polar grid takes (N, C, {shape[0]}, {shape[1]})")


def _sample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    grid = grid.to(x.dtype).expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
