"""The tissue model beyond Gaussian speckle: its table keys, amplitude shape, boundary layers,
specular interfaces and sub-structures (ussim.tissue, ussim.anatomy, ussim.phantoms.structures)."""

import dataclasses
import math

import numpy as np
import pytest
from scipy import ndimage

from ussim import anatomy, probe, scan, scatter, simulate, tissue
from ussim.errors import UsageError

LINEAR = probe.load("linear-7.6")
STEP = 0.1e-3


def grid(n=96, depth=6e-3):
    return (np.arange(n) + 0.5) * STEP - n * STEP / 2, (np.arange(n) + 0.5) * STEP + depth


def table(**classes):
    return tissue.TissueTable("t", "linear-7.6", {name: tissue.Tissue(**values) for name, values in classes.items()})


def write(tmp_path, body):
    path = tmp_path / "t.toml"
    path.write_text('organ = "t"\nprobe = "linear-7.6"\n[classes.b]\n' + body)
    return path


@pytest.mark.parametrize("body, message", [
    ("amplitude_shape = 0.0", "amplitude_shape = 0.0 is not allowed"),
    ("strong_fraction = 1.0", "strong_fraction = 1.0 is not allowed \\(must be in \\[0, 1\\)\\)"),
    ("strong_db = nan", "strong_db = nan is not allowed"),
    ("layer_db = { b = 3.0 }", "layer_db and layer_mm must name the same neighbour classes"),
    ("layer_db = { b = 3.0 }\nlayer_mm = { b = 0.0 }", "layer_mm.b = 0.0 is not allowed \\(must be > 0\\)"),
    ("interface_db = { liver = 3.0 }", "interface_db names class 'liver', which is not in the table"),
    ("interface_db = 3.0", "interface_db = 3.0 must be a table"),
    ("inclusion_class = 'cyst'", "inclusion_class 'cyst' is not a class of the table"),
    ("inclusions_per_cm2 = 2.0", "inclusions_per_cm2 = 2 needs an inclusion_class"),
    ("inclusions_per_cm2 = -1.0\ninclusion_class = 'b'", "inclusions_per_cm2 = -1.0 is not allowed"),
    ("inclusion_mm = -2.0", "inclusion_mm = -2.0 is not allowed \\(must be > 0\\)"),
    ("inclusion_spread = -0.1", "inclusion_spread = -0.1 is not allowed"),
    ("echogenicity_spread_db = -1.0", "echogenicity_spread_db = -1.0 is not allowed \\(must be >= 0\\)"),
    ("speckle_db = 1.0", "unknown key\\(s\\) speckle_db"),
])
def test_every_new_key_is_validated_in_one_line(tmp_path, body, message):
    with pytest.raises(UsageError, match=f"class b: {message}") as caught:
        tissue.load(write(tmp_path, body))
    assert "\n" not in str(caught.value)


def test_new_keys_load_from_toml(tmp_path):
    body = ("amplitude_shape = 2.0\nstrong_fraction = 0.01\nstrong_db = 12.0\nlayer_db = { b = -3.0 }\n"
            "layer_mm = { b = 0.2 }\ninterface_db = { b = 6.0 }\ninclusion_class = 'b'\ninclusions_per_cm2 = 1.5\n")
    loaded = tissue.load(write(tmp_path, body)).classes["b"]
    assert (loaded.amplitude_shape, loaded.strong_db, loaded.layer_mm, loaded.inclusions_per_cm2) == (2.0, 12.0,
                                                                                                      {"b": 0.2}, 1.5)


