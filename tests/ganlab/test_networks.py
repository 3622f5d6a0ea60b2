"""The pix2pix networks: layout, sizes, parameter counts and initialisation."""

import pytest
import torch
from torch import nn

from ganlab.growing import GrowingDiscriminator, GrowingGenerator
from ganlab.networks import (
    PatchDiscriminator,
    ResnetGenerator,
    count_parameters,
    init_weights,
)

# Published by pix2pix/CycleGAN's `print_networks` for resnet_9blocks and basic D (instance norm).
CYCLEGAN_G_9BLOCKS_RGB = 11_378_179
CYCLEGAN_D_RGB = 2_764_737


def test_patchgan_gives_30x30_logits_at_256():
    d = PatchDiscriminator(in_channels=4, width=64)
    assert d(torch.zeros(1, 4, 256, 256)).shape == (1, 1, 30, 30)


def test_parameter_counts_match_pix2pix_and_the_paper_size_generator():
    assert count_parameters(ResnetGenerator(3, 3, width=64, blocks=9)) == CYCLEGAN_G_9BLOCKS_RGB
    assert count_parameters(PatchDiscriminator(3, width=64)) == CYCLEGAN_D_RGB
    # Paper size: 10 residual blocks of 256 channels, gray output, two classes + sketch in.
    block = 2 * (256 * 256 * 9 + 256)
    gray_instead_of_rgb = 2 * (64 * 49 + 1)
    paper = ResnetGenerator(3, 1, width=64, blocks=10)
    assert count_parameters(paper) == CYCLEGAN_G_9BLOCKS_RGB + block - gray_instead_of_rgb == 12_552_065
    # PGSgan adds the fade-in blocks: FIB-D (7x7 3->32, 3x3 32->64) and FIB-U (3x3 64->32, 7x7 32->1).
    fibs = (3 * 32 * 49 + 32) + (32 * 64 * 9 + 64) + (64 * 32 * 9 + 32) + (32 * 49 + 1)
    assert count_parameters(GrowingGenerator(3, 1, width=64, blocks=10)) == 12_552_065 + fibs
    fib_d = (4 * 32 * 16 + 32) + (32 * 64 * 16 + 64)
    assert count_parameters(GrowingDiscriminator(4, width=64)) == count_parameters(PatchDiscriminator(4, 64)) + fib_d


def test_generator_layout_follows_pix2pix():
    g = ResnetGenerator(3, 1, width=8, blocks=2)
    assert isinstance(g.head[0], nn.ReflectionPad2d) and g.head[1].kernel_size == (7, 7)
    strided = [m for m in g.body if isinstance(m, nn.Conv2d)]
    assert [m.stride for m in strided] == [(2, 2), (2, 2)]
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.body) == 2
    assert isinstance(g.tail[-1], nn.Tanh)
    out = g(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 1, 32, 32) and out.abs().max() <= 1


def test_weights_start_from_normal_0_002():
    g = ResnetGenerator(3, 1, width=64, blocks=2)
    init_weights(g, generator=torch.Generator().manual_seed(0))
    weights = torch.cat([m.weight.detach().flatten() for m in g.modules() if isinstance(m, nn.Conv2d)])
    assert abs(float(weights.mean())) < 1e-3 and float(weights.std()) == pytest.approx(0.02, rel=0.02)
    assert all(m.bias.abs().max() == 0 for m in g.modules() if isinstance(m, nn.Conv2d) and m.bias is not None)
