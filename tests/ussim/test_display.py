import dataclasses

import numpy as np
import pytest

from ussim import display, phantom, scan, scatter, simulate, tissue, transmit
from ussim import probe as probes
from ussim.errors import UsageError


@pytest.fixture(params=["ovary", "ivus"])
def organ(request):
    return request.param


def grid_of(organ, size=64):
    return phantom.display_grid(tissue.load(organ), (size, size))


def test_gray_map_is_monotone_and_its_inverse_round_trips(organ):
    chain = display.load(organ)
    levels = np.linspace(chain.knots_db[0] - 10, chain.knots_db[-1] + 10, 2001)
    gray = display.gray_map(levels, chain)
    assert np.all(np.diff(gray) >= 0) and gray[0] == chain.knots_gray[0] and gray[-1] == chain.knots_gray[-1]
    inside = (levels > chain.knots_db[0]) & (levels < chain.knots_db[-1])
    # gray_to_level_db undoes the gain as well: the displayed level minus the gain
    back = display.gray_to_level_db(gray[inside], chain)
    np.testing.assert_allclose(back, levels[inside] - chain.gain_db, atol=1e-9)
    # saturated and black pixels give the end knots' levels: bounds, not values
    ends = display.gray_to_level_db([0, 255], chain)
    assert ends[0] == chain.knots_db[0] - chain.gain_db and ends[1] == chain.knots_db[-1] - chain.gain_db


def test_inverse_with_a_grid_undoes_tgc_and_marks_drawn_pixels(organ):
    chain = dataclasses.replace(display.load(organ), tgc_db=(0.0, 3.0, 6.0, 9.0))
    grid = grid_of(organ)
    envelope = np.full((64, 64), 0.1)
    level = display.level_db(envelope, 1.0, grid, chain)
    gray = display.gray_map(level, chain)
    back = display.gray_to_level_db(gray, chain, grid)
    fov = display.field_of_view(grid, chain)
    assert np.all(np.isnan(back[~fov]))
    usable = ~np.isnan(back) & (gray > chain.knots_gray[0]) & (gray < chain.knots_gray[-1])
    assert usable.sum() > 100
    np.testing.assert_allclose(back[usable], -20.0, atol=1e-6)  # 20 log10(0.1), whatever the depth


def test_field_of_view_and_outside_fill_of_the_ovary_sector():
    table = tissue.load("ovary")
    chain = display.load(table)
    grid = phantom.display_grid(table, (128, 128))
    fov = display.field_of_view(grid, table)
    x, z = np.meshgrid(grid.x * 1e3, grid.z * 1e3)
    radius, angle = np.hypot(x, z - chain.apex_z_mm), np.degrees(np.arctan2(x, z - chain.apex_z_mm))
    assert fov[(np.abs(x) < 2) & (z > 5) & (z < 30)].all()                       # the centre line
    assert not fov[radius < chain.inner_radius_mm].any()                         # the probe itself
    assert not fov[radius > chain.outer_radius_mm].any()                         # below the sector
    assert not fov[np.abs(angle) > chain.half_angle_deg].any()
    image = display.render(np.ones((128, 128)), 1.0, grid, chain)
    outside = ~fov & (np.abs(radius - chain.face_radius_mm) > 2 * chain.face_width_mm)
    assert np.all(image[outside] == chain.outside_gray) and chain.outside_gray == 0
    face = (np.abs(radius - chain.face_radius_mm) < chain.face_width_mm / 4) & (np.abs(angle) < 60)
    assert face.any() and np.all(image[face] >= 0.8 * chain.face_gray) and chain.face_gray > 100  # bright arc


def test_field_of_view_and_outside_fill_of_ivus():
    table = tissue.load("ivus")
    chain = display.load(table)
    grid = phantom.display_grid(table, (128, 128))
    fov = display.field_of_view(grid, chain)
    x, z = np.meshgrid(grid.x * 1e3, grid.z * 1e3)
    radius = np.hypot(x, z)
    assert np.array_equal(fov, (radius >= chain.inner_radius_mm) & (radius <= chain.outer_radius_mm))
    image = display.render(np.zeros((128, 128)), 1.0, grid, chain)
    assert np.all(image[radius > chain.outer_radius_mm] == chain.outside_gray) and chain.outside_gray > 0
    assert np.all(image[radius < chain.inner_radius_mm - 0.1] == chain.catheter_gray)
    assert np.all(image[fov & (radius > 1.0)] == 0)  # no echo is black inside the field of view


