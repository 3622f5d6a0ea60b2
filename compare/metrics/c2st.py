"""Classifier two-sample test (C2ST): can a small CNN tell patches of one image set from another's?

Lopez-Paz and Oquab, "Revisiting classifier two-sample tests", ICLR 2017: train a classifier to
tell the two samples apart and read its accuracy on held-out data; 0.5 means the sets cannot be
told apart, 1.0 that they always can. Here the samples are square patches of gray images taken
inside a field-of-view mask, so the classifier judges texture and brightness, never corners,
scanner text or the outside fill.

The unit of independence is the image, not the patch (patches of one image share its anatomy and
its speckle realisation), so:
  * images, not patches, are split into folds (`folds_by_image`): no image gives patches to both
    the training and the test side of a fold; every image is tested once (k-fold cross-fitting);
  * the accuracy is the balanced accuracy over all held-out patches (mean of the two sets'
    accuracies, so 0.5 is chance whatever the image counts), and its 95 % interval is the
    percentile bootstrap over images, each set resampled on its own (compare.bootstrap).

DECISION: a three-layer CNN (8-16-32 channels, the first two with stride 2, global average
pooling; ~6 k weights, 0.4 M multiply-adds per 32 x 32 patch), Adam 3e-3, 20 epochs of batch 64
on 32 x 32 patches, 64 per image, 4 folds: on 2 free CPU cores a comparison of two dozen images
takes about ten seconds; it separates clearly different speckle (tests/compare/test_c2st.py).
Measured on the IVUS held-out frames (bench/realism.py): against today's ussim 0.80 with 48
patches and 10 epochs, 0.95 with 64 and 20 (96 and 20: no better), while the real floor stays at
0.54-0.57: a weaker classifier would call too many sets indistinguishable. Patches are gray / 255, not normalised per
patch: brightness is part of what a reader sees.

One run's accuracy depends on its seed (patch positions, folds, the networks' initialisation and
batch order), and the bootstrap over images above holds the classifier fixed. Measured 2026-12-03
on the ovary's held-out frames 36-71 against one fixed set of simulations (bench/realism.py's
patches and classifier): seeds 0, 1, 2 read 0.597 [0.549, 0.650], 0.687 [0.637, 0.734] and 0.764
[0.723, 0.801]; for another set 0.645, 0.587, 0.705. The seed moves the accuracy by more than one
run's interval is wide. So `repeated` runs the test REPEATS times with fresh patches, folds and
networks, reports the mean, and its interval resamples the repeats as well as the images (a
two-level bootstrap: the training seeds and the images, as every other interval of the toolkit).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from compare import bootstrap
from ussim.errors import UsageError

PATCH = 32
PATCHES_PER_IMAGE = 64
FOLDS = 4
EPOCHS = 20
BATCH = 64
LEARNING_RATE = 3e-3
REPLICATES = 1000
# DECISION: five runs: the spread of three seeds above was 0.08 (sd), which five runs bring to
# about 0.04 on their mean, at five times the cost (about 35 s a run for 36 + 36 ovary frames on 2
# cores).
REPEATS = 5


@dataclasses.dataclass
class C2STResult:
    accuracy: float                 # balanced held-out accuracy (0.5 = indistinguishable)
    low: float                      # 95 % bootstrap interval over images
    high: float
    images: tuple[int, int]         # images per set
    patches: tuple[int, int]        # patches per set
    folds: np.ndarray               # fold of each image, set A's images first
    correct: np.ndarray             # (images,) held-out patches classified right, per image
    tested: np.ndarray              # (images,) held-out patches, per image

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "low": self.low, "high": self.high, "images": list(self.images),
                "patches": list(self.patches), "folds": int(self.folds.max()) + 1}


def inside_positions(fov: np.ndarray, size: int = PATCH) -> np.ndarray:
    """(row, col) of every top-left corner whose size x size patch lies wholly inside `fov`."""
    fov = np.asarray(fov, bool)
    if fov.ndim != 2:
        raise UsageError(f"field-of-view mask of shape {fov.shape}: need (rows, columns)")
    # a patch is inside when the sum of the mask over it is size^2 (summed-area table)
    table = np.pad(fov.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    counts = table[size:, size:] - table[:-size, size:] - table[size:, :-size] + table[:-size, :-size]
    return np.argwhere(counts == size * size)


def extract_patches(images: np.ndarray, fov: np.ndarray, rng: np.random.Generator, *, size: int = PATCH,
                    per_image: int = PATCHES_PER_IMAGE) -> np.ndarray:
    """(n, per_image, size, size) float32 patches (gray / 255) at random positions inside `fov`.

    `fov` is one mask for every image (rows, columns) or one per image (n, rows, columns).
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise UsageError(f"images of dtype {images.dtype} and shape {images.shape}: need uint8 (n, rows, columns)")
    masks = np.broadcast_to(np.asarray(fov, bool), images.shape)
    out = np.empty((len(images), per_image, size, size), np.float32)
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        corners = inside_positions(mask, size)
        if len(corners) == 0:
            raise UsageError(f"image {i}: no {size} x {size} patch fits inside its field of view "
                             f"({int(mask.sum())} pixels); use smaller patches or a larger field of view")
        for j, (r, c) in enumerate(corners[rng.integers(0, len(corners), per_image)]):
            out[i, j] = image[r:r + size, c:c + size] / 255.0
    return out


