import numpy as np
import pytest
from scipy import ndimage

from ussim import anatomy, probe, scan, simulate, tissue
from ussim.phantoms import ivus, ovary

OVARY_X = (np.arange(256) + 0.5) * 60e-3 / 256 - 30e-3
OVARY_Z = (np.arange(256) + 0.5) * 60e-3 / 256
IVUS_X = IVUS_Z = (np.arange(256) + 0.5) * 10e-3 / 256 - 5e-3


@pytest.mark.parametrize("seed", range(12))
def test_ovary_masks_hold_separate_follicles_inside_the_ovary(seed):
    label, drawn = ovary.draw(OVARY_X, OVARY_Z, np.random.default_rng(seed))
    assert label.dtype == np.uint8 and label.max() < len(ovary.CLASS_NAMES)
    assert (label == ovary.OVARY).any()
    diameters = drawn["follicle_diameters_mm"]
    low, high = ovary.OvaryParams().follicle_diameter_mm
    assert len(diameters) <= 15 and all(low <= d <= high * 1.1 for d in diameters)  # wobble may add a little
    follicles = label == ovary.FOLLICLE
    _, components = ndimage.label(follicles, structure=np.ones((3, 3)))
    assert components == len(diameters)  # non-overlapping: one connected region each
    rim = ndimage.binary_dilation(follicles) & ~follicles
    assert np.all(label[rim] == ovary.OVARY)  # each follicle is surrounded by stroma


def test_ovary_draws_are_seeded_and_vary():
    first, _ = ovary.draw(OVARY_X, OVARY_Z, np.random.default_rng(5))
    again, _ = ovary.draw(OVARY_X, OVARY_Z, np.random.default_rng(5))
    other, _ = ovary.draw(OVARY_X, OVARY_Z, np.random.default_rng(6))
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    counts = [len(ovary.draw(OVARY_X, OVARY_Z, np.random.default_rng(s))[1]["follicles"]) for s in range(20)]
    # a crowded ovary holds fewer than drawn (2-25 mm follicles, each apart from the others)
    assert min(counts) <= 1 and max(counts) >= 5


@pytest.mark.parametrize("seed", range(12))
def test_ivus_anatomy_is_nested_around_the_catheter(seed):
    label, drawn = ivus.draw(IVUS_X, IVUS_Z, np.random.default_rng(seed))
    px, pz = np.meshgrid(IVUS_X, IVUS_Z)
    radius = np.hypot(px, pz)
    assert np.all(label[radius <= 0.45e-3] == ivus.CATHETER)
    ring = (radius > 0.55e-3) & (radius < 0.6e-3)  # just outside the catheter: blood or guidewire
    assert np.all(np.isin(label[ring], [ivus.LUMEN, ivus.GUIDEWIRE]))
    real = ivus.to_real_classes(label)
    lumen = real == 2
    # the lumen touches the outside only through a wall (EEM holds the lumen), side branches aside
    main = ndimage.label(lumen)[0]
    core = main == main[128, 128]
    assert not np.any(real[ndimage.binary_dilation(core) & ~core] == 0)
    assert set(np.unique(real)) <= {0, 1, 2}


def test_ivus_plaque_types_all_occur_and_map_onto_real_classes():
    seen = {ivus.draw(IVUS_X, IVUS_Z, np.random.default_rng(s))[1]["plaque"] for s in range(40)}
    assert seen == set(ivus.PLAQUES)
    assert ivus.CLASS_NAMES[:3] == ivus.REAL_CLASSES == tuple(tissue.load("ivus").classes)[:3]
    assert set(ivus.CLASS_NAMES) == set(tissue.load("ivus").classes) == set(ivus.REAL_CLASS)
    assert set(ovary.CLASS_NAMES) == set(tissue.load("ovary").classes)


def test_calcified_plaque_shadows_through_the_physics():
    params = ivus.IvusParams(plaque_probabilities=(0, 0, 0, 1), plaque_span_deg=(90, 90), calcium_mm=(0.3, 0.3),
                             guidewire_probability=0, side_branch_probability=0, catheter_radius_mm=0.45)
    x = z = (np.arange(128) + 0.5) * 8e-3 / 128 - 4e-3
    label, drawn = ivus.draw(x, z, np.random.default_rng(3), params)
    p = probe.load("ivus-40")
    cloud = anatomy.scatterers_from_mask(label, x, z, list(ivus.CLASS_NAMES), tissue.load("ivus"), p, seed=1)
    sim = simulate.simulate(cloud, p, n_lines=128, grid=scan.DisplayGrid(x, z), device="cpu", progress=False)
    px, pz = np.meshgrid(x, z)
    angle = np.angle(np.exp(1j * (np.arctan2(px, pz) - drawn["plaque_direction_rad"])))
    outside = (label == ivus.OUTSIDE) & (np.hypot(px, pz) < 3.8e-3)
    level = 20 * np.log10(np.maximum(sim.envelope_image, 1e-30))
    behind = outside & (np.abs(angle) < np.deg2rad(30))
    opposite = outside & (np.abs(angle) > np.deg2rad(120))
    assert level[behind].mean() < level[opposite].mean() - 10  # a shadow of more than 10 dB
