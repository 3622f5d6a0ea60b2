"""Generation from a trained run: image sets from mask files, and single edited masks."""

import json

import numpy as np
import pytest

from ganlab import cli, generate, train
from ganlab.sketch import edge_sketch
from tests.ganlab.conftest import TINY
from ussim import examples, imageset
from ussim.errors import UsageError


@pytest.fixture(scope="module")
def runs_of(toy_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {model: train.train(model, toy_file, preset="cpu-demo", overrides={**TINY, "max_iters": 2},
                               runs_root=root, progress=False)
            for model in ("cgan", "sgan", "pgsgan")}


@pytest.mark.parametrize("model", ["cgan", "sgan", "pgsgan"])
def test_generate_command_writes_an_image_set(capsys, runs_of, toy_file, tmp_path, model):
    out = tmp_path / "generated.h5"
    with pytest.raises(SystemExit) as stop:
        cli.main(["generate", "--run", str(runs_of[model]), "--masks", str(toy_file), "--out", str(out),
                  "--samples", "3", "--seed", "5", "--threads", "1"])
    assert stop.value.code == 0, capsys.readouterr().err
    with imageset.read(out) as ds, imageset.read(toy_file) as masks:
        assert ds.sizes["sample"] == 3 and ds.attrs["method"] == model
        assert np.array_equal(ds["label"].values, masks["label"][:3].values)
        assert list(ds["sample_id"].values) == list(masks["sample_id"][:3].values)
        assert list(ds["seed"].values) == [5, 6, 7] and np.all(ds["seconds"].values > 0)
        assert ("sketch" in ds) == (model != "cgan")
        if "sketch" in ds:
            assert not ds["sketch"].values[ds["label"].values > 0].any()
        params = imageset.params_of(ds)
        assert params["snapshot_sha256"] and params["run"] == str(runs_of[model].resolve())
        assert params["config"]["g_width"] == 8 and params["masks"]["samples"] == 3


def test_generation_is_repeatable(runs_of, toy_file):
    snapshot = generate.load(runs_of["sgan"])
    first = generate.generate_set(snapshot, toy_file, samples=2, progress=False)
    again = generate.generate_set(snapshot, toy_file, samples=2, progress=False)
    assert np.array_equal(first["image"].values, again["image"].values)


def test_single_edited_mask_keeps_the_original_sketch(runs_of, toy_file):
    snapshot = generate.load(runs_of["pgsgan"])
    with imageset.read(toy_file) as ds:
        label, image = ds["label"].values[0], ds["image"].values[0]
    original = generate.generate_image(snapshot, label, image=image)
    drawn = edge_sketch(image, sigma=snapshot.config["canny_sigma"], low=snapshot.config["canny_low"],
                        high=snapshot.config["canny_high"])
    assert np.array_equal(generate.generate_image(snapshot, label, sketch=drawn), original)
    edited = label.copy()
    edited[20:40, 20:40] = 1                       # a new object drawn into the mask
    changed = generate.generate_image(snapshot, edited, sketch=drawn)
    assert changed.shape == label.shape and changed.dtype == np.uint8
    assert not np.array_equal(changed, original)


def test_sketch_models_refuse_a_mask_without_sketch_or_image(runs_of):
    snapshot = generate.load(runs_of["sgan"])
    with pytest.raises(UsageError, match="needs a sketch"):
        generate.generate_image(snapshot, np.zeros((64, 64), np.uint8))
    assert generate.generate_image(generate.load(runs_of["cgan"]), np.zeros((64, 64), np.uint8)).shape == (64, 64)


def test_masks_with_other_classes_are_refused(runs_of, tmp_path):
    other = examples.toy_imageset(n=2, size=64, seed=0)
    other.attrs["class_names"] = ["background", "follicle"]
    path = tmp_path / "other.h5"
    imageset.write(other, path)
    with pytest.raises(UsageError, match="differ from the model's"):
        generate.generate_set(generate.load(runs_of["cgan"]), path, progress=False)


def test_output_size_can_differ_from_the_masks(runs_of, toy_file):
    ds = generate.generate_set(generate.load(runs_of["cgan"]), toy_file, samples=1, size=32, progress=False)
    assert ds["image"].shape == (1, 32, 32) and ds["label"].shape == (1, 32, 32)
    assert json.loads(ds.attrs["params"])["size"] == 32


def test_masks_bring_their_own_sketch(runs_of, toy_file, tmp_path):
    with imageset.read(toy_file) as ds:
        ds = ds.load()
    stored = np.zeros(ds["label"].shape, np.uint8)
    stored[:, 5, :] = 1                                   # a hand-drawn line across every image
    ds["sketch"] = (("sample", "y", "x"), stored)
    path = tmp_path / "sketched.h5"
    imageset.write(ds, path)
    out = generate.generate_set(generate.load(runs_of["sgan"]), path, samples=2, progress=False)
    assert imageset.params_of(out)["masks"]["sketch"] == "stored"
    expected = (stored[:2] > 0) & (ds["label"].values[:2] == 0)
    assert np.array_equal(out["sketch"].values, expected.astype(np.uint8))
    assert "sketch" not in generate.generate_set(generate.load(runs_of["cgan"]), path, samples=1, progress=False)


def test_sketches_drawn_for_generation_record_their_settings(runs_of, toy_file):
    out = generate.generate_set(generate.load(runs_of["sgan"]), toy_file, samples=1, progress=False)
    masks = imageset.params_of(out)["masks"]
    assert masks["sketch"] == "canny" and masks["canny"] == {"sigma": 2.0, "low": 0.1, "high": 0.2}
