"""Every default of segdiff (segmentation-guided diffusion), in one table per preset, and their checks.

The tables have the shape of ganlab.presets.PRESETS (model -> preset -> settings); runtime
settings (seed, device, ...) come from ganlab.presets.RUNTIME. The source is the published code
of Konz et al., MICCAI 2024 (github.com/mazurowski-lab/segmentation-guided-diffusion: main.py,
training.py, eval.py and its README), cited below as "SGD code".

Cost of each preset (bench/RESULTS.md, "segdiff", has the measurements and commands):
    paper     256 px, 6-level UNet of 128-512 channels (113.7 M parameters), batch 16, 400 epochs:
              a GPU preset (one A6000 in the published setup); on one CPU thread a UNet evaluation
              took 22.6 s, so ~19 min per image at 50 steps, and a training iteration is out of reach.
    cpu-demo  32 px, 3-level UNet of 16-32-64 channels (0.6 M parameters), v-prediction, batch 4: the
              demo's 360 iterations in 17-18 s (205 ovaries) and 26 s (16 IVUS frames: 90 epochs,
              each with its sample grid), 0.14-0.16 s per image at 25 steps; two trainings at a
              time, one thread each, on a 2-core machine at load ~1 (40-59 s and 0.2-0.4 s at load 3).
              In `make demo` (five sample grids a run): 18 s ovary, 15-16 s IVUS, 0.12-0.17 s an image.
"""

from __future__ import annotations

import math

from ussim.errors import UsageError

SAMPLERS = ("ddim", "dpm++")
BETA_SCHEDULES = ("linear", "cosine")
# diffusers' names of the two beta schedules.
DIFFUSERS_BETA_SCHEDULE = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
AUTOCAST = (None, "bf16")
# What the UNet predicts (diffusers' DDPMScheduler prediction_type; the samplers read the same).
PREDICTIONS = ("epsilon", "v_prediction", "sample")

