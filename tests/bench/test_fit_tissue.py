"""The tissue fit's objective (bench/fit_tissue.py): its local-skewness term tells bright grains, its
layer term a boundary layer of the wrong brightness."""

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fit_tissue  # noqa: E402

from ussim import scan, tissue  # noqa: E402


def speckle_images(seed: int, grains: bool) -> np.ndarray:
    """Four 96 x 96 log-compressed speckle images (gray about 100), with sparse bright grains or without."""
    rng = np.random.default_rng(seed)
    amplitude = np.abs(rng.standard_normal((4, 96, 96)) + 1j * rng.standard_normal((4, 96, 96)))
    if grains:
        amplitude *= np.where(rng.random((4, 96, 96)) < 0.02, 8.0, 1.0)
    smooth = np.stack([ndimage.gaussian_filter(a, 0.8) for a in amplitude])
    return np.clip(100 + 12 * np.log(smooth / smooth.mean()), 0, 255).astype(np.uint8)


def test_the_objective_charges_bright_grains_the_real_images_lack():
    labels = np.zeros((4, 96, 96), np.uint8)
    real = speckle_images(0, grains=False)
    same = fit_tissue.objective_parts(real, speckle_images(1, grains=False), labels, ["background"])["background"]
    grainy = fit_tissue.objective_parts(real, speckle_images(1, grains=True), labels, ["background"])["background"]
    assert abs(same["skewness_error"]) < 0.15  # another draw of the same speckle
    assert grainy["skewness_error"] > 0.5  # bright grains skew the gray to the bright side
    skew_cost = fit_tissue.SKEW_WEIGHT * grainy["skewness_error"] ** 2
    rest = grainy["js"] + fit_tissue.GRAIN_WEIGHT * np.mean(np.square(grainy["grain_error"])) \
        + fit_tissue.TEXTURE_WEIGHT * np.mean(np.square(grainy["texture_error"])) \
        + fit_tissue.TEXTURE_LENGTH_WEIGHT * np.mean(np.square(grainy["texture_length_error"]))
    np.testing.assert_allclose(grainy["cost"], rest + skew_cost)


def test_the_objective_charges_a_layer_of_the_wrong_brightness():
    """A background band within 5 mm of the ovary (the ovary table's layer): found where ussim draws
    it, and charged by the layer term when its gray differs from the real one's."""
    table = tissue.load("ovary")
    names = ["background", "ovary"]
    grid = scan.DisplayGrid(np.arange(96) * 0.2e-3, np.arange(96) * 0.2e-3)
    labels = np.zeros((4, 96, 96), np.uint8)
    labels[:, 40:56, 40:56] = 1
    layers = fit_tissue.layer_masks(labels, names, table, grid)
    band = layers["background from ovary"]
    distance = ndimage.distance_transform_edt(labels[0] == 0, sampling=0.2)
    assert band[0][(distance <= 4.5) & (labels[0] == 0)].all() and not band[0][distance >= 5.5].any()
    assert not band[labels == 1].any()
    real = speckle_images(0, grains=False)
    real[band] = np.clip(real[band].astype(int) + 30, 0, 255)  # the real band is brighter
    level = fit_tissue.objective_parts(real, real.copy(), labels, names, layers=layers)["background"]
    assert abs(level["layer_error"]["background from ovary"]) < 1e-9
    dim = real.copy()
    dim[band] = real[band] - 30  # the band at the rest's level
    charged = fit_tissue.objective_parts(real, dim, labels, names, layers=layers)["background"]
    error = charged["layer_error"]["background from ovary"]
    assert error < -0.15
    without_layer = fit_tissue.objective_parts(real, dim, labels, names)["background"]
    assert "layer_error" not in without_layer
    np.testing.assert_allclose(charged["cost"], without_layer["cost"] + fit_tissue.LAYER_WEIGHT * error ** 2)
