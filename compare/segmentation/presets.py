"""The segmentation benchmark's presets: every training default in one table.

DECISION: neither paper gives its U-Net's size or training schedule, so both presets are ours.
`cpu` finishes the whole benchmark (real only and one pretrained method, 50 and 100 real images)
in minutes on two CPU cores: its numbers rank methods coarsely, they are not converged models.
`paper` is the size to report: full 256 px images, a wider and deeper U-Net, long schedules.
Any field can be overridden on the command line; the results file records the values used.
"""

from __future__ import annotations

import dataclasses

from ussim.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Preset:
    size: int               # images and labels are resized to size x size for training
    width: int              # channels of the U-Net's first level (doubling per level)
    depth: int              # U-Net levels
    batch_size: int
    learning_rate: float    # Adam, for pretraining and for (fine-)tuning alike
    pretrain_steps: int     # optimiser steps on a method's synthetic images
    train_steps: int        # optimiser steps on the real images (from scratch or fine-tuning)
    max_synthetic: int      # synthetic images used for pretraining at most (0: all)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS = {
    "cpu": Preset(size=128, width=8, depth=4, batch_size=8, learning_rate=1e-3, pretrain_steps=150,
                  train_steps=100, max_synthetic=500),
    "paper": Preset(size=256, width=32, depth=5, batch_size=16, learning_rate=1e-3, pretrain_steps=6000,
                    train_steps=3000, max_synthetic=0),
}
N_REAL = (50, 100)      # the two real training-set sizes both papers fine-tune with
BASELINE = "real-only"  # the name of the row trained on real images only
SEED = 0
SPLIT_SEED = 0


def resolve(name: str, **overrides) -> Preset:
    """The preset called `name` with the given fields replaced (None leaves a field as it is)."""
    if name not in PRESETS:
        raise UsageError(f"unknown segmentation preset '{name}' (allowed: {', '.join(PRESETS)})")
    preset = dataclasses.replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
    for field in ("size", "width", "depth", "batch_size", "pretrain_steps", "train_steps"):
        if getattr(preset, field) < 1:
            raise UsageError(f"{field.replace('_', '-')} must be at least 1, got {getattr(preset, field)}")
    if preset.max_synthetic < 0 or preset.learning_rate <= 0:
        raise UsageError("max-synthetic must be 0 (all) or more, and learning-rate positive")
    multiple = 2 ** (preset.depth - 1)
    if preset.size % multiple:
        raise UsageError(f"size {preset.size} must be divisible by {multiple} for a U-Net of depth {preset.depth}")
    return preset
