"""The model registry: every generative model the toolkit trains (the GANs and segdiff), by name.

An entry says which paper and section it follows and provides everything the one training loop
(ganlab.train) and the generator (ganlab.generate) need, so a new model family only adds a
module that registers its entries:

    build(config, condition_channels) -> Networks     the generator and discriminator
    condition(label, sketch, n_classes) -> tensor     the generator's input for label maps
    optimizers(networks, config) -> Optimizers
    schedule(config, epochs_elapsed) -> dict          sizes (and growth) in force at that time
    apply_schedule(networks, state)                   puts that state into the networks
    step(networks, optimizers, batch, config, state) -> dict of losses (one training iteration;
                                                      loss_d and loss_g at least, for the progress bar)
    check_config(config)                              one-line UsageError for a bad setting
    presets                                           preset name -> table (ganlab.presets)
    for_organ(config, organ) -> config                (optional) settings that follow the training
                                                      set's organ, filled in when a new run starts
    sample(generator, condition, options)             (optional) images in -1..1 when making one is more
                                                      than a forward pass (diffusion); without it the
                                                      generator's forward makes them
    sampling_options(config, **given) -> dict         (optional) the sampling options in force (e.g.
                                                      sampler, steps): given ones checked, defaults filled

A model without a discriminator (diffusion) leaves Networks.discriminator and
Optimizers.discriminator None; the loop then trains, saves and wraps the generator alone.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ussim.errors import UsageError

# Modules whose import registers models.
MODEL_MODULES = ("ganlab.pix2pix", "ganlab.pgsgan", "ganlab.specklegan", "ganlab.segdiff")


@dataclass
class Networks:
    generator: nn.Module
    discriminator: nn.Module | None


@dataclass
class Optimizers:
    generator: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer | None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    follows: str                       # paper and section, shown by `ganlab models`
    summary: str
    uses_sketch: bool
    presets: Mapping[str, Mapping]
    build: Callable[[dict, int], Networks]
    condition: Callable[..., torch.Tensor]
    optimizers: Callable[[Networks, dict], Optimizers]
    schedule: Callable[[dict, float], dict]
    apply_schedule: Callable[[Networks, dict], None]
    step: Callable[[Networks, Optimizers, dict, dict, dict], dict]
    check_config: Callable[[dict], None]
    grows: bool = False                # parts of the networks sit unused in some phases (DDP must know)
    for_organ: Callable[[dict, str], dict] | None = None  # organ-dependent settings of a new run
    sample: Callable[..., torch.Tensor] | None = None     # images from conditions, when not generator(condition)
    sampling_options: Callable[..., dict] | None = None  # sampling options in force (given, else defaults)


_MODELS: dict[str, ModelSpec] = {}
_ORIGIN: dict[str, str] = {}  # model name -> the module that registered it


def register(spec: ModelSpec) -> ModelSpec:
    _MODELS[spec.name] = spec
    _ORIGIN[spec.name] = sys._getframe(1).f_globals.get("__name__", "")
    return spec


def _load_all() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    # DECISION: models are listed in the order of MODEL_MODULES whatever imported them first (a test
    # that imports ganlab.segdiff directly must not reorder `ganlab models` or the error messages).
    ranked = sorted(_MODELS, key=lambda name: (MODEL_MODULES.index(_ORIGIN[name]) if _ORIGIN[name] in MODEL_MODULES
                                               else len(MODEL_MODULES), list(_MODELS).index(name)))
    if ranked != list(_MODELS):
        reordered = {name: _MODELS[name] for name in ranked}
        _MODELS.clear()
        _MODELS.update(reordered)


def names() -> list[str]:
    _load_all()
    return list(_MODELS)


def get(name: str) -> ModelSpec:
    _load_all()
    if name not in _MODELS:
        raise UsageError(f"unknown model '{name}'; allowed: {', '.join(_MODELS)}")
    return _MODELS[name]


def make_images(spec: ModelSpec, generator: nn.Module, condition: torch.Tensor, options: dict | None = None):
    """The generator's images for a batch of conditions: its forward pass, or the model's sampler
    (diffusion; `options` None takes the run's sampling defaults)."""
    if spec.sample is None:
        return generator(condition)
    return spec.sample(generator, condition, options)


def adam(networks: Networks, config: dict) -> Optimizers:
    """Adam for each network with its own learning rate (the pix2pix family's optimisers)."""
    betas = (config["beta1"], config["beta2"])
    return Optimizers(torch.optim.Adam(networks.generator.parameters(), lr=config["lr_g"], betas=betas),
                      torch.optim.Adam(networks.discriminator.parameters(), lr=config["lr_d"], betas=betas))
