"""Every default of SpeckleGAN and its baseline, in one table per preset, and their checks.

The tables have the shape of ganlab.presets.PRESETS (model -> preset -> settings) so that the
model registration can merge them; runtime settings (seed, device, ...) come from
ganlab.presets.RUNTIME. Window edges d are in frequency bins of the speckle grid at the run's
resolution (cycles per image); None takes the layer's defaults (ganlab.speckle_layer).
"""

from __future__ import annotations

import math

from ganlab.augment import ROTATIONS
from ganlab.spade import check_size
from ganlab.speckle_layer import check_d, default_d_init, default_d_range
from ussim.errors import UsageError

SPECKLEGAN_PAPER = {
    "resolution": 256,       # PAPER: SpeckleGAN, "SpeckleGAN architecture": 256 x 256 images
    "z_dim": 128,            # PAPER: SpeckleGAN, "SpeckleGAN architecture": a 128-dimensional Gaussian z
    # PAPER: SpeckleGAN, "SpeckleGAN architecture": the first convolutions of all SPADE layers
    # have 64 output channels.
    "spade_hidden": 64,
    # PAPER: SpeckleGAN, "Material and methods" (training): Adam with beta1 0.5, beta2 0.999, eps 1e-8.
    "beta1": 0.5,
    "beta2": 0.999,
    "adam_eps": 1e-8,
    "speckle_maps": 8,       # PAPER: SpeckleGAN, "SpeckleGAN architecture": the speckle layer reads 8 maps ...
    "speckle_sizes": 4,      # PAPER: SpeckleGAN, "SpeckleGAN architecture": ... 4 speckle sizes each, 32 maps out
    # PAPER: SpeckleGAN, "Material and methods" (training): window edges d start in 28..48 px at
    # 256 px (None: scaled with the size, DECISION in ganlab.speckle_layer).
    "d_init": None,
    "d_range": None,         # DECISION: d stays in [1, resolution - 1] (speckle_layer.default_d_range)
    # PAPER: SpeckleGAN, "Speckle layer": for IVUS the speckle is drawn in polar coordinates;
    # "Material and methods" (training): random rotations, horizontal and vertical flips.
    # DECISION: "auto" takes polar, rotation and vertical flips from the training set's organ
    # when a run starts (IVUS: polar, any angle, vertical flips, i.e. the paper's; other organs:
    # Cartesian, no rotation, no vertical flip, since depth runs down their images; ganlab.specklegan).
    "polar": "auto",
    "rotation": "auto",
    "flip": True,            # horizontal (left-right) flips
    "vflip": "auto",         # vertical (up-down) flips
    # PAPER: SpeckleGAN, "Material and methods" (training): initial learning rates between 1e-3 and
    # 3e-4 (grid-searched per model and training-set size), "decreased to 1e-4 or 3e-5 in two steps
    # every few hundred epochs". DECISION: 3e-4 for both networks (the gentler end of the range
    # suits the small training sets SpeckleGAN targets), decreased to 1e-4 at epoch 200 and to
    # 3e-5 at epoch 400 (factors 1/3 and 1/10 of the initial rate), 600 epochs in all: both of the
    # paper's end rates reached, each step "a few hundred epochs" apart.
    "lr_g": 3e-4,
    "lr_d": 3e-4,
    "lr_decay_epochs": [200, 400],
    "lr_decay_factors": [1 / 3, 1 / 10],
    "epochs": 600,
    # DECISION: the window edges learn at 1e-3 (not in the paper), decayed with the same factors,
    # so that d (about 30 px per unit of its logit at 256 px) can cross a few pixels within a run
    # without jumping in one step.
    "lr_speckle": 1e-3,
    # DECISION: batch 8 (batch norm needs several samples; 8 fit a 256 px SPADE generator of
    # width 64 on one GPU); the paper gives no batch size for the GANs.
    "batch": 8,
    # DECISION: width 64 for both networks, GauGAN's ngf / ndf (16 w = 1024 channels at 8 x 8).
    "g_width": 64,
    "d_width": 64,
}

