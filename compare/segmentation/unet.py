"""The benchmark's network: MONAI's residual U-Net (monai.networks.nets.UNet), built from a preset.

PAPER: SpeckleGAN, Methods, "Segmentation evaluation": a U-Net (Ronneberger et al. 2015) whose
down- and upsampling paths are made of residual blocks; PGSgan section 3 uses a U-Net as well.
MONAI's UNet with num_res_units >= 1 is that network: each level a residual unit that halves
the size with a strided convolution, transposed convolutions up, skip connections by
concatenation. DECISION: MONAI's default instance normalisation, PReLU, no dropout. Batch
normalisation (the ResNet blocks the paper cites) was tried and dropped: its running statistics,
gathered over 8-image batches and carried from synthetic to real images when fine-tuning, made
eval-mode predictions erratic (measured on the OTU_2D ovaries, 100 real images, width 8, 128 px:
test Dice 0.35, 0.22, 0.23, 0.36, 0.29 after 100..500 steps; instance norm 0.41, 0.40, 0.43,
0.42, 0.42).
"""

from __future__ import annotations

import torch
from monai.networks.nets import UNet
from torch import nn

from compare.segmentation.presets import Preset
from ussim.errors import UsageError


def build(n_classes: int, preset: Preset, seed: int) -> UNet:
    """Gray image (n, 1, h, w) -> class logits (n, n_classes, h, w); weights drawn from `seed`
    without touching the caller's random generator."""
    if n_classes < 2:
        raise UsageError(f"the U-Net needs at least 2 classes, got {n_classes}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet(spatial_dims=2, in_channels=1, out_channels=n_classes, channels=preset.channels(),
                    strides=(2,) * (preset.depth - 1), num_res_units=preset.res_units, norm="instance")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
