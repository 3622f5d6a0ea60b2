import numpy as np
import pytest

from ussim import anatomy, probe, scan, scatter, simulate, tissue
from ussim.errors import UsageError

LINEAR = probe.load("linear-7.6")


def grid(nx=160, nz=224, step=0.125e-3, x0=-10e-3):
    return (np.arange(nx) + 0.5) * step + x0, (np.arange(nz) + 0.5) * step


def follicle_table(follicle_alpha):
    return tissue.TissueTable("test", "linear-7.6", {
        "tissue": tissue.Tissue(attenuation_db_cm_mhz=0.7),
        "follicle": tissue.Tissue(echogenicity_db=-60.0, density=0.0, attenuation_db_cm_mhz=follicle_alpha)})


def test_shipped_tables_cover_the_real_sets_classes():
    assert {"ovary", "ivus"} <= set(tissue.organ_names())
    assert list(tissue.load("ivus").classes)[:3] == ["outside_EEM", "wall", "lumen"]  # as the real IVUS set
    assert {"background", "ovary", "follicle"} <= set(tissue.load("ovary").classes)


def test_table_errors_name_the_problem(tmp_path):
    with pytest.raises(UsageError, match="class\\(es\\) plaque of the mask are not in the ivus tissue table"):
        tissue.load("ivus").for_classes(["lumen", "plaque"])
    with pytest.raises(UsageError, match="unknown organ 'liver'"):
        tissue.load("liver")
    bad = tmp_path / "bad.toml"
    bad.write_text('organ = "x"\nprobe = "linear-7.6"\n[classes.a]\ndensity = -1.0\n')
    with pytest.raises(UsageError, match="class a: density = -1.0 is not allowed \\(must be >= 0\\)"):
        tissue.load(bad)


def test_density_and_echogenicity_follow_the_table():
    x, z = grid(nx=80, nz=80)
    label = np.zeros((80, 80), np.uint8)
    label[:, 40:] = 1
    table = tissue.TissueTable("t", "linear-7.6", {"a": tissue.Tissue(), "b": tissue.Tissue(echogenicity_db=6.0,
                                                                                          density=2.0)})
    cloud = anatomy.scatterers_from_mask(label, x, z, ["a", "b"], table, LINEAR, seed=3)
    left, right = cloud.x < x[40] - 0.0625e-3, cloud.x >= x[40] - 0.0625e-3
    area = 40 * 80 * (0.125e-3) ** 2 * scatter.resolution_cell(LINEAR)[2]
    assert left.sum() == pytest.approx(scatter.density(LINEAR) * area, rel=0.05)
    assert right.sum() / left.sum() == pytest.approx(2.0, rel=0.05)
    power = [np.sum(cloud.amplitude[side] ** 2) for side in (left, right)]
    assert 10 * np.log10(power[1] / power[0]) == pytest.approx(6.0, abs=0.3)


@pytest.mark.parametrize("name", ["linear-7.6", "convex-tv-7.5", "ivus-20"])
def test_uniform_attenuation_integrates_along_the_probes_rays(name):
    p = probe.load(name)
    x, z = grid(nx=64, nz=64, step=0.25e-3, x0=-8e-3)
    if p.kind == "ivus":
        z = z - 8e-3
    alpha = np.full((64, 64), 2e-6)
    path = anatomy.path_integral_map(alpha, x, z, p)
    px, pz = np.meshgrid(x, z)
    if p.kind == "linear":
        expected = pz
    elif p.kind == "convex":
        expected = np.hypot(px, pz + p.radius) - p.radius
    else:
        expected = np.hypot(px, pz) - p.catheter_radius
    valid = expected > 0
    np.testing.assert_allclose(path[valid], 2e-6 * expected[valid], rtol=1e-6, atol=1e-12)


