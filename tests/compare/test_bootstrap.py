"""95 % intervals: the resamplers give the reference implementations' numbers on resampled rows, the
intervals cover known values, seeds widen them, and verdicts call a difference only when intervals separate."""

import json

import numpy as np
import pytest
import xarray as xr

from compare import bootstrap, results, runner, verdicts
from compare.defaults import Settings
from compare.estimates import weighted_nanmean
from compare.metrics import fid, kid, prdc
from tests.compare.conftest import resimulate
from ussim import examples, imageset
from ussim.errors import UsageError

FAST = Settings(backbone="texture-v1", kid_subsets=5, diversity_pairs=10, precision_recall_k=2,
                density_coverage_k=2, bootstrap_resamples=300, frd="off")


@pytest.fixture
def features():
    rng = np.random.default_rng(5)
    return rng.normal(1.0, 3.0, (14, 60)), rng.normal(0.6, 2.5, (11, 60))


def test_resampled_fid_is_pytorch_fids_number_on_the_drawn_rows(features):
    real, synthetic = features
    resampled = fid.ResampledFID(real, synthetic)
    rng = np.random.default_rng(0)
    assert resampled(np.ones(14), np.ones(11)) == pytest.approx(fid.fid(real, synthetic), rel=1e-6)
    for _ in range(5):
        a, b = bootstrap.resample_counts(rng, 14), bootstrap.resample_counts(rng, 11)
        expected = fid.fid(real[bootstrap.rows(a)], synthetic[bootstrap.rows(b)])
        assert resampled(a, b) == pytest.approx(expected, rel=1e-6)


def test_resampled_kid_leaves_pairs_of_copies_out_of_the_within_set_sums(features):
    real, synthetic = (f[:11] for f in features)
    resampled = kid.ResampledKID(real, synthetic)
    assert resampled(np.ones(11), np.ones(11)) == pytest.approx(kid.mmd2_unbiased(real, synthetic), rel=1e-10)
    rng = np.random.default_rng(1)
    a, b = bootstrap.resample_counts(rng, 11), bootstrap.resample_counts(rng, 11)
    x, y = real[bootstrap.rows(a)], synthetic[bootstrap.rows(b)]
    origin_x, origin_y = bootstrap.rows(a), bootstrap.rows(b)

    def within(z, origin):  # brute force: every ordered pair of rows that are not copies of one image
        k = kid.polynomial_kernel(z, z)
        keep = origin[:, None] != origin[None, :]
        return k[keep].sum() / keep.sum()
    expected = within(x, origin_x) + within(y, origin_y) - 2 * kid.polynomial_kernel(x, y).mean()
    assert resampled(a, b) == pytest.approx(expected, rel=1e-10)


def test_resampled_neighbour_metrics_equal_the_plain_ones_on_all_rows(features):
    real, synthetic = features
    resampled = prdc.Resampled(real, synthetic)
    every_real, every_synthetic = np.arange(14), np.arange(11)
    assert resampled.precision_recall(every_real, every_synthetic, 3) == prdc.precision_recall(real, synthetic, 3)
    assert resampled.density_coverage(every_real, every_synthetic, 3) == prdc.density_coverage(real, synthetic, 3)


def test_percentile_intervals_of_a_mean_cover_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    covered, trials = 0, 200
    for _ in range(trials):
        seconds = rng.exponential(2.0, 40)  # true mean 2
        counts = np.stack([bootstrap.resample_counts(rng, 40) for _ in range(400)])
        low, high, share = bootstrap.percentile_interval(counts @ seconds / 40)
        covered += low <= 2.0 <= high
        assert share == 1
    assert 0.88 <= covered / trials <= 0.99


def test_weighted_nanmean_skips_nan_and_weights_by_counts():
    values = np.array([[1.0, np.nan], [3.0, 4.0], [np.nan, np.nan]])
    np.testing.assert_allclose(weighted_nanmean(values, np.array([2.0, 1.0, 5.0])), [5 / 3, 4.0])


