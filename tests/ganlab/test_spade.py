"""SpeckleGAN's SPADE generator, residual discriminator, losses, optimizers and defaults."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganlab import spade
from ganlab.presets import RUNTIME
from ganlab.specklegan_defaults import PRESETS, check_config, lr_scale
from ussim.errors import UsageError

CLASSES = 3


def config(**changes) -> dict:
    """The paper table shrunk to 32 px networks of width 4."""
    return {**PRESETS["specklegan"]["paper"], **RUNTIME, "resolution": 32, "g_width": 4, "d_width": 4,
            "batch": 2, "polar": True, "rotation": "any", **changes}


def masks(n: int, size: int, seed: int = 0) -> torch.Tensor:
    labels = torch.randint(0, CLASSES, (n, size // 8, size // 8), generator=torch.Generator().manual_seed(seed))
    labels = labels.repeat_interleave(8, 1).repeat_interleave(8, 2)
    return F.one_hot(labels, CLASSES).permute(0, 3, 1, 2).float()


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.mark.parametrize("size,speckle,polar", [(32, True, False), (64, True, True), (32, False, False)])
def test_generator_output_shape_and_range(size, speckle, polar):
    generator, discriminator = spade.build_networks(config(resolution=size, polar=polar), CLASSES, speckle=speckle)
    mask = masks(2, size)
    image = generator(mask)
    assert image.shape == (2, 1, size, size)
    assert image.min() >= -1 and image.max() <= 1
    assert discriminator(image, mask).shape == (2, 1)
    generator.eval()  # inference: running batch statistics, still random z and speckle
    assert not torch.equal(generator(mask[:1]), generator(mask[:1]))


def test_layout_at_256_follows_the_paper():
    g = spade.SpadeGenerator(CLASSES, size=256, width=2)
    assert g.z_dim == 128 and g.start == 8
    assert (g.penultimate.conv_1.out_channels, g.last.conv_0.in_channels) == (8, 32)
    baseline = spade.SpadeGenerator(CLASSES, size=256, width=2, speckle=False)
    assert baseline.last.conv_0.in_channels == 8
    d = spade.ResidualDiscriminator(CLASSES, size=256, width=2)
    assert len(d.blocks) == 6  # 256 -> 4
    assert d.blocks[0].main[0].in_channels == 1 + CLASSES  # image and one-hot mask stacked


def test_spectral_norm_on_every_residual_conv_and_the_discriminator():
    generator, discriminator = spade.build_networks(config(), CLASSES, speckle=True)
    normalised = set(spade.spectrally_normalised(generator))
    for block in [m for m in generator.modules() if isinstance(m, spade.SpadeBlock)]:
        convs = [block.conv_0, block.conv_1] + ([block.conv_s] if block.learned_shortcut else [])
        assert all(c in normalised for c in convs)
    d_layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert set(d_layers) == set(spade.spectrally_normalised(discriminator))
    assert all(not m.affine for m in generator.modules() if isinstance(m, nn.BatchNorm2d))


def test_spade_reads_the_mask_resized_by_nearest_neighbour():
    generator, _ = spade.build_networks(config(), CLASSES, speckle=True)
    seen = []
    for m in generator.modules():
        if isinstance(m, spade.SPADE):
            m.shared.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    generator(masks(2, 32))
    assert {tuple(x.shape[-2:]) for x in seen} == {(1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (32, 32)}
    assert all(set(x.unique().tolist()) <= {0.0, 1.0} and torch.equal(x.sum(1), torch.ones_like(x[:, 0]))
               for x in seen)


def test_speckle_parameters_are_a_group_of_their_own():
    generator, discriminator = spade.build_networks(config(), CLASSES, speckle=True)
    speckle, other = generator.speckle_parameters(), generator.other_parameters()
    assert speckle == [generator.speckle.d_logit]
    assert len(speckle) + len(other) == len(list(generator.parameters()))
    g_opt, _ = spade.adam(generator, discriminator, config())
    assert [group["lr"] for group in g_opt.param_groups] == [config()["lr_g"], config()["lr_speckle"]] == [3e-4, 1e-3]
    assert g_opt.defaults["betas"] == (0.5, 0.999)
    baseline, _ = spade.build_networks(config(), CLASSES, speckle=False)
    assert baseline.speckle_parameters() == [] and baseline.speckle is None
    assert len(spade.adam(baseline, discriminator, config())[0].param_groups) == 1


def test_one_training_iteration_of_both_networks():
    torch.manual_seed(0)
    cfg = config(resolution=32, polar=True)
    generator, discriminator = spade.build_networks(cfg, CLASSES, speckle=True)
    g_opt, d_opt = spade.adam(generator, discriminator, cfg)
    mask, real = masks(2, 32), torch.rand(2, 1, 32, 32) * 2 - 1
    d_before = generator.speckle.d.detach().clone()

    fake = generator(mask)
    fake_logits, real_logits = spade.discriminate(discriminator, mask, real, fake.detach())
    loss_d = spade.discriminator_loss(real_logits, fake_logits)
    d_opt.zero_grad()
    loss_d.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in discriminator.parameters())
    d_opt.step()

    fake_logits, _ = spade.discriminate(discriminator, mask, real, fake)
    loss_g = spade.generator_loss(fake_logits)
    g_opt.zero_grad()
    loss_g.backward()
    assert all(p.grad is not None for p in generator.parameters())
    assert generator.speckle.d_logit.grad.abs().min() > 0
    g_opt.step()
    assert math.isfinite(loss_d.item()) and math.isfinite(loss_g.item())
    assert not torch.equal(generator.speckle.d, d_before)


def test_losses_are_the_non_saturating_gan_loss():
    zero = torch.zeros(4, 1)
    assert spade.generator_loss(zero).item() == pytest.approx(math.log(2))
    assert spade.discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert spade.generator_loss(torch.full((4, 1), 20.0)).item() < 1e-8  # D fooled: no loss


def test_one_seed_gives_one_network_and_one_image():
    first, second = (spade.build_networks(config(seed=3), CLASSES, speckle=True)[0] for _ in range(2))
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    mask = masks(2, 32)
    images = [g(mask, generator=torch.Generator().manual_seed(1)) for g in (first, second)]
    assert torch.equal(*images)


def test_defaults_pass_their_checks_and_bad_values_are_usage_errors():
    for model in PRESETS.values():
        for table in model.values():
            check_config({**table, **RUNTIME})
    bad = [({"resolution": 48}, "resolution 48"), ({"batch": 1}, "batch 1"), ({"beta1": 1.0}, "beta1"),
           ({"rotation": "half"}, "rotation"), ({"d_init": [40, 300]}, "d_init"), ({"polar": "yes"}, "polar"),
           ({"vflip": "yes"}, "vflip"), ({"lr_decay_epochs": [400, 200]}, "lr_decay_epochs"),
           ({"lr_decay_factors": [0.5]}, "lr_decay_factors"), ({"spade_hidden": 0}, "spade_hidden")]
    for change, message in bad:
        with pytest.raises(UsageError, match=message):
            check_config(config(resolution=256, **change) if "resolution" not in change else config(**change))
    with pytest.raises(UsageError, match="size 40"):
        spade.SpadeGenerator(CLASSES, size=40)


def test_paper_preset_holds_the_papers_values_and_a_two_step_decay():
    paper = PRESETS["specklegan"]["paper"]
    assert paper["spade_hidden"] == 64 and paper["z_dim"] == 128 and paper["resolution"] == 256
    assert (paper["beta1"], paper["beta2"], paper["adam_eps"]) == (0.5, 0.999, 1e-8)
    assert paper["flip"] is True and paper["vflip"] == "auto" and paper["rotation"] == "auto"
    assert 3e-4 <= paper["lr_g"] <= 1e-3 and paper["lr_d"] == paper["lr_g"]
    # Two steps down to the paper's end rates 1e-4 and 3e-5.
    rates = [paper["lr_g"] * lr_scale(paper, epoch) for epoch in (0, 199.9, 200, 399, 400, 599)]
    assert rates == pytest.approx([3e-4, 3e-4, 1e-4, 1e-4, 3e-5, 3e-5])
    generator = spade.SpadeGenerator(CLASSES, size=32, width=4, spade_hidden=paper["spade_hidden"])
    assert all(block.norm_0.shared[0].out_channels == 64 for block in (generator.head, generator.last))


def test_step_decay_sets_every_group_and_resumes_from_the_epoch_alone():
    generator, discriminator = spade.build_networks(config(lr_decay_epochs=[1, 2], lr_decay_factors=[0.5, 0.1]),
                                                    CLASSES, speckle=True)
    optimizers = spade.adam(generator, discriminator, config())
    for epoch, factor in ((0.5, 1.0), (1.0, 0.5), (2.5, 0.1)):
        scale = lr_scale(config(lr_decay_epochs=[1, 2], lr_decay_factors=[0.5, 0.1]), epoch)
        spade.set_lr_scale(optimizers, scale)
        assert [g["lr"] for g in optimizers[0].param_groups] == pytest.approx([3e-4 * factor, 1e-3 * factor])
        assert optimizers[1].param_groups[0]["lr"] == pytest.approx(3e-4 * factor)


def test_the_mask_steers_the_untrained_generator():
    # The collapse cause: with N(0, 0.02) in SPADE's convolutions a fresh generator ignored the mask.
    generator, _ = spade.build_networks(config(), CLASSES, speckle=False)
    generator.eval()
    z = torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(0)).expand(4, -1)
    with torch.no_grad():
        by_mask = generator(masks(4, 32), z=z)
        by_z = generator(masks(1, 32).expand(4, -1, -1, -1), generator=torch.Generator().manual_seed(0))
    assert by_mask.std(dim=0).mean() > 0.3 * by_z.std(dim=0).mean()   # 0.58 now, 0.11 with N(0, 0.02)
