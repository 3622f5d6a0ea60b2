"""segdiff: mask-conditioned denoising diffusion (segmentation-guided diffusion) in the one training loop.

PAPER: Konz et al., "Anatomically-Controllable Medical Image Generation with Segmentation-Guided
Diffusion Models", MICCAI 2024, and its published code (mazurowski-lab/segmentation-guided-diffusion,
"SGD code"): a pixel-space UNet (diffusers' UNet2DModel) reads the noisy image with the label mask
stacked as extra input channels and predicts the noise (DDPM objective, 1000 steps); images are
sampled by DDIM; optional mask-ablated training removes classes at random so that masks with
missing classes still work. Every default and its source: ganlab.segdiff_defaults.

Fitted into the GANs' loop (ganlab.train) as follows: the registry's "generator" is a
SegDiffusion module holding the UNet and its EMA copy (torch.optim.swa_utils.AveragedModel, saved
with it in snapshot.pt and state.pt); there is no discriminator. One iteration draws timesteps
and noise (and the ablation and guidance drops) from torch's global generators, which the loop
seeds and saves, so a resumed run repeats an uninterrupted one exactly. Sampling (spec.sample)
runs DDIM or DPM-Solver++ from diffusers with the EMA weights, the initial noise drawn on the CPU
from torch's global generator, so a seed gives the same image on any device.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ganlab import segdiff_defaults
from ganlab.pix2pix import mask_only, no_growth, static_schedule, unwrap
from ganlab.registry import ModelSpec, Networks, Optimizers, register

OUT_CHANNELS = 1  # gray B-mode images


def _diffusers():
    import diffusers  # imported on use: it takes a few seconds, and only this model needs it
    return diffusers


class SegDiffusion(nn.Module):
    """The denoiser and its EMA copy. forward(noisy image and mask channels, timesteps) -> predicted noise."""

    def __init__(self, config: dict, mask_channels: int):
        super().__init__()
        diffusers = _diffusers()
        self.unet = diffusers.UNet2DModel(
            sample_size=config["resolution"], in_channels=OUT_CHANNELS + mask_channels, out_channels=OUT_CHANNELS,
            layers_per_block=config["layers_per_block"], block_out_channels=tuple(config["block_channels"]),
            down_block_types=tuple(config["down_blocks"]), up_block_types=tuple(config["up_blocks"]),
            norm_num_groups=config["norm_groups"], add_attention=config["mid_attention"])
        self.ema = AveragedModel(self.unet, multi_avg_fn=self._ema_update, use_buffers=True)
        self.ema.requires_grad_(False)  # averaged, never trained (and DDP must not wait for its gradients)
        self.config = config
        self.noise_schedule = diffusers.DDPMScheduler(
            num_train_timesteps=config["train_steps"],
            beta_schedule=segdiff_defaults.DIFFUSERS_BETA_SCHEDULE[config["beta_schedule"]],
            prediction_type=config["prediction"])
        self.mask_channels = mask_channels

    def forward(self, model_input: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.unet(model_input, timesteps).sample

    def _ema_update(self, averaged: list, current: list, updates: torch.Tensor) -> None:
        # AveragedModel copies the weights at its first update (updates == 0); this is every later one.
        decay = segdiff_defaults.ema_decay(self.config, int(updates))
        torch._foreach_lerp_(averaged, current, 1.0 - decay)

    @property
    def updates(self) -> int:
        """Optimiser steps taken so far (the EMA's update count, part of the saved state)."""
        return int(self.ema.n_averaged)


def build(config: dict, condition_channels: int) -> Networks:
    # DECISION: the weights are drawn from the run's seed alone, whatever ran before (as the GANs').
    # Snapshots made before a setting existed ran as its SINCE_ADDED value (e.g. epsilon prediction).
    config = {**segdiff_defaults.SINCE_ADDED, **config}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        model = SegDiffusion(config, condition_channels)
    return Networks(model, None)


def optimizers(networks: Networks, config: dict) -> Optimizers:
    # PAPER: SGD code, main.py: torch.optim.AdamW(model.parameters(), lr=config.learning_rate).
    unet = unwrap(networks.generator).unet
    return Optimizers(torch.optim.AdamW(unet.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]),
                      None)