# DECISION: the cpu-demo networks: 128 px, width 8, batch 4, 8 epochs, paper rates: large
# enough to show speckle grains of 3 to 5 px, small enough for a few minutes on two cores
# (measured on a shared two-core machine, one torch thread: 0.51 s per iteration for
# specklegan, 0.34 s for the baseline, so 8 epochs of 200 images take about 3.5 minutes;
# width 16 took 2.3 s per iteration).
# DECISION: SPADE's hidden width 16 (2 x width, as GauGAN's 128 at width 64), which differs from
# the paper's 64 to keep the small networks small; a constant learning rate (no decay steps): the
# demo trains a few hundred iterations, far from the paper's steps at epochs 200 and 400.
# DECISION: learning rate 1e-4 for both networks, the paper's first decayed rate, which DIFFERS
# FROM THE PAPER'S INITIAL 3e-4 to 1e-3: on the demo's 16 real IVUS frames (200 iterations) the
# baseline collapsed at 2e-4 and 3e-4 (one image whatever the mask, diversity MS-SSIM 0.81-0.82)
# and did not at 1e-4; bench/RESULTS.md, "Mode collapse of the demo's IVUS models".
CPU_DEMO = {**SPECKLEGAN_PAPER, "resolution": 128, "g_width": 8, "d_width": 8, "batch": 4, "epochs": 8,
            "spade_hidden": 16, "lr_decay_epochs": [], "lr_decay_factors": [], "lr_g": 1e-4, "lr_d": 1e-4}

# speckle-baseline: the same table; its generator has no speckle layer, so d_init, d_range,
# polar, speckle_sizes and lr_speckle have no effect on it.
PRESETS = {
    "specklegan": {"paper": {**SPECKLEGAN_PAPER}, "cpu-demo": {**CPU_DEMO}},
    "speckle-baseline": {"paper": {**SPECKLEGAN_PAPER}, "cpu-demo": {**CPU_DEMO}},
}


def check_config(config: dict) -> None:
    """One line naming the first bad setting and what is allowed."""
    def whole(key, least):
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise UsageError(f"{key} {value!r} not allowed: need a whole number >= {least}")

    check_size(config["resolution"], "resolution")
    for key in ("z_dim", "speckle_maps", "speckle_sizes", "epochs", "g_width", "d_width", "spade_hidden"):
        whole(key, 1)
    whole("batch", 2)  # batch norm needs more than one value per channel (1 x 1 maps at 32 px)
    for key in ("lr_g", "lr_d", "lr_speckle", "adam_eps"):
        value = config[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not (value >= 0 and math.isfinite(value)):
            raise UsageError(f"{key} {value!r} not allowed: need a number >= 0")
    for key in ("beta1", "beta2"):
        value = config[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
            raise UsageError(f"{key} {value!r} not allowed: need a number in [0, 1)")
    if not isinstance(config["flip"], bool):
        raise UsageError(f"flip {config['flip']!r} not allowed: need true or false")
    if not isinstance(config["vflip"], bool) and config["vflip"] != "auto":
        raise UsageError(f"vflip {config['vflip']!r} not allowed: need true, false or auto (from the organ)")
    check_decay(config["lr_decay_epochs"], config["lr_decay_factors"])
    if not isinstance(config["polar"], bool) and config["polar"] != "auto":
        raise UsageError(f"polar {config['polar']!r} not allowed: need true, false or auto (from the organ)")
    if config["rotation"] not in (*ROTATIONS, "auto"):
        raise UsageError(f"rotation {config['rotation']!r} not allowed: {', '.join(ROTATIONS)}, auto (from the organ)")
    size = config["resolution"]
    pairs = {}
    for key, default in (("d_init", default_d_init), ("d_range", default_d_range)):
        value = config[key]
        if value is None:
            pairs[key] = default(size)
        elif (isinstance(value, (list, tuple)) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            pairs[key] = tuple(float(v) for v in value)
        else:
            raise UsageError(f"{key} {value!r} not allowed: need null or [low, high] in frequency bins")
    check_d(pairs["d_init"], pairs["d_range"], size)


def check_decay(epochs, factors) -> None:
    """The learning-rate steps: increasing epochs >= 1, one factor in (0, 1] for each."""
    if (not isinstance(epochs, (list, tuple)) or not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1
                                                         for e in epochs) or list(epochs) != sorted(set(epochs))):
        raise UsageError(f"lr_decay_epochs {epochs!r} not allowed: need increasing whole numbers >= 1 (or [])")
    if (not isinstance(factors, (list, tuple)) or len(factors) != len(epochs)
            or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f <= 1 for f in factors)):
        raise UsageError(f"lr_decay_factors {factors!r} not allowed: need one number in (0, 1] per lr_decay_epochs "
                         f"entry ({len(epochs)})")


def lr_scale(config: dict, epochs_elapsed: float) -> float:
    """The factor on every initial learning rate after `epochs_elapsed` epochs (step decay)."""
    scale = 1.0
    for epoch, factor in zip(config["lr_decay_epochs"], config["lr_decay_factors"], strict=True):
        if epochs_elapsed >= epoch:
            scale = factor
    return scale
