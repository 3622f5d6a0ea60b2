"""SpeckleGAN and its baseline as registered models of the one training loop (ganlab.train).

PAPER: SpeckleGAN, "SpeckleGAN architecture" and "Material and methods" (training): a SPADE
generator with a speckle layer after its penultimate block and a residual discriminator
(ganlab.spade), trained with the non-saturating GAN loss and Adam whose learning rates drop in
two steps, the training images augmented by random rotations and horizontal and vertical flips
(ganlab.augment). The
baseline is the same GAN with the speckle layer replaced by the identity
(spade.build_networks(speckle=False); its DECISION says how the last block's width follows).

Each iteration: augment the batch (image and mask alike), draw z and the speckle phases, update
the discriminator on fakes and reals in one pass, then the generator through the discriminator
with the discriminator's weights frozen. Every random draw (augmentation, z, speckle phases)
comes from torch's global generators, which ganlab.train seeds and saves in state.pt, so a
resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations


from ganlab import spade, specklegan_defaults
from ganlab.augment import augment
from ganlab.pix2pix import mask_only, no_growth, set_requires_grad, static_schedule, unwrap
from ganlab.registry import ModelSpec, Networks, Optimizers, register

IVUS = "ivus"


def for_organ(config: dict, organ: str) -> dict:
    """Fill the settings left "auto" from the training set's organ (recorded in config.json).

    DECISION: polar and rotation follow the organ attribute of the training set when a run
    starts: an IVUS frame is a radial scan around the catheter (speckle drawn on a polar grid,
    any rotation is a frame the catheter could record); every other organ here is scanned by a
    convex or linear probe (Cartesian speckle, no rotation: depth runs down the image). A value
    given with --set wins; a resumed run keeps what its config.json says.
    """
    ivus = str(organ).lower() == IVUS
    if config.get("vflip", "auto") == "auto":
        config["vflip"] = ivus
    if config["polar"] == "auto":
        config["polar"] = ivus
    if config["rotation"] == "auto":
        config["rotation"] = "any" if ivus else "none"
    return config


def builder(speckle: bool):
    def build(config: dict, condition_channels: int) -> Networks:
        generator, discriminator = spade.build_networks(config, condition_channels, speckle=speckle)
        return Networks(generator, discriminator)
    return build


def optimizers(networks: Networks, config: dict) -> Optimizers:
    return Optimizers(*spade.adam(unwrap(networks.generator), unwrap(networks.discriminator), config))


def step(networks: Networks, optimizers: Optimizers, batch: dict, config: dict, state: dict) -> dict:
    """One iteration: the discriminator's update, then the generator's (non-saturating loss)."""
    generator, discriminator = networks.generator, networks.discriminator
    plain_discriminator = unwrap(discriminator)
    spade.set_lr_scale((optimizers.generator, optimizers.discriminator), state["lr_scale"])
    real, mask = augment(batch["image"], batch["condition"], rotation=config["rotation"], flip=config["flip"],
                         vflip=config["vflip"])
    fake = generator(mask)  # z and the speckle phases from torch's global generator

    set_requires_grad(plain_discriminator, True)
    optimizers.discriminator.zero_grad(set_to_none=True)
    fake_logits, real_logits = spade.discriminate(discriminator, mask, real, fake.detach())
    loss_d = spade.discriminator_loss(real_logits, fake_logits)
    d_fake = fake_logits.detach().mean()
    loss_d.backward()
    optimizers.discriminator.step()

    # DECISION: the generator's loss comes from the same stacked pass of fakes and reals
    # (GauGAN's compute_generator_loss does so), so the discriminator's batch norm sees the
    # statistics it was trained with; the bare discriminator with frozen weights, so DDP waits
    # for no gradient of it.
    set_requires_grad(plain_discriminator, False)
    optimizers.generator.zero_grad(set_to_none=True)
    fake_logits, _ = spade.discriminate(plain_discriminator, mask, real, fake)
    loss_g = spade.generator_loss(fake_logits)
    loss_g.backward()
    optimizers.generator.step()
    set_requires_grad(plain_discriminator, True)
    losses = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
              "d_real": real_logits.detach().mean(), "d_fake": d_fake}
    layer = unwrap(generator).speckle
    if layer is not None:
        losses["speckle_d"] = layer.d.detach().mean()  # mean window edge, bins of the speckle grid
    return losses


def check_config(config: dict) -> None:
    specklegan_defaults.check_config(config)


def schedule(config: dict, epochs_elapsed: float) -> dict:
    """One size throughout; the learning-rate factor of the step decay in force."""
    return {**static_schedule(config, epochs_elapsed),
            "lr_scale": specklegan_defaults.lr_scale(config, epochs_elapsed)}


COMMON = {"uses_sketch": False, "condition": mask_only, "optimizers": optimizers, "schedule": schedule,
          "apply_schedule": no_growth, "step": step, "check_config": check_config, "for_organ": for_organ}

register(ModelSpec(
    name="specklegan", follows="SpeckleGAN paper (Bargsten & Schlaefer 2020), Methods: SPADE generator + speckle layer",
    summary="GAN from the label mask and z; a speckle layer with learnable window sizes shapes the speckle",
    presets=specklegan_defaults.PRESETS["specklegan"], build=builder(speckle=True), **COMMON))

register(ModelSpec(
    name="speckle-baseline", follows="SpeckleGAN paper, Experiments: baseline, the same GAN without the speckle layer",
    summary="SpeckleGAN with the speckle layer replaced by the identity",
    presets=specklegan_defaults.PRESETS["speckle-baseline"], build=builder(speckle=False), **COMMON))
