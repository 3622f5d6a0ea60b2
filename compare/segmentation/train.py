"""Seeded, deterministic training of the segmentation U-Net: Adam on cross-entropy plus soft Dice.

DECISION: a phase runs a fixed number of optimiser steps, not epochs, so that 50 and 100 real
images get the same compute and a difference between them measures data, not training length.
Batches are drawn from successive seeded permutations of the images (every image once per pass).
DECISION: the only augmentation is a random left-right flip: ultrasound images have a depth
direction (attenuation, shadows below structures), so an up-down flip would make impossible
images. DECISION: the loss is MONAI's DiceCELoss, cross-entropy plus (1 - soft Dice averaged over
the classes, over the whole batch), the usual pairing: cross-entropy trains every pixel, Dice keeps
small structures (an ovary covers 4 % of an image) from vanishing.
Fine-tuning restarts Adam (fresh moments) at the same learning rate and trains every layer.

The same seed, inputs, device and thread count give the same weights: torch is asked for
deterministic algorithms during training, and all randomness comes from seeded generators.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from ussim.progress import bar as progress_bar

# batch=True: one Dice per class over the batch, defined even when a class misses some images.
LOSS = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return LOSS(logits, target[:, None])


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images as float32 in [0, 1]: the network sees gray values as they are displayed."""
    return images.to(torch.float32) / 255


@contextlib.contextmanager
def deterministic():
    """Deterministic torch algorithms inside the block, the caller's setting restored after it."""
    before = torch.are_deterministic_algorithms_enabled()
    before_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=before_warn)


def batches(n: int, batch_size: int, steps: int, generator: torch.Generator):
    """`steps` index batches from successive random permutations of range(n)."""
    stream = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while len(stream) < batch_size:
            stream = torch.cat([stream, torch.randperm(n, generator=generator)])
        yield stream[:batch_size]
        stream = stream[batch_size:]


def train(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, steps: int, batch_size: int,
          learning_rate: float, seed: int, device: torch.device, progress: bool = True, desc: str = "train") -> float:
    """Train `model` in place on images (n, 1, h, w) uint8 and labels (n, h, w) uint8; return seconds."""
    generator = torch.Generator().manual_seed(seed)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    batch_size = min(batch_size, len(images))
    start = time.perf_counter()
    with deterministic(), progress_bar(total=steps, desc=desc, unit="step", enabled=progress) as bar:
        for index in batches(len(images), batch_size, steps, generator):
            x, y = as_float(images[index]), labels[index].long()
            flip = torch.rand(len(index), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            y = torch.where(flip[:, None, None], y.flip(-1), y)
            optimizer.zero_grad(set_to_none=True)
            loss = segmentation_loss(model(x.to(device)), y.to(device))
            loss.backward()
            optimizer.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            bar.update()
    return time.perf_counter() - start


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, output_size: tuple[int, int], *, batch_size: int,
            device: torch.device) -> np.ndarray:
    """Class maps (n, *output_size) uint8: logits at the network's size, bilinearly resized, argmax.

    DECISION: scored at the test labels' own size (logits resized up, not labels down), so Dice
    and MHD do not depend on the training size of a preset.
    """
    model.to(device).eval()
    maps = []
    for start in range(0, len(images), batch_size):
        logits = model(as_float(images[start:start + batch_size]).to(device))
        if tuple(logits.shape[-2:]) != tuple(output_size):
            logits = F.interpolate(logits, size=output_size, mode="bilinear", align_corners=False)
        maps.append(logits.argmax(dim=1).to(torch.uint8).cpu().numpy())
    return np.concatenate(maps)
