"""A small U-Net with residual blocks, in plain torch: the network of the segmentation benchmark.

Both papers measure a synthetic set's downstream value with a U-Net whose blocks are residual.
DECISION: the papers give no layer table, so this is the common form: each level is one
residual block (two 3 x 3 convolutions with batch norm, plus the input, 1 x 1-projected when the
width changes); max-pooling down, a 2 x 2 transposed convolution up (deterministic on CUDA,
unlike interpolation's backward), skip connections by concatenation, a 1 x 1 head. The width
doubles per level from `width`; `depth` levels need sides divisible by 2**(depth - 1).
"""

from __future__ import annotations

import torch
from torch import nn

from ussim.errors import UsageError


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the (projected) input, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels))
        self.skip = (nn.Identity() if in_channels == out_channels else
                     nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))


class ResidualUNet(nn.Module):
    """Gray image (n, 1, h, w) -> class logits (n, n_classes, h, w)."""

    def __init__(self, n_classes: int, width: int = 16, depth: int = 4, in_channels: int = 1):
        super().__init__()
        if n_classes < 2 or width < 1 or depth < 1:
            raise UsageError(f"the U-Net needs at least 2 classes, width >= 1 and depth >= 1, got {n_classes} "
                             f"classes, width {width}, depth {depth}")
        widths = [width * 2 ** level for level in range(depth)]
        self.depth = depth
        self.encoder = nn.ModuleList(
            [ResidualBlock(in_channels, widths[0])] +
            [ResidualBlock(widths[level - 1], widths[level]) for level in range(1, depth)])
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.ModuleList(
            [nn.ConvTranspose2d(widths[level], widths[level - 1], 2, stride=2) for level in range(depth - 1, 0, -1)])
        self.decoder = nn.ModuleList(
            [ResidualBlock(2 * widths[level - 1], widths[level - 1]) for level in range(depth - 1, 0, -1)])
        self.head = nn.Conv2d(widths[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = 2 ** (self.depth - 1)
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise UsageError(f"a U-Net of depth {self.depth} needs image sides divisible by {multiple}, got "
                             f"{x.shape[-2]}x{x.shape[-1]}")
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        skips.pop()  # the deepest level feeds the decoder directly
        for upsample, block in zip(self.upsample, self.decoder, strict=True):
            x = block(torch.cat([skips.pop(), upsample(x)], dim=1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
