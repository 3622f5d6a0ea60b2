"""The tissue fit's objective (bench/fit_tissue.py): its local-skewness term tells bright grains, its
layer term a boundary layer of the wrong brightness, its contrast term a class that stands out from
its surroundings more than the real one."""

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


def radial_speckle(seed: int, along_sigma: float, origin=(-40.0, 48.0)) -> np.ndarray:
    """Four 96 x 96 speckle images blurred by `along_sigma` px along the radius from `origin` (rows,
    columns) and 0.8 px across it: speckle elongated along fanning beams."""
    rng = np.random.default_rng(seed)
    amplitude = np.abs(rng.standard_normal((4, 256, 256)) + 1j * rng.standard_normal((4, 256, 256)))
    rows, cols = np.mgrid[:96, :96].astype(np.float64)
    radius, angle = np.hypot(rows - origin[0], cols - origin[1]), np.arctan2(cols - origin[1], rows - origin[0])
    # a polar raster (1 px in radius, 1 px of arc at radius 100) blurred there, read back on the image
    polar = [ndimage.gaussian_filter(a, (along_sigma, 0.8)) for a in amplitude]
    where = [radius - radius.min(), (angle - angle.min()) * 100]
    smooth = np.stack([ndimage.map_coordinates(p, where, order=1) for p in polar])
    return np.clip(100 + 12 * np.log(smooth / smooth.mean()), 0, 255).astype(np.uint8)


def test_the_grain_term_measures_along_and_across_the_beam_as_the_realism_benchmark():
    """With `beam`, the grain is realism_measures.speckle_size_px's (along, across the beam, within the
    field of view), and an image whose speckle runs longer along the beam is charged along, not across."""
    origin, fov = (-40.0, 48.0), np.ones((96, 96), bool)
    fov[:, :6] = False
    labels = np.zeros((4, 96, 96), np.uint8)
    real, long = radial_speckle(0, 0.8), radial_speckle(1, 1.6)
    np.testing.assert_allclose(fit_tissue.grain_px(real, labels == 0, (origin, fov)),
                               fit_tissue.measures.speckle_size_px(real, (labels == 0) & fov, origin))
    same = fit_tissue.objective_parts(real, radial_speckle(1, 0.8), labels, ["background"], beam=(origin, fov))
    longer = fit_tissue.objective_parts(real, long, labels, ["background"], beam=(origin, fov))["background"]
    assert np.all(np.abs(same["background"]["grain_error"]) < 0.1)  # another draw of the same speckle
    along, across = longer["grain_error"]
    assert along > 0.3 and abs(across) < 0.1


def test_the_objective_charges_a_layer_of_the_wrong_brightness():
    """A background band within the ovary table's layer width of the ovary (10.27 mm): found where
    ussim draws it, and charged by the layer term when its gray differs from the real one's."""
    table = tissue.load("ovary")
    width = table.classes["background"].layer_mm["ovary"]
    names = ["background", "ovary"]
    pixel = width / 24  # mm: the band 24 px wide, the grid wide enough for background beyond it
    grid = scan.DisplayGrid(np.arange(96) * pixel * 1e-3, np.arange(96) * pixel * 1e-3)
    labels = np.zeros((4, 96, 96), np.uint8)
    labels[:, 40:56, 40:56] = 1
    layers = fit_tissue.layer_masks(labels, names, table, grid)
    band = layers["background from ovary"]
    distance = ndimage.distance_transform_edt(labels[0] == 0, sampling=pixel)
    assert band[0][(distance <= width - pixel) & (labels[0] == 0)].all()
    assert not band[0][distance >= width + pixel].any() and (distance >= width + pixel).any()
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


