"""Training augmentation for SpeckleGAN: random rotations and flips of image and mask together.

PAPER: SpeckleGAN, "Material and methods" (training): the training set is augmented by random
rotations as well as horizontal and vertical flips.
Every sample of a batch gets its own draw, the same for its image and its mask, so the pair
stays aligned.

DECISION: how far a frame may turn depends on its geometry (`rotation`):
  "any"      any angle in [0, 2 pi) about the image centre: an IVUS frame is a radial scan
             around the catheter at the centre, so every rotation is a frame the catheter could
             have recorded. The image is resampled bilinearly, the mask by nearest neighbour;
             what comes from outside the frame repeats its border (the constant fill outside
             the IVUS scan disc, and the outermost class of the mask).
  "quarter"  multiples of 90 degrees, exact (no resampling) for square images.
  "none"     no rotation: for convex and linear probes depth runs down the image (attenuation,
             shadows, the near field at the top), and a turned frame is one no probe makes.
Flips: left-right mirrors (`flip`) and up-down mirrors (`vflip`), each with probability 1/2.
A mirrored array, or for IVUS the catheter rotating the other way, is a frame a scanner makes;
for convex and linear probes an up-down flip puts shadows above what casts them, so the
SpeckleGAN presets flip vertically only IVUS frames (ganlab.specklegan.for_organ).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ussim.errors import UsageError

ROTATIONS = ("any", "quarter", "none")


def augment(image: torch.Tensor, mask: torch.Tensor, *, rotation: str = "any", flip: bool = True,
            vflip: bool = False, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate and flip a batch of images (N, C, H, W) and masks (N, K, H, W) or (N, H, W) alike.

    Masks may be one-hot channels (float) or class indices (integer); they keep their values
    exactly. Random draws come from `generator` (CPU) or torch's global generator.
    """
    if rotation not in ROTATIONS:
        raise UsageError(f"rotation '{rotation}' not allowed: {', '.join(ROTATIONS)}")
    if image.dim() != 4 or mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"image {tuple(image.shape)} and mask {tuple(mask.shape)} do not pair up")
    n = image.shape[0]
    flat_mask = mask.dim() == 3
    m = mask.unsqueeze(1) if flat_mask else mask
    if flip:
        mirrored = (torch.rand(n, generator=generator) < 0.5).to(image.device)
        image = torch.where(mirrored[:, None, None, None], image.flip(-1), image)
        m = torch.where(mirrored[:, None, None, None], m.flip(-1), m)
    if vflip:
        mirrored = (torch.rand(n, generator=generator) < 0.5).to(image.device)
        image = torch.where(mirrored[:, None, None, None], image.flip(-2), image)
        m = torch.where(mirrored[:, None, None, None], m.flip(-2), m)
    if rotation == "quarter":
        if image.shape[-1] != image.shape[-2]:
            raise UsageError(f"rotation 'quarter' needs square images, not {image.shape[-2]} x {image.shape[-1]}")
        turns = torch.randint(0, 4, (n,), generator=generator).tolist()
        image = torch.stack([torch.rot90(x, k, dims=(-2, -1)) for x, k in zip(image, turns, strict=True)])
        m = torch.stack([torch.rot90(x, k, dims=(-2, -1)) for x, k in zip(m, turns, strict=True)])
    elif rotation == "any":
        angles = torch.rand(n, generator=generator, dtype=torch.float64) * (2 * math.pi)
        image, m = rotate(image, angles, "bilinear"), rotate(m, angles, "nearest")
    return image, (m[:, 0] if flat_mask else m)


def rotate(x: torch.Tensor, angles: torch.Tensor, mode: str) -> torch.Tensor:
    """Each sample of (N, C, H, W) turned by its angle (radians) about the image centre;
    integer tensors are resampled as floats and come back exact."""
    height, width = x.shape[-2:]
    cos, sin = torch.cos(angles), torch.sin(angles)
    # affine_grid works in normalised coordinates; scale so that the turn is one in pixels too
    # when the image is not square.
    aspect = width / height
    theta = torch.zeros(x.shape[0], 2, 3, dtype=torch.float64)
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin / aspect
    theta[:, 1, 0], theta[:, 1, 1] = -sin * aspect, cos
    values = x if x.is_floating_point() else x.double()
    grid = F.affine_grid(theta.to(values.dtype).to(x.device), list(x.shape), align_corners=False)
    out = F.grid_sample(values, grid, mode=mode, padding_mode="border", align_corners=False)
    return out if x.is_floating_point() else out.round().to(x.dtype)
