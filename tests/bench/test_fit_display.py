"""The display fit's moment estimate of the exams' spreads (bench/fit_display.py) on levels with known spreads."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fit_display  # noqa: E402


def test_the_spread_moments_recover_a_shared_gain_and_each_class_s_own_spread():
    rng = np.random.default_rng(0)
    frames = 20000
    anatomy = rng.multivariate_normal([0, 0], [[1.0, 0.3], [0.3, 2.0]], frames)  # what the masks give
    gain = rng.normal(0, 0.8, frames)[:, None]  # shared by both classes of an exam
    own = rng.normal(0, 1.0, (frames, 2)) * [1.5, 0.5]  # each class's own tissue level
    real = anatomy + gain + own
    common, spreads = fit_display.spread_moments(np.cov(real.T), np.cov(anatomy.T))
    np.testing.assert_allclose(np.sqrt(common), 0.8, rtol=0.05)
    np.testing.assert_allclose(spreads, [1.5, 0.5], rtol=0.08)
    common, spreads = fit_display.spread_moments(np.cov(anatomy.T), np.cov(real.T))  # less real spread: 0
    assert common == 0 and (spreads == 0).all()
    common, spreads = fit_display.spread_moments(np.var(real[:, 0]), np.var(anatomy[:, 0]))  # one class:
    np.testing.assert_allclose(np.sqrt(common), np.hypot(0.8, 1.5), rtol=0.05)  # all of it is the gain
    assert spreads.tolist() == [0.0]


def test_a_candidate_chain_is_read_back_from_its_table_copy(tmp_path):
    """fit_despeckle_image simulates through copies of the organ table holding the candidate's
    speckle reduction: the copy's chain is the candidate's, its tissue the organ's."""
    import dataclasses

    from ussim import display, tissue

    chain = display.load("ovary")
    for candidate in (dataclasses.replace(chain, despeckle_mm=(3.0, 20.0), despeckle_db=(1.5, 7.5)),
                      dataclasses.replace(chain, despeckle_mm=(), despeckle_db=4.0)):
        path = fit_display.table_with_chain("ovary", candidate, tmp_path)
        table = tissue.load(path)
        assert display.load(table.imaging["display_chain"]) == candidate
        assert table.classes == tissue.load("ovary").classes


def test_the_flat_speckle_reduction_fit_finds_the_strength_that_made_the_images(monkeypatch):
    """Frames rendered through the ovary's chain at a known strength are the 'real' ones: the flat fit,
    on the same envelopes, must choose that strength (its gray-map refit is the chain's own here)."""
    import dataclasses

    from scipy import ndimage

    from ussim import display, phantom, tissue
    from ussim import probe as probes

    table = tissue.load("ovary")
    grid = phantom.display_grid(table, (96, 96))
    chain = dataclasses.replace(display.load("ovary"), despeckle_db=0.0, despeckle_mm=())
    rng = np.random.default_rng(3)
    field = rng.normal(size=(4, 96, 96)) + 1j * rng.normal(size=(4, 96, 96))
    grains = (0, 1.0, 2.0)  # a speckle-like grain, wider across
    envelopes = np.abs(ndimage.gaussian_filter(field.real, grains) + 1j * ndimage.gaussian_filter(field.imag, grains))
    references = np.full(4, float(np.percentile(envelopes, 99)) * 10 ** (12 / 20))
    labels = np.zeros((4, 96, 96), np.uint8)
    labels[:, :, 48:] = 1
    seeds = np.arange(4)
    made = dataclasses.replace(chain, despeckle_db=2.0)
    inside = display.field_of_view(grid, chain)
    real = np.stack([display.render_level(display.with_gain_and_tgc(display.despeckle_filtered(
        20 * np.log10(np.maximum(e, 1e-12) / r), inside, 2.0), grid,
        display.with_gain(made, display.exam_gain_db(made, int(s)))), grid, made)
        for e, r, s in zip(envelopes, references, seeds, strict=True)])
    monkeypatch.setattr(fit_display, "fit_gray_map", lambda *args, **kwargs: args[6])
    origin = fit_display.measures.beam_origin_px("ovary", grid, probes.load(table.probe))
    fitted, found = fit_display.fit_despeckle_flat(envelopes, references, real, labels, ["background", "ovary"], grid,
                                                  chain, 3.0, seeds, origin)
    assert fitted.despeckle_db == 2.0
    errors = {t["despeckle_db"]: t["error"] for t in found[1:] if t["sweep"] == 0}
    assert errors[2.0] == 0 and min(v for h, v in errors.items() if h != 2.0) > 0


def _frame_with_marks(spacing: float, first: int = 30, count: int = 10) -> np.ndarray:
    """A dark frame with speckle-like tissue right of column 20 and depth marks (2 x 2 px dots) in column 6."""
    rng = np.random.default_rng(0)
    frame = np.zeros((256, 256), np.uint8)
    frame[:, 20:] = rng.integers(0, 200, (256, 236))
    for k in range(count):
        row = int(round(first + k * spacing))
        frame[row: row + 2, 6:8] = 180
    return frame


