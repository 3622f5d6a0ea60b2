"""FRD v1 against frd-score's own command line, the region and NaN policies, and the refusal without it."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from compare.metrics import MetricUndefined, frd
from ussim import examples
from ussim.errors import UsageError

needs_frd = pytest.mark.skipif(not frd.available(), reason="frd-score/pyradiomics not installed "
                               "(`make install` installs them; see README, Install)")
SIZE = 80


@pytest.fixture(scope="module")
def two_sets():
    """8 + 8 toy speckle images with their ellipse regions; the second set blurred, one of its regions emptied."""
    a, b = examples.toy_imageset(n=8, size=SIZE, seed=0), examples.toy_imageset(n=8, size=SIZE, seed=100)
    blurred = np.stack([ndimage.gaussian_filter(image, 1.0) for image in b["image"].values])
    regions_b = b["label"].values == 1
    regions_b[3] = False  # an image whose class is absent: frd-score skips it, ours is a NaN row
    return a["image"].values, a["label"].values == 1, blurred, regions_b


def write_pngs(folder: Path, arrays) -> str:
    folder.mkdir()
    for i, array in enumerate(arrays):
        Image.fromarray(np.asarray(array, np.uint8)).save(folder / f"{i:03d}.png")
    return str(folder)


def frd_command_line(*args: str) -> float:
    """The number frd-score's console entry point prints (`python -m frd_score`, one worker)."""
    done = subprocess.run([sys.executable, "-m", "frd_score", *args, "--num_workers", "1"],
                          capture_output=True, text=True, timeout=600, check=True)
    return float(re.search(r"FRD \(v1\): (\S+)", done.stdout).group(1))


@needs_frd
def test_whole_image_frd_equals_frd_scores_command_line(two_sets, tmp_path):
    images_a, _, images_b, _ = two_sets
    ours = frd.frd_from_features(frd.radiomic_features(images_a, progress=False),
                                 frd.radiomic_features(images_b, progress=False))
    theirs = frd_command_line(write_pngs(tmp_path / "a", images_a), write_pngs(tmp_path / "b", images_b))
    assert np.isfinite(ours) and ours == pytest.approx(theirs, rel=1e-6)


@needs_frd
def test_region_frd_equals_frd_scores_command_line_with_masks(two_sets, tmp_path):
    images_a, regions_a, images_b, regions_b = two_sets
    with pytest.warns(UserWarning, match="1 of 8 regions too small"):
        features_b = frd.radiomic_features(images_b, regions_b, progress=False)
    assert np.isnan(features_b[3]).all() and not np.isnan(np.delete(features_b, 3, axis=0)).any()
    ours = frd.frd_from_features(frd.radiomic_features(images_a, regions_a, progress=False), features_b)
    theirs = frd_command_line(write_pngs(tmp_path / "a", images_a), write_pngs(tmp_path / "b", images_b),
                              "--paths_masks", write_pngs(tmp_path / "ma", regions_a),
                              write_pngs(tmp_path / "mb", regions_b))
    assert np.isfinite(ours) and ours == pytest.approx(theirs, rel=1e-6)


@needs_frd
def test_region_features_differ_from_the_whole_image_and_tiny_regions_are_nan_rows(two_sets):
    images_a, regions_a, _, _ = two_sets
    tiny = np.zeros_like(regions_a[:2])
    tiny[0, 40:42, 40:42] = True   # 2 x 2 px: one pixel after pyradiomics' resampling to 2-px spacing
    tiny[1, 40, 30:50] = True      # one row: a 1-D region
    whole = frd.radiomic_features(images_a[:2], progress=False)
    region = frd.radiomic_features(images_a[:2], regions_a[:2], progress=False)
    assert whole.shape == region.shape == (2, len(frd.feature_names())) and np.isfinite(whole).all()
    assert not np.allclose(whole, region)
    with pytest.warns(UserWarning, match="2 of 2 regions too small"):
        assert np.isnan(frd.radiomic_features(images_a[:2], tiny, progress=False)).all()


@needs_frd
def test_nan_rows_are_left_out_and_too_few_rows_refused():
    rng = np.random.default_rng(0)
    reference, other = rng.standard_normal((12, 6)), rng.standard_normal((10, 6)) + 0.5
    value = frd.frd_from_features(reference, other)
    with_nan = np.vstack([other, np.full((1, 6), np.nan)])
    assert frd.frd_from_features(reference, with_nan) == value
    assert frd.frd_from_features(reference, other + 1) > value  # farther means larger
    with pytest.raises(MetricUndefined, match="the other set has 1 of 2"):
        frd.frd_from_features(reference, with_nan[-2:])