def autocast(config: dict, device: torch.device):
    """bf16 autocast on CUDA when the config asks for it; nothing on the CPU."""
    if device.type == "cuda" and config["autocast"] == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def ablate(mask: torch.Tensor, probability: float) -> torch.Tensor:
    """Mask-ablated training (SGD code, eval.py ablate_masks): each non-background class of each
    sample is removed with `probability`, its pixels becoming background."""
    if probability <= 0:
        return mask
    n, classes = mask.shape[:2]
    removed = torch.rand(n, classes, device=mask.device) < probability
    removed[:, 0] = False
    kept = mask * (~removed)[:, :, None, None]
    background = mask[:, :1] + (mask * removed[:, :, None, None]).sum(1, keepdim=True)
    return torch.cat([background, kept[:, 1:]], 1)


def drop_for_guidance(mask: torch.Tensor, probability: float) -> torch.Tensor:
    """Classifier-free guidance training: the whole mask becomes zeros (the null condition) with `probability`."""
    if probability <= 0:
        return mask
    keep = torch.rand(mask.shape[0], device=mask.device) >= probability
    return mask * keep[:, None, None, None]


def step(networks: Networks, optimizers: Optimizers, batch: dict, config: dict, state: dict) -> dict:
    """One DDPM iteration: noise the images at random timesteps, predict the noise from the noisy
    image and the mask channels, MSE to the true noise (PAPER: SGD code, training.py train_loop)."""
    model = networks.generator
    plain = unwrap(model)
    optimizer = optimizers.generator
    image = batch["image"]
    mask = drop_for_guidance(ablate(batch["condition"], config["mask_ablation"]), config["cfg_p_uncond"])
    noise = torch.randn_like(image)
    timesteps = torch.randint(0, config["train_steps"], (image.shape[0],), device=image.device)
    noisy = plain.noise_schedule.add_noise(image, noise, timesteps)
    factor = segdiff_defaults.lr_factor(config, plain.updates, state["progress"])
    for group in optimizer.param_groups:
        group["lr"] = config["lr"] * factor
    optimizer.zero_grad(set_to_none=True)
    with autocast(config, image.device):
        predicted = model(torch.cat([noisy, mask], 1), timesteps)
    loss = F.mse_loss(predicted.float(), training_target(plain, image, noise, timesteps))
    loss.backward()
    if config["grad_clip"] > 0:
        torch.nn.utils.clip_grad_norm_(plain.unet.parameters(), config["grad_clip"])
    optimizer.step()
    plain.ema.update_parameters(plain.unet)
    return {"loss": loss.detach(), "lr": torch.tensor(config["lr"] * factor)}


def training_target(model: SegDiffusion, image: torch.Tensor, noise: torch.Tensor,
                    timesteps: torch.Tensor) -> torch.Tensor:
    """What the UNet learns to predict (its config's "prediction"): the noise (PAPER: SGD code,
    main.py), the velocity v = sqrt(a) noise - sqrt(1 - a) image (Salimans & Ho 2022, diffusers'
    get_velocity), or the clean image; the samplers read the same from the noise schedule."""
    prediction = model.config["prediction"]
    if prediction == "v_prediction":
        return model.noise_schedule.get_velocity(image, noise, timesteps)
    return noise if prediction == "epsilon" else image


def schedule(config: dict, epochs_elapsed: float) -> dict:
    """One size throughout; how far the run is (for the learning rate's cosine decay)."""
    return {**static_schedule(config, epochs_elapsed), "progress": epochs_elapsed / config["epochs"]}


def sampling_options(config: dict, sampler=None, steps=None, guidance=None) -> dict:
    """The sampling options in force: those given, else the run's defaults; one-line errors."""
    chosen = {"sampler": config["sampler"] if sampler is None else sampler,
              "steps": config["sample_steps"] if steps is None else steps,
              "guidance": config["guidance"] if guidance is None else guidance}
    segdiff_defaults.check_sampling(chosen["sampler"], chosen["steps"], chosen["guidance"], config)
    return chosen


