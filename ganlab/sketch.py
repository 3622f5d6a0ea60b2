"""Sketches and conditions: what the generators of the first family are given.

PAPER: PGSgan §2.2: Sgan's condition is the object mask with a Canny edge sketch of the background
overlaid outside the objects, so that the generator learns where the background's structures
lie while the objects stay editable as label regions. cGAN's condition is the mask alone.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ussim.sketch import edge_sketch, edge_sketches  # noqa: F401  (one implementation, in ussim)


def condition(label: torch.Tensor, n_classes: int, sketch: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's input for a batch of label maps (n, y, x) and optional sketches.

    DECISION: labels enter as one channel per class (one-hot), not as one gray channel of class
    indices, so a set with any number of classes trains without an order among them; the sketch
    is one more channel, set only on background (class 0) pixels outside the objects.
    """
    label = label.long()
    channels = F.one_hot(label, n_classes).permute(0, 3, 1, 2).float()
    if sketch is None:
        return channels
    background = (label == 0).float()
    return torch.cat([channels, (sketch.float() * background).unsqueeze(1)], dim=1)


def condition_channels(n_classes: int, uses_sketch: bool) -> int:
    return n_classes + int(uses_sketch)


def to_unit(image: torch.Tensor) -> torch.Tensor:
    """uint8 gray (n, y, x) to float (n, 1, y, x) in -1..1, the tanh range of the generator."""
    return image.float().unsqueeze(1) / 127.5 - 1.0


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """Generator output (n, 1, y, x) in -1..1 back to uint8 (n, y, x), rounded to nearest."""
    return ((image[:, 0].detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