SEGDIFF_PAPER = {
    "resolution": 256,        # PAPER: SGD code, main.py --img_size default 256 (and the README's example)
    # PAPER: SGD code, main.py: UNet2DModel(layers_per_block=2, block_out_channels=(128, 128, 256,
    # 256, 512, 512), self-attention in the fifth down block and the second up block).
    "block_channels": [128, 128, 256, 256, 512, 512],
    "layers_per_block": 2,
    "down_blocks": ["DownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
    "up_blocks": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"],
    "norm_groups": 32,        # PAPER: SGD code, main.py: UNet2DModel's default norm_num_groups (32)
    "mid_attention": True,    # PAPER: SGD code, main.py: UNet2DModel's default mid block (with attention)
    # PAPER: SGD code, README ("We use a train batch size of 16 for one 48 GB A6000 GPU for an
    # image size of 256"); main.py's default is 32.
    "batch": 16,
    "epochs": 400,            # PAPER: SGD code, README: "our default is 400" epochs
    # PAPER: SGD code, training.py TrainingConfig: AdamW, learning_rate 1e-4, lr_warmup_steps 500,
    # then cosine decay to zero over the run (main.py: get_cosine_schedule_with_warmup).
    "lr": 1e-4,
    "lr_warmup_iters": 500,
    "weight_decay": 0.01,     # PAPER: SGD code, main.py: torch.optim.AdamW with its default weight decay 0.01
    "grad_clip": 1.0,         # PAPER: SGD code, training.py: clip_grad_norm_(model.parameters(), 1.0)
    # PAPER: SGD code, main.py: DDPMScheduler(num_train_timesteps=1000), epsilon prediction, MSE loss.
    "train_steps": 1000,
    # PAPER: SGD code, main.py: DDPMScheduler's default beta schedule, linear 1e-4..0.02 (Ho et al. 2020).
    # DECISION: the paper preset keeps the published linear schedule (its 256 px images keep
    # structure at high t under it); the cpu-demo preset takes the cosine one (below).
    "beta_schedule": "linear",
    "prediction": "epsilon",  # PAPER: SGD code, main.py: the UNet predicts the noise (MSE to it)
    # DECISION: the mask enters as one channel per class (one-hot, ganlab.sketch.condition), which
    # DIFFERS FROM THE SGD CODE's default "single" channel of class values k/255: one-hot gives the
    # classes no order and is how every GAN here reads masks, so all families see the same input.
    # Mask-ablated training (SGD code, eval.py ablate_masks, --use_ablated_segmentations; off by
    # default there): each non-background class is removed (set to background) with this
    # probability. DECISION: drawn per sample rather than once per batch as in the SGD code, so
    # every batch mixes complete and ablated masks; 0 (off) by default as in the SGD code.
    "mask_ablation": 0.0,
    # Classifier-free guidance on the mask (Ho & Salimans 2022): during training the whole mask is
    # replaced by zeros (no class anywhere, a condition no real mask gives) with this probability.
    # DECISION: off (0) by default: the SGD code guides by the mask alone; its experimental CFG
    # (training.py cfg_p_uncond 0.2, cfg_weight 0.3) conditions on image classes, not masks.
    # Sampling with --guidance W > 0 needs a run trained with cfg_p_uncond > 0.
    "cfg_p_uncond": 0.0,
    # DECISION: EMA weights for sampling, which the SGD code does not keep: diffusers'
    # train_unconditional example's EMA (use_ema, ema_inv_gamma 1, ema_power 3/4, ema_max_decay
    # 0.9999): decay = min(max, 1 - (1 + n / inv_gamma) ** -power) after n updates, so short
    # runs average over their last tens of iterations and long ones over ~10^4.
    "ema_max_decay": 0.9999,
    "ema_power": 0.75,
    "ema_inv_gamma": 1.0,
    # PAPER: SGD code, eval.py SegGuidedDDIMPipeline: DDIM, eta 0, 50 steps. These are the defaults
    # of `ganlab generate --sampler/--steps/--guidance`; the sample grid of every epoch uses them.
    "sampler": "ddim",
    "sample_steps": 50,
    "guidance": 0.0,
    # DECISION: the sample grid after each epoch takes grid_steps steps (the paper preset: its
    # sample_steps): on the CPU the grid's sampling would otherwise cost a third of a cpu-demo epoch.
    "grid_steps": 50,
    # DECISION: bf16 autocast on CUDA (the SGD code declares fp16 mixed precision): bf16 keeps
    # fp32's exponent range, so no loss scaler (whose state exact resume would have to save) is
    # needed. Ignored on the CPU.
    "autocast": "bf16",
}

# DECISION: the cpu-demo network: three levels of 16, 32, 64 channels, one ResNet layer per block,
# no attention (self-attention costs more than the convolutions on a CPU), norm groups 8; batch 4;
# learning rate 1e-3 (ten times the paper's: a run of a few hundred iterations must move far; 2e-3
# changed no measure) after 20 warm-up iterations. The images are brought to the masks' size by
# `ganlab generate`.
# DECISION (cpu-demo recipe, 2026-12-02, bench/segdiff_recipe.py, bench/RESULTS.md "segdiff",
# "cpu-demo recipe"; per-class JS against the demo's held-out real images, and the mean gray
# outside the real field of view, 0 in the real ovary images and 30 around the IVUS circle):
# 32 px and v-prediction, because the former recipe (64 px, epsilon) drew noise after 120
# iterations: ovary JS background 0.231, outside gray 93, no sector; IVUS JS lumen 0.632, outside 93.
#   - 32 px: at 64 px the 3-level UNet never drew the ovary fan (outside gray 30 after 300 iterations
#     with sample prediction, also with a fourth level), at 32 px it did (2-13 after 480): the fan is
#     a whole-image feature, and at 32 px the UNet's deepest level (8 px) sees all of it; an
#     iteration also costs less than half (whole ovary runs at load ~1: 0.05 s against 0.11 s).
#     The price: no speckle at the 256 px scale (detail, the std of gray less its 4 px blur, 3-5
#     against the real 16-24).
#   - v-prediction (Salimans & Ho 2022): epsilon prediction at 32 px stayed saturated noise after
#     480 iterations (ovary JS 0.238 / 0.235); v gave 0.060 / 0.080 and sample prediction 0.037 /
#     0.055 (IVUS: v 0.157 / 0.078 / 0.168, sample 0.146 / 0.068 / 0.172; none of the v-sample
#     differences resolved by the intervals), but sample prediction drew smooth blobs without grain
#     (detail 1.2 against v's 3.5, real 16.4): v keeps what texture 32 px allows.
#   - no min-SNR-gamma weighting (Hang et al. 2023): gamma 5 made every JS worse at 32 px (v: ovary
#     0.093 / 0.118), so it was not kept.
# DECISION: the cosine beta schedule (Nichol & Dhariwal 2021, diffusers' squaredcos_cap_v2): under
# the linear schedule the last quarter of the steps is nearly pure noise at low resolution, which
# wastes the few iterations the demo has.
# DECISION: sampling defaults DPM-Solver++ (2nd order) at 25 steps, chosen by the steps sweep in
# bench/RESULTS.md ("segdiff", 64 px epsilon recipe): every per-class JS improved from 10 to 25
# steps and no further at 50 or 100; DDIM saturated the images under the cosine schedule with
# epsilon prediction (JS 0.5-0.99). With the v recipe (480 iterations) 10, 25 and 50 steps gave the
# same JS within 0.02 and DDIM 25 was no better (IVUS lumen 0.345 against 0.168). The sample grid
# of each epoch takes 4 steps: a preview that costs little on small sets, where an epoch is a few
# iterations.
CPU_DEMO = {**SEGDIFF_PAPER, "resolution": 32, "block_channels": [16, 32, 64], "layers_per_block": 1,
            "down_blocks": ["DownBlock2D"] * 3, "up_blocks": ["UpBlock2D"] * 3, "norm_groups": 8,
            "mid_attention": False, "batch": 4, "epochs": 12, "lr": 1e-3, "lr_warmup_iters": 20,
            "beta_schedule": "cosine", "prediction": "v_prediction", "sampler": "dpm++", "sample_steps": 25,
            "grid_steps": 4, "autocast": None}

# Settings added after the first segdiff runs, with the value those runs trained with: a snapshot
# without them still builds (ganlab.segdiff.build).
SINCE_ADDED = {"prediction": "epsilon"}

PRESETS = {"segdiff": {"paper": SEGDIFF_PAPER, "cpu-demo": CPU_DEMO}}


def check_sampling(sampler, steps, guidance, config: dict) -> None:
    """One line naming a bad sampling option and what is allowed."""
    if sampler not in SAMPLERS:
        raise UsageError(f"sampler {sampler!r} not allowed: {' or '.join(SAMPLERS)}")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= config["train_steps"]:
        raise UsageError(f"steps {steps!r} not allowed: need a whole number from 1 to {config['train_steps']} "
                         "(the run's training steps)")
    if not isinstance(guidance, (int, float)) or isinstance(guidance, bool) or not math.isfinite(guidance) \
            or guidance < 0:
        raise UsageError(f"guidance {guidance!r} not allowed: need a number >= 0 (0: no guidance)")
    if guidance > 0 and config["cfg_p_uncond"] <= 0:
        raise UsageError(f"guidance {guidance} needs a run trained with cfg_p_uncond > 0 (this run: "
                         f"{config['cfg_p_uncond']}); use guidance 0")


def check_config(config: dict) -> None:
    """One line naming a bad setting and what is allowed."""
    def whole(key, least):
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise UsageError(f"{key} {value!r} not allowed: need a whole number >= {least}")

    for key, least in (("batch", 1), ("epochs", 1), ("layers_per_block", 1), ("norm_groups", 1),
                       ("lr_warmup_iters", 0), ("train_steps", 2)):
        whole(key, least)
    channels = config["block_channels"]
    if (not isinstance(channels, list) or not channels
            or not all(isinstance(c, int) and c > 0 and c % config["norm_groups"] == 0 for c in channels)):
        raise UsageError(f"block_channels {channels!r} not allowed: need a list of whole numbers, each a multiple "
                         f"of norm_groups {config['norm_groups']}")
    for key in ("down_blocks", "up_blocks"):
        if not isinstance(config[key], list) or len(config[key]) != len(channels):
            raise UsageError(f"{key} {config[key]!r} not allowed: need one block name per entry of block_channels "
                             f"({len(channels)})")
    size, levels = config["resolution"], 2 ** (len(channels) - 1)
    if not isinstance(size, int) or size < 8 or size % levels:
        raise UsageError(f"resolution {size!r} not allowed: need a multiple of {levels} (2 ** (levels - 1)), "
                         "at least 8")
    for key in ("lr", "weight_decay", "grad_clip"):
        if not isinstance(config[key], (int, float)) or config[key] < 0:
            raise UsageError(f"{key} {config[key]!r} not allowed: need a number >= 0")
    for key in ("mask_ablation", "cfg_p_uncond"):
        if not isinstance(config[key], (int, float)) or not 0 <= config[key] < 1:
            raise UsageError(f"{key} {config[key]!r} not allowed: need a probability in [0, 1)")
    if not isinstance(config["ema_max_decay"], (int, float)) or not 0 <= config["ema_max_decay"] < 1:
        raise UsageError(f"ema_max_decay {config['ema_max_decay']!r} not allowed: need a number in [0, 1)")
    if config["beta_schedule"] not in BETA_SCHEDULES:
        raise UsageError(f"beta_schedule {config['beta_schedule']!r} not allowed: {' or '.join(BETA_SCHEDULES)}")
    if config["prediction"] not in PREDICTIONS:
        raise UsageError(f"prediction {config['prediction']!r} not allowed: {', '.join(PREDICTIONS)}")
    if config["autocast"] not in AUTOCAST:
        raise UsageError(f"autocast {config['autocast']!r} not allowed: null or bf16")
    check_sampling(config["sampler"], config["sample_steps"], config["guidance"], config)
    check_sampling(config["sampler"], config["grid_steps"], config["guidance"], config)


def ema_decay(config: dict, updates: int) -> float:
    """The EMA decay after `updates` updates (diffusers' EMAModel.get_decay with use_ema_warmup)."""
    step = max(0, updates - 1)
    if step <= 0:
        return 0.0
    decay = 1 - (1 + step / config["ema_inv_gamma"]) ** -config["ema_power"]
    return min(decay, config["ema_max_decay"])


def lr_factor(config: dict, iterations_done: int, progress: float) -> float:
    """Linear warm-up over lr_warmup_iters iterations, then cosine decay to 0 at the run's end.

    DECISION: the cosine runs over the fraction of the run's epochs elapsed (`progress`), not over
    iterations after warm-up as get_cosine_schedule_with_warmup does: the training loop knows
    epochs, and a resumed or lengthened run (--set epochs=N) then decays to its new end. The
    warm-up counts the optimiser steps taken (the EMA's update count, saved in state.pt).
    """
    warm = config["lr_warmup_iters"]
    warmup = 1.0 if warm == 0 else min(1.0, (iterations_done + 1) / warm)
    return warmup * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
