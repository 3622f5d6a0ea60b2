import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
import xarray as xr

from ussim import imageset
from ussim.errors import UsageError
from ussim.imageset import ImageSetError


def test_round_trip_keeps_values_and_attributes(toy, tmp_path):
    path = imageset.write(toy, tmp_path / "set.h5")
    with imageset.read(path) as back:
        for name in ("image", "label", "envelope", "sketch", "seed", "seconds", "sample_id", "y_mm", "x_mm"):
            assert back[name].dtype == toy[name].dtype, name
            np.testing.assert_array_equal(back[name].values, toy[name].values, err_msg=name)
        assert {k: v for k, v in back.attrs.items() if k != "class_names"} == \
               {k: v for k, v in toy.attrs.items() if k != "class_names"}
        assert imageset.class_names_of(back) == list(toy.attrs["class_names"])
        assert imageset.params_of(back) == imageset.params_of(toy)


def test_read_is_lazy(toy, tmp_path):
    path = imageset.write(toy, tmp_path / "set.h5")
    with imageset.read(path) as back:
        assert back["image"].chunks is not None  # dask-backed: pixels stay on disk until used
        assert isinstance(back["seed"].values, np.ndarray)


def test_single_class_name_survives_round_trip(tmp_path):
    ds = imageset.make(np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8), class_names=["tissue"],
                       organ="x", method="m", params={})
    with imageset.read(imageset.write(ds, tmp_path / "one.h5")) as back:
        assert imageset.class_names_of(back) == ["tissue"]


def test_plain_h5py_reads_what_is_written(toy, tmp_path):
    path = imageset.write(toy, tmp_path / "set.h5")
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["image"][...], toy["image"].values)
        np.testing.assert_array_equal(f["label"][...], toy["label"].values)
        assert f["image"].dtype == np.uint8 and f["envelope"].dtype == np.float32
        assert [s.decode() for s in f["sample_id"][...]] == toy["sample_id"].values.tolist()
        assert list(f.attrs["class_names"]) == ["background", "inclusion"]
        assert json.loads(f.attrs["params"])["seed"] == 7
        assert f.attrs["method"] == "toy:rayleigh"


def test_exception_during_write_leaves_nothing(toy, tmp_path, monkeypatch):
    target = tmp_path / "set.h5"
    real_to_netcdf = xr.Dataset.to_netcdf

    def write_then_fail(self, path, **kwargs):
        real_to_netcdf(self, path, **kwargs)
        raise RuntimeError("disk vanished")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", write_then_fail)
    with pytest.raises(RuntimeError):
        imageset.write(toy, target)
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_file(toy, tmp_path, monkeypatch):
    target = imageset.write(toy, tmp_path / "set.h5")
    monkeypatch.setattr(xr.Dataset, "to_netcdf", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        imageset.write(imageset.select(toy, index=[0]), target, overwrite=True)
    with imageset.read(target) as back:
        assert back.sizes["sample"] == 5


CHILD = """
import os, signal, sys, numpy as np
from ussim import imageset
n = int(sys.argv[2])
rng = np.random.default_rng(0)
ds = imageset.make(rng.integers(0, 256, (n, 256, 256), dtype=np.uint8), np.zeros((n, 256, 256), np.uint8),
                   class_names=["a"], organ="x", method="m", params={})
if sys.argv[3] == "before-rename":
    os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
imageset.write(ds, sys.argv[1])
"""


@pytest.mark.parametrize("moment", ["mid-write", "before-rename"])
def test_killed_writer_leaves_no_file_at_destination(tmp_path, moment):
    target = tmp_path / "big.h5"
    n = 600 if moment == "mid-write" else 2
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(target), str(n), moment])
    if moment == "mid-write":
        deadline = time.time() + 60
        while not any(p.suffix == ".tmp" for p in tmp_path.iterdir()):  # writing has begun
            assert child.poll() is None and time.time() < deadline, "writer ended before it was killed"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    assert child.wait(60) == -signal.SIGKILL
    assert not target.exists()


def test_concat_and_select(toy):
    other = imageset.make(toy["image"].values[:2], toy["label"].values[:2], class_names=["background", "inclusion"],
                          organ="phantom", method="other", params={"a": 1}, sample_id=["o1", "o2"])
    with pytest.warns(UserWarning, match="drops"):
        joined = imageset.concat([toy, other])
    assert joined.sizes["sample"] == 7
    assert joined.attrs["method"] == "toy:rayleigh+other"
    assert [s["method"] for s in imageset.params_of(joined)["concat_of"]] == ["toy:rayleigh", "other"]
    assert "envelope" not in joined and "y_mm" not in joined.coords
    picked = imageset.select(joined, sample_id=["o2", "toy-000008"])
    np.testing.assert_array_equal(picked["image"].values[0], other["image"].values[1])
    np.testing.assert_array_equal(picked["image"].values[1], toy["image"].values[1])
    assert imageset.select(joined, index=[6])["sample_id"].item() == "o2"