def test_each_exam_moves_each_class_by_its_own_seeded_draw():
    spread = table(b=dict(echogenicity_db=-3.0, echogenicity_spread_db=2.0), c=dict(echogenicity_spread_db=4.0),
                   d=dict())
    draws = np.array([[tissue.exam_offsets_db(spread, seed)[n] for n in "bc"] for seed in range(400)])
    assert set(tissue.exam_offsets_db(spread, 7)) == {"b", "c"}  # d has no spread: not moved
    assert tissue.exam_offsets_db(spread, 7) == tissue.exam_offsets_db(spread, 7)
    np.testing.assert_allclose(draws.std(0), [2.0, 4.0], rtol=0.12)
    assert abs(np.corrcoef(draws.T)[0, 1]) < 0.15  # independent classes
    fewer = table(b=dict(echogenicity_db=-3.0, echogenicity_spread_db=2.0))  # a class's draw does not
    assert tissue.exam_offsets_db(fewer, 7)["b"] == tissue.exam_offsets_db(spread, 7)["b"]  # shift the others'
    moved = tissue.with_offsets(spread, {"b": 1.5})
    assert (moved.classes["b"].echogenicity_db, moved.classes["c"]) == (-1.5, spread.classes["c"])


def legacy_scatterers(label, x, z, tissues, seed):
    """The pre-issue recipe (Gaussian amplitudes, texture, no other keys): positions and amplitudes."""
    rng = np.random.default_rng(seed)
    dx, dz = x[1] - x[0], z[1] - z[0]
    density = np.array([t.density for t in tissues])[label]
    counts = rng.poisson(scatter.density(LINEAR) * density * dx * dz * scatter.resolution_cell(LINEAR)[2]).ravel()
    pixel = np.repeat(np.arange(label.size), counts)
    row, column = np.divmod(pixel, x.size)
    sx = x[column] + rng.uniform(-dx / 2, dx / 2, pixel.size)
    sz = z[row] + rng.uniform(-dz / 2, dz / 2, pixel.size)
    rng.uniform(size=pixel.size)
    power_db = np.array([t.echogenicity_db for t in tissues])[label] + anatomy.texture(label, tissues, dx, dz, rng)
    amplitude = rng.standard_normal(pixel.size) * np.sqrt(10 ** (power_db / 10) / density).ravel()[pixel]
    return sx, sz, amplitude


