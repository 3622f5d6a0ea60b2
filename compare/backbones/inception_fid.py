"""The FID Inception network (pytorch-fid's `InceptionV3([3])`) and its seeded random twin.

`inception-fid` is the network every published FID is computed with: pytorch-fid's patched
torchvision Inception v3 with the TensorFlow 2015-12-05 weights, fed as pytorch-fid feeds it
(images in [0, 1], bilinear resize to 299 x 299 without align_corners, scaled to [-1, 1]),
returning the 2048 activations of the final average pool.

`random-inception-<seed>` is the same network with seeded random weights, for offline use. Its
numbers are not comparable with Inception-based ones (or with another seed's): its name travels
with every number.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from compare.backbones.inception_blocks import BasicConv2d, InceptionA, InceptionB, InceptionC, InceptionD, InceptionE

FEATURE_DIM = 2048
INPUT_SIZE = 299


class FIDInceptionV3(nn.Module):
    """Images (n, 3, h, w) in [0, 1] to the 2048 pool-3 features, exactly as pytorch-fid."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        # Unused for features; present because the weights file holds it (strict loading).
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, output_size=(1, 1)), 1)


def randomize(network: FIDInceptionV3, seed: int) -> FIDInceptionV3:
    """Seeded random weights, drawn in module order from one torch generator.

    DECISION: He-normal convolution weights (std sqrt(2 / fan_in)) with identity batch norms
    keep the activations' scale through the 94 ReLU layers, so the pool-3 features neither
    vanish nor explode (torch's default init shrinks them by orders of magnitude); the unused
    classifier is zero.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * math.prod(module.kernel_size)
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * math.sqrt(2 / fan_in))
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()  # weight 1, bias 0, running mean 0, running variance 1
            elif isinstance(module, nn.Linear):
                module.weight.zero_()
                module.bias.zero_()
    return network


class InceptionBackbone:
    """A feature backbone: uint8 gray images (n, h, w) to float32 features (n, 2048)."""

    dim = FEATURE_DIM

    def __init__(self, name: str, network: FIDInceptionV3, device: str = "auto"):
        self.name = name
        # The cache key changes whenever this implementation would produce different numbers.
        self.cache_key = f"{name}.v1"
        self.device = torch.device(resolve_device(device))
        self.network = network.eval().requires_grad_(False).to(self.device)

    def features(self, images: np.ndarray) -> np.ndarray:
        # Gray to RGB by repeating the channel, as PIL's convert("RGB") does in pytorch-fid.
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, torch.float32) / 255
        x = x[:, None].expand(-1, 3, -1, -1)
        with torch.inference_mode():
            return self.network(x).cpu().numpy()


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def inception_fid(weights_path, device: str = "auto") -> InceptionBackbone:
    """The FID network holding the weights at `weights_path` (already SHA-256 checked)."""
    network = FIDInceptionV3()
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # DECISION: the file's SHA-256 pins its exact bytes (pytorch-fid's release), so a full
        # unpickle is as safe as the restricted one, should the restricted loader refuse its format.
        state = torch.load(weights_path, map_location="cpu", weights_only=False)
    network.load_state_dict(state)
    return InceptionBackbone("inception-fid", network, device)


def random_inception(seed: int, device: str = "auto") -> InceptionBackbone:
    return InceptionBackbone(f"random-inception-{seed}", randomize(FIDInceptionV3(), seed), device)
