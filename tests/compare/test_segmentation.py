"""The segmentation benchmark: MONAI's U-Net and metrics against hand checks, the leak check, the
interval's coverage, and tiny `uscompare segment` runs that add to a results file and reach the report."""

import re

import numpy as np
import pytest
import torch
import xarray as xr
from scipy import ndimage
from scipy.spatial.distance import cdist

from compare import cli, results
from compare.segmentation import data, evaluate, intervals, leakage, presets, store, train, unet
from tests.compare.conftest import resimulate
from ussim import examples, imageset
from ussim.errors import UsageError

TINY = ["--size", "32", "--width", "4", "--depth", "3", "--res-units", "1", "--train-steps", "1",
        "--pretrain-steps", "1", "--batch-size", "4", "--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One thread: on a shared machine with busy cores, torch's thread barriers cost 100x a tiny net's work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_monai_unet_maps_a_gray_image_to_class_logits_of_the_same_size():
    preset = presets.resolve("cpu", size=32, width=4, depth=3)
    model = unet.build(3, preset, seed=0)
    assert model(torch.zeros(2, 1, 32, 48)).shape == (2, 3, 32, 48)
    assert torch.equal(next(unet.build(3, preset, seed=0).parameters()), next(model.parameters()))
    with pytest.raises(UsageError, match="size 100 must be divisible by 8"):
        presets.resolve("cpu", size=100)


def brute_force_hd95(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric 95th-percentile distance between the edges (mask minus its erosion) of two masks."""
    ea, eb = (np.argwhere(m & ~ndimage.binary_erosion(m)) for m in (a, b))
    distances = cdist(ea, eb)
    return max(np.percentile(distances.min(axis=1), 95), np.percentile(distances.min(axis=0), 95))


def test_monai_dice_and_hd95_agree_with_hand_computed_values():
    size = (16, 16)
    square = np.zeros(size, np.uint8)
    square[4:9, 4:9] = 1
    shifted = np.roll(square, 1, axis=1)
    far = square.copy()
    far[13, 13] = 1  # one stray pixel: moves the maximum distance a lot, the 95th percentile little
    scores = evaluate.score(np.stack([shifted, far]), np.stack([square, square]), 2)
    assert scores[0, 0, 1] == pytest.approx(2 * 20 / 50)  # 5 x 5 squares overlapping in 5 x 4 pixels
    for i, predicted in enumerate((shifted, far)):
        assert scores[i, 1, 1] == pytest.approx(brute_force_hd95(predicted == 1, square == 1), abs=1e-5)
    assert 0 < scores[1, 1, 1] < np.hypot(13 - 8, 13 - 8)  # below the plain Hausdorff distance
    point, other = np.zeros((1, *size), np.uint8), np.zeros((1, *size), np.uint8)
    point[0, 2, 2], other[0, 5, 6] = 1, 1
    assert evaluate.score(point, other, 2)[0, :, 1].tolist() == pytest.approx([0.0, 5.0])  # a 3-4-5 triangle


def test_the_empty_class_policy():
    empty, one = np.zeros((1, 6, 8), np.uint8), np.zeros((1, 6, 8), np.uint8)
    one[0, 2, 2] = 1
    assert np.isnan(evaluate.score(empty, empty, 2)[0, :, 1]).all()  # in neither: left out
    for predicted, true in ((one, empty), (empty, one)):  # in one only: Dice 0, HD95 = the diagonal
        assert evaluate.score(predicted, true, 2)[0, :, 1].tolist() == [0.0, 10.0]


def test_the_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true, repeats, seeds, images = 0.7, 2000, 3, 30
    seed_effect = rng.normal(0, 0.05, (seeds, 1, repeats))  # training noise
    image_effect = rng.normal(0, 0.10, (1, images, repeats))  # test images drawn from a population
    scores = true + seed_effect + image_effect + rng.normal(0, 0.02, (seeds, images, repeats))
    mean, low, high = intervals.summarise(scores)
    coverage = np.mean((low <= true) & (true <= high))
    assert 0.92 <= coverage <= 0.99, coverage
    # With the images' spread alone, the interval still covers; with neither, it shrinks to the mean.
    _, low, high = intervals.summarise(true + image_effect.repeat(seeds, 0))
    assert 0.92 <= np.mean((low <= true) & (true <= high)) <= 0.99
    assert intervals.summarise(np.full((3, 4), 0.5)).tolist() == [0.5, 0.5, 0.5]
    assert intervals.verdict(0.01, 0.2, True) == "better" and intervals.verdict(0.01, 0.2, False) == "worse"
    assert intervals.verdict(-0.01, 0.2, True) == "not resolved"


def labelled(labels, ids, params=None, name="set.h5"):
    labels = np.asarray(labels, np.uint8)
    return data.Labelled(__import__("pathlib").Path(name), np.zeros_like(labels), labels, list(ids), params or {})


@pytest.fixture
def test_masks(tmp_path):
    ds = examples.toy_imageset(n=4, size=32, seed=50)
    path = imageset.write(ds, tmp_path / "test.h5")
    return labelled(ds["label"].values, ds["sample_id"].values.tolist(), name=str(path)), path


def test_every_kind_of_leak_is_found(test_masks, tmp_path):
    test, path = test_masks
    seen = leakage.fingerprint(test, 32)
    fresh = examples.toy_imageset(n=3, size=32, seed=90)
    assert leakage.overlap(labelled(fresh["label"].values, ["a", "b", "c"]), seen, path, 32) is None
    cases = {
        "sample id": labelled(fresh["label"].values, ["a", "sim-toy-000051", "c"]),
        "mask SHA-256 at native size": labelled(test.labels[::-1], ["x", "y", "z", "w"]),
        "after nearest-neighbour resizing": labelled(
            [leakage.nearest(test.labels[1], 16, centres=True)], ["half"]),  # ganlab's nearest-exact
        "params (masks made from test.h5)": labelled(
            fresh["label"].values, ["a", "b", "c"], {"masks": {"path": str(path), "samples": 4}}),
        "params (mask source is a test sample)": labelled(
            fresh["label"].values[:1], ["a"], {"concat_of": [{"params": {"mask": "toy-000052"}}]}),
    }
    for method, candidate in cases.items():
        size = 16 if "resizing" in method else 32  # the benchmark's training size
        found = leakage.overlap(candidate, leakage.fingerprint(test, size), path, size)
        assert found is not None and method in found[0], (method, found)
    by_torch = torch.nn.functional.interpolate(torch.from_numpy(test.labels[None, 2:3]), size=(16, 16))[0]
    found = leakage.overlap(labelled(by_torch, ["t"]), leakage.fingerprint(test, 16), path, 16)
    assert "resizing" in found[0]  # torch's "nearest"
    moved = {"sha256": imageset.file_sha256(path), "path": str(tmp_path / "renamed.h5")}
    assert leakage.overlap(labelled(fresh["label"].values, "abc", {"masks": moved}), seen, path, 32)[0].startswith(
        "params")  # the same file under another name, by its SHA-256
    # Masks of one class carry no anatomy: two empty masks are no leak.
    empty = np.zeros((1, 32, 32), np.uint8)
    assert leakage.overlap(labelled(empty, ["e"]), leakage.fingerprint(labelled(empty, ["f"]), 32), path, 32) is None
    with pytest.raises(UsageError, match=r"method gan's synthetic set set.h5 overlaps the test set \(test.h5\) by "
                                         r"mask SHA-256 at native size: 4 sample\(s\), e.g. x"):
        leakage.refuse_overlap("method gan's synthetic set", cases["mask SHA-256 at native size"], seen, path, 32)


def test_real_sizes_default_capped_and_explicit_checked():
    assert data.real_sizes(80, None, "r.h5") == ([25, 50, 80], "the default real training-set size(s) 100 exceed the "
                                                                 "80 real training images of r.h5: capped at 80")
    assert data.real_sizes(500, None, "r.h5") == ([25, 50, 100], None)
    with pytest.raises(UsageError, match="--n-real 100 needs at least 100 real training images; r.h5 has 80"):
        data.real_sizes(80, [50, 100], "r.h5")
    subsets = data.real_subsets(80, [5, 10], seed=0)
    assert set(subsets[5]) <= set(subsets[10]) and not np.array_equal(subsets[10], data.real_subsets(80, [10], 1)[10])


def test_classes_are_matched_by_name_or_through_a_map():
    lookup = data.class_lookup(["lesion", "background"], ["background", "ovary"], {"lesion": "ovary"}, "s.h5")
    assert lookup.tolist() == [1, 0]
    with pytest.raises(UsageError, match=r"s.h5: class\(es\) lesion are not classes of the real training set "
                                         r"\(background, ovary\); map them with --class-map"):
        data.class_lookup(["background", "lesion"], ["background", "ovary"], {}, "s.h5")


def test_training_is_deterministic():
    images = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8)
    labels = (images[:, 0] > 128).to(torch.uint8)
    preset = presets.resolve("cpu", size=16, width=2, depth=2)

    def weights():
        model = unet.build(2, preset, seed=3)
        train.train(model, images, labels, steps=2, batch_size=4, learning_rate=1e-2, seed=1,
                    device=torch.device("cpu"), progress=False)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(weights(), weights())


@pytest.fixture
def labelled_files(tmp_path):
    real = examples.toy_imageset(n=16, size=32, seed=0)
    test = examples.toy_imageset(n=4, size=32, seed=50)
    return {"real": imageset.write(real, tmp_path / "seg_real.h5"), "test": imageset.write(test, tmp_path / "seg_test.h5"),
            "sim": imageset.write(resimulate(examples.toy_imageset(n=6, size=32, seed=80), seed=1),
                                  tmp_path / "seg_sim.h5"),
            "leak": imageset.write(resimulate(test, seed=2, id_prefix="gan-"), tmp_path / "seg_leak.h5")}


def test_segment_adds_both_protocols_to_a_results_file_and_the_report_shows_them(
        toy_files, labelled_files, tmp_path, capsys):
    real, sim = toy_files
    out = tmp_path / "results.nc"
    assert cli.run_cli("uscompare", cli._main, [
        "run", "--reference", str(real), "--method", f"physics={sim}", "--out", str(out), "--backbone", "texture-v1",
        "--kid-subsets", "5", "--diversity-pairs", "5", "--pr-k", "2", "--dc-k", "2", "--no-progress"]) == 0
    segment = ["segment", "--real", str(labelled_files["real"]), "--test", str(labelled_files["test"]),
               "--method", f"physics={labelled_files['sim']}", "--n-real", "4", "8", "--results", str(out), *TINY]
    assert cli.run_cli("uscompare", cli._main, segment) == 0
    ds = results.read(out)
    assert "value" in ds and ds["seg_method"].values.tolist() == [presets.BASELINE, "physics"]
    assert ds["n_real"].values.tolist() == [0, 4, 8] and ds["seg_seed"].values.tolist() == [0, 1, 2]
    assert ds["seg_class"].values.tolist() == ["background", "inclusion"] and ds["seg_image"].size == 4
    seg, per_seed = ds["segmentation"], ds["segmentation_per_seed"]
    # synthetic-only (n_real 0) exists for the method only; pretrained+fine-tuned and real-only at every n
    assert np.isnan(seg.sel(seg_method=presets.BASELINE, n_real=0)).all()
    for method, n in (("physics", 0), ("physics", 4), (presets.BASELINE, 8)):
        at = seg.sel(seg_method=method, n_real=n, seg_class="inclusion")
        dice = per_seed.sel(seg_method=method, n_real=n, seg_class="inclusion", seg_score="dice").values
        assert np.isfinite(dice).all() and float(at.sel(seg_metric="dice")) == pytest.approx(dice.mean())
        assert at.sel(seg_metric="dice_low") <= at.sel(seg_metric="dice") <= at.sel(seg_metric="dice_high")
        assert np.isfinite(ds["segmentation_seconds"].sel(seg_method=method, n_real=n)).all()
    trained = ds["segmentation_per_image"].isel(n_real=slice(1, None)).values  # n_real 0: real-only trained nothing
    np.testing.assert_allclose(per_seed.isel(n_real=slice(1, None)).values, np.nanmean(trained, axis=3), rtol=1e-6)
    assert np.isfinite(seg.sel(seg_method="physics", n_real=4, seg_metric="hd95_vs_real_only")).any()
    parameters = store.parameters_of(ds)
    assert parameters["train_steps"] == 1 and parameters["size"] == 32 and parameters["seeds"] == [0, 1, 2]
    assert seg.attrs["preset"] == "cpu" and ds["seg_n_synthetic"].values.tolist() == [0, 6]
    # what each pretraining set's producer saw travels with it (the toy set states nothing)
    assert ds["seg_condition"].values.tolist() == ["real images", "not stated"]
    capsys.readouterr()

    # A second run does not silently replace the first.
    assert cli.run_cli("uscompare", cli._main, segment) == 2
    assert "already holds segmentation results; pass --overwrite" in capsys.readouterr().err

    report = tmp_path / "report.html"
    assert cli.run_cli("uscompare", cli._main, ["report", str(out), "--out", str(report), "--no-grids"]) == 0
    page, twin = report.read_text(), report.with_suffix(".md").read_text()
    low, high = (float(seg.sel(seg_method="physics", n_real=8, seg_class="inclusion", seg_metric=f"dice_{s}"))
                 for s in ("low", "high"))
    row = f"{float(seg.sel(seg_method='physics', n_real=8, seg_class='inclusion', seg_metric='dice')):.3g} " \
          f"[{low:.3g}, {high:.3g}]"
    for text in (page, twin):
        assert "Segmentation utility (both papers)" in text and "Dice inclusion vs real-only" in text
        assert "synthetic set made from" in text
        assert "physics synthetic-only" in text and "physics pretrained+fine-tuned" in text and row in text
        verdicts = re.findall(r"Verdict: physics pretrained\+fine-tuned with [48] real images, (?:dice|hd95) inclusion: "
                              r"(not resolved at this sample size|better than real-only|worse than real-only)", text)
        assert len(verdicts) == 4


def test_leaks_and_bad_inputs_are_refused_in_one_line_with_status_2(labelled_files, tmp_path, capsys):
    out = tmp_path / "seg.nc"
    base = ["segment", "--real", str(labelled_files["real"]), "--results", str(out), *TINY]
    assert cli.run_cli("uscompare", cli._main, [*base, "--n-real", "4", "--seeds", "0", "1", "--test-fraction",
                                                "0.25"]) == 0
    ds = results.read(out)
    assert "value" not in ds and ds["seg_method"].values.tolist() == [presets.BASELINE]
    assert any("seeded 25% of seg_real.h5" in note for note in store.notes_of(ds))
    assert any("only 2 training seeds" in note for note in store.notes_of(ds))
    capsys.readouterr()
    other = examples.toy_imageset(n=4, size=32, seed=9)
    other.attrs["class_names"] = ["background", "lesion"]
    odd = imageset.write(other, tmp_path / "odd.h5")
    overlapping = examples.toy_imageset(n=16, size=32, seed=47)  # seeds 50 to 53 draw the test masks again
    overlapping = overlapping.assign_coords(sample_id=("sample", [f"r{i}" for i in range(16)]))
    real_copy = imageset.write(overlapping, tmp_path / "overlapping_real.h5")
    with_test = ["--test", str(labelled_files["test"]), "--n-real", "4"]
    for args, message in (
            ([*with_test, "--method", f"gan={labelled_files['leak']}"],
             "method gan's synthetic set seg_leak.h5 overlaps the test set (seg_test.h5) by mask SHA-256 at native "
             "size: 4 sample(s), e.g. gan-toy-000050"),
            ([*with_test, "--method", f"gan={labelled_files['leak']}", "--real", str(real_copy)],
             "the real training set overlapping_real.h5 overlaps the test set (seg_test.h5) by mask SHA-256"),
            (["--n-real", "50"], "--n-real 50 needs at least 50 real training images"),
            (["--n-real", "4", "--seeds", "3"], "--seeds needs at least 2 distinct seeds"),
            (["--n-real", "4", "--method", f"gan={odd}"], "class(es) lesion are not classes"),
            (["--n-real", "4", "--method", f"{presets.BASELINE}={odd}"], "equal to the baseline")):
        assert cli.run_cli("uscompare", cli._main, [*base, "--overwrite", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("uscompare: error: "), err


def test_results_of_the_old_layout_are_refused_in_one_line():
    old = xr.Dataset({"segmentation": (("seg_method", "n_real", "seg_metric", "seg_class"), np.zeros((1, 1, 1, 2)))})
    with pytest.raises(UsageError, match=r"layout 1 \(one seed, no intervals\); .* rerun `uscompare segment` with "
                                         r"--overwrite"):
        store.check_layout(old)