def test_tables_without_the_new_keys_give_the_scatterers_they_gave_before(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text('organ = "t"\nprobe = "linear-7.6"\n[classes.a]\nheterogeneity_db = 2.0\n'
                    '[classes.b]\nechogenicity_db = 4.0\ndensity = 2.0\n')
    old = tissue.load(path)
    assert old.classes["a"] == dataclasses.replace(tissue.Tissue(), heterogeneity_db=2.0)
    x, z = grid(48)
    label = np.zeros((48, 48), np.uint8)
    label[:, 24:] = 1
    cloud = anatomy.scatterers_from_mask(label, x, z, ["a", "b"], old, LINEAR, seed=7)
    expected = legacy_scatterers(label, x, z, old.for_classes(["a", "b"]), seed=7)
    for got, want in zip((cloud.x, cloud.z, cloud.amplitude), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def envelope_of(cloud, x, z, *, lines=False):
    """The envelope image on the grid (x, z), or with `lines` the raw beamformed envelope of the
    inner half of the grid: the image is smoothed by scan conversion, which would raise m."""
    sim = simulate.simulate(cloud, LINEAR, scheme="plane", depth=float(z[-1]) + 1e-3, grid=scan.DisplayGrid(x, z),
                            device="cpu", progress=False, tgc=False)
    if not lines:
        return sim.envelope_image
    radii = simulate.radii_for(sim.settings, LINEAR)
    quarter = (z[-1] - z[0]) / 4
    along = (radii > z[0] + quarter) & (radii < z[-1] - quarter)
    across = np.abs(sim.beamformed.geometry.x) < (x[-1] - x[0]) / 4
    return sim.envelope[np.ix_(across, along)].T


def nakagami_m(envelope):
    """Nakagami m of the intensity, each row normalised to its mean (the plane wave's level
    changes with depth, which alone would lower m)."""
    intensity = envelope.astype(np.float64) ** 2
    intensity /= intensity.mean(axis=1, keepdims=True)
    return 1.0 / intensity.var()


def test_a_smaller_k_shape_lowers_nakagami_m():
    x, z = grid(96)
    label = np.zeros((96, 96), np.uint8)
    m = {}
    for shape in (math.inf, 0.3, 0.05):
        tables = table(tissue={"amplitude_shape": shape})
        m[shape] = np.mean([nakagami_m(envelope_of(anatomy.scatterers_from_mask(
            label, x, z, ["tissue"], tables, LINEAR, seed=seed), x, z, lines=True)) for seed in (1, 2)])
    assert m[math.inf] == pytest.approx(1.0, abs=0.3)  # fully developed speckle (one plane wave: a little above 1)
    assert m[math.inf] > m[0.3] > m[0.05]
    assert m[0.05] < m[math.inf] - 0.2


def test_strong_scatterers_keep_the_mean_power_and_are_strong():
    x, z = grid(64)
    label = np.zeros((64, 64), np.uint8)
    made = anatomy.anatomy_from_mask(label, x, z, ["tissue"], table(tissue={"strong_fraction": 0.02,
                                                                            "strong_db": 20.0}), LINEAR, seed=3)
    strong = np.array([made.group_names[g] == "tissue:strong" for g in made.group])
    assert strong.mean() == pytest.approx(0.02, rel=0.2)
    amplitude = made.scatterers.amplitude
    assert np.mean(amplitude ** 2) == pytest.approx(1.0, rel=0.1)
    assert 10 * np.log10(np.mean(amplitude[strong] ** 2) / np.mean(amplitude[~strong] ** 2)) == pytest.approx(20, abs=1)


def interface_peak(vertical_border):
    """The brightest echo of a border between two echo-free classes with a specular interface."""
    x, z = grid(96)
    label = np.zeros((96, 96), np.uint8)
    if vertical_border:
        label[:, 48:] = 1   # the border runs along the beam (plane wave, downwards)
    else:
        label[48:, :] = 1   # the border faces the beam
    quiet = {"echogenicity_db": -60.0, "density": 0.0}
    tables = table(a={**quiet, "interface_db": {"b": 10.0}}, b=quiet)
    made = anatomy.anatomy_from_mask(label, x, z, ["a", "b"], tables, LINEAR, seed=0)
    assert made.group_names == ["a|b"]
    return envelope_of(made.scatterers, x, z)[16:80, 16:80].max()


def test_an_interface_facing_the_beam_is_brighter_than_one_along_it():
    assert 20 * np.log10(interface_peak(False) / interface_peak(True)) > 10.0


def test_boundary_layers_change_the_level_near_the_border_only():
    x, z = grid(64)
    label = np.zeros((64, 64), np.uint8)
    label[:, 32:] = 1
    tables = table(a={"layer_db": {"b": -10.0}, "layer_mm": {"b": 0.5}}, b={})
    made = anatomy.anatomy_from_mask(label, x, z, ["a", "b"], tables, LINEAR, seed=4)
    group = np.array(made.group_names)[made.group]
    cloud = made.scatterers
    layer = group == "a:layer:b"
    assert cloud.x[layer].min() > x[32] - 0.6e-3 and cloud.x[layer].max() < x[32]
    level = 10 * np.log10(np.mean(cloud.amplitude[layer] ** 2) / np.mean(cloud.amplitude[group == "a"] ** 2))
    assert level == pytest.approx(-10.0, abs=1.0)


def test_sub_structures_are_seeded_reproducible_and_follow_their_rate():
    x, z = grid(128)
    label = np.zeros((128, 128), np.uint8)
    tables = table(ovary={"inclusion_class": "follicle", "inclusions_per_cm2": 40.0, "inclusion_mm": 1.0},
                   follicle={"density": 0.0, "echogenicity_db": -60.0})
    first, again, other = (anatomy.anatomy_from_mask(label, x, z, ["ovary"], tables, LINEAR, seed=s)
                           for s in (11, 11, 12))
    assert first.names == ["ovary", "follicle"]
    np.testing.assert_array_equal(first.label, again.label)
    np.testing.assert_array_equal(first.scatterers.x, again.scatterers.x)
    assert not np.array_equal(first.label, other.label)
    area_cm2 = (128 * STEP * 1e2) ** 2
    assert len(first.inclusions) == pytest.approx(40.0 * area_cm2, rel=0.5)
    inside = first.label == 1
    assert inside.any() and not np.any(first.label[0] > 1)
    # follicles have no scatterers of their own
    fx = np.rint((first.scatterers.x - x[0]) / STEP).astype(int).clip(0, 127)
    fz = np.rint((first.scatterers.z - z[0]) / STEP).astype(int).clip(0, 127)
    core = ndimage.binary_erosion(inside)
    assert core[fz, fx].mean() / core.mean() < 0.02  # scatterer density inside, relative to the mean


def test_a_mask_that_marks_its_sub_structures_gets_none_drawn():
    x, z = grid(64)
    label = np.zeros((64, 64), np.uint8)
    label[:4, :4] = 1  # the mask has its own follicle
    tables = table(ovary={"inclusion_class": "follicle", "inclusions_per_cm2": 400.0},
                   follicle={"density": 0.0, "echogenicity_db": -60.0})
    made = anatomy.anatomy_from_mask(label, x, z, ["ovary", "follicle"], tables, LINEAR, seed=1)
    assert made.inclusions == []
    np.testing.assert_array_equal(made.label, label)


def test_the_texture_redrawn_from_the_kept_state_is_the_anatomys_and_follows_new_lengths(tmp_path):
    """bench/fit_tissue.py redraws the texture with candidate lengths from Anatomy.texture_rng_state:
    with the table's own values the field must be the one the scatterers got; a longer lateral
    aspect must make it smoother across than in depth."""
    path = tmp_path / "t.toml"
    path.write_text('organ = "t"\nprobe = "linear-7.6"\n[classes.a]\nheterogeneity_db = 3.0\nheterogeneity_mm = 0.4\n'
                    '[classes.b]\nheterogeneity_db = 2.0\n')
    table = tissue.load(path)
    x, z = grid(64)
    label = np.zeros((64, 64), np.uint8)
    label[:, 40:] = 1
    made = anatomy.anatomy_from_mask(label, x, z, ["a", "b"], table, LINEAR, seed=3)
    dx, dz = x[1] - x[0], z[1] - z[0]
    again = anatomy.texture(made.label, table.for_classes(made.names), dx, dz,
                            anatomy.rng_from_state(made.texture_rng_state))
    np.testing.assert_array_equal(again, made.texture_db)
    wide = dataclasses.replace(table.classes["a"], heterogeneity_aspect=4.0)
    stretched = anatomy.texture(made.label, [wide, table.classes["b"]], dx, dz,
                                anatomy.rng_from_state(made.texture_rng_state))[:, :40]
    assert np.abs(np.diff(stretched, axis=1)).mean() < 0.5 * np.abs(np.diff(stretched, axis=0)).mean()


def test_streaks_keep_the_mean_power_lie_across_the_depth_and_leave_other_classes_fields():
    """The fine texture (streak_db): drawn after every coarse field, so class b's field is the one
    it had without streaks; its power averages to the class's own (echogenicity_db keeps its
    meaning); longer across than in depth."""
    coarse = {"heterogeneity_db": 2.0, "heterogeneity_mm": 0.5}
    plain = table(a=dict(coarse), b=dict(coarse))
    streaked = table(a=dict(coarse, streak_db=5.0, streak_mm=0.1, streak_aspect=6.0), b=dict(coarse))
    x, z = grid(128)
    label = np.zeros((128, 128), np.uint8)
    label[:, 64:] = 1
    dx, dz = x[1] - x[0], z[1] - z[0]
    before = anatomy.texture(label, plain.for_classes(["a", "b"]), dx, dz, np.random.default_rng(5))
    after = anatomy.texture(label, streaked.for_classes(["a", "b"]), dx, dz, np.random.default_rng(5))
    np.testing.assert_array_equal(after[:, 64:], before[:, 64:])
    streaks = after[:, :64] - before[:, :64]
    assert np.mean(10 ** (streaks / 10)) == pytest.approx(1.0, abs=0.1)
    assert streaks.std() > 3.0
    assert np.abs(np.diff(streaks, axis=1)).mean() < 0.5 * np.abs(np.diff(streaks, axis=0)).mean()


def test_a_negative_streak_level_is_refused_in_one_line(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('organ = "t"\nprobe = "linear-7.6"\n[classes.a]\nstreak_db = -1.0\n')
    with pytest.raises(UsageError, match="streak_db = -1.0 is not allowed"):
        tissue.load(path)
