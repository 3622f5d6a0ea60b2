"""PGSgan: Sgan grown progressively from half to full resolution (256 -> 512 in the paper).

PAPER: PGSgan §2.4 (training with FIB), Fig. 2-3: four phases.
  1. generator and discriminator at half size (256);
  2. the discriminator grows a FIB-D after its input and judges at full size (512), its alpha
     rising from 0; the generator, still at 256, has its output upsampled for it;
  3. the generator grows a FIB-D after its input and a FIB-U before its output, its alpha
     rising from 0 and truncated at 0.5;
  4. both at full size until the end.
Alpha rises linearly by `alpha_per_epoch` from the start of its phase (PGSgan §2.4: "with an
interval of 1/30", read as 1/30 per epoch: ganlab.presets).
Everything else (condition, losses, update order) is Sgan's (ganlab.pix2pix).

DECISION: "truncated at 0.5" is read as a cap that holds to the end: the final generator keeps
half of its upsampled 256 px path beside the new 512 px path, while the discriminator's alpha
reaches 1. The grown discriminator still gives 30 x 30 logits (patches twice as large at 512).
"""

from __future__ import annotations

import math

from ganlab import pix2pix, presets
from ganlab.growing import GrowingDiscriminator, GrowingGenerator
from ganlab.registry import ModelSpec, Networks, adam, register
from ussim.errors import UsageError


def build(config: dict, condition_channels: int) -> Networks:
    generator = GrowingGenerator(condition_channels, pix2pix.OUT_CHANNELS, config["g_width"], config["g_blocks"],
                                 config["dropout"])
    discriminator = GrowingDiscriminator(condition_channels + pix2pix.OUT_CHANNELS, config["d_width"],
                                         config["d_layers"])
    # DECISION: every layer, the fade-in blocks included, is created and initialised at the
    # start, so the optimisers, checkpoints and DDP see one fixed set of parameters; a block
    # unused in a phase takes no gradient and Adam leaves it untouched.
    pix2pix.seeded(generator, discriminator, config["seed"])
    return Networks(generator, discriminator)


def schedule(config: dict, epochs_elapsed: float) -> dict:
    """Phase, growth and fade-in weights after `epochs_elapsed` (fractional) epochs.

    DECISION: alpha moves every iteration, by the fraction of an epoch done, rather than in
    steps at epoch ends: the same 1/30 per epoch, without a jump the networks must absorb.
    DECISION: once a network's phase is over its alpha sits at its end value (1 for the
    discriminator, the cap 0.5 for the generator) even if a short phase ended the fade early;
    the presets make every phase long enough for its fade.
    """
    full = config["resolution"]
    half = full // 2
    p1, p2, p3 = config["phase_epochs"]
    rate, g_cap = config["alpha_per_epoch"], config["g_alpha_max"]
    t = epochs_elapsed
    if t < p1:
        return {"phase": 1, "g_size": half, "d_size": half, "g_grown": False, "g_alpha": 0.0,
                "d_grown": False, "d_alpha": 0.0}
    if t < p1 + p2:
        return {"phase": 2, "g_size": half, "d_size": full, "g_grown": False, "g_alpha": 0.0,
                "d_grown": True, "d_alpha": min(1.0, rate * (t - p1))}
    if t < p1 + p2 + p3:
        return {"phase": 3, "g_size": full, "d_size": full, "g_grown": True,
                "g_alpha": min(g_cap, rate * (t - p1 - p2)), "d_grown": True, "d_alpha": 1.0}
    return {"phase": 4, "g_size": full, "d_size": full, "g_grown": True, "g_alpha": g_cap, "d_grown": True,
            "d_alpha": 1.0}


def apply_schedule(networks: Networks, state: dict) -> None:
    pix2pix.unwrap(networks.generator).set_growth(state["g_grown"], state["g_alpha"])
    pix2pix.unwrap(networks.discriminator).set_growth(state["d_grown"], state["d_alpha"])


def check_config(config: dict) -> None:
    # Half size must still pass two stride-2 layers evenly and leave the PatchGAN a logit.
    pix2pix.check_config(config, multiple=8, smallest=64)
    phases = config["phase_epochs"]
    if (not isinstance(phases, (list, tuple)) or len(phases) != 3
            or not all(isinstance(p, int) and p >= 0 for p in phases)):
        raise UsageError(f"phase_epochs {phases!r} not allowed: need three whole numbers >= 0 "
                         "(epochs of phases 1, 2 and 3; phase 4 runs to the end)")
    rate, cap = config["alpha_per_epoch"], config["g_alpha_max"]
    if not isinstance(rate, (int, float)) or not rate > 0 or not math.isfinite(rate):
        raise UsageError(f"alpha_per_epoch {rate!r} not allowed: need a number > 0")
    if not isinstance(cap, (int, float)) or not 0 < cap <= 1:
        raise UsageError(f"g_alpha_max {cap!r} not allowed: need a number in (0, 1]")


register(ModelSpec(
    name="pgsgan", follows="PGSgan paper §2.3-2.4, Fig. 3: progressive growing Sgan with fade-in blocks",
    summary="Sgan grown from half to full size: FIB-D on D, then FIB-D and FIB-U on G (alpha capped at 0.5)",
    uses_sketch=True, presets=presets.PRESETS["pgsgan"], build=build, condition=pix2pix.mask_and_sketch,
    optimizers=adam, schedule=schedule, apply_schedule=apply_schedule, step=pix2pix.step,
    check_config=check_config, grows=True))
