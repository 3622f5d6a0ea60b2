"""Two-iteration smoke runs of every model and preset, the run folder, and PGSgan's four phases."""

import json
import math

import pytest
import torch

from ganlab import presets, registry, runs, train
from tests.ganlab.conftest import TINY


@pytest.mark.parametrize("preset", ["paper", "cpu-demo"])
@pytest.mark.parametrize("model", ["cgan", "sgan", "pgsgan"])
def test_two_iteration_smoke_run(tmp_path, toy_file, model, preset):
    counts = []
    run = train.train(model, toy_file, preset=preset, overrides={**TINY, "max_iters": 2}, runs_root=tmp_path,
                      progress=False, on_iteration=counts.append)
    assert counts == [1, 2]  # the caller's progress hook: the run's iterations so far, after each
    assert run.name == f"00000-{model}-toy"
    described = json.loads((run / "config.json").read_text())
    assert described["model"] == model and described["preset"] == preset
    assert described["data_source"]["sha256"] and described["class_names"] == ["background", "inclusion"]
    config = described["config"]
    for key, value in presets.PRESETS[model][preset].items():   # the preset, but for the shrunk sizes
        assert config[key] == TINY.get(key, value)
    assert ("canny_sigma" in config) == registry.get(model).uses_sketch
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in stats] == [0] and stats[0]["iterations"] == 2
    assert all(math.isfinite(stats[0][k]) for k in ("loss_d", "loss_g", "loss_g_l1", "loss_g_gan"))
    # The sample grid's collapse statistics (2 masks: one pair), beside the real images' of the same masks.
    assert stats[0]["diversity_pairs"] == 1 and 0 <= stats[0]["diversity_ms_ssim"] <= 1
    assert 0 <= stats[0]["real_diversity_ms_ssim"] < 1 and stats[0]["pixel_spread"] >= 0
    assert isinstance(stats[0]["collapsed"], bool)
    assert (run / "samples-000000.png").is_file() and "stopped at epoch 1" in (run / "log.txt").read_text()
    snapshot = runs.load(run / runs.SNAPSHOT, runs.SNAPSHOT_FORMAT)
    state = runs.load(run / runs.STATE, runs.STATE_FORMAT)
    assert snapshot["model"] == model and set(state) >= {"generator", "discriminator", "opt_generator",
                                                         "opt_discriminator", "rng", "epoch", "schedule"}
    assert not list(run.glob(".*.tmp"))


def test_pgsgan_passes_all_four_phases(tmp_path, toy_file):
    overrides = {**TINY, "phase_epochs": [1, 1, 1], "epochs": 5, "alpha_per_epoch": 0.5}
    run = train.train("pgsgan", toy_file, preset="cpu-demo", overrides=overrides, runs_root=tmp_path, progress=False)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["phase"] for s in stats] == [1, 2, 3, 4, 4]
    assert [(s["g_size"], s["d_size"]) for s in stats] == [(32, 32), (32, 64), (64, 64), (64, 64), (64, 64)]
    assert stats[1]["d_alpha"] == pytest.approx(0.25) and stats[2]["g_alpha"] == pytest.approx(0.25)
    assert stats[4]["g_alpha"] == 0.5 and stats[4]["d_alpha"] == 1.0
    assert len(list(run.glob("samples-*.png"))) == 5
    generator = runs.load(run / runs.SNAPSHOT, runs.SNAPSHOT_FORMAT)["generator"]
    assert bool(generator["grown"]) and float(generator["alpha"]) == 0.5


def test_run_numbers_count_up(tmp_path, toy_file):
    first = train.train("cgan", toy_file, preset="cpu-demo", overrides={**TINY, "max_iters": 1}, runs_root=tmp_path,
                        progress=False)
    second = train.train("cgan", toy_file, preset="cpu-demo", overrides={**TINY, "max_iters": 1}, runs_root=tmp_path,
                         progress=False)
    assert (first.name[:5], second.name[:5]) == ("00000", "00001")


def test_paper_preset_holds_the_papers_values():
    for model in ("cgan", "sgan", "pgsgan"):
        config = presets.config_for(model, "paper")
        assert (config["batch"], config["lr_g"], config["lr_d"], config["epochs"]) == (4, 1e-3, 1e-4, 200)
        assert (config["g_blocks"], config["g_width"], config["d_layers"]) == (10, 64, 3)
    growth = presets.config_for("pgsgan", "paper")
    assert (growth["alpha_per_epoch"], growth["g_alpha_max"], growth["resolution"]) == (1 / 30, 0.5, 512)


def test_adam_uses_the_two_learning_rates(toy_file):
    config = presets.config_for("pgsgan", "paper", TINY)
    spec = registry.get("pgsgan")
    optimizers = spec.optimizers(spec.build(config, 3), config)
    assert isinstance(optimizers.generator, torch.optim.Adam)
    assert optimizers.generator.param_groups[0]["lr"] == 1e-3 and optimizers.discriminator.param_groups[0]["lr"] == 1e-4


def test_any_class_count_trains_and_generates(tmp_path):
    from ganlab import generate
    from ussim import examples, imageset
    ds = examples.toy_imageset(n=4, size=64, seed=9)
    label = ds["label"].values.copy()
    label[:, :8, :] = 2                                   # a third class along the top
    ds["label"] = (("sample", "y", "x"), label)
    ds.attrs["class_names"] = ["background", "inclusion", "probe"]
    path = tmp_path / "three.h5"
    imageset.write(ds, path)
    run = train.train("sgan", path, preset="cpu-demo", overrides={**TINY, "max_iters": 1}, runs_root=tmp_path,
                      progress=False)
    snapshot = generate.load(run)
    assert snapshot.generator.head[1].in_channels == 4     # three one-hot channels and the sketch
    assert generate.generate_set(snapshot, path, progress=False)["image"].shape == (4, 64, 64)
