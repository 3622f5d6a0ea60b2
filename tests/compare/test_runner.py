"""The comparison runner on generated image sets, its results file and its stated policies."""

import json

import numpy as np
import pytest

from compare import results, runner
from compare.defaults import RESULTS_FORMAT_VERSION, Settings
from compare.metrics import ssim
from tests.compare.conftest import resimulate
from ussim import examples, imageset
from ussim.errors import UsageError

FAST = Settings(backbone="texture-v1", kid_subsets=10, diversity_pairs=10, precision_recall_k=2,
                density_coverage_k=2)


def value(ds, method, metric):
    return float(ds["value"].sel({"method": method, "metric": metric}))


def class_value(ds, method, metric, name):
    return float(ds["class_value"].sel({"method": method, "class_metric": metric, "class": name}))


@pytest.fixture(scope="module")
def physics_run(tmp_path_factory):
    """The toy reference against a set made from its masks (as toy_files), compared once for the
    tests that read the comparison: each run costs most of this file's time. Returns (results,
    the feature cache the run filled); a test that changes the results takes a copy."""
    folder = tmp_path_factory.mktemp("physics-run")
    real = examples.toy_imageset(n=8, size=176, seed=0)
    real_path = imageset.write(real, folder / "real.h5")
    sim_path = imageset.write(resimulate(real, seed=1), folder / "sim.h5")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("USCOMPARE_CACHE", str(folder / "cache"))
        patch.setenv("TORCH_HOME", str(folder / "torch"))
        with pytest.warns(UserWarning):  # small sets: KID subsets shrink, FID covariances are rank-deficient
            ds = runner.run(real_path, [("physics", sim_path)], FAST, progress=False)
    return ds, folder / "cache"


def test_run_measures_every_metric_and_records_every_parameter(physics_run, tmp_path):
    ds = physics_run[0]
    assert list(ds["method"].values) == ["reference", "physics"]
    assert list(ds["role"].values) == ["reference", "candidate"]
    assert "fid[texture-v1]" in ds["metric"].values and "fid" not in ds["metric"].values
    assert value(ds, "physics", "n_pairs") == 8  # every sample made from a reference mask, found by label map
    assert 0 < value(ds, "physics", "ssim") < 1 and 0 < value(ds, "physics", "ms_ssim") < 1
    for metric in ("fid", "kid_mean", "precision", "recall", "density", "coverage"):
        assert np.isfinite(value(ds, "physics", f"{metric}[texture-v1]")), metric
        assert np.isnan(value(ds, "reference", f"{metric}[texture-v1]")), metric
        low, high = results.interval_of(ds, "physics", f"{metric}[texture-v1]")
        assert low <= value(ds, "physics", f"{metric}[texture-v1]") <= high, metric
    # 8 images against 8, subsets of up to 1000: every KID subset is the whole set, so no spread
    assert np.isnan(value(ds, "physics", "kid_std[texture-v1]"))
    assert any("subset std is not available" in note for note in results.notes_of(ds))
    for metric in ("n_images", "n_pairs", "kid_std[texture-v1]"):  # counts and spreads carry no interval
        assert np.isnan(results.interval_of(ds, "physics", metric)).all()
    assert value(ds, "physics", "seconds_per_image") == pytest.approx(0.25)
    for method in ("reference", "physics"):
        assert 0 < value(ds, method, "diversity_ms_ssim") < 1
        # toy speckle is fully developed: the envelope statistics are Rayleigh's
        assert class_value(ds, method, "envelope_mean_over_std", "background") == pytest.approx(1.913, abs=0.1)
        assert class_value(ds, method, "envelope_nakagami_m", "background") == pytest.approx(1.0, abs=0.1)
        assert class_value(ds, method, "envelope_log_std_db", "background") == pytest.approx(5.57, abs=0.3)
        low, high = results.interval_of(ds, method, "envelope_log_std_db", "background")
        assert low <= class_value(ds, method, "envelope_log_std_db", "background") <= high
        assert class_value(ds, method, "gcnr", "inclusion") > 0.5  # 12 dB darker than the background
    assert list(ds["has_envelope"].values) == ["1", "1"]
    assert 0 <= class_value(ds, "physics", "js", "inclusion") < 0.05  # same physics, same histogram
    assert ds.attrs["backbone"] == "texture-v1" and ds.attrs["backbone_is_inception"] == 0
    assert ds.attrs["kid_subsets"] == 10 and json.loads(ds.attrs["parameters"]) == FAST.as_dict()
    assert ds.attrs["results_format_version"] == RESULTS_FORMAT_VERSION
    assert any("KID subset size reduced" in note for note in results.notes_of(ds))

    path = results.write(ds, tmp_path / "results.nc")
    back = results.read(path)
    assert value(back, "physics", "ssim") == value(ds, "physics", "ssim")
    assert back.attrs["backbone"] == "texture-v1" and results.parameters_of(back) == FAST.as_dict()
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(UsageError, match="exists; pass --overwrite"):
        results.write(ds, path)


def test_a_second_run_reads_the_features_from_the_cache(physics_run, toy_files, monkeypatch):
    """The same sets (toy_files writes the very images physics_run compared) against the cache of
    the first run."""
    first, cache = physics_run
    real, sim = toy_files
    monkeypatch.setenv("USCOMPARE_CACHE", str(cache))
    from compare.backbones.texture import TextureBackbone
    monkeypatch.setattr(TextureBackbone, "features", lambda self, images: pytest.fail("features recomputed"))
    with pytest.warns(UserWarning):
        second = runner.run(real, [("physics", sim)], FAST, progress=False)
    assert value(first, "physics", "fid[texture-v1]") == value(second, "physics", "fid[texture-v1]")