def test_the_chain_changes_the_image_but_not_the_envelope():
    p = probes.load("convex-tv-7.5")
    cloud = scatter.homogeneous_box(p, (-3e-3, 3e-3), (6e-3, 12e-3), per_cell=1, seed=2)
    grid = scan.DisplayGrid.covering(-8e-3, 8e-3, -2e-3, 14e-3, (40, 40))
    common = dict(scheme="diverging", n_lines=32, depth=14e-3, device="cpu", progress=False, grid=grid)
    plain = simulate.simulate(cloud, p, **common)
    chained = simulate.simulate(cloud, p, display_chain="ovary", **common)
    np.testing.assert_array_equal(plain.envelope_image, chained.envelope_image)
    np.testing.assert_array_equal(plain.envelope, chained.envelope)
    assert not np.array_equal(plain.bmode, chained.bmode)
    assert chained.params["display_chain"]["fov"] == "sector"
    reference = chained.params["settings"]["reference"]
    expected = display.render(np.where(scan.imaged_mask(chained.beamformed.geometry, grid), chained.envelope_image, 0),
                              reference, grid, display.load("ovary"))
    np.testing.assert_array_equal(chained.bmode, expected)


@pytest.mark.parametrize("change, message", [
    (dict(knots_gray=(0.0, 50.0, 40.0)), "knots_gray"),
    (dict(knots_db=(0.0, -1.0, 2.0)), "knots_db"),
    (dict(knots_db=(0.0, 1.0)), "2 dB knots and 3 gray knots"),
    (dict(reverb_spacing_mm=-1.0), "reverb_spacing_mm = -1"),
    (dict(outside_gray=300.0), "outside_gray = 300"),
    (dict(outer_radius_mm=0.5, inner_radius_mm=1.0), "outer_radius_mm = 0.5"),
    (dict(fov="square"), "field of view 'square'"),
    (dict(tgc_mm=(0.0, 5.0), tgc_db=(1.0,)), "2 TGC depths for 1 gains"),
    (dict(tgc_mm=(5.0, 1.0), tgc_db=(1.0, 2.0)), "must strictly increase"),
])
def test_bad_chain_values_give_one_clear_line(change, message):
    good = display.DisplayChain(fov="sector", knots_db=(-30.0, -10.0, 0.0), knots_gray=(0.0, 100.0, 255.0))
    display.validate(good)
    with pytest.raises(UsageError, match=message) as error:
        display.validate(dataclasses.replace(good, **change))
    assert "\n" not in str(error.value)


def test_a_table_without_a_chain_or_with_an_unknown_key_is_refused(tmp_path):
    path = tmp_path / "organ.toml"
    path.write_text('organ = "x"\nprobe = "convex-tv-7.5"\n[classes.a]\n')
    with pytest.raises(UsageError, match="no \\[display_chain\\]"):
        display.load(path)
    path.write_text(path.read_text() + '[display_chain]\nknots_db = [0, 1]\nknots_gray = [0, 1]\ncolour = 3\n')
    with pytest.raises(UsageError, match="colour"):
        display.load(path)


def test_compounded_diverging_waves_start_from_the_centre_with_non_negative_delays():
    p = probes.load("convex-tv-7.5")
    waves = transmit.diverging_waves(p, 3)
    assert [w.origin[0] for w in waves][0] == 0.0 and waves[1].origin[0] == -waves[2].origin[0] != 0
    for wave in waves:
        ex, ez, _ = wave.elements
        distance = np.hypot(ex - wave.origin[0], ez - wave.origin[1])
        assert distance[0] == pytest.approx(distance.min())   # timed from its first listed element
        assert np.all(wave.delays >= 0)
    np.testing.assert_allclose(waves[0].delays, 0.0, atol=1e-15)
    with pytest.raises(UsageError, match="odd number"):
        transmit.diverging_waves(p, 2)


