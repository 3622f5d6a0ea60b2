"""Dice and the modified Hausdorff distance, per image and class, of predicted against true label maps.

Modified Hausdorff distance (Dubuisson & Jain 1994, "A modified Hausdorff distance for object
matching"): with d(a, B) = min over b in B of |a - b|,
    MHD(A, B) = max( mean over a in A of d(a, B),  mean over b in B of d(b, A) ).
DECISION: A and B are the edge points of the predicted and the true region of a class, as the
paper matches edge maps (not all region pixels): the region's pixels with a 4-neighbour outside
it (region minus its erosion by a cross, the image frame counting as outside, as medpy's surface
distances do). Distances are Euclidean, in pixels of the true label map, from exact distance
transforms (scipy.ndimage.distance_transform_edt).

Empty-mask policy (DECISION: the papers are silent):
  * class in neither the prediction nor the truth of an image: that image is left out of the
    class's Dice and MHD (NaN) - nothing to find, nothing found, no evidence either way;
  * class in exactly one of them: Dice 0, and MHD = the image diagonal, the largest distance the
    image can hold, so a missed or hallucinated structure counts as the worst case instead of
    silently vanishing from the mean.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CROSS = ndimage.generate_binary_structure(2, 1)


def dice(predicted: np.ndarray, true: np.ndarray) -> float:
    """2|P ∩ T| / (|P| + |T|) of two boolean masks; NaN when both are empty."""
    total = int(predicted.sum()) + int(true.sum())
    if total == 0:
        return float("nan")
    return 2 * int(np.logical_and(predicted, true).sum()) / total


def edge(mask: np.ndarray) -> np.ndarray:
    """The mask's pixels that have a 4-neighbour outside it (the image frame is outside)."""
    return mask & ~ndimage.binary_erosion(mask, structure=CROSS, border_value=0)


def modified_hausdorff(predicted: np.ndarray, true: np.ndarray) -> float:
    """Dubuisson & Jain's MHD between the edges of two boolean masks, in pixels (policy above)."""
    has_predicted, has_true = bool(predicted.any()), bool(true.any())
    if not has_predicted and not has_true:
        return float("nan")
    if has_predicted != has_true:
        return float(np.hypot(*true.shape))
    predicted_edge, true_edge = edge(predicted), edge(true)
    # distance_transform_edt gives each nonzero pixel its distance to the nearest zero pixel.
    to_true = ndimage.distance_transform_edt(~true_edge)
    to_predicted = ndimage.distance_transform_edt(~predicted_edge)
    return float(max(to_true[predicted_edge].mean(), to_predicted[true_edge].mean()))


def score(predicted: np.ndarray, true: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Dice and MHD per image and class, each (n_images, n_classes), NaN where the policy leaves out."""
    if predicted.shape != true.shape:
        raise ValueError(f"predicted maps {predicted.shape} and true maps {true.shape} differ in shape")
    dices = np.full((len(true), n_classes), np.nan)
    distances = np.full((len(true), n_classes), np.nan)
    for i, (p, t) in enumerate(zip(predicted, true, strict=True)):
        for c in range(n_classes):
            dices[i, c] = dice(p == c, t == c)
            distances[i, c] = modified_hausdorff(p == c, t == c)
    return dices, distances