def _sampler(name: str, schedule_config):
    diffusers = _diffusers()
    # DECISION: "trailing" timestep spacing for both samplers (Lin et al. 2024, "Common diffusion
    # noise schedules and sample steps are flawed"): the first step is the last training step,
    # so a short schedule starts from the pure noise it was trained for.
    if name == "ddim":
        # PAPER: SGD code, eval.py SegGuidedDDIMPipeline: DDIMScheduler.from_config, eta 0.
        return diffusers.DDIMScheduler.from_config(schedule_config, timestep_spacing="trailing")
    # DPM-Solver++ (Lu et al. 2022), second order, multistep. DECISION: its predicted clean image is
    # clipped to -1..1 (thresholding at sample_max_value 1 with diffusers' dynamic ratio), as DDIM's
    # clip_sample does, and log-SNR is clipped at -5.1 as diffusers' documentation asks for the
    # cosine schedule: without both, the first step at t = 999, where the cosine schedule leaves
    # almost no signal, divides the noise estimate's error by ~1e-4 and the image saturates
    # (measured: pure black-and-white noise from a cpu-demo run that DDIM samples sensibly).
    return diffusers.DPMSolverMultistepScheduler.from_config(
        schedule_config, algorithm_type="dpmsolver++", solver_order=2, timestep_spacing="trailing",
        thresholding=True, sample_max_value=1.0, lambda_min_clipped=-5.1)


@torch.no_grad()
def sample(generator: nn.Module, condition: torch.Tensor, options: dict | None = None) -> torch.Tensor:
    """Images in -1..1 for a batch of mask channels, with the EMA weights.

    The initial noise comes from torch's global CPU generator (seeded by the caller), then moves
    to the mask's device: a seed gives the same starting noise on CPU and GPU. `options` None
    (the training loop's sample grid) takes the run's sampler at its grid_steps. DDIM at eta 0 and
    DPM-Solver++ draw nothing more. Guidance w > 0 mixes the predictions with and without the
    mask, (1 + w) eps(mask) - w eps(no mask), as the SGD code's cfg_weight (Ho & Salimans 2022).
    """
    plain = unwrap(generator)
    config = plain.config
    if options is None:
        # The training loop's sample grid: the run's sampler at grid_steps, from noise fixed by the
        # run's seed. DECISION: the grid draws from its own generator, not the global one the
        # training steps draw from: every epoch's grid starts from the same noise (progress is
        # visible), and the grid (drawn on rank 0 only) leaves the training's random draws alone.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config["seed"])
            return sample(generator, condition, sampling_options(config, steps=config["grid_steps"]))
    network = plain.ema.module
    scheduler = _sampler(options["sampler"], plain.noise_schedule.config)
    scheduler.set_timesteps(options["steps"], device=condition.device)
    n, _, height, width = condition.shape
    image = torch.randn((n, OUT_CHANNELS, height, width)).to(condition.device) * scheduler.init_noise_sigma
    guidance = float(options["guidance"])
    null = torch.zeros_like(condition)
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(image, t)
        with autocast(config, condition.device):
            if guidance > 0:
                both = torch.cat([torch.cat([model_input, condition], 1), torch.cat([model_input, null], 1)])
                with_mask, without = network(both, t).sample.float().chunk(2)
                predicted = (1 + guidance) * with_mask - guidance * without
            else:
                predicted = network(torch.cat([model_input, condition], 1), t).sample.float()
        image = scheduler.step(predicted, t, image).prev_sample
    return image.clamp(-1, 1)


register(ModelSpec(
    name="segdiff",
    follows="Konz et al., MICCAI 2024: segmentation-guided diffusion (mazurowski-lab/segmentation-guided-diffusion)",
    summary="denoising diffusion (diffusers UNet2DModel) with the one-hot mask as input channels; DDIM or "
            "DPM-Solver++ sampling with EMA weights",
    uses_sketch=False, condition=mask_only, presets=segdiff_defaults.PRESETS["segdiff"], build=build,
    optimizers=optimizers, schedule=schedule, apply_schedule=no_growth, step=step,
    check_config=segdiff_defaults.check_config, sample=sample, sampling_options=sampling_options))