def test_smoothing_coarsens_the_grain_inside_the_field_of_view_only(organ):
    grid = grid_of(organ, 128)
    chain = dataclasses.replace(display.load(organ), smoothing_mm=(0.0, 0.0), reverb_gray=0.0, despeckle_db=0.0,
                                despeckle_mm=())
    rng = np.random.default_rng(4)
    envelope = np.abs(rng.standard_normal((128, 128)) + 1j * rng.standard_normal((128, 128))) * 0.1
    sharp = display.render(envelope, 1.0, grid, chain).astype(float)
    pitch_mm = float(np.diff(grid.x).mean()) * 1e3, float(np.diff(grid.z).mean()) * 1e3
    blurred = display.render(envelope, 1.0, grid, dataclasses.replace(
        chain, smoothing_mm=(2 * pitch_mm[1], 2 * pitch_mm[0]))).astype(float)
    fov = display.field_of_view(grid, chain)
    inner = fov & ~np.roll(~fov, 6, 0) & ~np.roll(~fov, -6, 0) & ~np.roll(~fov, 6, 1) & ~np.roll(~fov, -6, 1)

    def neighbour_correlation(image):
        a, b = image[:, :-1][inner[:, :-1] & inner[:, 1:]], image[:, 1:][inner[:, :-1] & inner[:, 1:]]
        return np.corrcoef(a, b)[0, 1]

    assert neighbour_correlation(blurred) > neighbour_correlation(sharp) + 0.3  # white speckle grows a grain
    assert np.array_equal(sharp[~fov], blurred[~fov])           # the outside fill stays as it was
    assert abs(sharp[inner].mean() - blurred[inner].mean()) < 3  # a blur keeps the mean gray


@pytest.mark.parametrize("smoothing", [(-0.1, 0.0), (0.1,), (float("nan"), 0.1)])
def test_bad_smoothing_is_one_line(smoothing):
    with pytest.raises(UsageError, match="smoothing_mm"):
        display.validate(dataclasses.replace(display.load("ivus"), smoothing_mm=smoothing))


def test_despeckling_lowers_the_fine_contrast_keeps_an_edge_and_the_outside(organ):
    grid = grid_of(organ, 128)
    chain = dataclasses.replace(display.load(organ), smoothing_mm=(0.0, 0.0), reverb_gray=0.0, despeckle_db=0.0,
                                despeckle_mm=())
    rng = np.random.default_rng(5)
    speckle = np.abs(rng.standard_normal((128, 128)) + 1j * rng.standard_normal((128, 128)))
    step = np.where(np.arange(128)[None, :] < 64, 0.03, 0.3)  # a 20 dB step across the image
    envelope = speckle * step
    fov = display.field_of_view(grid, chain)
    strong = dataclasses.replace(chain, despeckle_db=4.0)
    raw = 20 * np.log10(envelope)
    filtered = display.despeckled(raw, fov, grid, strong)
    assert np.array_equal(raw[~fov], filtered[~fov])  # outside the field of view nothing changes
    # the displayed level is the despeckled one plus gain and TGC
    np.testing.assert_allclose(display.level_db(envelope, 1.0, grid, strong) - display.level_db(envelope, 1.0, grid, chain),
                               filtered - raw, atol=1e-9)
    core = fov & ~np.roll(~fov, 8, 0) & ~np.roll(~fov, -8, 0) & ~np.roll(~fov, 8, 1) & ~np.roll(~fov, -8, 1)
    left, right = core & (np.arange(128)[None, :] < 56), core & (np.arange(128)[None, :] >= 72)
    assert left.sum() > 200 and right.sum() > 200
    for side in (left, right):  # the speckle's 5.6 dB spread shrinks by half at least ...
        assert filtered[side].std() < 0.5 * raw[side].std()
    # ... while the 20 dB step between the halves stays (its mean levels within 2 dB of before)
    assert abs((filtered[right].mean() - filtered[left].mean()) - (raw[right].mean() - raw[left].mean())) < 2.0
    assert np.array_equal(display.despeckled(raw, fov, grid, chain), raw)  # strength 0: no filter


