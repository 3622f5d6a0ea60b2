"""segdiff (segmentation-guided diffusion): smoke runs of both presets, exact resume after a kill,
the mask reaching the network, reproducible sampling, and one-line refusals.

Tiny UNets (16 and 32 channels, 32 px, one thread) keep the whole file to seconds.
"""

import json

import numpy as np
import pytest
import torch

from ganlab import cli, data, generate, registry, runs, segdiff, segdiff_defaults, train
from ussim import examples, imageset
from ussim.errors import UsageError

TINY_UNET = {"resolution": 32, "block_channels": [16, 32], "down_blocks": ["DownBlock2D", "DownBlock2D"],
             "up_blocks": ["UpBlock2D", "UpBlock2D"], "layers_per_block": 1, "norm_groups": 8,
             "mid_attention": False, "grid_samples": 2, "threads": 1, "batch": 2, "sample_steps": 3, "grid_steps": 2}


@pytest.fixture(scope="module")
def tiny_run(toy_file, tmp_path_factory):
    # cfg_p_uncond > 0 so that guidance can be sampled too.
    return train.train("segdiff", toy_file, preset="cpu-demo", runs_root=tmp_path_factory.mktemp("runs"),
                       overrides={**TINY_UNET, "max_iters": 2, "cfg_p_uncond": 0.2, "mask_ablation": 0.3},
                       progress=False, echo=False)


@pytest.mark.parametrize("preset", ["paper", "cpu-demo"])
def test_two_iteration_smoke_run_of_each_preset(tmp_path, toy_file, preset):
    # batch 4: the 8 toy images make one epoch of two iterations
    run = train.train("segdiff", toy_file, preset=preset, overrides={**TINY_UNET, "batch": 4, "max_iters": 2},
                      runs_root=tmp_path, progress=False, echo=False)
    config = json.loads((run / "config.json").read_text())["config"]
    for key, value in segdiff_defaults.PRESETS["segdiff"][preset].items():  # the preset, but for the tiny UNet
        assert config[key] == {**TINY_UNET, "batch": 4}.get(key, value)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert stats[0]["iterations"] == 2 and np.isfinite(stats[0]["loss"]) and stats[0]["loss"] > 0
    state = runs.load(run / runs.STATE, runs.STATE_FORMAT)
    assert "discriminator" not in state and {"generator", "opt_generator", "rng"} <= set(state)
    # The EMA copy is saved with the UNet, and counts the two optimiser steps.
    assert int(state["generator"]["ema.n_averaged"]) == 2
    assert (run / "samples-000000.png").is_file()


def test_paper_preset_builds_the_published_unet():
    config = {**segdiff_defaults.SEGDIFF_PAPER, "seed": 0}
    unet = segdiff.SegDiffusion(config, mask_channels=2).unet
    assert unet.config.block_out_channels == (128, 128, 256, 256, 512, 512)
    assert unet.config.down_block_types[4] == "AttnDownBlock2D" and unet.config.up_block_types[1] == "AttnUpBlock2D"
    assert unet.config.in_channels == 1 + 2 and unet.config.sample_size == 256
    assert config["beta_schedule"] == "linear" and config["lr"] == 1e-4 and config["batch"] == 16


def _tiny_model(seed=0):
    config = {**segdiff_defaults.CPU_DEMO, **TINY_UNET, "seed": seed}
    return segdiff.build(config, 2).generator.eval(), config


def test_mask_channels_reach_the_network():
    model, config = _tiny_model()
    noisy, t = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([500])
    square = torch.zeros(1, 32, 32, dtype=torch.long)
    square[:, 8:24, 8:24] = 1
    masks = [segdiff.mask_only(m, None, 2) for m in (torch.zeros_like(square), square)]
    with torch.no_grad():
        outputs = [model(torch.cat([noisy, m], 1), t) for m in masks]
    assert not torch.allclose(outputs[0], outputs[1])
    # ... and through sampling with the EMA weights, from the same seeded noise.
    images = []
    for mask in masks:
        torch.manual_seed(3)
        images.append(segdiff.sample(model, mask, {"sampler": "ddim", "steps": 2, "guidance": 0.0}))
    assert not torch.allclose(images[0], images[1])


