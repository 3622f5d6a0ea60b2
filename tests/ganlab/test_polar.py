"""Cartesian <-> polar resampling for the IVUS speckle layer."""

import math

import pytest
import torch

from ganlab.polar import PolarGrid
from ussim.errors import UsageError


def smooth_image(n: int) -> torch.Tensor:
    """A Gaussian bump (sigma n/8) off centre plus a product of cosines (wavelengths n/2, n/1.6)."""
    yy, xx = torch.meshgrid(torch.arange(n) - (n - 1) / 2, torch.arange(n) - (n - 1) / 2, indexing="ij")
    bump = torch.exp(-((xx - n / 6) ** 2 + (yy + n / 10) ** 2) / (2 * (n / 8) ** 2))
    waves = 0.5 * torch.cos(2 * math.pi * xx / (n / 2)) * torch.sin(2 * math.pi * yy / (n / 1.6))
    return (bump + waves)[None, None]


def test_round_trip_keeps_a_smooth_image_inside_the_inscribed_disc():
    # Bound: bilinear resampling twice, the angular step 2 pi/64 being 3.1 px at the disc's
    # edge: at most 0.03 (1.5 % of the image's range of about 2), 0.006 on average.
    grid = PolarGrid(64, 64)
    image = smooth_image(64)
    back = grid.to_cartesian(grid.to_polar(image))
    error = (back - image)[0, 0][grid.inside()].abs()
    assert error.max() < 0.03
    assert error.mean() < 0.006


def test_shapes_seam_and_outside():
    grid = PolarGrid(48, 64, n_radii=40, n_angles=96)
    image = torch.rand(2, 3, 48, 64)
    polar = grid.to_polar(image)
    assert polar.shape == (2, 3, 40, 96)
    # Row 0 is the centre: every angle samples the same point.
    assert torch.allclose(polar[:, :, 0], polar[:, :, 0, :1].expand(-1, -1, 96), atol=1e-6)
    # A map constant in angle comes back constant across the 0 / 2 pi seam.
    ring = torch.linspace(1, 2, 40)[None, None, :, None].expand(1, 1, 40, 96)
    back = grid.to_cartesian(ring)[0, 0]
    # Rows 23 and 24 lie just above and below the centre (23.5); to its right they sample
    # angles just below 2 pi and just above 0. Left of the centre (angle pi) is seamless.
    right, left = back[23:25, 40:55], back[23:25, 9:24].flip(-1)
    assert (right[0] - right[1]).abs().max() < 1e-5
    assert (right - left).abs().max() < 1e-5
    # Zero beyond the disc (the corners), where no polar sample lies.
    assert back[0, 0] == 0 and back[-1, -1] == 0


def test_both_directions_pass_gradients():
    grid = PolarGrid(32, 32)
    image = torch.rand(1, 1, 32, 32, requires_grad=True)
    (grid.to_cartesian(grid.to_polar(image)) ** 2).sum().backward()
    assert image.grad is not None and image.grad[0, 0][grid.inside()].abs().sum() > 0


def test_too_small_a_grid_is_a_usage_error():
    with pytest.raises(UsageError, match="height 4"):
        PolarGrid(4, 32)