def test_a_despeckle_profile_smooths_by_depth(organ):
    """Strengths per depth: each depth's own filter at and beyond the end depths, a blend between,
    so the speckle's spread falls with depth where the strength rises."""
    grid = grid_of(organ, 128)
    chain = dataclasses.replace(display.load(organ), despeckle_db=0.0, despeckle_mm=())
    fov = display.field_of_view(grid, chain)
    depth = display.depth_mm(grid, chain)
    near_mm, far_mm = np.quantile(depth[fov], [0.25, 0.75])
    rng = np.random.default_rng(6)
    raw = 20 * np.log10(np.abs(rng.standard_normal((128, 128)) + 1j * rng.standard_normal((128, 128))))
    profile = dataclasses.replace(chain, despeckle_mm=(near_mm, far_mm), despeckle_db=(0.0, 5.0))
    filtered = display.despeckled(raw, fov, grid, profile)
    flat = display.despeckled(raw, fov, grid, dataclasses.replace(chain, despeckle_db=5.0))
    shallow, deep = fov & (depth <= near_mm), fov & (depth >= far_mm)
    assert shallow.sum() > 200 and deep.sum() > 200
    assert np.array_equal(filtered[shallow], raw[shallow])  # strength 0 before the first depth
    np.testing.assert_allclose(filtered[deep], flat[deep])  # the last depth's strength beyond it
    between = fov & (depth > near_mm) & (depth < far_mm)
    weight = ((depth - near_mm) / (far_mm - near_mm))[between]  # linear in depth between the two
    np.testing.assert_allclose(filtered[between], (1 - weight) * raw[between] + weight * flat[between], atol=1e-9)
    assert filtered[deep].std() < 0.5 * raw[deep].std()
    assert np.array_equal(filtered[~fov], raw[~fov])


def test_each_strength_filters_only_its_rows_and_gives_the_whole_images_values(organ):
    """despeckled filters each strength over the rows where it has weight (plus the filter's
    reach): the same values as filtering the whole image at every strength and blending."""
    grid = grid_of(organ, 128)
    chain = display.load(organ)
    fov = display.field_of_view(grid, chain)
    depth = display.depth_mm(grid, chain)
    knots = tuple(np.quantile(depth[fov], [0.1, 0.4, 0.7]))
    profile = dataclasses.replace(chain, despeckle_mm=knots, despeckle_db=(2.0, 2.0, 6.0))
    rng = np.random.default_rng(8)
    raw = 20 * np.log10(np.abs(rng.standard_normal((128, 128)) + 1j * rng.standard_normal((128, 128))))
    whole = {h: display.despeckle_filtered(raw, fov, h) for h in (2.0, 6.0)}
    expected = display.blended_by_depth(whole, raw, fov, grid, profile)
    np.testing.assert_allclose(display.despeckled(raw, fov, grid, profile), expected, atol=1e-9)
    assert not np.allclose(whole[2.0][fov], whole[6.0][fov])


@pytest.mark.parametrize("change, message", [
    ({"despeckle_mm": (3.0, 20.0), "despeckle_db": 3.0}, "2 despeckle_mm depths for despeckle_db 3.0"),
    ({"despeckle_mm": (3.0, 20.0), "despeckle_db": (3.0,)}, "need one strength per depth"),
    ({"despeckle_mm": (20.0, 3.0), "despeckle_db": (3.0, 6.0)}, r"despeckle_mm \[20.0, 3.0\]"),
    ({"despeckle_mm": (), "despeckle_db": (3.0, 6.0)}, "without despeckle_mm"),
    ({"despeckle_mm": (3.0, 20.0), "despeckle_db": (3.0, -1.0)}, "despeckle_db = -1"),
])
def test_bad_despeckle_profile_is_one_line(change, message):
    with pytest.raises(UsageError, match=message) as error:
        display.validate(dataclasses.replace(display.load("ovary"), **change))
    assert "\n" not in str(error.value)


