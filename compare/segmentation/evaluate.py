"""Dice and the 95th-percentile Hausdorff distance (HD95), per test image and class, from MONAI.

monai.metrics.DiceMetric and monai.metrics.HausdorffDistanceMetric(percentile=95) on one-hot
maps, every class included (the report leaves the background out). HD95 is MONAI's: the
symmetric 95th percentile of the Euclidean distances between the two masks' edges (mask minus its
erosion), in pixels of the test labels.

Empty-class policy (DECISION; MONAI gives NaN or inf there, and the papers are silent):
  * class in neither the prediction nor the truth of an image: that image is left out of the
    class's Dice and HD95 (NaN) - nothing to find, nothing found, no evidence either way;
  * class in exactly one of them: Dice 0 and HD95 = the image diagonal, the largest distance the
    image holds, so a missed or hallucinated structure counts as the worst case instead of
    silently vanishing from the mean.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric

SCORES = ("dice", "hd95")  # per image and class; higher Dice is better, lower HD95 is better
RANGES = {"dice": (0.0, 1.0), "hd95": (0.0, np.inf)}  # the values each score can take
BLOCK = 32                 # images scored at a time


def one_hot(maps: np.ndarray, n_classes: int) -> torch.Tensor:
    """Class maps (n, h, w) -> one-hot (n, n_classes, h, w) uint8, MONAI's layout."""
    return torch.nn.functional.one_hot(torch.from_numpy(maps.astype(np.int64)), n_classes).permute(0, 3, 1, 2)


def score(predicted: np.ndarray, true: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_images, 2, n_classes): Dice and HD95 per image and class, NaN where the policy leaves out."""
    if predicted.shape != true.shape:
        raise ValueError(f"predicted maps {predicted.shape} and true maps {true.shape} differ in shape")
    dice_metric = DiceMetric(include_background=True, reduction="none", ignore_empty=False)
    hd95_metric = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")
    diagonal = float(np.hypot(*true.shape[1:]))
    out = np.full((len(true), len(SCORES), n_classes), np.nan)
    for start in range(0, len(true), BLOCK):
        p = one_hot(predicted[start:start + BLOCK], n_classes)
        t = one_hot(true[start:start + BLOCK], n_classes)
        in_p, in_t = p.flatten(2).any(-1).numpy(), t.flatten(2).any(-1).numpy()
        with warnings.catch_warnings():  # MONAI warns of every empty class; the policy below handles them
            warnings.filterwarnings("ignore", message=".* is all 0, this may result in nan/inf distance")
            # MONAI 1.6 passes its own deprecated argument to get_mask_edges inside the HD metric
            warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*")
            dice = dice_metric(p, t).numpy()
            hd95 = hd95_metric(p, t).numpy()
        dice_metric.reset(), hd95_metric.reset()  # each call also buffers its values; nothing aggregates them
        both, one = in_p & in_t, in_p ^ in_t
        block = out[start:start + BLOCK]
        block[:, 0] = np.where(both, dice, np.where(one, 0.0, np.nan))
        block[:, 1] = np.where(both, hd95, np.where(one, diagonal, np.nan))
    return out
