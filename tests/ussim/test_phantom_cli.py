"""`ussim phantom`: random anatomy or given masks through the physics into an image set."""

import numpy as np
import pytest
from PIL import Image

from ussim import cli, display, imageset


def run(capsys, *argv):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return stop.value.code, out, err


@pytest.mark.parametrize("engine, method", [(None, "ussim-fast"), ("full", "ussim-field")])
def test_random_ivus_phantom_with_png(capsys, tmp_path, engine, method):
    chosen = ["--engine", engine] if engine else []  # the fast engine by default
    code, out, err = run(capsys, "phantom", "--organ", "ivus", "--seed", "2", "--size", "64", "--device", "cpu",
                         *chosen, "--out", tmp_path / "ivus.h5", "--png", tmp_path / "ivus.png")
    assert code == 0, err
    with imageset.read(tmp_path / "ivus.h5") as ds:
        assert ds.attrs["method"] == method and ds.attrs["organ"] == "ivus"
        assert ds.sizes["y"] == ds.sizes["x"] == 64 and "envelope" in ds and ds["seed"].values[0] == 2
        assert imageset.params_of(ds)["anatomy"]["plaque"] in ("none", "fibrous", "lipid", "calcified")
        # the catheter is drawn as the console draws it: its disk in the chain's catheter gray
        chain = display.load("ivus")
        radius = np.hypot(*np.meshgrid(ds["x_mm"].values, ds["y_mm"].values))
        disk = radius < chain.inner_radius_mm - 10.0 / 64  # less one pixel of the 10 mm view
        assert disk.any() and np.all(ds["image"].values[0][disk] == round(chain.catheter_gray))
    assert np.asarray(Image.open(tmp_path / "ivus.png")).shape == (64, 64)


def test_given_masks_are_simulated_on_their_own_pixels(capsys, tmp_path):
    label = np.zeros((2, 48, 48), np.uint8)
    label[:, 15:30, 12:36] = 1
    masks = imageset.make(np.zeros_like(label), label, class_names=["background", "ovary"], organ="ovary",
                          method="real:test", params={}, sample_id=["a", "b"])
    imageset.write(masks, tmp_path / "masks.h5")
    # few scatterers: the test follows the mask's pixels and ids, not the physics (a full ovary view
    # at the default density costs two full-engine images, the warm-up included)
    code, _, err = run(capsys, "phantom", "--organ", "ovary", "--mask", tmp_path / "masks.h5", "--samples", "1",
                       "--device", "cpu", "--scatterers-per-cell", "0.05", "--out", tmp_path / "sim.h5")
    assert code == 0, err
    with imageset.read(tmp_path / "sim.h5") as ds:
        assert ds.sizes["sample"] == 1 and ds["sample_id"].values.tolist() == ["sim-a"]
        np.testing.assert_array_equal(ds["label"].values[0], label[0])
        assert imageset.class_names_of(ds) == ["background", "ovary"]


@pytest.mark.parametrize("extra, message", [
    (["--size", "8"], "too small to image"),
    (["--samples", "2"], "--samples applies to --mask only"),
])
def test_phantom_errors(capsys, tmp_path, extra, message):
    code, _, err = run(capsys, "phantom", "--organ", "ivus", "--out", tmp_path / "x.h5", *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_masks_with_classes_missing_from_the_table(capsys, tmp_path):
    masks = imageset.make(np.zeros((1, 40, 40), np.uint8), np.ones((1, 40, 40), np.uint8),
                          class_names=["background", "liver"], organ="x", method="m", params={})
    imageset.write(masks, tmp_path / "liver.h5")
    (tmp_path / "out.h5").write_bytes(b"")
    code, _, err = run(capsys, "phantom", "--organ", "ovary", "--mask", tmp_path / "liver.h5",
                       "--out", tmp_path / "out.h5")
    assert code == 2 and "exists; pass --overwrite" in err
    code, _, err = run(capsys, "phantom", "--organ", "ovary", "--mask", tmp_path / "liver.h5",
                       "--out", tmp_path / "out.h5", "--overwrite")
    assert code == 2 and "class(es) liver of the mask are not in the ovary tissue table" in err
    assert len(err.strip().splitlines()) == 1


def _reference_set(path, images):
    """IVUS masks (lumen, wall, outside) with the given images, on a 10 mm grid."""
    size = images.shape[-1]
    centres = (np.arange(size) + 0.5) * 10.0 / size - 5.0
    radius = np.hypot(*np.meshgrid(centres, centres))
    label = np.where(radius < 1.5, 2, np.where(radius < 2.5, 1, 0)).astype(np.uint8)
    ds = imageset.make(images, np.broadcast_to(label, images.shape).copy(), organ="ivus", method="real:test",
                       class_names=["outside_EEM", "wall", "lumen"], params={}, y_mm=centres, x_mm=centres)
    imageset.write(ds, path)
    return path


def test_mask_plus_sketch_from_the_reference_records_its_condition(capsys, tmp_path):
    images = np.full((1, 48, 48), 60, np.uint8)
    images[:, 6:12, :] = 200                                   # a bright band: edges for the sketch
    masks = _reference_set(tmp_path / "ref.h5", images)
    code, out, err = run(capsys, "phantom", "--organ", "ivus", "--mask", masks, "--condition", "mask+sketch",
                         "--device", "cpu", "--scatterers-per-cell", "0.5", "--out", tmp_path / "sim.h5")
    assert code == 0, err
    assert "condition mask+sketch (source: reference)" in out
    with imageset.read(tmp_path / "sim.h5") as ds:
        assert ds.attrs["condition"] == "mask+sketch" and ds["sketch"].values[0][6:13].any()


@pytest.mark.parametrize("extra, message", [
    (["--condition", "mask+sketch"], "--condition mask+sketch needs --mask REF.h5"),
    (["--condition", "mask+image", "--sketch-from", "training"], "needs --mask REF.h5"),
    (["--condition", "image"], "--condition 'image' is not allowed: mask, mask+sketch, mask+image"),
])
def test_random_anatomy_takes_the_mask_level_only(capsys, tmp_path, extra, message):
    code, _, err = run(capsys, "phantom", "--organ", "ivus", "--out", tmp_path / "x.h5", *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_mask_plus_image_of_a_set_without_images_is_refused_in_one_line(capsys, tmp_path):
    masks = _reference_set(tmp_path / "masks.h5", np.zeros((2, 40, 40), np.uint8))
    code, _, err = run(capsys, "phantom", "--organ", "ivus", "--mask", masks, "--condition", "mask+image",
                       "--out", tmp_path / "x.h5")
    assert code == 2 and "images are blank (all 0): --condition mask+image needs images" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.h5").exists()


def test_side_set_options_are_refused_where_they_cannot_apply(capsys, tmp_path):
    masks = _reference_set(tmp_path / "masks.h5", np.full((1, 40, 40), 90, np.uint8))
    for extra, message in ((["--side-set", masks], "--side-set applies to --sketch-from training only"),
                           (["--sketch-from", "training"], "--sketch-from training needs --side-set TRAIN.h5")):
        code, _, err = run(capsys, "phantom", "--organ", "ivus", "--mask", masks, "--condition", "mask+image",
                           "--out", tmp_path / "x.h5", *extra)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_help_explains_the_levels_and_that_reference_feeds_the_held_out_image(capsys):
    code, out, _ = run(capsys, "phantom", "--help")
    assert code == 0
    for words in ("mask+sketch", "mask+image", "Field II", "held-out image", "dagger", "--side-set"):
        assert words in out
