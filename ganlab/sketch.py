"""Sketches and conditions: what the generators of the first family are given.

PAPER §2.1: Sgan's condition is the object mask with a Canny edge sketch of the background
overlaid outside the objects, so that the generator learns where the background's structures
lie while the objects stay editable as label regions. cGAN's condition is the mask alone.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage.feature import canny


def edge_sketch(image: np.ndarray, *, sigma: float, low: float, high: float) -> np.ndarray:
    """Canny edges of a uint8 image as a uint8 0/1 map (scikit-image, thresholds on 0..1 gray).

    The edges cover the whole image; `condition` keeps only those outside the objects, so an
    edited mask reuses the sketch of the image it came from.
    """
    gray = np.asarray(image, dtype=np.float64) / 255.0
    return canny(gray, sigma=sigma, low_threshold=low, high_threshold=high).astype(np.uint8)


def edge_sketches(images: np.ndarray, *, sigma: float, low: float, high: float, progress=None) -> np.ndarray:
    """`edge_sketch` of every image of a (n, y, x) uint8 stack."""
    out = np.empty(images.shape, np.uint8)
    for i in range(images.shape[0]):
        out[i] = edge_sketch(images[i], sigma=sigma, low=low, high=high)
        if progress is not None:
            progress.update(1)
    return out


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