def test_bad_despeckle_strength_is_one_line():
    with pytest.raises(UsageError, match="despeckle_db = -1") as error:
        display.validate(dataclasses.replace(display.load("ovary"), despeckle_db=-1.0, despeckle_mm=()))
    assert "\n" not in str(error.value)


def test_an_exams_gain_is_the_echoes_louder_and_is_drawn_from_its_seed(organ):
    grid = grid_of(organ, 64)
    chain = dataclasses.replace(display.load(organ), despeckle_db=0.0, despeckle_mm=())
    rng = np.random.default_rng(5)
    envelope = np.abs(rng.standard_normal((64, 64)) + 1j * rng.standard_normal((64, 64))) * 0.05
    # 4 dB more gain shows what 4 dB stronger echoes would (the overlays and the fill unchanged)
    louder = display.render(envelope * 10 ** (4 / 20), 1.0, grid, chain).astype(int)
    gained = display.render(envelope, 1.0, grid, display.with_gain(chain, 4.0)).astype(int)
    assert np.abs(louder - gained).max() <= 1 and display.with_gain(chain, 0.0) is chain
    spread = dataclasses.replace(chain, gain_spread_db=2.0)
    draws = np.array([display.exam_gain_db(spread, seed) for seed in range(2000)])
    assert draws.std() == pytest.approx(2.0, rel=0.06) and abs(draws.mean()) < 0.15
    assert display.exam_gain_db(spread, 7) == display.exam_gain_db(spread, 7) != display.exam_gain_db(spread, 8)
    assert display.exam_gain_db(dataclasses.replace(chain, gain_spread_db=0.0), 7) == 0.0


def test_each_simulated_exam_gets_its_own_gain_and_a_mask_image_sample_no_gain_and_the_noise_its_side_says():
    from ussim import conditions, side_scatterers

    table = tissue.load("ovary")
    p = probes.load(table.probe)
    grid = grid_of("ovary")
    spread = display.load("ovary").gain_spread_db
    assert spread > 0  # the ovary table's fitted spread (bench/fit_display.py --fit-exam-spread)
    gains = [phantom.imaging_settings(table, p, grid, seed)["exam_gain_db"] for seed in (1, 2)]
    assert gains[0] != gains[1] and gains[0] == display.exam_gain_db(display.load("ovary"), 1)
    assert table.imaging.get("noise_db") is not None and phantom.imaging_settings(table, p, grid, 1)["noise_db"]
    kept = {}
    for noise in conditions.IMAGE_NOISE:  # the reference's gain is in its grays; its noise floor too,
        image_side = side_scatterers.Side("mask+image", noise=noise)  # unless the map holds echoes only
        kept[noise] = phantom.imaging_settings(table, p, grid, 1, image_side)
        assert "exam_gain_db" not in kept[noise]
    for key in simulate.NOISE_KEYS:  # each noise the table names (the ovary's: the receiver's)
        assert key not in kept["reference"]
        assert kept["simulated"].get(key) == table.imaging.get(key)


def test_a_simulated_exam_records_its_tissue_offsets_and_a_mask_image_sample_takes_none():
    from ussim import side_scatterers

    table = tissue.load("ovary")
    assert table.classes["ovary"].echogenicity_spread_db > 0  # fitted (bench/fit_display.py --fit-exam-spread)
    exam, offsets = phantom.exam_tissue(table, 3)
    assert offsets == tissue.exam_offsets_db(table, 3) and "ovary" in offsets
    assert exam.classes["ovary"].echogenicity_db == table.classes["ovary"].echogenicity_db + offsets["ovary"]
    assert phantom.exam_tissue(table, 3, side_scatterers.Side("mask+image")) == (table, {})


def test_bad_gain_spread_is_one_line():
    with pytest.raises(UsageError, match="gain_spread_db = -0.5") as error:
        display.validate(dataclasses.replace(display.load("ovary"), gain_spread_db=-0.5))
    assert "\n" not in str(error.value)