def test_concat_of_same_method_keeps_everything(toy):
    second = toy.assign_coords(sample_id=("sample", [f"b{i}" for i in range(5)]))
    joined = imageset.concat([toy, second])
    assert joined.attrs["method"] == "toy:rayleigh" and "envelope" in joined and "y_mm" in joined.coords
    assert joined.attrs["params"] == toy.attrs["params"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign_attrs(class_names=["a", "b", "c"]), "different class_names"),
    (lambda d: d.assign_attrs(organ="liver"), "different organ"),
    (lambda d: d.isel(x=slice(0, 16)), "different image size"),
    (lambda d: d, "not unique"),
])
def test_concat_refuses_incompatible_sets(toy, change, message):
    with pytest.raises(UsageError, match=message):
        imageset.concat([toy, change(toy)])


def test_select_errors(toy):
    with pytest.raises(UsageError, match="unknown sample_id"):
        imageset.select(toy, sample_id=["nope"])
    with pytest.raises(UsageError, match="out of range"):
        imageset.select(toy, index=[5])


@pytest.mark.parametrize("change, message", [
    (lambda d: d.drop_vars("label"), "variable 'label' is missing"),
    (lambda d: d.assign(image=d["image"].astype(np.int16)), "'image' has dtype int16"),
    (lambda d: d.assign(seed=d["seed"].astype(np.int32)), "'seed' has dtype int32"),
    (lambda d: d.assign(image=d["image"].transpose("sample", "x", "y")), "dimensions"),
    (lambda d: d.assign_attrs(class_names=["background"]), "label value 1 is outside"),
    (lambda d: d.assign_attrs(class_names=["a", "a"]), "unique"),
    (lambda d: d.assign_attrs(params="[1, 2]"), "JSON object"),
    (lambda d: _without_attr(d, "organ"), "attribute.*organ.* missing"),
    (lambda d: d.assign_coords(sample_id=("sample", ["a"] * 5)), "not unique"),
    (lambda d: d.assign_coords(y_mm=("y", np.zeros(32))), "increase"),
    (lambda d: d.assign(seconds=d["seconds"] * -1 - 1), "negative"),
    (lambda d: d.isel(sample=[]), "no samples"),
    (lambda d: d.assign_attrs(format_version=99), "format version 99"),
])
def test_validate_names_the_problem(toy, change, message):
    with pytest.raises(ImageSetError, match=message):
        imageset.validate(change(toy))


def _without_attr(ds, name):
    copy = ds.copy()
    del copy.attrs[name]
    return copy


def test_make_rejects_mismatched_shapes():
    with pytest.raises(ImageSetError, match="do not fit"):
        imageset.make(np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 9), np.uint8), class_names=["a"],
                      organ="x", method="m", params={})


def test_write_refuses_existing_file_without_overwrite(toy, tmp_path):
    path = imageset.write(toy, tmp_path / "set.h5")
    with pytest.raises(UsageError, match="exists"):
        imageset.write(toy, path)
    imageset.write(imageset.select(toy, index=[0, 1]), path, overwrite=True)
    with imageset.read(path) as back:
        assert back.sizes["sample"] == 2


def test_read_refuses_truncated_and_foreign_files(toy, tmp_path):
    path = imageset.write(toy, tmp_path / "set.h5")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageSetError, match="truncated.h5"):
        imageset.read(truncated)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["weights"] = np.zeros(3)
    with pytest.raises(ImageSetError, match="foreign.h5"):
        imageset.read(foreign)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ImageSetError, match="not a readable"):
        imageset.read(text)
    with pytest.raises(UsageError, match="no such"):
        imageset.read(tmp_path / "absent.h5")


def test_summary_counts_pixels_per_class(toy):
    facts = imageset.summary(toy)
    labels = toy["label"].values
    assert facts["samples"] == 5 and (facts["height"], facts["width"]) == (32, 32)
    assert facts["classes"]["inclusion"] == pytest.approx(np.mean(labels == 1))
    assert facts["envelope"] and facts["sketch"] and facts["real_samples"] == 0
    assert facts["seconds_median"] == pytest.approx(float(np.median(toy["seconds"].values)))
    assert facts["pixel_mm"] == pytest.approx([0.1, 0.2])