def disks(label: np.ndarray, rate_per_cm2: float, median_mm: float, spread: float, seed: int,
          visible_every: int = 1) -> np.ndarray:
    """Stroma of gray 80 with dark disks (gray 5) at a Poisson rate, lognormal diameters, on 0.2 mm
    pixels; only every `visible_every`-th disk dark, the others at the stroma's gray (missed)."""
    rng = np.random.default_rng(seed)
    image = np.full(label.shape, 80.0)
    rows, columns = np.indices(label.shape)
    area_cm2 = label.size * 0.04 / 100
    for k in range(rng.poisson(rate_per_cm2 * area_cm2)):
        r, c = rng.uniform(0, label.shape[0]), rng.uniform(0, label.shape[1])
        radius_px = median_mm * np.exp(spread * rng.standard_normal()) / 2 / 0.2
        if k % visible_every == 0:
            image[(rows - r) ** 2 + (columns - c) ** 2 <= radius_px ** 2] = 5.0
    return image.astype(np.uint8)


def test_follicles_are_drawn_at_the_rate_the_detector_sees_in_the_real_frames(monkeypatch):
    """A stand-in simulator whose every second follicle the detector misses: the calibration must
    draw twice the 'real' frames' rate, at their sizes."""
    table = tissue.load("ovary")
    names = ["background", "ovary"]
    grid = scan.DisplayGrid(np.arange(128) * 0.2e-3, np.arange(128) * 0.2e-3)
    labels = np.ones((8, 128, 128), np.uint8)
    real = np.stack([disks(label, 1.2, 2.5, 0.25, seed) for seed, label in enumerate(labels)])

    class Simulated:
        def __init__(self, bmode):
            self.bmode = bmode

    def stand_in(label, grid, names, table, probe, *, seed, **_):
        ovary = table.classes["ovary"]
        return Simulated(disks(label, ovary.inclusions_per_cm2, ovary.inclusion_mm, ovary.inclusion_spread,
                               seed, visible_every=2))

    monkeypatch.setattr(fit_tissue.phantom, "simulate_mask", stand_in)
    result = fit_tissue.calibrate_inclusions(real, labels, names, table, None, grid, "ovary", "fast", steps=4, seeds=3)
    seen = result["real"]
    assert seen["blobs"] >= 30
    drawn = result["drawn"]
    # twice the real frames' own rate (1.2 per cm2): the stand-in shows half of what it draws, and
    # the detector loses alike in both (merged disks, disks cut by the edge)
    assert 1.9 < drawn["inclusions_per_cm2"] < 2.9
    assert abs(drawn["inclusion_mm"] / seen["inclusion_mm"] - 1) < 0.15
    assert min(step["distance"] for step in result["steps"]) < 0.15
    # the first step draws what the detector read, and sees about half of it
    first = result["steps"][0]
    assert first["drawn"]["inclusions_per_cm2"] == round(float(seen["inclusions_per_cm2"]), 3)
    assert first["detected"]["inclusions_per_cm2"] < 0.7 * seen["inclusions_per_cm2"]


def test_the_contrast_term_costs_a_disc_darker_against_its_surroundings_than_the_real_one():
    """Real frames: a disc 30 gray darker than the tissue around it. A simulation with the same
    contrast costs nothing in the term; one 20 gray darker costs CONTRAST_WEIGHT x 0.2^2 more. The
    disc's own histogram moves too, but the term is what tells the contrast (reported in gray)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    label = ((yy - 48) ** 2 + (xx - 48) ** 2 < 15 ** 2).astype(np.uint8)
    labels = np.stack([label] * 6)

    shown = np.zeros((96, 96), bool)
    shown[8:-8, 8:-8] = True  # a field of view with the scanner's black fill around it

    def frames(disc):
        return np.where(shown, np.clip([np.where(label == 1, disc, 90) + rng.normal(0, 8, (96, 96))
                                        for _ in range(6)], 1, 254), 0).astype(np.uint8)
    real = frames(60)
    same = fit_tissue.objective_parts(real, frames(60), labels, ["background", "disc"])["disc"]
    darker = fit_tissue.objective_parts(real, frames(40), labels, ["background", "disc"])["disc"]
    assert abs(same["contrast_error_gray"][0]) < 1 and abs(darker["contrast_error_gray"][0] + 20) < 1
    assert "contrast_error_gray" not in fit_tissue.objective_parts(real, frames(60), labels, ["background", "disc"])[
        "background"]
    term = fit_tissue.CONTRAST_WEIGHT * (20 / fit_tissue.CONTRAST_GRAY) ** 2
    assert darker["cost"] - same["cost"] > 0.9 * term
