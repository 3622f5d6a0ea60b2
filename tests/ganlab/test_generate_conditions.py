"""What a generated set states: the condition each model saw (mask only, or mask and a sketch from
the reference or from a seeded training image) and how its seconds were timed (warm-up excluded)."""

import time

import numpy as np
import pytest
import torch

from ganlab import cli, data, generate, train
from ganlab.sketch import edge_sketch
from tests.ganlab.conftest import TINY
from ussim import examples, imageset
from ussim.errors import UsageError

MASK_ONLY, SKETCH = ("cgan", "specklegan", "speckle-baseline"), ("sgan", "pgsgan")
TINY_SPECKLE = {"resolution": 32, "g_width": 4, "d_width": 4, "batch": 4, "grid_samples": 2, "threads": 1}
TINY_CANNY = {"canny_sigma": 2.0, "canny_low": 0.1, "canny_high": 0.2}  # the cpu-demo presets' Canny


@pytest.fixture(scope="module")
def runs_of(toy_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {model: train.train(model, toy_file, preset="cpu-demo", runs_root=root, progress=False,
                               overrides={**(TINY_SPECKLE if "speckle" in model else TINY), "max_iters": 2})
            for model in MASK_ONLY + SKETCH}


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    """Three held-out masks with their images, another file than the runs' training set."""
    path = tmp_path_factory.mktemp("heldout") / "heldout.h5"
    imageset.write(examples.toy_imageset(n=3, size=64, seed=11), path)
    return path


def _make(runs_of, model, masks, **options):
    return generate.generate_set(generate.load(runs_of[model]), masks, progress=False, **options)


@pytest.mark.parametrize("model", MASK_ONLY + SKETCH)
def test_every_model_states_its_condition_and_timing(runs_of, heldout, model):
    ds = _make(runs_of, model, heldout)
    condition = imageset.condition_of(ds)
    if model in MASK_ONLY:
        assert (condition["condition"], condition["source"]) == ("mask", "none")
        assert "label mask only" in condition["detail"]
    else:
        assert (condition["condition"], condition["source"]) == ("mask+sketch", "reference")
        assert "Canny edge sketch" in condition["detail"] and "of the very image of heldout.h5" in condition["detail"]
        assert imageset.params_of(ds)["sketch_source"] == {"from": "reference", "sketch": "canny",
                                                           "canny": data.canny_settings(TINY_CANNY)}
    assert imageset.timing_of(ds) == {"warmup_excluded": True, "device": "cpu", "batch_size": 1,
                                      "threads": torch.get_num_threads(), "clock": "wall"}


def test_a_stored_sketch_is_the_reference_source(runs_of, heldout, tmp_path):
    with imageset.read(heldout) as ds:
        ds = ds.load()
    ds["sketch"] = (("sample", "y", "x"), np.ones(ds["label"].shape, np.uint8))
    imageset.write(ds, tmp_path / "sketched.h5")
    condition = imageset.condition_of(_make(runs_of, "pgsgan", tmp_path / "sketched.h5"))
    assert condition["source"] == "reference" and "sketch stored beside each mask" in condition["detail"]


@pytest.mark.parametrize("model", SKETCH)
def test_training_sketches_come_from_seeded_training_images(runs_of, heldout, toy_file, model):
    ds = _make(runs_of, model, heldout, sketch_from="training", seed=5)
    record = imageset.params_of(ds)["sketch_source"]
    condition = imageset.condition_of(ds)
    assert (condition["condition"], condition["source"]) == ("mask+sketch", "other")
    sha = imageset.file_sha256(toy_file)
    for words in ("a training image", "toy.h5", "the run's training set", sha, "seed 5"):
        assert words in condition["detail"], words
    assert record["from"] == "training" and record["sha256"] == sha and record["seed"] == 5
    with imageset.read(toy_file) as training, imageset.read(heldout) as masks:
        ids = training["sample_id"].values.tolist()
        assert len(record["sample_ids"]) == 3 and len(set(record["sample_ids"])) == 3  # no sketch shared
        snapshot = generate.load(runs_of[model])
        for i, sample_id in enumerate(record["sample_ids"]):  # each mask's sketch: its training image's Canny edges
            image = data.resize_images(training["image"].values[ids.index(sample_id)][None], snapshot.resolution)[0]
            drawn = edge_sketch(image, sigma=2.0, low=0.1, high=0.2) & (masks["label"].values[i] == 0)
            assert np.array_equal(ds["sketch"].values[i], drawn)
    reference = _make(runs_of, model, heldout, seed=5)
    assert not np.array_equal(ds["sketch"].values, reference["sketch"].values)
    assert not np.array_equal(ds["image"].values, reference["image"].values)


def test_training_sketches_repeat_with_the_seed_and_change_with_it(runs_of, heldout):
    first = _make(runs_of, "sgan", heldout, sketch_from="training", seed=5)
    again = _make(runs_of, "sgan", heldout, sketch_from="training", seed=5)
    other = _make(runs_of, "sgan", heldout, sketch_from="training", seed=6)
    ids = [imageset.params_of(ds)["sketch_source"]["sample_ids"] for ds in (first, again, other)]
    assert ids[0] == ids[1] != ids[2]
    assert np.array_equal(first["image"].values, again["image"].values)


def test_bad_sketch_options_are_refused(runs_of, heldout, toy_file, tmp_path):
    other_classes = tmp_path / "other.h5"
    ds = examples.toy_imageset(n=2, size=64, seed=2)
    ds.attrs["class_names"] = ["background", "follicle"]
    imageset.write(ds, other_classes)
    narrow = tmp_path / "narrow.h5"
    imageset.write(examples.toy_imageset(n=2, size=64, seed=2).isel(y=slice(0, 48)), narrow)
    cases = [
        ("cgan", dict(sketch_from="training"), "cgan sees no sketch"),
        ("sgan", dict(sketch_from="scribble"), "--sketch-from 'scribble' is not allowed: reference or training"),
        ("sgan", dict(sketch_set=toy_file), "--sketch-set applies to --sketch-from training only"),
        ("sgan", dict(sketch_from="training", sketch_set=tmp_path / "absent.h5"), "absent.h5: no such image-set"),
        ("sgan", dict(sketch_from="training", sketch_set=other_classes), "differ from the model's"),
        ("sgan", dict(sketch_from="training", sketch_set=narrow), "images are 48 x 64 px; sketches need square"),
        ("sgan", dict(sketch_from="training", sketch_set=heldout), "is the masks file itself"),
    ]
    for model, options, message in cases:
        with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _make(runs_of, model, heldout, **options)


def test_cli_training_sketches_and_one_line_refusals(capsys, runs_of, heldout, tmp_path):
    def generate_cli(model, *extra):
        with pytest.raises(SystemExit) as stop:
            cli.main(["generate", "--run", str(runs_of[model]), "--masks", str(heldout), "--out",
                      str(tmp_path / f"{model}.h5"), "--overwrite", "--threads", "1", *map(str, extra)])
        return stop.value.code, capsys.readouterr().err

    code, err = generate_cli("pgsgan", "--sketch-from", "training", "--seed", "2")  # the run's own training set
    assert code == 0, err
    with imageset.read(tmp_path / "pgsgan.h5") as ds:
        assert imageset.condition_of(ds)["source"] == "other"
        assert imageset.params_of(ds)["sketch_source"]["role"] == "the run's training set"
    for model, extra, message in [("specklegan", ["--sketch-from", "training"], "specklegan sees no sketch"),
                                  ("sgan", ["--sketch-from", "training", "--sketch-set", tmp_path / "no.h5"],
                                   "no.h5: no such file")]:
        code, err = generate_cli(model, *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_the_first_timed_image_comes_after_an_untimed_warm_up(monkeypatch, runs_of, heldout):
    events = []
    warm_up, run = generate.warm_up, generate._run

    def logged_warm_up(*args):
        events.append("warm-up")
        return warm_up(*args)

    def logged_run(*args):
        events.append("generator")
        return run(*args)

    def clock():
        events.append("clock")
        return time.perf_counter()

    monkeypatch.setattr(generate, "warm_up", logged_warm_up)
    monkeypatch.setattr(generate, "_run", logged_run)
    monkeypatch.setattr(generate, "time", type("Clock", (), {"perf_counter": staticmethod(clock)}))
    ds = _make(runs_of, "sgan", heldout)
    assert events[:2] == ["warm-up", "generator"]  # one image made and discarded before any clock
    assert events[2:] == ["clock", "generator", "clock"] * 3 and ds.sizes["sample"] == 3
