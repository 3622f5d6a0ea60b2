"""Progressive growing for PGSgan: fade-in blocks around a pix2pix generator and discriminator.

PAPER: PGSgan §2.3-2.4, Fig. 3: the networks grow from 256 to 512 by fade-in blocks (FIBs) of residual
design: a new convolutional path and a skip path that resizes the input, merged with a weight
alpha that rises from 0. A FIB-D sits after a network's input and halves the resolution; a
FIB-U sits before the generator's output and doubles it:

    grown D(x)  = D.body(FIB-D(x))             FIB-D(x) = (1-a) D.head(pool(x)) + a new_d(x)
    grown G(c)  = FIB-U(G.body(FIB-D(c)))      FIB-D(c) = (1-a) G.head(pool(c)) + a new_d(c)
                                               FIB-U(h) = (1-a) up(G.tail(h))   + a new_u(h)

so with a = 0 a grown network computes exactly the smaller network on the resized input
(up(G(pool(c))) and D(pool(x))), and with a = 1 only the new path. The skip path reuses the
smaller network's own head and tail, as progressive GAN's fade-in reuses fromRGB/toRGB.

DECISION: the paths merge in feature space (after the old head, before the old tail) rather
than on the images themselves: the new paths then see and produce as many channels as the
layers they stand beside, which a one-channel image-space merge would starve.
DECISION: the new paths have half the width of the layers they join (progressive GAN halves
the channels at each doubling) and mirror pix2pix's own layers: reflect-padded 7x7 conv plus a
stride-2 3x3 conv in the generator's FIB-D, a stride-2 3x3 transposed conv plus a 7x7 conv and
tanh in its FIB-U, two 4x4 stride-2 convs in the discriminator's FIB-D.
DECISION: resizing is 2x2 average pooling down (progressive GAN) and bilinear interpolation up
(smoother than progressive GAN's nearest neighbour, whose blocks a discriminator spots at once).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.networks import PatchDiscriminator, ResnetGenerator, norm_layer


def downsample(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Bring a square batch to `size`: average pooling by whole factors down, bilinear up."""
    current = x.shape[-1]
    if current == size:
        return x
    if current > size:
        if current % size:
            raise ValueError(f"cannot pool {current} px down to {size} px by a whole factor")
        return F.avg_pool2d(x, current // size)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def fade(skip: torch.Tensor, new: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """(1 - alpha) skip + alpha new, exactly `skip` at alpha = 0 and exactly `new` at alpha = 1."""
    return (1 - alpha) * skip + alpha * new


class FadeInDown(nn.Module):
    """FIB-D: a new path that halves the resolution, beside a skip that pools then runs `old`."""

    def __init__(self, new_path: nn.Module):
        super().__init__()
        self.new = new_path

    def forward(self, x, old: nn.Module, alpha):
        return fade(old(downsample(x)), self.new(x), alpha)


class FadeInUp(nn.Module):
    """FIB-U: a new path that doubles the resolution, beside a skip that runs `old` then resizes."""

    def __init__(self, new_path: nn.Module):
        super().__init__()
        self.new = new_path

    def forward(self, h, old: nn.Module, alpha):
        return fade(upsample(old(h)), self.new(h), alpha)


class _Growable(nn.Module):
    """Growth state kept as buffers, so it travels in state_dict, snapshots and DDP broadcasts."""

    def _init_growth(self):
        self.register_buffer("grown", torch.tensor(False))
        self.register_buffer("alpha", torch.tensor(0.0))

    def set_growth(self, grown: bool, alpha: float) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha {alpha} is outside 0..1")
        self.grown.fill_(bool(grown))
        self.alpha.fill_(float(alpha))

    def input_size(self, full: int) -> int:
        """The input size this network takes now, for a final (grown) size `full`."""
        return full if bool(self.grown) else full // 2


class GrowingGenerator(_Growable):
    """A ResnetGenerator at half resolution that grows a FIB-D after its input and a FIB-U
    before its output."""

    def __init__(self, in_channels: int, out_channels: int = 1, width: int = 64, blocks: int = 10,
                 dropout: float = 0.0):
        super().__init__()
        self.base = ResnetGenerator(in_channels, out_channels, width, blocks, dropout)
        half = max(width // 2, 1)
        self.fib_down = FadeInDown(nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, half, 7, bias=True), norm_layer(half), nn.ReLU(True),
            nn.Conv2d(half, width, 3, stride=2, padding=1, bias=True), norm_layer(width), nn.ReLU(True)))
        self.fib_up = FadeInUp(nn.Sequential(
            nn.ConvTranspose2d(width, half, 3, stride=2, padding=1, output_padding=1, bias=True),
            norm_layer(half), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(half, out_channels, 7), nn.Tanh()))
        self._init_growth()

    def forward(self, condition):
        return self.grown_forward(condition) if bool(self.grown) else self.base(condition)

    def grown_forward(self, condition):
        """The grown network alone (no branch on the growth flag, so torch.compile sees one graph)."""
        h = self.base.body(self.fib_down(condition, self.base.head, self.alpha))
        return self.fib_up(h, self.base.tail, self.alpha)


class GrowingDiscriminator(_Growable):
    """A PatchDiscriminator at half resolution that grows a FIB-D after its input."""

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3):
        super().__init__()
        self.base = PatchDiscriminator(in_channels, width, layers)
        half = max(width // 2, 1)
        self.fib_down = FadeInDown(nn.Sequential(
            nn.Conv2d(in_channels, half, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(half, width, 4, stride=2, padding=1, bias=True), norm_layer(width), nn.LeakyReLU(0.2, True)))
        self._init_growth()

    def forward(self, pair):
        if not bool(self.grown):
            return self.base(pair)
        return self.base.body(self.fib_down(pair, self.base.head, self.alpha))
