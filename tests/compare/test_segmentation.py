"""The segmentation benchmark: U-Net shapes, Dice and MHD against hand-computed values, class matching,
determinism, and a tiny `uscompare segment` run that adds to a results file and reaches the report."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from compare import cli, results
from compare.segmentation import data, evaluate, presets, store, train
from compare.segmentation.unet import ResidualUNet
from tests.compare.conftest import resimulate
from ussim import examples, imageset
from ussim.errors import UsageError

TINY = ["--size", "32", "--width", "4", "--depth", "3", "--train-steps", "1", "--pretrain-steps", "1",
        "--batch-size", "4", "--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One thread: on a shared machine with busy cores, torch's thread barriers cost 100x a tiny net's work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_unet_maps_a_gray_image_to_class_logits_of_the_same_size():
    model = ResidualUNet(n_classes=3, width=4, depth=3)
    assert model(torch.zeros(2, 1, 32, 48)).shape == (2, 3, 32, 48)
    with pytest.raises(UsageError, match="divisible by 4"):
        model(torch.zeros(1, 1, 30, 32))


def mask(shape, *pixels):
    out = np.zeros(shape, bool)
    for y, x in pixels:
        out[y, x] = True
    return out


def test_dice_and_modified_hausdorff_match_hand_computed_values():
    one, other = mask((8, 8), (0, 0)), mask((8, 8), (3, 4))
    assert evaluate.dice(one, other) == 0 and evaluate.modified_hausdorff(one, other) == 5.0  # a 3-4-5 triangle
    two = mask((8, 8), (0, 0), (0, 4))
    assert evaluate.dice(two, one) == pytest.approx(2 / 3)
    # mean distance from `two` to `one` is (0 + 4) / 2 = 2, from `one` to `two` 0: the max of the means is 2
    assert evaluate.modified_hausdorff(two, one) == 2.0 == evaluate.modified_hausdorff(one, two)
    square = np.zeros((7, 7), bool)
    square[1:4, 1:4] = True
    shifted = np.roll(square, 1, axis=1)
    assert evaluate.edge(square).sum() == 8  # the centre pixel is interior
    # half of each edge lies on the other edge, the other half one pixel away
    assert evaluate.dice(shifted, square) == pytest.approx(6 / 9)
    assert evaluate.modified_hausdorff(shifted, square) == 0.5


def test_the_empty_mask_policy():
    empty, full = np.zeros((6, 8), bool), mask((6, 8), (2, 2))
    assert np.isnan(evaluate.dice(empty, empty)) and np.isnan(evaluate.modified_hausdorff(empty, empty))
    assert evaluate.dice(full, empty) == 0 and evaluate.modified_hausdorff(full, empty) == 10.0  # the diagonal
    assert evaluate.modified_hausdorff(empty, full) == 10.0


def test_mhd_equals_brute_force_directed_means_on_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.random((2, 20, 24)) < 0.3
        ea, eb = (np.argwhere(evaluate.edge(m)) for m in (a, b))
        distances = cdist(ea, eb)
        expected = max(distances.min(axis=1).mean(), distances.min(axis=0).mean())
        assert evaluate.modified_hausdorff(a, b) == pytest.approx(expected)


def test_score_gives_per_image_per_class_values():
    true = np.zeros((2, 4, 4), np.uint8)
    true[0, :2] = 1
    predicted = true.copy()
    predicted[1, 0, 0] = 1  # image 1 has no class 1 in truth: a false positive
    dices, distances = evaluate.score(predicted, true, 3)
    assert dices[0].tolist()[:2] == [1.0, 1.0] and np.isnan(dices[0, 2]) and dices[1, 1] == 0
    assert distances[0, 1] == 0 and distances[1, 1] == pytest.approx(np.hypot(4, 4))


def test_classes_are_matched_by_name_or_through_a_map():
    lookup = data.class_lookup(["lesion", "background"], ["background", "ovary"], {"lesion": "ovary"}, "s.h5")
    assert lookup.tolist() == [1, 0]
    with pytest.raises(UsageError, match=r"s.h5: class\(es\) lesion are not classes of the real training set "
                                         r"\(background, ovary\); map them with --class-map"):
        data.class_lookup(["background", "lesion"], ["background", "ovary"], {}, "s.h5")


def test_too_few_real_images_and_bad_presets_are_refused():
    with pytest.raises(UsageError, match="--n-real 100 needs at least 100 real training images; r.h5 has 80"):
        data.real_subsets(80, [50, 100], 0, "r.h5")
    subsets = data.real_subsets(80, [5, 10], 0, "r.h5")
    assert set(subsets[5]) <= set(subsets[10])  # nested
    with pytest.raises(UsageError, match="size 100 must be divisible by 8"):
        presets.resolve("cpu", size=100)
    with pytest.raises(UsageError, match="unknown segmentation preset 'gpu'"):
        presets.resolve("gpu")


def test_training_is_deterministic():
    images = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8)
    labels = (images[:, 0] > 128).to(torch.uint8)

    def weights():
        torch.manual_seed(3)
        model = ResidualUNet(2, width=2, depth=2)
        train.train(model, images, labels, steps=2, batch_size=4, learning_rate=1e-2, seed=1,
                    device=torch.device("cpu"), progress=False)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(weights(), weights())


@pytest.fixture
def labelled_files(tmp_path):
    real = examples.toy_imageset(n=16, size=32, seed=0)
    paths = {"real": imageset.write(real, tmp_path / "seg_real.h5"),
             "test": imageset.write(examples.toy_imageset(n=4, size=32, seed=50), tmp_path / "seg_test.h5"),
             "sim": imageset.write(resimulate(examples.toy_imageset(n=6, size=32, seed=80), seed=1),
                                   tmp_path / "seg_sim.h5")}
    return paths


def test_segment_adds_to_a_results_file_and_the_report_shows_it(toy_files, labelled_files, tmp_path, capsys):
    real, sim = toy_files
    out = tmp_path / "results.nc"
    assert cli.run_cli("uscompare", cli._main, [
        "run", "--reference", str(real), "--method", f"physics={sim}", "--out", str(out), "--backbone", "texture-v1",
        "--kid-subsets", "5", "--diversity-pairs", "5", "--pr-k", "2", "--dc-k", "2", "--no-progress"]) == 0
    segment = ["segment", "--real", str(labelled_files["real"]), "--test", str(labelled_files["test"]),
               "--method", f"physics={labelled_files['sim']}", "--n-real", "4", "8", "--results", str(out), *TINY]
    assert cli.run_cli("uscompare", cli._main, segment) == 0
    ds = results.read(out)
    assert "value" in ds and list(ds["seg_method"].values) == [presets.BASELINE, "physics"]
    assert ds["segmentation"].dims == ("seg_method", "n_real", "seg_metric", "seg_class")
    assert ds["n_real"].values.tolist() == [4, 8] and ds["seg_class"].values.tolist() == ["background", "inclusion"]
    dice = ds["segmentation"].sel({"seg_metric": "dice"}).values
    assert np.all((dice >= 0) & (dice <= 1))
    parameters = store.parameters_of(ds)
    assert parameters["train_steps"] == 1 and parameters["size"] == 32 and parameters["n_real"] == [4, 8]
    assert ds["segmentation"].attrs["preset"] == "cpu" and ds["seg_n_synthetic"].values.tolist() == [0, 6]
    capsys.readouterr()

    # A second run does not silently replace the first.
    assert cli.run_cli("uscompare", cli._main, segment) == 2
    assert "already holds segmentation results; pass --overwrite" in capsys.readouterr().err

    report = tmp_path / "report.html"
    assert cli.run_cli("uscompare", cli._main, ["report", str(out), "--out", str(report), "--no-grids"]) == 0
    page, twin = report.read_text(), report.with_suffix(".md").read_text()
    for text in (page, twin):
        assert "Segmentation utility (both papers)" in text and "Dice inclusion (n=8)" in text
        assert "pretrained on physics, fine-tuned on real images" in text


def test_segment_creates_a_results_file_and_refuses_bad_inputs_in_one_line(labelled_files, tmp_path, capsys):
    out = tmp_path / "seg.nc"
    base = ["segment", "--real", str(labelled_files["real"]), "--results", str(out), *TINY]
    assert cli.run_cli("uscompare", cli._main, [*base, "--n-real", "4", "--test-fraction", "0.25"]) == 0
    ds = results.read(out)
    assert "value" not in ds and list(ds["seg_method"].values) == [presets.BASELINE]
    assert any("seeded 25% of seg_real.h5" in note for note in store.notes_of(ds))
    capsys.readouterr()
    other = examples.toy_imageset(n=4, size=32, seed=9)
    other.attrs["class_names"] = ["background", "lesion"]
    odd = imageset.write(other, tmp_path / "odd.h5")
    for args, message in ((["--n-real", "50"], "--n-real 50 needs at least 50 real training images"),
                          (["--n-real", "4", "--method", f"gan={odd}"], "class(es) lesion are not classes"),
                          (["--n-real", "4", "--method", f"{presets.BASELINE}={odd}"], "equal to the baseline")):
        assert cli.run_cli("uscompare", cli._main, [*base, "--overwrite", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("uscompare: error: ")