def test_the_depth_marks_give_the_scale_of_each_frame_and_of_the_set():
    assert fit_display.depth_mark_spacing_px(_frame_with_marks(18.5)) == pytest.approx(18.5, abs=0.5)
    assert fit_display.depth_mark_spacing_px(_frame_with_marks(24.0)) == pytest.approx(24.0, abs=0.5)
    # three marks are no scale; neither is a frame without marks
    assert np.isnan(fit_display.depth_mark_spacing_px(_frame_with_marks(20.0, count=3)))
    assert np.isnan(fit_display.depth_mark_spacing_px(_frame_with_marks(20.0, count=0)))
    frames = np.stack([_frame_with_marks(s) for s in (16.0, 20.0, 20.0, 25.0)] + [_frame_with_marks(20.0, count=0)])
    scale = fit_display.depth_scale(frames)
    assert scale["mm_per_px_z"] == pytest.approx(fit_display.DEPTH_MARK_MM / 20.0, rel=0.03)
    assert (scale["frames_read"], scale["frames"]) == (4, 5)
    assert scale["mm_per_px_z_quartiles"][0] < scale["mm_per_px_z"] < scale["mm_per_px_z_quartiles"][1]
    with pytest.raises(ValueError, match="no frame shows depth marks"):
        fit_display.depth_scale(frames[-1:])


def test_the_display_fit_stops_on_a_table_grid_that_is_not_the_measured_one():
    from ussim import scan
    grid = scan.DisplayGrid.covering(-30e-3, 30e-3, 0.0, 32e-3, (256, 256))  # 0.234 x 0.125 mm per px
    fit_display.check_grid({"mm_per_px_x": 0.2365, "mm_per_px_z": 0.1240}, grid)  # within 5 %: passes
    with pytest.raises(SystemExit, match=r"0\.2344 x 0\.1250 mm per px .* not the frames' measured 0\.4776 x 0\.2703"):
        fit_display.check_grid({"mm_per_px_x": 0.4776, "mm_per_px_z": 0.2703}, grid)


def test_the_gray_map_fit_charges_a_floor_that_lifts_the_dark_pixels_of_a_depth():
    """A noise floor that keeps every pixel of the deeper half above DARK_GRAY, with the same mean
    per depth as the real pixels, costs the dark-share term what the real dark share is there; the
    real pixels themselves cost nothing."""
    rng = np.random.default_rng(1)
    bins = np.repeat([0, 1], 5000)
    real = np.minimum(rng.exponential(60.0, bins.size), 255.0)  # speckle-like: some 18 % below 12 gray
    gray = np.rint(real).astype(np.uint8)  # the real images' values
    counts = np.bincount(bins)
    real_profile = np.bincount(bins, real) / counts
    real_dark = np.bincount(bins, gray < fit_display.DARK_GRAY) / counts
    floored = real.copy()
    deep = bins == 1
    floored[deep] = np.maximum(real[deep], fit_display.DARK_GRAY + 1.0)
    floored[deep] += real[deep].mean() - floored[deep].mean()  # the same mean gray at that depth
    assert fit_display.map_error_terms(real, gray, bins, counts, real_profile, real_dark)["dark"] == 0
    terms = fit_display.map_error_terms(floored, gray, bins, counts, real_profile, real_dark)
    expected = fit_display.DARK_WEIGHT * real_dark[1] ** 2 / 2  # one of the two bins lost all of its dark share
    assert terms["dark"] == pytest.approx(expected, rel=0.05)
    assert terms["profile"] < 1e-6


def test_the_gray_map_fit_charges_other_classes_sent_black_and_only_when_asked():
    """The black-share term costs BLACK_WEIGHT x the squared difference of the shares below
    BLACK_GRAY; it is absent without `black`, and 0 when the shares agree."""
    rng = np.random.default_rng(2)
    bins = np.zeros(1000, int)
    background = rng.uniform(20, 200, bins.size)
    gray = np.rint(background).astype(np.uint8)
    counts, profile, dark = np.bincount(bins), np.array([background.mean()]), np.array([0.0])
    assert "black" not in fit_display.map_error_terms(background, gray, bins, counts, profile, dark)
    ovary = rng.uniform(20, 120, 1000)
    ovary[:50] = 0.4  # 5 % of the other class sent to 0 gray
    terms = fit_display.map_error_terms(background, gray, bins, counts, profile, dark, (ovary, 0.01))
    assert terms["black"] == pytest.approx(fit_display.BLACK_WEIGHT * (0.05 - 0.01) ** 2)
    assert fit_display.map_error_terms(background, gray, bins, counts, profile, dark, (ovary, 0.05))["black"] == 0


def test_the_table_chain_spreads_the_organ_s_tgc_points_and_keeps_its_gains_in_between(monkeypatch):
    monkeypatch.setitem(fit_display.TGC_POINTS, "ovary", 8)  # more points than the table's 4: spread
    loaded = fit_display.display.load("ovary")
    chain = fit_display.table_chain("ovary")
    assert len(chain.tgc_mm) == fit_display.TGC_POINTS["ovary"]
    assert (chain.tgc_mm[0], chain.tgc_mm[-1]) == (loaded.tgc_mm[0], loaded.tgc_mm[-1])
    np.testing.assert_allclose(chain.tgc_db, np.interp(chain.tgc_mm, loaded.tgc_mm, loaded.tgc_db), atol=1e-9)
    ivus = fit_display.display.load("ivus")
    assert len(ivus.tgc_mm) == fit_display.TGC_POINTS["ivus"] and fit_display.table_chain("ivus") == ivus


@pytest.mark.parametrize("text", ["", "-50,x", "-50,nan", "inf"])
def test_the_noise_levels_refuse_a_list_that_is_not_finite_levels(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated list of finite levels"):
        fit_display.noise_levels(text)
    assert fit_display.noise_levels("-50,-56.5") == [-50.0, -56.5]
