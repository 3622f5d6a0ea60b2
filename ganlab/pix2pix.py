"""cGAN and Sgan: pix2pix-style conditional GANs from a label mask (and a background sketch).

PAPER: PGSgan §2.1, Eq. (1)-(3): the generator maps the condition to an image; the discriminator
judges (condition, image) pairs patch by patch; the loss is the conditional adversarial loss
(binary cross-entropy on logits, Eq. (1)) plus the L1 distance to the real image (Eq. (2)),
weighted by `l1_weight` (Eq. (3) adds it unweighted: 1 in the paper preset; ganlab.presets).

Each iteration updates the discriminator, then the generator, as pix2pix does. The step below is
shared with PGSgan (ganlab.pgsgan), which only adds a schedule of sizes and fade-in weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ganlab import presets, sketch
from ganlab.growing import resize
from ganlab.networks import PatchDiscriminator, ResnetGenerator, init_weights
from ganlab.registry import ModelSpec, Networks, Optimizers, adam, register
from ussim.errors import UsageError

OUT_CHANNELS = 1  # gray B-mode images


def build(config: dict, condition_channels: int) -> Networks:
    generator = ResnetGenerator(condition_channels, OUT_CHANNELS, config["g_width"], config["g_blocks"],
                                config["dropout"])
    # PAPER: PGSgan §2.1, Eq. (1) (pix2pix): the discriminator sees the condition and the image stacked.
    discriminator = PatchDiscriminator(condition_channels + OUT_CHANNELS, config["d_width"], config["d_layers"])
    seeded(generator, discriminator, config["seed"])
    return Networks(generator, discriminator)


def seeded(generator, discriminator, seed: int) -> None:
    """N(0, 0.02) weights drawn from the run's seed alone, whatever ran before."""
    draw = torch.Generator().manual_seed(seed)
    init_weights(generator, generator=draw)
    init_weights(discriminator, generator=draw)


def static_schedule(config: dict, epochs_elapsed: float) -> dict:
    size = config["resolution"]
    return {"phase": 1, "g_size": size, "d_size": size}


def no_growth(networks: Networks, state: dict) -> None:
    return None


def check_config(config: dict, *, multiple: int = 8, smallest: int = 32) -> None:
    size = config["resolution"]
    if not isinstance(size, int) or size < smallest or size % multiple:
        raise UsageError(f"resolution {size!r} not allowed: need a multiple of {multiple}, at least {smallest}")
    for key in ("batch", "epochs", "g_width", "g_blocks", "d_width", "d_layers"):
        if not isinstance(config[key], int) or config[key] < (0 if key == "g_blocks" else 1):
            raise UsageError(f"{key} {config[key]!r} not allowed: need a positive whole number")
    for key in ("lr_g", "lr_d", "l1_weight"):
        value = config[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not (value >= 0 and math.isfinite(value)):
            raise UsageError(f"{key} {value!r} not allowed: need a finite number >= 0")
    for key in ("beta1", "beta2"):
        value = config[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
            raise UsageError(f"{key} {value!r} not allowed: need a number in [0, 1)")
    if config.get("canny_sigma") is not None and not 0 <= config["canny_low"] <= config["canny_high"]:
        raise UsageError(f"canny_low {config['canny_low']} and canny_high {config['canny_high']} "
                         "not allowed: need 0 <= canny_low <= canny_high")


def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def unwrap(module):
    return getattr(module, "module", module)  # the network inside DistributedDataParallel


def set_requires_grad(module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def step(networks: Networks, optimizers: Optimizers, batch: dict, config: dict, state: dict) -> dict:
    """One pix2pix iteration at the sizes of `state`: the discriminator's update, then the generator's.

    `batch` holds the condition and the real image at the final size; the generator reads the
    condition at `g_size` and the discriminator judges pairs at `d_size`. A generator smaller
    than its discriminator (PGSgan phase 2) has its output upsampled for it.
    """
    generator, discriminator = networks.generator, networks.discriminator
    plain_discriminator = unwrap(discriminator)
    condition, real = batch["condition"], batch["image"]
    fake = generator(resize(condition, state["g_size"]))
    condition_d, real_d, fake_d = (resize(x, state["d_size"]) for x in (condition, real, fake))

    set_requires_grad(plain_discriminator, True)
    optimizers.discriminator.zero_grad(set_to_none=True)
    # One pass over fake and real pairs: instance norm keeps samples apart, and DDP sees one
    # forward per backward.
    logits = discriminator(torch.cat([torch.cat([condition_d, fake_d.detach()], 1),
                                      torch.cat([condition_d, real_d], 1)]))
    fake_logits, real_logits = logits.chunk(2)
    loss_d_fake, loss_d_real = bce(fake_logits, False), bce(real_logits, True)
    loss_d = 0.5 * (loss_d_fake + loss_d_real)  # pix2pix halves D's loss to slow it against G
    loss_d.backward()
    optimizers.discriminator.step()

    # The generator's update goes through the bare discriminator: its weights take no gradient
    # here, so DDP must not wait for one.
    set_requires_grad(plain_discriminator, False)
    optimizers.generator.zero_grad(set_to_none=True)
    loss_g_gan = bce(plain_discriminator(torch.cat([condition_d, fake_d], 1)), True)
    # DECISION: the L1 term compares at the generator's own output size (the real image pooled
    # to it): the upsampling for the discriminator is a bridge, not part of what G makes.
    loss_g_l1 = F.l1_loss(fake, resize(real, fake.shape[-1]))
    loss_g = loss_g_gan + config["l1_weight"] * loss_g_l1
    loss_g.backward()
    optimizers.generator.step()
    set_requires_grad(plain_discriminator, True)
    return {"loss_d": loss_d.detach(), "loss_d_real": loss_d_real.detach(), "loss_d_fake": loss_d_fake.detach(),
            "loss_g": loss_g.detach(), "loss_g_gan": loss_g_gan.detach(), "loss_g_l1": loss_g_l1.detach()}


def mask_only(label: torch.Tensor, sketch_map, n_classes: int) -> torch.Tensor:
    return sketch.condition(label, n_classes)


def mask_and_sketch(label: torch.Tensor, sketch_map, n_classes: int) -> torch.Tensor:
    if sketch_map is None:
        raise UsageError("this model needs a sketch: give one, or an image to draw it from")
    return sketch.condition(label, n_classes, sketch_map)


COMMON = {"build": build, "optimizers": adam, "schedule": static_schedule, "apply_schedule": no_growth, "step": step,
          "check_config": check_config}

register(ModelSpec(
    name="cgan", follows="PGSgan paper §2.1 baseline: pix2pix cGAN (Isola et al. 2017)",
    summary="conditional GAN from the label mask alone", uses_sketch=False, condition=mask_only,
    presets=presets.PRESETS["cgan"], **COMMON))

register(ModelSpec(
    name="sgan", follows="PGSgan paper §2.1-2.2: Sgan (sketch GAN)",
    summary="conditional GAN from the label mask with a Canny sketch of the background outside the objects",
    uses_sketch=True, condition=mask_and_sketch, presets=presets.PRESETS["sgan"], **COMMON))
