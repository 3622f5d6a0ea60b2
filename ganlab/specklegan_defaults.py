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
    "resolution": 256,       # PAPER: 256 x 256 images
    "z_dim": 128,            # PAPER: 128-dimensional Gaussian z
    "beta1": 0.5,            # PAPER: Adam beta1 0.5
    "beta2": 0.999,          # PAPER: Adam beta2 0.999
    "speckle_maps": 8,       # PAPER: the speckle layer reads 8 maps ...
    "speckle_sizes": 4,      # PAPER: ... with 4 window sizes each: 32 maps out
    "d_init": None,          # PAPER: d starts in 28..48 at 256 px (scaled with the size: DECISION in speckle_layer)
    "d_range": None,         # DECISION: d stays in [1, resolution - 1] (speckle_layer.default_d_range)
    # PAPER: for IVUS the speckle is drawn in polar coordinates, and the training images are
    # rotated at random. DECISION: "auto" takes both from the training set's organ when a run
    # starts (IVUS: polar, any angle; other organs: Cartesian, no rotation; ganlab.specklegan).
    "polar": "auto",
    "rotation": "auto",
    "flip": True,            # PAPER: random flips (left-right; ganlab.augment)
    # DECISION: learning rate 2e-4 for both networks, the DCGAN / pix2pix rate that goes with
    # Adam (0.5, 0.999); the window edges learn at 1e-3 so that d (about 30 px per unit of its
    # logit at 256 px) can cross a few pixels within a run without jumping in one step.
    "lr_g": 2e-4,
    "lr_d": 2e-4,
    "lr_speckle": 1e-3,
    # DECISION: batch 8 (batch norm needs several samples; 8 fit a 256 px SPADE generator of
    # width 64 on one GPU) and 200 epochs, as the other models of the comparison.
    "batch": 8,
    "epochs": 200,
    # DECISION: width 64 for both networks, GauGAN's ngf / ndf (16 w = 1024 channels at 8 x 8).
    "g_width": 64,
    "d_width": 64,
}

# DECISION: the cpu-demo networks: 128 px, width 8, batch 4, 8 epochs, paper rates: large
# enough to show speckle grains of 3 to 5 px, small enough for a few minutes on two cores
# (measured on a shared two-core machine, one torch thread: 0.51 s per iteration for
# specklegan, 0.34 s for the baseline, so 8 epochs of 200 images take about 3.5 minutes;
# width 16 took 2.3 s per iteration).
CPU_DEMO = {**SPECKLEGAN_PAPER, "resolution": 128, "g_width": 8, "d_width": 8, "batch": 4, "epochs": 8}

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
    for key in ("z_dim", "speckle_maps", "speckle_sizes", "epochs", "g_width", "d_width"):
        whole(key, 1)
    whole("batch", 2)  # batch norm needs more than one value per channel (1 x 1 maps at 32 px)
    for key in ("lr_g", "lr_d", "lr_speckle"):
        value = config[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not (value >= 0 and math.isfinite(value)):
            raise UsageError(f"{key} {value!r} not allowed: need a number >= 0")
    for key in ("beta1", "beta2"):
        value = config[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
            raise UsageError(f"{key} {value!r} not allowed: need a number in [0, 1)")
    if not isinstance(config["flip"], bool):
        raise UsageError(f"flip {config['flip']!r} not allowed: need true or false")
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
