"""Every default of every model, in one place: one table per model and preset.

`paper` reproduces the publication the model follows; `cpu-demo` is small enough to show
visible learning on a two-core laptop within about ten minutes (ovary set, 205 images at
256 px). Runtime settings that change how, not what, a run trains (device, threads,
deterministic algorithms, an iteration cap for smoke runs) live in RUNTIME.
"""

from __future__ import annotations

import copy

from ussim.errors import UsageError

# The pix2pix optimisation shared by cGAN, Sgan and PGSgan.
PIX2PIX_PAPER = {
    "batch": 4,             # PAPER: PGSgan §3: Adam, batch size 4
    # DECISION: constant learning rates (no pix2pix linear decay): the paper gives one rate per
    # network and no schedule, and progressive GAN trains at a constant rate.
    "lr_g": 1e-3,           # PAPER: PGSgan §3: generator learning rate 0.001
    "lr_d": 1e-4,           # PAPER: PGSgan §3: discriminator learning rate 0.0001
    "epochs": 200,          # PAPER: PGSgan §3: maximum epoch 200
    # DECISION: Adam's betas (0.5, 0.999), as pix2pix; the paper names Adam without betas.
    "beta1": 0.5,
    "beta2": 0.999,
    # PAPER: PGSgan §2.1, Eq. (3): G* = arg min max L_Sgan + L_L1, the L1 term unweighted (1).
    "l1_weight": 1.0,
    "g_width": 64,          # PAPER: PGSgan §2.1 (pix2pix ResnetGenerator, ngf = 64)
    "g_blocks": 10,         # PAPER: PGSgan §2.1: an encoder of 10 residual blocks (pix2pix has 9)
    "d_width": 64,          # PAPER: PGSgan §2.1 (pix2pix PatchGAN, ndf = 64)
    "d_layers": 3,          # PAPER: PGSgan §2.1: a PatchGAN with a 30 x 30 output (3 strided layers at 256)
    # DECISION: no dropout in the residual blocks (pix2pix's ResnetGenerator has it optional):
    # a mask and sketch then give one image, and training and inference compute the same function.
    "dropout": 0.0,
    # DECISION: cGAN and Sgan train directly at 512, the final size of PGSgan, so that the three
    # are compared at one size as in the paper's comparison (the paper reports Sgan alone
    # struggles at high resolution, which is what PGSgan addresses).
    "resolution": 512,
}

# DECISION: the CPU preset weighs the L1 term by 100 (pix2pix's lambda), which DIFFERS FROM THE
# PAPER (PGSgan Eq. (3) weighs it by 1): a run of a few hundred iterations needs the L1 term to
# put the low-frequency gray levels in place fast (the role PGSgan §2.1 gives it), and the demo's
# numbers were measured with it. The `paper` presets do not inherit it.
CPU_L1_WEIGHT = 100.0

# DECISION: Canny sigma 2 px at 256 px (4 px at 512), thresholds 0.1 and 0.2 on 0..1 gray: on
# the OTU-2D ovary images sigma 1 draws the speckle itself, sigma 3 loses the tissue layers; the
# paper names Canny without parameters. Recorded in every run's config.json.
CANNY_256 = {"canny_sigma": 2.0, "canny_low": 0.1, "canny_high": 0.2}
CANNY_512 = {"canny_sigma": 4.0, "canny_low": 0.1, "canny_high": 0.2}

# DECISION: the cpu-demo networks: width 16, 4 residual blocks (6 for the growing model, whose
# first phase runs at half size), batch 4, paper learning rates, 256 px (the size of the ovary set).
CPU_DEMO = {**PIX2PIX_PAPER, "g_width": 16, "g_blocks": 4, "d_width": 16, "epochs": 12, "resolution": 256,
            "l1_weight": CPU_L1_WEIGHT}