def folds_by_image(n_a: int, n_b: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index of each image (set A's first), each set spread evenly over the folds at random."""
    if min(n_a, n_b) < folds or folds < 2:
        raise UsageError(f"C2ST with {folds} folds needs at least {max(folds, 2)} images per set "
                         f"(got {n_a} and {n_b}); allowed: 2 <= folds <= the smaller set's image count")
    return np.concatenate([rng.permutation(np.arange(n) % folds) for n in (n_a, n_b)])


def split(fold_of_image: np.ndarray, per_image: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch indices (train, test) of one fold, patches numbered image by image."""
    of_patch = np.repeat(fold_of_image, per_image)
    return np.flatnonzero(of_patch != fold), np.flatnonzero(of_patch == fold)


def c2st(patches_a: np.ndarray, patches_b: np.ndarray, *, seed: int, folds: int = FOLDS, epochs: int = EPOCHS,
         replicates: int = REPLICATES) -> C2STResult:
    """Held-out balanced accuracy of telling set A's patches (n_a, per_image, s, s) from set B's."""
    import torch

    if patches_a.shape[1:] != patches_b.shape[1:]:
        raise UsageError(f"patch arrays of shapes {patches_a.shape} and {patches_b.shape}: need the same "
                         f"patches per image and patch size")
    rng = np.random.default_rng(seed)
    n_a, n_b, per_image = len(patches_a), len(patches_b), patches_a.shape[1]
    fold_of_image = folds_by_image(n_a, n_b, folds, rng)
    x = np.concatenate([patches_a, patches_b]).reshape(-1, 1, *patches_a.shape[2:])
    y = np.repeat(np.r_[np.zeros(n_a), np.ones(n_b)], per_image).astype(np.float32)
    predicted = np.empty(len(y), np.float32)
    for fold in range(folds):
        train, test = split(fold_of_image, per_image, fold)
        torch.manual_seed(seed * 1000 + fold)
        network = _train(torch.from_numpy(x[train]), torch.from_numpy(y[train]), epochs,
                         np.random.default_rng([seed, fold]))
        with torch.inference_mode():
            predicted[test] = (network(torch.from_numpy(x[test])).squeeze(1) > 0).float().numpy()
    right = (predicted == y).reshape(n_a + n_b, per_image).sum(axis=1).astype(np.float64)
    tested = np.full(n_a + n_b, float(per_image))
    accuracy = balanced_accuracy(right, tested, n_a, np.ones(n_a), np.ones(n_b))
    samples = np.array([balanced_accuracy(right, tested, n_a, bootstrap.resample_counts(rng, n_a),
                                          bootstrap.resample_counts(rng, n_b)) for _ in range(replicates)])
    low, high, _ = bootstrap.percentile_interval(samples[:, None])
    return C2STResult(float(accuracy), float(low[0]), float(high[0]), (n_a, n_b), (n_a * per_image, n_b * per_image),
                      fold_of_image, right, tested)


@dataclasses.dataclass
class RepeatedC2ST:
    accuracy: float                 # mean balanced held-out accuracy over the runs
    low: float                      # 95 % two-level bootstrap interval: runs, then images
    high: float
    runs: tuple[float, ...]         # each run's accuracy
    images: tuple[int, int]
    patches: tuple[int, int]

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "low": self.low, "high": self.high, "runs": list(self.runs),
                "images": list(self.images), "patches": list(self.patches)}


def repeated(images_a: np.ndarray, images_b: np.ndarray, fov: np.ndarray, *, seed: int, repeats: int = REPEATS,
             epochs: int = EPOCHS, replicates: int = REPLICATES) -> RepeatedC2ST:
    """`repeats` C2STs of two image sets, each with its own patches, folds and networks (run r > 0:
    patches drawn by the generator of (seed, r), folds and networks seeded by 1000 seed + r; run 0
    is the single run of `seed`, patches included)."""
    if repeats < 1:
        raise UsageError(f"repeats = {repeats} is not allowed (must be >= 1)")
    runs = []
    for repeat in range(repeats):
        rng = np.random.default_rng(seed if repeat == 0 else [seed, repeat])
        patches = [extract_patches(images, fov, rng) for images in (images_a, images_b)]
        runs.append(c2st(*patches, seed=seed if repeat == 0 else seed * 1000 + repeat, epochs=epochs, replicates=1))
    n_a, n_b = runs[0].images
    right = np.stack([run.correct for run in runs])  # (runs, images)
    tested = np.stack([run.tested for run in runs])
    rng = np.random.default_rng([seed, repeats, 1])
    samples = []
    for _ in range(replicates):
        chosen = rng.integers(0, repeats, repeats)
        samples.append(balanced_accuracy(right[chosen].sum(0), tested[chosen].sum(0), n_a,
                                         bootstrap.resample_counts(rng, n_a), bootstrap.resample_counts(rng, n_b)))
    low, high, _ = bootstrap.percentile_interval(np.asarray(samples)[:, None])
    return RepeatedC2ST(float(np.mean([run.accuracy for run in runs])), float(low[0]), float(high[0]),
                        tuple(round(run.accuracy, 4) for run in runs), runs[0].images, runs[0].patches)


def balanced_accuracy(right: np.ndarray, tested: np.ndarray, n_a: int, weights_a: np.ndarray,
                      weights_b: np.ndarray) -> float:
    """Mean of the two sets' accuracies over their (weighted) images' held-out patches."""
    accuracies = [(w @ right[part]) / (w @ tested[part])
                  for w, part in ((weights_a, slice(0, n_a)), (weights_b, slice(n_a, None)))]
    return float(np.mean(accuracies))


def _network():
    from torch import nn

    return nn.Sequential(nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 1))


def _train(x, y, epochs: int, rng: np.random.Generator):
    import torch

    network = _network()
    optimiser = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    loss = torch.nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(y)))
        for start in range(0, len(y), BATCH):
            batch = order[start:start + BATCH]
            optimiser.zero_grad()
            loss(network(x[batch]).squeeze(1), y[batch]).backward()
            optimiser.step()
    return network.eval()
