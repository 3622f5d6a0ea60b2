"""The segmentation benchmark's presets: every training default in one table.

`cpu` finishes the whole benchmark (real-only at 25, 50 and 100 real images, one method's
synthetic-only and pretrained + fine-tuned rows, 3 seeds) in minutes on one CPU thread (measured:
6 min 42 s, 205 real training and 27 test ovaries, 48 synthetic images, one AMD EPYC thread):
its numbers rank methods coarsely, they are not converged models. `paper` follows the SpeckleGAN
paper's segmentation experiment where it says something (see the PAPER comments) and is the size
to report. Any field can be overridden on the command line; the results file records the values.
"""

from __future__ import annotations

import dataclasses

from ussim.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Preset:
    size: int               # images and labels are resized to size x size for training
    width: int              # channels of the U-Net's first level (doubling per level)
    depth: int              # U-Net levels: depth - 1 halvings of the image
    res_units: int          # residual units per level (monai.networks.nets.UNet num_res_units)
    batch_size: int
    learning_rate: float    # Adam, for pretraining and for (fine-)tuning alike
    pretrain_steps: int     # optimiser steps on a method's synthetic images
    train_steps: int        # optimiser steps on the real images (from scratch or fine-tuning)
    max_synthetic: int      # synthetic images used for pretraining at most (0: all)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def channels(self) -> tuple[int, ...]:
        return tuple(self.width * 2 ** level for level in range(self.depth))


PRESETS = {
    # DECISION: 128 px (an ovary, 4 % of the pixels, stays about 25 px wide), widths 16..128, one
    # residual unit per level, 300 steps per phase: measured on the OTU_2D ovaries (100 real,
    # one seed) test Dice rose from 0.26 at 100 steps to 0.47 at 300 and 0.49 at 600; width 8
    # stayed at 0.42. 2100 optimiser steps per seed, about 7 s per 100 steps on one thread.
    "cpu": Preset(size=128, width=16, depth=4, res_units=1, batch_size=8, learning_rate=1e-3, pretrain_steps=300,
                  train_steps=300, max_synthetic=500),
    # PAPER: SpeckleGAN, Methods, "Segmentation evaluation": a U-Net of residual blocks, three
    # downsampling blocks halving the size and doubling the feature maps up to 256, input
    # 256 x 256, batch size 10, pretrained on 1000 synthetic images per GAN. (PGSgan section 3
    # names a U-Net and nothing more.)
    # DECISION: the widths 32, 64, 128, 256 (depth 4, three halvings) and two residual units per
    # level; Adam at 1e-3 and the step counts are ours, the paper gives no optimiser or schedule.
    "paper": Preset(size=256, width=32, depth=4, res_units=2, batch_size=10, learning_rate=1e-3,
                    pretrain_steps=6000, train_steps=3000, max_synthetic=1000),
}
# PAPER: SpeckleGAN, "Segmentation evaluation": scenarios of 50 and 100 real training images;
# the issue adds 25. DECISION: the default sizes are capped by the real pool (with a note).
N_REAL = (25, 50, 100)
# DECISION: 3 training seeds by default, the fewest with which a spread over seeds means anything.
SEEDS = (0, 1, 2)
BASELINE = "real-only"  # the name of the row trained on real images only
SPLIT_SEED = 0


def resolve(name: str, **overrides) -> Preset:
    """The preset called `name` with the given fields replaced (None leaves a field as it is)."""
    if name not in PRESETS:
        raise UsageError(f"unknown segmentation preset '{name}' (allowed: {', '.join(PRESETS)})")
    preset = dataclasses.replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
    for field in ("size", "width", "depth", "batch_size", "pretrain_steps", "train_steps"):
        if getattr(preset, field) < 1:
            raise UsageError(f"{field.replace('_', '-')} must be at least 1, got {getattr(preset, field)}")
    if preset.depth < 2:
        raise UsageError(f"depth must be at least 2 (a U-Net needs one halving), got {preset.depth}")
    if preset.res_units < 0:
        raise UsageError(f"res-units must be 0 (plain convolutions) or more, got {preset.res_units}")
    if preset.max_synthetic < 0 or preset.learning_rate <= 0:
        raise UsageError("max-synthetic must be 0 (all) or more, and learning-rate positive")
    multiple = 2 ** (preset.depth - 1)
    if preset.size % multiple:
        raise UsageError(f"size {preset.size} must be divisible by {multiple} for a U-Net of depth {preset.depth}")
    return preset
