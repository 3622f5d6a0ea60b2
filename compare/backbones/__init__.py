"""Feature backbones: what turns an image into the feature vector FID, KID and PRDC compare.

    inception-fid           the FID Inception network with the TF 2015-12-05 weights (needs the
                            weights file: --weights PATH, the cache, or a download)
    random-inception-<seed> the same network with seeded random weights (weights-free)
    texture-v1              handcrafted speckle and texture features (weights-free, fast on CPU)

Every backbone has `name`, `cache_key`, `dim` and `features(uint8 images (n, h, w)) -> (n, dim)`.
Its name is part of every feature-based result label, e.g. `fid[texture-v1]`.
"""

from __future__ import annotations

import re

from ussim.errors import UsageError

INCEPTION_FID = "inception-fid"
RANDOM_INCEPTION = re.compile(r"random-inception-(\d+)")
TEXTURE = "texture-v1"
ALLOWED = f"{INCEPTION_FID}, random-inception-<seed> (e.g. random-inception-0), {TEXTURE}"
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_name(name: str) -> str:
    if name in (INCEPTION_FID, TEXTURE) or RANDOM_INCEPTION.fullmatch(name):
        return name
    raise UsageError(f"unknown backbone '{name}' (allowed: {ALLOWED})")


def check_device(name: str, device: str) -> None:
    """Refuse, before any work, a device the backbone `name` cannot use (one line)."""
    check_name(name)
    if not DEVICE.fullmatch(device):
        raise UsageError(f"unknown device '{device}' (allowed: auto, cpu, cuda, cuda:N)")
    if name == TEXTURE:
        # DECISION: refused rather than ignored: texture-v1 is numpy on the CPU, and a number
        # said to come from a GPU that never ran would mislead.
        if device.startswith("cuda"):
            raise UsageError(f"backbone {TEXTURE} runs on the CPU only (numpy); --device {device} is not allowed "
                             f"with it: leave --device at auto or cpu")
        return
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"device '{device}' requested but torch sees no CUDA GPU (use --device cpu or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UsageError(f"device '{device}' does not exist: torch sees {torch.cuda.device_count()} GPU(s), "
                             f"cuda:0..cuda:{torch.cuda.device_count() - 1}")


def load(name: str, *, weights=None, device: str = "auto", download: bool = True, progress: bool = True):
    """The backbone called `name`, ready to extract features."""
    check_name(name)
    if weights is not None and name != INCEPTION_FID:
        raise UsageError(f"--weights applies to backbone {INCEPTION_FID} only, not '{name}'")
    check_device(name, device)
    if name == TEXTURE:
        from compare.backbones.texture import TextureBackbone
        return TextureBackbone()
    from compare.backbones import inception_fid
    from compare.backbones import weights as inception_weights
    if name == INCEPTION_FID:
        path = inception_weights.locate(weights, download=download, progress=progress)
        return inception_fid.inception_fid(path, device)
    return inception_fid.random_inception(int(RANDOM_INCEPTION.fullmatch(name).group(1)), device)


def is_inception(name: str) -> bool:
    """Whether numbers from this backbone may sit beside published (Inception-based) ones."""
    return name == INCEPTION_FID
