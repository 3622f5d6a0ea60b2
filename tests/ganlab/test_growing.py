"""PGSgan's growth: fade-in blocks are exact at alpha 0 and 1, and the schedule follows PGSgan §2.4."""

import pytest
import torch

from ganlab import pgsgan, presets
from ganlab.growing import GrowingDiscriminator, GrowingGenerator, downsample, upsample
from ganlab.networks import init_weights


def _seeded(module):
    init_weights(module, generator=torch.Generator().manual_seed(1))
    return module.eval()


@torch.no_grad()
def test_grown_generator_at_alpha_0_is_the_smaller_one_exactly():
    g = _seeded(GrowingGenerator(3, 1, width=8, blocks=1))
    condition = torch.rand(2, 3, 64, 64)
    small = g(downsample(condition))                 # not grown: the 32 px network
    g.set_growth(True, 0.0)
    grown = g(condition)
    assert grown.shape == (2, 1, 64, 64)
    assert torch.equal(grown, upsample(small))


@torch.no_grad()
def test_grown_discriminator_at_alpha_0_is_the_smaller_one_exactly():
    d = _seeded(GrowingDiscriminator(4, width=8))
    pair = torch.rand(2, 4, 128, 128)
    small = d(downsample(pair))
    d.set_growth(True, 0.0)
    assert torch.equal(d(pair), small)


@torch.no_grad()
@pytest.mark.parametrize("network", ["generator", "discriminator"])
def test_alpha_1_uses_only_the_new_path(network):
    if network == "generator":
        net, x, old = _seeded(GrowingGenerator(3, 1, width=8, blocks=1)), torch.rand(1, 3, 64, 64), ("head", "tail")
    else:
        net, x, old = _seeded(GrowingDiscriminator(4, width=8)), torch.rand(1, 4, 128, 128), ("head",)
    net.set_growth(True, 1.0)
    before = net(x)
    for part in old:  # the skip path's layers: changing them must not change the output
        for p in getattr(net.base, part).parameters():
            p.add_(torch.randn_like(p))
    assert torch.equal(net(x), before)
    net.set_growth(True, 0.5)
    assert not torch.equal(net(x), before)


def test_paper_schedule_phases_and_alpha():
    config = presets.config_for("pgsgan", "paper")
    at = lambda t: pgsgan.schedule(config, t)
    assert at(0)["phase"] == 1 and at(0)["g_size"] == at(0)["d_size"] == 256
    assert at(80) == {"phase": 2, "g_size": 256, "d_size": 512, "g_grown": False, "g_alpha": 0.0,
                      "d_grown": True, "d_alpha": 0.0}
    assert at(95)["d_alpha"] == pytest.approx(0.5)           # +1/30 per epoch
    assert at(110)["phase"] == 3 and at(110)["g_alpha"] == 0.0 and at(110)["d_alpha"] == 1.0
    assert at(117.5)["g_alpha"] == pytest.approx(0.25)
    assert at(125)["phase"] == 4 and at(199.9)["g_size"] == 512


def test_generator_alpha_is_truncated_at_half():
    config = presets.config_for("pgsgan", "paper", {"phase_epochs": [10, 5, 100]})  # a long phase 3
    alphas = [pgsgan.schedule(config, t / 4)["g_alpha"] for t in range(4 * 200)]
    assert max(alphas) == 0.5
    assert pgsgan.schedule(config, 15 + 30)["g_alpha"] == 0.5   # 1/30 per epoch would give 1
    assert pgsgan.schedule(config, 199)["d_alpha"] == 1.0       # the discriminator is not truncated


def test_cpu_demo_grows_128_to_256():
    config = presets.config_for("pgsgan", "cpu-demo")
    first, last = pgsgan.schedule(config, 0), pgsgan.schedule(config, config["epochs"] - 0.01)
    assert (first["g_size"], last["g_size"], last["phase"]) == (128, 256, 4)
