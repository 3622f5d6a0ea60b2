"""`ussim phantom`: random anatomy or given masks through the physics into an image set."""

import numpy as np
import pytest
from PIL import Image

from ussim import cli, imageset


def run(capsys, *argv):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_random_ivus_phantom_with_png(capsys, tmp_path):
    code, out, err = run(capsys, "phantom", "--organ", "ivus", "--seed", "2", "--size", "64", "--device", "cpu",
                         "--out", tmp_path / "ivus.h5", "--png", tmp_path / "ivus.png")
    assert code == 0, err
    with imageset.read(tmp_path / "ivus.h5") as ds:
        assert ds.attrs["method"] == "ussim-field" and ds.attrs["organ"] == "ivus"
        assert ds.sizes["y"] == ds.sizes["x"] == 64 and "envelope" in ds and ds["seed"].values[0] == 2
        assert imageset.params_of(ds)["anatomy"]["plaque"] in ("none", "fibrous", "lipid", "calcified")
        catheter = ds["label"].values[0] == 3
        assert ds["image"].values[0][catheter].max() == 0  # the dead zone is black
    assert np.asarray(Image.open(tmp_path / "ivus.png")).shape == (64, 64)


def test_given_masks_are_simulated_on_their_own_pixels(capsys, tmp_path):
    label = np.zeros((2, 48, 48), np.uint8)
    label[:, 15:30, 12:36] = 1
    masks = imageset.make(np.zeros_like(label), label, class_names=["background", "ovary"], organ="ovary",
                          method="real:test", params={}, sample_id=["a", "b"])
    imageset.write(masks, tmp_path / "masks.h5")
    code, _, err = run(capsys, "phantom", "--organ", "ovary", "--mask", tmp_path / "masks.h5", "--samples", "1",
                       "--device", "cpu", "--out", tmp_path / "sim.h5")
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