def test_posterior_enhancement_comes_from_attenuation_not_painting():
    """Behind a fluid follicle that does not attenuate, tissue is brighter than beside it at
    the same depth; when the 'follicle' attenuates like tissue, the difference vanishes."""
    x, z = grid()
    px, pz = np.meshgrid(x, z)
    label = (np.hypot(px, pz - 12e-3) < 3e-3).astype(np.uint8)
    behind = (np.abs(px) < 1.5e-3) & (pz > 17e-3) & (pz < 27e-3)
    beside = (np.abs(np.abs(px) - 7e-3) < 1.5e-3) & (pz > 17e-3) & (pz < 27e-3)
    enhancement = {}
    for follicle_alpha in (0.0, 0.7):
        cloud = anatomy.scatterers_from_mask(label, x, z, ["tissue", "follicle"], follicle_table(follicle_alpha),
                                             LINEAR, seed=1)
        assert not np.any(np.hypot(cloud.x, cloud.z - 12e-3) < 2.9e-3)  # the follicle itself is empty
        sim = simulate.simulate(cloud, LINEAR, scheme="plane", depth=28e-3, attenuation_db_cm_mhz=0.7,
                                grid=scan.DisplayGrid(x, z), device="cpu", progress=False)
        level = 20 * np.log10(sim.envelope_image)
        enhancement[follicle_alpha] = level[behind].mean() - level[beside].mean()
    # Path difference at fc: 2 x 0.7 dB/cm/MHz x 7.6 MHz x 0.6 cm = 6.4 dB; measured about 4 dB
    # (one plane wave's side lobes mix the neighbouring tissue in).
    assert enhancement[0.0] > 3.0
    assert abs(enhancement[0.7]) < 1.5


def test_mask_and_grid_must_agree():
    x, z = grid(nx=10, nz=10)
    with pytest.raises(UsageError, match="does not match its grid"):
        anatomy.scatterers_from_mask(np.zeros((10, 11), np.uint8), x, z, ["tissue"], follicle_table(0), LINEAR)
    with pytest.raises(UsageError, match="no scatterers"):
        anatomy.scatterers_from_mask(np.ones((10, 10), np.uint8), x, z, ["tissue", "follicle"], follicle_table(0),
                                     LINEAR)
    with pytest.raises(UsageError, match="uniformly increasing"):
        anatomy.scatterers_from_mask(np.zeros((10, 10), np.uint8), x[::-1], z, ["tissue"], follicle_table(0), LINEAR)


def test_bilinear_reads_maps_as_ndimage_does():
    """The compiled bilinear read of the attenuation maps equals scipy's map_coordinates (order 1,
    edges continued), inside, on the edges and beyond them, on maps of one row or column too."""
    from scipy import ndimage
    rng = np.random.default_rng(0)
    for shape in [(40, 30), (1, 7), (7, 1), (2, 2)]:
        image = rng.standard_normal(shape)
        rows = rng.uniform(-3, shape[0] + 2, (50, 40))
        columns = rng.uniform(-3, shape[1] + 2, (50, 40))
        rows[0, :3], columns[0, :3] = [0, shape[0] - 1, shape[0] - 1.5], [shape[1] - 1, 0, 0.5]
        expected = ndimage.map_coordinates(image, [rows, columns], order=1, mode="nearest")
        np.testing.assert_allclose(anatomy.bilinear(image, rows, columns), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rate", [1.029, 6.0])  # the ovary table's rate, and one that packs the ovary
def test_follicles_lie_apart_and_inside_the_ovary(rate):
    """Seeded follicles are separate discs wholly inside the ovary, apart by the gap; the draw is seeded."""
    import dataclasses

    from scipy import ndimage

    from ussim.phantoms import structures

    table = tissue.load("ovary")
    ovary = dataclasses.replace(table.classes["ovary"], inclusions_per_cm2=rate)
    table = dataclasses.replace(table, classes={**table.classes, "ovary": ovary})
    step = 0.2e-3
    rows, cols = np.mgrid[:200, :200] * step * 1e3
    label = (((rows - 20) / 15) ** 2 + ((cols - 20) / 12) ** 2 <= 1).astype(np.uint8)  # 30 x 24 mm ovary
    drawn_label, names, drawn = structures.draw_inclusions(label, ["background", "ovary"], table, step, step,
                                                           np.random.default_rng(5))
    follicle = drawn_label == names.index("follicle")
    assert names == ["background", "ovary", "follicle"] and len(drawn) >= 3
    assert not (follicle & (label == 0)).any()  # inside the ovary
    components, count = ndimage.label(follicle)
    assert count == len(drawn)  # no two merged
    for one, two in ((a, b) for i, a in enumerate(drawn) for b in drawn[i + 1:]):
        apart = np.hypot(one["row"] - two["row"], one["column"] - two["column"]) * step * 1e3
        assert apart >= (one["diameter_mm"] + two["diameter_mm"]) / 2 + structures.INCLUSION_GAP_MM - 1e-9
    again = structures.draw_inclusions(label, ["background", "ovary"], table, step, step, np.random.default_rng(5))
    assert np.array_equal(again[0], drawn_label)