PGS_GROWTH_PAPER = {
    "resolution": 512,       # PAPER: PGSgan §2.4: trained at 256 x 256, then grown to 512 x 512
    # DECISION: phases 1-3 last 80, 30 and 15 epochs, phase 4 the remaining 75 of 200: each fade
    # lasts exactly as long as the paper's rate needs (30 epochs for the discriminator to reach
    # alpha 1, 15 for the generator to reach its cap 0.5), and the rest splits about equally
    # between training at 256 and at 512. The paper gives no phase lengths.
    "phase_epochs": [80, 30, 15],
    # PAPER: PGSgan §2.4: alpha increases linearly from 0 "with an interval of 1/30".
    # DECISION: the interval is read as a step of 1/30 per epoch (the paper's unit of training
    # time in §3), so a fade lasts 30 epochs.
    "alpha_per_epoch": 1 / 30,
    "g_alpha_max": 0.5,      # PAPER: PGSgan §2.4: the generator's alpha is truncated at 0.5
}

PRESETS = {
    "cgan": {
        "paper": {**PIX2PIX_PAPER},
        "cpu-demo": {**CPU_DEMO},
    },
    "sgan": {
        "paper": {**PIX2PIX_PAPER, **CANNY_512},
        "cpu-demo": {**CPU_DEMO, **CANNY_256},
    },
    "pgsgan": {
        "paper": {**PIX2PIX_PAPER, **CANNY_512, **PGS_GROWTH_PAPER},
        # DECISION: cpu-demo grows 128 -> 256 over 16 epochs: 6 at 128, 3 for the
        # discriminator's fade (alpha +1/3 per epoch), 2 for the generator's (its cap 0.5 after
        # 1.5 epochs), then 5 at 256.
        "cpu-demo": {**CPU_DEMO, **CANNY_256, "g_blocks": 6, "epochs": 16, "phase_epochs": [6, 3, 2],
                     "alpha_per_epoch": 1 / 3, "g_alpha_max": 0.5},
    },
}

RUNTIME = {
    "seed": 0,                # seeds the weights, the data order and every random draw
    "device": "auto",         # auto: CUDA when present, else CPU
    "threads": None,          # torch CPU threads (None: torch's default)
    "deterministic": False,   # torch.use_deterministic_algorithms (bit-exact resume on CPU)
    "max_iters": None,        # stop after this many iterations in all (smoke runs)
    "grid_samples": 8,        # fixed masks drawn in each epoch's sample grid
    # Every this many epochs (and at the end) a sample grid and a checkpoint; a killed run resumes
    # from the last checkpoint. DECISION: 1 (every epoch) by default; runs of many short epochs
    # (16 IVUS frames: 4 iterations an epoch on the CPU) spent a third of their time on grids and
    # checkpoints (the demo's SpeckleGAN: 52 of 204 s, 2026-12-02), so they may snap less often.
    "snap_epochs": 1,
}


def check_runtime(config: dict) -> None:
    """One line naming a bad runtime setting and what is allowed."""
    def whole(value, least):
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    rules = {"seed": (lambda v: whole(v, 0), "a whole number >= 0"),
             "device": (lambda v: v in ("auto", "cpu", "cuda"), "auto, cpu or cuda"),
             "threads": (lambda v: v is None or whole(v, 1), "null or a whole number >= 1"),
             "deterministic": (lambda v: isinstance(v, bool), "true or false"),
             "max_iters": (lambda v: v is None or whole(v, 1), "null or a whole number >= 1"),
             "grid_samples": (lambda v: whole(v, 1), "a whole number >= 1"),
             "snap_epochs": (lambda v: whole(v, 1), "a whole number >= 1")}
    for key, (ok, allowed) in rules.items():
        if not ok(config[key]):
            raise UsageError(f"{key} {config[key]!r} not allowed: need {allowed}")


def config_for(model: str, preset: str, overrides: dict | None = None) -> dict:
    """The full configuration of a run: the model's preset table, runtime settings, then overrides.

    The tables come from the registry entry, so a model family that keeps its tables in its own
    module (and registers them) gets the same handling.
    """
    from ganlab import registry
    tables = registry.get(model).presets
    if preset not in tables:
        raise UsageError(f"unknown preset '{preset}' for {model}; allowed: {', '.join(tables)}")
    config = {**copy.deepcopy(dict(tables[preset])), **RUNTIME}
    for key, value in (overrides or {}).items():
        if key not in config:
            raise UsageError(f"unknown setting '{key}' for {model}; allowed: {', '.join(sorted(config))}")
        config[key] = value
    return config
