"""The pix2pix networks every model of the first family is built from.

ResnetGenerator and the 70x70 PatchGAN discriminator (NLayerDiscriminator) follow the layout of
pix2pix/CycleGAN (Isola et al. 2017; junyanz/pytorch-CycleGAN-and-pix2pix, networks.py), which
the PGSgan paper adopts (§2.1). Both are split into a `head` (the layers that read the input
at full resolution), a `body` and, for the generator, a `tail` (the layers that write the
output image), so that the progressive models in ganlab.growing can fade new layers in around
them without copying weights.
"""

from __future__ import annotations

import torch
from torch import nn


def norm_layer(channels: int) -> nn.Module:
    """Instance normalisation without affine parameters (pix2pix `--norm instance`).

    DECISION: instance rather than batch normalisation: per-sample statistics make a batch of 4
    in training, a batch of 1 at inference and a DDP shard on each rank compute the same
    function, and the discriminator can score real and fake pairs in one pass without them mixing.
    It is computed as GroupNorm with one group per channel, the same function (per sample and
    channel over y, x; eps 1e-5), because PyTorch's CPU group-norm kernel runs about three times
    faster than its instance-norm path. Keep inputs in the default (NCHW) memory format: on
    channels-last tensors PyTorch's CPU group-norm kernel loses precision when a channel's mean
    dwarfs its spread (bench/pgsgan_speed.py measures it).
    """
    return nn.GroupNorm(channels, channels, eps=1e-5, affine=False)


class ResnetBlock(nn.Module):
    """Two reflect-padded 3x3 convolutions with a residual connection (pix2pix ResnetBlock)."""

    def __init__(self, channels: int, dropout: float = 0.0):
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=True), norm_layer(channels),
                  nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=True), norm_layer(channels)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Encoder, residual core, decoder: the pix2pix ResnetGenerator layout.

    head:  reflect pad 3, 7x7 conv to `width` channels, norm, ReLU
    body:  two stride-2 3x3 convolutions (width -> 2 width -> 4 width), `blocks` residual
           blocks at 4 width, two stride-2 transposed convolutions back to `width`
    tail:  reflect pad 3, 7x7 conv to `out_channels`, tanh
    """

    DOWNSAMPLINGS = 2  # PAPER: PGSgan §2.1: the pix2pix ResnetGenerator it adopts has two stride-2 downsamplings

    def __init__(self, in_channels: int, out_channels: int = 1, width: int = 64, blocks: int = 10,
                 dropout: float = 0.0):
        super().__init__()
        # pix2pix gives convolutions a bias exactly when the norm layer has none (instance norm).
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=True),
                                  norm_layer(width), nn.ReLU(True))
        body = []
        for i in range(self.DOWNSAMPLINGS):
            c = width * 2 ** i
            body += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=True), norm_layer(2 * c), nn.ReLU(True)]
        core = width * 2 ** self.DOWNSAMPLINGS
        body += [ResnetBlock(core, dropout) for _ in range(blocks)]
        for i in range(self.DOWNSAMPLINGS):
            c = core // 2 ** i
            body += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                     norm_layer(c // 2), nn.ReLU(True)]
        self.body = nn.Sequential(*body)
        self.tail = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh())

    def forward(self, condition):
        return self.tail(self.body(self.head(condition)))


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN (pix2pix NLayerDiscriminator, n_layers=3): 30x30 logits at 256x256.

    head:  4x4 stride-2 conv to `width`, LeakyReLU 0.2 (no norm on the first layer)
    body:  4x4 stride-2 convs to 2 and 4 width, a 4x4 stride-1 conv to 8 width (each with norm,
           LeakyReLU 0.2), and a 4x4 stride-1 conv to one logit per patch
    """

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True))
        body, mult = [], 1
        for n in range(1, layers + 1):
            previous, mult = mult, min(2 ** n, 8)
            stride = 2 if n < layers else 1
            body += [nn.Conv2d(width * previous, width * mult, 4, stride=stride, padding=1, bias=True),
                     norm_layer(width * mult), nn.LeakyReLU(0.2, True)]
        body.append(nn.Conv2d(width * mult, 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*body)

    def forward(self, pair):
        return self.body(self.head(pair))


def init_weights(module: nn.Module, std: float = 0.02, generator: torch.Generator | None = None) -> None:
    """Convolution weights from N(0, 0.02), biases 0.

    DECISION: pix2pix's `init_type normal`, as issue 5 asks; the paper names no initialisation.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            with torch.no_grad():
                m.weight.normal_(0.0, std, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):  # none in our networks; kept for parity with pix2pix
            with torch.no_grad():
                m.weight.normal_(1.0, std, generator=generator)
                m.bias.zero_()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