def test_sets_of_different_sizes_pair_by_id_after_resizing_or_are_refused(tmp_path):
    real = examples.toy_imageset(n=4, size=176, seed=0)
    small = examples.toy_imageset(n=4, size=96, seed=0)  # other masks; ids toy-000000.. like the reference
    small = imageset.make(small["image"].values, small["label"].values, class_names=list(examples.CLASS_NAMES),
                          organ="phantom", method="small", params={},
                          sample_id=[f"sim-{sid}" for sid in real["sample_id"].values.tolist()])
    real_path = imageset.write(real, tmp_path / "real.h5")
    small_path = imageset.write(small, tmp_path / "small.h5")
    with pytest.warns(UserWarning) as caught:
        ds = runner.run(real_path, [("small", small_path)], FAST, progress=False)
    assert value(ds, "small", "n_pairs") == 4 and np.isfinite(value(ds, "small", "ms_ssim"))
    assert list(ds["image_size"].values) == ["176x176", "96x96"]
    notes = results.notes_of(ds)
    assert any("resized to the reference size" in note for note in notes)
    assert any("resized to the reference size" in str(w.message) for w in caught)
    # no envelope in `small`: no envelope statistics at all (never display gray values in their place)
    assert ds["has_envelope"].values[1] == "0"
    assert np.isnan(ds["class_value"].sel({"method": "small", "class_metric": "envelope_nakagami_m"})).all()
    assert np.isfinite(ds["class_value"].sel({"method": "small", "class_metric": "gray_mean"})).all()
    with pytest.raises(UsageError, match="image sizes differ: 96x96 px in small"):
        runner.run(real_path, [("small", small_path)], Settings(backbone="texture-v1", size_mismatch="error"),
                   progress=False)


def test_classes_are_matched_by_name_and_a_missing_class_is_nan(tmp_path):
    real = examples.toy_imageset(n=4, size=64, seed=0)
    swapped = resimulate(real, seed=1)
    # The same masks under class names in the other order, plus a class the reference lacks.
    swapped = imageset.make(swapped["image"].values, 1 - swapped["label"].values,
                            class_names=["inclusion", "background", "cyst"], organ="phantom", method="swap", params={},
                            sample_id=swapped["sample_id"].values.tolist())
    real_path = imageset.write(real, tmp_path / "real.h5")
    swapped_path = imageset.write(swapped, tmp_path / "swapped.h5")
    with pytest.warns(UserWarning):
        ds = runner.run(real_path, [("swapped", swapped_path)], FAST, progress=False)
    assert list(ds["class"].values) == ["background", "inclusion", "cyst"]
    assert value(ds, "swapped", "n_pairs") == 4  # label maps compared in class names, not indices
    assert class_value(ds, "swapped", "js", "inclusion") < 0.05
    assert np.isnan(class_value(ds, "swapped", "js", "cyst")) and np.isnan(class_value(ds, "reference", "js", "cyst"))
    notes = results.notes_of(ds)
    assert any("cyst missing from reference" in note for note in notes)
    assert any("needs images of at least 176 px" in note for note in notes)  # 64 px sets
    assert np.isnan(value(ds, "swapped", "ms_ssim")) and np.isfinite(value(ds, "swapped", "ssim"))


def test_nan_in_an_envelope_is_refused_naming_the_sample(tmp_path):
    real = examples.toy_imageset(n=3, size=32, seed=0)
    broken = resimulate(real, seed=1)
    envelope = broken["envelope"].values.copy()
    envelope[1, 5, 5] = np.nan
    broken["envelope"] = (("sample", "y", "x"), envelope)
    real_path = imageset.write(real, tmp_path / "real.h5")
    broken_path = imageset.write(broken, tmp_path / "broken.h5")
    with pytest.raises(UsageError, match=r"NaN or infinite values in sample\(s\) sim-toy-000001"):
        runner.run(real_path, [("broken", broken_path)], FAST, progress=False)


@pytest.mark.parametrize("methods, match", [
    ([], "nothing to compare"),
    ([("a", "sim"), ("a", "sim")], "given twice"),
    ([("reference", "sim")], "given twice"),
    ([("bad name", "sim")], "method name 'bad name'"),
])
def test_bad_method_lists_are_refused(toy_files, methods, match):
    real, sim = toy_files
    with pytest.raises(UsageError, match=match):
        runner.run(real, [(name, sim) for name, _ in methods], FAST, progress=False)


def test_a_results_file_of_another_format_version_is_refused_in_one_line(physics_run, toy_files, tmp_path):
    real = toy_files[0]
    ds = physics_run[0].copy()
    ds.attrs["results_format_version"] = RESULTS_FORMAT_VERSION + 1
    path = results.write(ds, tmp_path / "future.nc")
    with pytest.raises(UsageError, match=f"results format version {RESULTS_FORMAT_VERSION + 1}") as error:
        results.read(path)
    assert "\n" not in str(error.value)
    with pytest.raises(UsageError, match="not a uscompare results file"):
        results.read(real)  # an image set is netCDF too, but not results


def test_settings_are_validated():
    with pytest.raises(UsageError, match="kid-subsets must be at least 1"):
        runner.validate(Settings(kid_subsets=0))
    assert ssim.min_ms_ssim_size() == 176