def test_cpu_demo_learns_v_and_its_samplers_read_the_same_target():
    model, config = _tiny_model()
    assert config["prediction"] == "v_prediction" and segdiff_defaults.SEGDIFF_PAPER["prediction"] == "epsilon"
    for name in segdiff_defaults.SAMPLERS:
        assert segdiff._sampler(name, model.noise_schedule.config).config.prediction_type == "v_prediction"
    generator = torch.Generator().manual_seed(0)
    image, noise = torch.rand(3, 1, 8, 8, generator=generator) * 2 - 1, torch.randn(3, 1, 8, 8, generator=generator)
    t = torch.tensor([0, 500, 999])
    noisy = model.noise_schedule.add_noise(image, noise, t)
    v = segdiff.training_target(model, image, noise, t)
    alpha_bar = model.noise_schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
    # v = sqrt(a) noise - sqrt(1 - a) image, so the clean image is sqrt(a) x_t - sqrt(1 - a) v
    torch.testing.assert_close(alpha_bar.sqrt() * noisy - (1 - alpha_bar).sqrt() * v, image, atol=1e-5, rtol=0)
    for prediction, expected in (("epsilon", noise), ("sample", image)):
        other = segdiff.build({**config, "prediction": prediction}, 2).generator
        assert other.noise_schedule.config.prediction_type == prediction
        assert torch.equal(segdiff.training_target(other, image, noise, t), expected)


def test_a_bad_prediction_is_refused_in_one_line():
    with pytest.raises(UsageError, match=r"^prediction 'x0' not allowed: epsilon, v_prediction, sample$"):
        segdiff_defaults.check_config({**segdiff_defaults.CPU_DEMO, "prediction": "x0"})


def test_ablation_removes_classes_to_background_and_guidance_drops_the_whole_mask():
    label = torch.tensor([[[0, 1], [2, 1]]]).repeat(64, 1, 1)
    mask = segdiff.mask_only(label, None, 3)
    torch.manual_seed(0)
    ablated = segdiff.ablate(mask, 0.5)
    assert torch.equal(ablated.sum(1), torch.ones(64, 2, 2))          # still one class per pixel
    removed = (mask[:, 1:] > ablated[:, 1:]).flatten(1).any(1)
    assert 0 < int(removed.sum()) < 64                                  # some samples lose a class, not all
    dropped = segdiff.drop_for_guidance(mask, 0.5).flatten(1).sum(1)
    assert set(dropped.tolist()) == {0.0, 4.0}