@pytest.fixture
def same_physics(tmp_path):
    """A reference and two sets of the same population (fresh speckle on the same masks)."""
    real = examples.toy_imageset(n=10, size=96, seed=0)
    paths = {"real": imageset.write(real, tmp_path / "real.h5")}
    for seed in (1, 2):
        paths[seed] = imageset.write(resimulate(real, seed=seed), tmp_path / f"sim{seed}.h5")
    dark = resimulate(real, seed=3)
    dark["image"] = (dark["image"] // 2).astype(np.uint8)  # another population: half the brightness
    paths["dark"] = imageset.write(dark, tmp_path / "dark.h5")
    return paths


def test_intervals_cover_the_known_value_zero_for_two_samples_of_one_population(same_physics):
    with pytest.warns(UserWarning):
        ds = runner.run(same_physics["real"], [("physics", same_physics[1]), ("dark", same_physics["dark"])], FAST,
                        progress=False)
    for metric in ("fid[texture-v1]", "kid_mean[texture-v1]"):
        low, high = results.interval_of(ds, "physics", metric)
        value = float(ds["value"].sel({"method": "physics", "metric": metric}))
        assert low <= 0 <= high and low <= value <= high, metric
        assert results.interval_of(ds, "dark", metric)[0] > 0, metric  # another population: resolved above 0
    for name in ("background", "inclusion"):
        low, high = results.interval_of(ds, "physics", "js", name)  # plug-in JS: bias-corrected interval
        value = float(ds["class_value"].sel({"method": "physics", "class_metric": "js", "class": name}))
        assert 0 <= low <= value <= high < 0.05
        assert results.interval_of(ds, "dark", "js", name)[0] > 0.2
    lines = verdicts.verdicts(ds)
    assert any(line.startswith("FID [texture-v1] (lower is better): physics better than dark") for line in lines)


def test_a_method_with_two_training_seeds_is_their_mean_with_a_two_level_interval(same_physics):
    with pytest.warns(UserWarning):
        ds = runner.run(same_physics["real"], [("one", same_physics[1]), ("mixed", [same_physics[1],
                                                                                    same_physics["dark"]])],
                        FAST, progress=False)
    seeds = ds["seed_value"].sel({"method": "mixed", "metric": "ssim"}).values
    assert float(ds["value"].sel({"method": "mixed", "metric": "ssim"})) == pytest.approx(seeds.mean())
    assert ds["n_sets"].values.tolist() == ["1", "1", "2"]
    assert len(json.loads(str(ds.sel({"method": "mixed"})["files"].values))) == 2
    one = np.subtract(*results.interval_of(ds, "one", "fid[texture-v1]")[::-1])
    mixed = np.subtract(*results.interval_of(ds, "mixed", "fid[texture-v1]")[::-1])
    assert mixed > 3 * one  # the seeds disagree: the interval says so
    assert any("2 image sets (training seeds" in note for note in results.notes_of(ds))


def _toy_results(values: dict[str, tuple[float, float, float]]) -> xr.Dataset:
    methods = ["reference", *values]
    metrics = results.metric_names("b")
    value = np.full((len(methods), len(metrics)), np.nan)
    interval = np.full((len(methods), len(metrics), 2), np.nan)
    for m, (v, lo, hi) in enumerate(values.values(), start=1):
        value[m, metrics.index("ssim")], interval[m, metrics.index("ssim")] = v, (lo, hi)
    classes = np.full((len(methods), len(results.CLASS_METRICS), 1), np.nan)
    per_method = {"role": ["reference"] + ["candidate"] * len(values), "file": [""] * len(methods),
                  "condition": ["reference", "mask", "mask", "mask+sketch"],
                  "condition_source": ["none", "none", "none", "reference"]}
    return results.build(methods, ["c"], value, classes, intervals=interval, class_intervals=classes[..., None]
                         .repeat(2, -1), seed_values=value[:, None], backbone="b", per_method=per_method,
                         parameters={}, extra_attrs={}, notes=[])


def test_verdicts_call_a_method_better_only_when_the_intervals_separate():
    ds = _toy_results({"a": (0.50, 0.45, 0.55), "b": (0.40, 0.35, 0.44), "c": (0.47, 0.43, 0.52)})
    line, mark_caption = verdicts.verdicts(ds)
    # c saw the reference's sketch: marked in every mention; c vs a and c vs b overlap
    assert line == ("SSIM (higher is better): a better than b. Not resolved at this sample size: a vs c †, "
                    "c † vs b.")
    assert "†" in mark_caption
    tight = _toy_results({"a": (0.50, 0.49, 0.51), "b": (0.50, 0.49, 0.51), "c": (0.50, np.nan, np.nan)})
    assert "no difference between methods is resolved" in verdicts.verdicts(tight)[0]


def test_seed_sets_of_one_method_that_saw_different_things_are_refused_before_any_work(same_physics, tmp_path):
    reference = imageset.read(same_physics["real"]).load()
    sketched = imageset.write(resimulate(reference, seed=4, condition=dict(
        condition="mask+sketch", source="reference", detail="the reference image's sketch")), tmp_path / "sk.h5")
    masked = imageset.write(resimulate(reference, seed=5, condition=dict(
        condition="mask", source="none", detail="the mask only")), tmp_path / "mask.h5")
    with pytest.raises(UsageError, match="method mixed: its image sets state different conditions"):
        runner.run(same_physics["real"], [("mixed", [masked, sketched])], FAST, progress=False)
