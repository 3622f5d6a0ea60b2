"""SpeckleGAN and its baseline in the shared loop: smoke runs, organ settings, generation, exact resume."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab import cli, diversity, registry, runs, train
from ganlab.specklegan_defaults import PRESETS
from ussim import examples, imageset

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("specklegan", "speckle-baseline")
# 32 px networks of width 4: tens of milliseconds per iteration on one thread.
# Batch 4 of the 8 toy images: two iterations are one epoch.
TINY = {"resolution": 32, "g_width": 4, "d_width": 4, "batch": 4, "grid_samples": 2, "threads": 1}


@pytest.fixture(scope="module")
def ivus_file(tmp_path_factory):
    """The toy set relabelled as IVUS: the organ decides polar speckle and any rotation."""
    ds = examples.toy_imageset(n=4, size=32, seed=5)
    ds.attrs["organ"] = "ivus"
    path = tmp_path_factory.mktemp("ivus") / "ivus_toy.h5"
    imageset.write(ds, path)
    return path


@pytest.fixture(scope="module")
def runs_of(toy_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("sg_runs")
    return {model: train.train(model, toy_file, preset="cpu-demo", overrides={**TINY, "max_iters": 2},
                               runs_root=root, progress=False) for model in MODELS}


def test_models_lists_both_with_their_paper_section(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["models"])
    out = capsys.readouterr().out
    assert stop.value.code == 0
    for name in MODELS:
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert "SpeckleGAN paper" in line
    assert set(MODELS) <= set(registry.names())


@pytest.mark.parametrize("preset", ["paper", "cpu-demo"])
@pytest.mark.parametrize("model", MODELS)
def test_two_iteration_smoke_run(tmp_path, toy_file, model, preset):
    run = train.train(model, toy_file, preset=preset, overrides={**TINY, "max_iters": 2}, runs_root=tmp_path,
                      progress=False)
    described = json.loads((run / "config.json").read_text())
    config = described["config"]
    assert described["model"] == model and described["preset"] == preset
    for key, value in PRESETS[model][preset].items():
        if key not in ("polar", "rotation", "vflip"):
            assert config[key] == TINY.get(key, value)
    # organ "phantom": a probe's frame (no polar speckle, no turn, no up-down flip)
    assert (config["polar"], config["rotation"], config["vflip"]) == (False, "none", False)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in stats] == [0] and stats[0]["iterations"] == 2
    assert all(math.isfinite(stats[0][k]) for k in ("loss_d", "loss_g", "d_real", "d_fake"))
    assert ("speckle_d" in stats[0]) == (model == "specklegan")
    state = runs.load(run / runs.STATE, runs.STATE_FORMAT)
    assert any(k.startswith("speckle.") for k in state["generator"]) == (model == "specklegan")
    assert len(state["opt_generator"]["param_groups"]) == (2 if model == "specklegan" else 1)
    assert (run / "samples-000000.png").is_file()


def test_ivus_sets_train_with_polar_speckle_and_any_rotation(tmp_path, ivus_file):
    run = train.train("specklegan", ivus_file, preset="cpu-demo", overrides={**TINY, "max_iters": 1},
                      runs_root=tmp_path, progress=False)
    config = json.loads((run / "config.json").read_text())["config"]
    assert (config["polar"], config["rotation"], config["vflip"]) == (True, "any", True)   # the paper's IVUS
    assert any(".polar." in k or k.startswith("speckle.") for k in
               runs.load(run / runs.STATE, runs.STATE_FORMAT)["generator"])
    given = train.train("specklegan", ivus_file, preset="cpu-demo",
                        overrides={**TINY, "max_iters": 1, "polar": False, "rotation": "quarter"},
                        runs_root=tmp_path, progress=False)
    config = json.loads((given / "config.json").read_text())["config"]
    assert (config["polar"], config["rotation"]) == (False, "quarter")   # what --set gives wins


@pytest.mark.parametrize("model", MODELS)
def test_generate_from_a_run(capsys, runs_of, toy_file, tmp_path, model):
    out = tmp_path / "generated.h5"
    with pytest.raises(SystemExit) as stop:
        cli.main(["generate", "--run", str(runs_of[model]), "--masks", str(toy_file), "--out", str(out),
                  "--samples", "3", "--threads", "1"])
    assert stop.value.code == 0, capsys.readouterr().err
    with imageset.read(out) as ds, imageset.read(toy_file) as masks:
        assert ds.sizes["sample"] == 3 and ds.attrs["method"] == model and "sketch" not in ds
        assert ds["image"].shape[1:] == masks["image"].shape[1:]
        assert np.array_equal(ds["label"].values, masks["label"][:3].values)
        images = ds["image"].values
        stored = json.loads(ds.attrs["diversity"])
    assert not np.array_equal(images[0], images[1])  # each image its own z (and speckle)
    assert stored["diversity_pairs"] == 3 and stored["diversity_scales"] == 3   # 64 px: three scales
    assert stored == diversity.diversity(images, seed=0)


def ganlab_train(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "ganlab", "train", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_run_stopped_mid_epoch_resumes_to_the_same_weights(toy_file, tmp_path):
    """z, the speckle phases and the augmentation draw from the global RNG that state.pt saves."""
    settings = ["--model", "specklegan", "--data", toy_file, "--preset", "cpu-demo", "--deterministic",
                "--threads", "1", "--epochs", "2", *[f"--set={k}={json.dumps(v)}" for k, v in TINY.items()
                                                     if k != "threads"], "--set", "batch=2", "--set", "rotation=\"any\""]
    ganlab_train(*settings, "--runs", tmp_path / "reference")
    ganlab_train(*settings, "--runs", tmp_path / "stopped", "--max-iters", "5")
    run = tmp_path / "stopped" / "00000-specklegan-toy"
    assert torch.load(run / "state.pt", weights_only=True)["total"] == 5     # 4 per epoch: inside epoch 2
    ganlab_train("--resume", run, "--set", "max_iters=null")
    a, b = (torch.load(r / "state.pt", weights_only=True)
            for r in (run, tmp_path / "reference" / "00000-specklegan-toy"))
    assert a["total"] == b["total"] == 8
    for net in ("generator", "discriminator"):
        for key in b[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs"
    for index, slot in b["opt_generator"]["state"].items():
        for key, value in slot.items():
            assert torch.equal(a["opt_generator"]["state"][index][key], value)
