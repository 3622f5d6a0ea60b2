"""Every user error named in the foundation issue ends in one line on stderr and exit status 2."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from ussim import cli, imageset


def run(capsys, *argv):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def assert_one_line_error(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("ussim: error: ") and message in err, err


@pytest.fixture
def folders(tmp_path):
    for name in ("images", "masks"):
        (tmp_path / name).mkdir()
    for stem in ("s1", "s2"):
        Image.fromarray(np.full((20, 30), 90, np.uint8)).save(tmp_path / "images" / f"{stem}.png")
        label = np.zeros((20, 30), np.uint8)
        label[5:10, 5:15] = 1
        Image.fromarray(label).save(tmp_path / "masks" / f"{stem}.png")
    return tmp_path


def folder_args(f, *extra):
    return ["import", "--images", f / "images", "--masks", f / "masks", "--out", f / "out.h5", *extra]


def test_import_folder_then_info(capsys, folders):
    code, out, _ = run(capsys, *folder_args(folders, "--classes", "background,ovary", "--organ", "ovary",
                                            "--size", "16x24", "--pixel-mm", "0.1"))
    assert code == 0 and "samples   2" in out
    code, out, _ = run(capsys, "info", folders / "out.h5")
    assert code == 0
    assert "size      16 x 24 px  (0.125 x 0.125 mm per pixel)" in out
    assert "ovary" in out and "envelope  no" in out and "unknown (real images" in out
    assert "  timing " not in out and "  condition " not in out  # a real set states neither
    code, out, _ = run(capsys, "info", folders / "out.h5", "--json")
    facts = json.loads(out)
    assert facts["organ"] == "ovary" and sum(facts["classes"].values()) == pytest.approx(1)


def test_info_reports_timing_of_generated_sets(capsys, toy, tmp_path):
    imageset.write(toy, tmp_path / "toy.h5")
    code, out, _ = run(capsys, "info", tmp_path / "toy.h5")
    assert code == 0 and "median" in out and "envelope  yes" in out and "sketch    yes" in out


def test_info_shows_condition_and_timing_when_a_set_states_them(capsys, toy, tmp_path):
    stated = imageset.make(toy["image"].values, toy["label"].values, class_names=imageset.class_names_of(toy),
                           organ="ovary", method="sgan", params={}, seconds=[0.25] * toy.sizes["sample"],
                           condition={"condition": "mask+sketch", "source": "other",
                                      "detail": "a Canny sketch of training image t7"},
                           timing={"warmup_excluded": True, "device": "cuda:0", "batch_size": 1, "threads": 4,
                                   "clock": "wall"})
    imageset.write(stated, tmp_path / "stated.h5")
    code, out, _ = run(capsys, "info", tmp_path / "stated.h5")
    assert code == 0
    assert "  timing    wall clock, batch 1 on cuda:0, 4 threads, warm-up excluded" in out
    assert "  condition mask+sketch (source: other)\n            a Canny sketch of training image t7" in out
    code, out, _ = run(capsys, "info", tmp_path / "stated.h5", "--json")
    facts = json.loads(out)
    assert facts["condition"]["source"] == "other" and facts["timing"]["device"] == "cuda:0"


def test_existing_output_needs_overwrite(capsys, folders):
    assert run(capsys, *folder_args(folders))[0] == 0
    assert_one_line_error(capsys, folder_args(folders), "exists; pass --overwrite")
    assert run(capsys, *folder_args(folders, "--overwrite"))[0] == 0


def test_wrong_shapes(capsys, tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((2, 8, 8), np.uint8), masks=np.zeros((2, 9, 8), np.uint8),
             class_names=np.array(["bg"]))
    assert_one_line_error(capsys, ["import", tmp_path / "a.npz", "--out", tmp_path / "o.h5"], "wrong shapes")


def test_mask_and_image_of_different_size(capsys, folders):
    Image.fromarray(np.zeros((21, 30), np.uint8)).save(folders / "masks" / "s2.png")
    assert_one_line_error(capsys, folder_args(folders), "differ in size")


def test_labels_outside_class_names(capsys, folders, tmp_path):
    assert_one_line_error(capsys, folder_args(folders, "--classes", "background"), "label value 1 is outside")
    np.savez(tmp_path / "a.npz", images=np.zeros((2, 8, 8), np.uint8), masks=np.full((2, 8, 8), 4, np.uint8),
             class_names=np.array(["bg", "x"]))
    assert_one_line_error(capsys, ["import", tmp_path / "a.npz", "--out", tmp_path / "o.h5"], "label value 4")


def test_unreadable_image(capsys, folders):
    (folders / "images" / "s1.png").write_bytes(b"\x89PNG broken")
    assert_one_line_error(capsys, folder_args(folders), "cannot read image")


def test_mask_without_matching_image(capsys, folders):
    shutil.copy(folders / "masks" / "s1.png", folders / "masks" / "s9.png")
    assert_one_line_error(capsys, folder_args(folders), "1 mask(s) without a matching image")


def test_empty_folders(capsys, folders):
    for file in (folders / "masks").iterdir():
        file.unlink()
    assert_one_line_error(capsys, folder_args(folders), "holds no images")


def test_truncated_and_foreign_hdf5(capsys, toy, tmp_path):
    data = imageset.write(toy, tmp_path / "good.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) * 2 // 3])
    assert_one_line_error(capsys, ["info", tmp_path / "cut.h5"], "cut.h5")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["image"] = np.zeros((2, 3))
    assert_one_line_error(capsys, ["info", tmp_path / "foreign.h5"], "foreign.h5")
    assert_one_line_error(capsys, ["info", tmp_path / "absent.h5"], "no such image-set file")


def test_import_by_source_aspect_names_what_it_left_out(capsys, folders):
    code, out, _ = run(capsys, *folder_args(folders, "--source-aspect", "0.5:1"))  # the images are 30 x 20
    assert code == 2
    code, out, _ = run(capsys, *folder_args(folders, "--source-aspect", "1.4:1.6"))
    assert code == 0 and "samples   2" in out and "excluded" not in out


@pytest.mark.parametrize("extra, message", [
    (["--size", "3"], "bad size '3'"),
    (["--palette", "1,2=bg"], "bad palette entry"),
    (["--split", "train"], "--split applies to archive imports only"),
    (["--max-color-fraction", "2"], "2 is out of range: need a finite number in [0, 1]"),
    (["--pixel-mm", "-1"], "-1 is out of range: need a finite number in (0, inf)"),
    (["--source-aspect", "2:1"], "'2:1': need 0 < MIN <= MAX"),
    (["--source-aspect", "1.5"], "'1.5' is not MIN:MAX"),
])
def test_bad_options(capsys, folders, extra, message):
    code, _, err = run(capsys, *folder_args(folders, *extra))
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("bad, message", [
    (np.nan, "image of sample 'b': 1 NaN or infinite pixel value(s), the first at (y=0, x=1); allowed: finite"),
    (3.0, "image of sample 'b': float pixel values span 0..3; allowed: 0..1 (scaled to 0..255 by round(255*v))"),
])
def test_import_refuses_bad_float_pixels_in_one_line(capsys, tmp_path, bad, message):
    images = np.zeros((2, 4, 4), np.float64)
    images[1, 0, 1] = bad
    np.savez(tmp_path / "f.npz", images=images, masks=np.zeros((2, 4, 4), np.uint8), class_names=np.array(["bg"]),
             ids=np.array(["a", "b"]))
    assert_one_line_error(capsys, ["import", tmp_path / "f.npz", "--out", tmp_path / "f.h5"], message)
    assert not (tmp_path / "f.h5").exists()


def test_import_help_states_the_pixel_rule(capsys):
    code, out, _ = run(capsys, "import", "--help")
    assert code == 0 and "float pixels must lie in 0..1 and become round(255*v)" in " ".join(out.split())


def test_console_script_exit_status(folders):
    """The installed `ussim` entry point itself (not only main()) exits 2 with one line."""
    script = Path(sys.executable).with_name("ussim")
    result = subprocess.run([script, "info", folders / "images" / "s1.png"], capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "not a readable image-set file" in result.stderr
    assert subprocess.run([script, "--help"], capture_output=True).returncode == 0