def test_sampling_is_reproducible_with_a_seed(tiny_run, toy_file):
    snapshot = generate.load(tiny_run)
    label = np.asarray(examples.toy_imageset(n=1, size=64, seed=4)["label"][0])
    first, again = (generate.generate_image(snapshot, label, seed=7) for _ in range(2))
    assert np.array_equal(first, again) and not np.array_equal(first, generate.generate_image(snapshot, label, seed=8))
    for options in ({"sampler": "dpm++", "steps": 4}, {"sampler": "ddim", "steps": 3, "guidance": 1.5}):
        guided = generate.load(tiny_run, **options)
        twice = [generate.generate_image(guided, label, seed=7) for _ in range(2)]
        assert np.array_equal(*twice)
    sets = [generate.generate_set(snapshot, toy_file, samples=2, seed=3, progress=False) for _ in range(2)]
    assert np.array_equal(sets[0]["image"].values, sets[1]["image"].values)
    params = imageset.params_of(sets[0])
    assert params["sampling"] == {"sampler": "dpm++", "steps": 3, "guidance": 0.0} and params["model"] == "segdiff"


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "--steps: 0 is out of range (allowed: >= 1)"),  # the shared option type, at parse time
    (["--steps", "1001"], "steps 1001 not allowed"),
    (["--sampler", "euler"], "sampler 'euler' not allowed: ddim or dpm++"),
    (["--guidance", "-1"], "--guidance: -1 is out of range"),
])
def test_bad_sampling_options_are_one_line_errors(capsys, tiny_run, toy_file, tmp_path, argv, message):
    with pytest.raises(SystemExit) as stop:
        cli.main(["generate", "--run", str(tiny_run), "--masks", str(toy_file), "--out", str(tmp_path / "x.h5"), *argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x.h5").exists()


def test_masks_with_unknown_classes_and_gan_sampling_options_are_refused(tiny_run, tmp_path):
    snapshot = generate.load(tiny_run)
    label = np.zeros((32, 32), np.uint8)
    label[4:8, 4:8] = 2
    with pytest.raises(UsageError, match=r"label value 2 outside the model's classes"):
        generate.generate_image(snapshot, label)
    other = examples.toy_imageset(n=1, size=32, seed=0)
    other.attrs["class_names"] = ["background", "follicle"]
    imageset.write(other, tmp_path / "other.h5")
    with pytest.raises(UsageError, match="differ from the model's"):
        generate.generate_set(snapshot, tmp_path / "other.h5", progress=False)
    unguided = tiny_run.parent / "unguided.pt"
    saved = runs.load(tiny_run / runs.SNAPSHOT, runs.SNAPSHOT_FORMAT)
    saved["config"]["cfg_p_uncond"] = 0.0
    runs.save(unguided, saved)
    with pytest.raises(UsageError, match="guidance 1 needs a run trained with cfg_p_uncond > 0"):
        generate.load(unguided, guidance=1)
    assert registry.get("cgan").sampling_options is None
    # A snapshot from before the prediction setting existed loads as the epsilon model it was.
    older = tiny_run.parent / "older.pt"
    del saved["config"]["prediction"]
    runs.save(older, saved)
    assert generate.load(older).generator.noise_schedule.config.prediction_type == "epsilon"


class Killed(BaseException):
    """Stands for SIGKILL: nothing of the loop runs after it (BaseException, so no handler catches it)."""


def test_killed_run_resumes_to_the_same_weights(toy_file, tmp_path, monkeypatch):
    """Killed in the middle of its third epoch and resumed, a run ends as the same run uninterrupted
    (deterministic algorithms, one thread). The kill is simulated in-process at a fixed batch (a real
    SIGKILL of the shared loop is tests/ganlab/test_resume.py's), so the test costs no second import."""
    overrides = {**TINY_UNET, "epochs": 5, "deterministic": True, "mask_ablation": 0.3, "cfg_p_uncond": 0.2,
                 "lr_warmup_iters": 3}
    reference = train.train("segdiff", toy_file, preset="cpu-demo", overrides=overrides,
                            runs_root=tmp_path / "reference", progress=False, echo=False)
    calls, real_batch = [], data.batch

    def dies_at_the_eleventh_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 11:
            raise Killed
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(data, "batch", dies_at_the_eleventh_batch)
    with pytest.raises(Killed):
        train.train("segdiff", toy_file, preset="cpu-demo", overrides=overrides, runs_root=tmp_path / "victim",
                    progress=False, echo=False)
    monkeypatch.setattr(data, "batch", real_batch)
    run = tmp_path / "victim" / "00000-segdiff-toy"
    killed_at = torch.load(run / runs.STATE, weights_only=True)["total"]
    assert 0 < killed_at < 20
    train.train(resume=run, progress=False, echo=False)
    assert "resume 00000-segdiff-toy" in (run / "log.txt").read_text()
    a, b = (torch.load(r / runs.STATE, weights_only=True) for r in (run, reference))
    assert (a["epoch"], a["total"]) == (b["epoch"], b["total"]) == (5, 20)
    assert a["generator"].keys() == b["generator"].keys()
    for key in b["generator"]:
        assert torch.equal(a["generator"][key], b["generator"][key]), f"{key} differs"
    for index, slot in b["opt_generator"]["state"].items():
        for key, value in slot.items():
            assert torch.equal(a["opt_generator"]["state"][index][key], value), f"optimiser {index} {key} differs"