@needs_frd
@pytest.mark.parametrize("n", [8, 60])  # fewer images than features (singular covariances), and more
def test_the_svd_route_gives_frd_scores_frechet_distance(n):
    from frd_score.frd import calculate_frechet_distance

    rng = np.random.default_rng(n)
    x1 = rng.standard_normal((n, 40)).astype(np.float32)
    x2 = (rng.standard_normal((n + 3, 40)) @ rng.standard_normal((40, 40)) / 6 + 0.3).astype(np.float32)
    theirs = calculate_frechet_distance(x1.mean(0), np.cov(x1, rowvar=False), x2.mean(0), np.cov(x2, rowvar=False))
    assert frd._squared_frechet_distance(x1, x2) == pytest.approx(theirs, rel=1e-6)


@needs_frd
def test_bad_input_is_refused_in_one_line_naming_the_value():
    with pytest.raises(UsageError, match="dtype float64") as error:
        frd.radiomic_features(np.zeros((2, 16, 16)))
    with pytest.raises(UsageError, match=r"regions of dtype uint8 and shape \(2, 16, 16\)"):
        frd.radiomic_features(np.zeros((2, 16, 16), np.uint8), np.zeros((2, 16, 16), np.uint8))
    with pytest.raises(UsageError, match=r"shape \(3, 5\)"):
        frd.frd_from_features(np.zeros((3, 4)), np.zeros((3, 5)))
    assert "\n" not in str(error.value)


def test_without_the_library_frd_refuses_in_one_line_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "radiomics", None)  # `import radiomics` now raises ImportError
    monkeypatch.setitem(sys.modules, "radiomics.featureextractor", None)
    assert not frd.available()
    for call in (frd.require, lambda: frd.radiomic_features(np.zeros((1, 8, 8), np.uint8)),
                 lambda: frd.frd_from_features(np.zeros((2, 3)), np.zeros((2, 3)))):
        with pytest.raises(UsageError) as error:
            call()
        assert "\n" not in str(error.value) and frd.INSTALL_COMMAND in str(error.value)


def test_the_install_command_pins_what_the_frd_extra_pins():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    for pin in pyproject["project"]["optional-dependencies"]["frd"]:
        assert pin in frd.INSTALL_COMMAND.split()


@needs_frd
def test_the_vectorised_z_score_is_the_library_s():
    library = frd._library()
    rng = np.random.default_rng(3)
    base = rng.normal(5, 2, (12, 40)).astype(np.float32)
    base[:, 3] = 7.0  # a constant column: the library divides by zero (inf), as v1 did
    other = rng.normal(4, 3, (9, 40)).astype(np.float32)
    for features in (base, other):
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = library.z_score_normalize(features, 0.0, 1.0, replace_nan=False, handle_std_zero=False,
                                                 base_distribution=base)
        np.testing.assert_array_equal(frd._z_score(features, base), expected)


@needs_frd
def test_set_features_shared_among_processes_equal_one_process_and_keep_the_warnings(two_sets):
    """compare.radiomics.set_features with two worker processes: the same rows, in order, as one
    process, and a worker's warning about a too-small region reaches the caller."""
    import xarray as xr

    from compare import radiomics
    from compare.sets import ImageSet
    _, _, images_b, regions_b = two_sets
    labels = regions_b.astype(np.uint8)[:5]
    ds = xr.Dataset({"image": (("sample", "y", "x"), images_b[:5].astype(np.uint8)),
                     "label": (("sample", "y", "x"), labels)})
    s = ImageSet(name="b", ds=ds, class_names=["background", "ellipse"], path=None,
                 lookup=np.arange(2))
    found = {}
    for workers in (1, 2):
        with pytest.warns(UserWarning, match=r"1 of \d regions too small"):
            found[workers] = radiomics.set_features(s, 2, progress=False, cache=False, workers=workers)
    assert found[1].keys() == found[2].keys() == {"image", 0, 1}
    for key in found[1]:
        assert np.array_equal(found[1][key], found[2][key], equal_nan=True)
    assert np.isnan(found[2][1][3]).all() and np.isfinite(found[2]["image"]).all()
