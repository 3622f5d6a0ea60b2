"""SpeckleGAN's networks: a SPADE generator with a speckle layer, and a residual discriminator.

PAPER: SpeckleGAN, "SpeckleGAN architecture", Fig. 3: the generator is SPADE's (GauGAN, Park et
al. 2019): a 128-dimensional Gaussian z, residual blocks whose batch normalisation (without
affine parameters) is followed by a spatially adaptive affine map, gamma and beta predicted from
the label mask by convolutions whose first has 64 output channels, nearest-neighbour upsampling
between blocks, spectral normalisation, tanh output at 256 x 256. The speckle layer
(ganlab.speckle_layer) sits after the penultimate residual block and turns its 8 maps into 32.
The discriminator is made of residual blocks with stride-2 convolutions, batch normalisation and
spectral normalisation.

Layout of the generator for `size` S and `width` w (GauGAN's, channels as GauGAN's ngf = w):

    z -> linear -> 16w x S/32 x S/32
    head 16w | up | middle 16w, middle 16w | up | 8w | up | 4w | up | 2w | up |
    penultimate -> 8 maps | speckle layer -> 32 maps | last -> w | LeakyReLU, 3x3 conv, tanh

DECISION: the penultimate and last blocks both run at the output size (GauGAN's last block is
the only one there): the speckle grain is then drawn at full resolution rather than doubled by
a nearest-neighbour upsampling, and d counts cycles per output image as in the paper's 28-48
at 256 px. The full-size work stays about GauGAN's: its last block (2w -> w) becomes two,
the penultimate (2w -> 8) and the last (32 -> w).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ganlab.speckle_layer import PAPER_MAPS, PAPER_SIZES, SpeckleLayer
from ussim.errors import UsageError

Z_DIM = 128         # PAPER: SpeckleGAN, "SpeckleGAN architecture": a 128-dimensional Gaussian z
STEPS = 5           # nearest-neighbour x2 upsamplings from S/32 to S (GauGAN's "normal" generator)
SLOPE = 0.2         # LeakyReLU slope (GauGAN)


def check_size(size: int, name: str = "size") -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 2 ** STEPS or size % 2 ** STEPS:
        raise UsageError(f"{name} {size!r} not allowed: need a multiple of {2 ** STEPS} "
                         f"(the generator starts at size / {2 ** STEPS}), at least {2 ** STEPS}")


class SPADE(nn.Module):
    """Batch norm without affine parameters, then gamma and beta predicted from the mask.

    GauGAN's SPADE: a shared 3x3 conv with ReLU reads the mask (resized by nearest neighbour to
    the features' size, so no class is blended at edges), two 3x3 convs give gamma and beta;
    out = norm(x) * (1 + gamma) + beta.
    """

    def __init__(self, channels: int, mask_channels: int, hidden: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(mask_channels, hidden, 3, padding=1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = F.interpolate(mask, size=x.shape[-2:], mode="nearest")
        h = self.shared(mask)
        return self.norm(x) * (1 + self.gamma(h)) + self.beta(h)


class SpadeBlock(nn.Module):
    """GauGAN's SPADEResnetBlock: SPADE, LeakyReLU, 3x3 conv, twice; a learned 1x1 shortcut
    (with its own SPADE) when the width changes. Spectral norm on all three convolutions."""

    def __init__(self, fin: int, fout: int, mask_channels: int, hidden: int):
        super().__init__()
        middle = min(fin, fout)
        self.norm_0 = SPADE(fin, mask_channels, hidden)
        self.conv_0 = spectral_norm(nn.Conv2d(fin, middle, 3, padding=1))
        self.norm_1 = SPADE(middle, mask_channels, hidden)
        self.conv_1 = spectral_norm(nn.Conv2d(middle, fout, 3, padding=1))
        self.learned_shortcut = fin != fout
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, mask_channels, hidden)
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, mask)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, mask), SLOPE))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, mask), SLOPE))
        return shortcut + dx


class SpadeGenerator(nn.Module):
    """One-hot mask (N, mask_channels, S, S) [and z] -> image (N, 1, S, S) in [-1, 1].

    speckle=False gives the speckle-baseline generator: the speckle layer is the identity.
    DECISION: the baseline's last block then reads the 8 maps directly (no 1x1 conv to 32):
    the paper's baseline is "the same GAN without the speckle layer", and a linear map from 8
    to 32 maps adds parameters without information (32 linear mixtures of 8 maps have rank 8;
    the last block's first conv can already form any such mixture).
    `spade_hidden`: output channels of the first convolution of every SPADE layer (the paper's
    64; None: 2 w, GauGAN's 128 at its w = 64, which keeps small test networks small).
    """

    def __init__(self, mask_channels: int, size: int = 256, width: int = 64, z_dim: int = Z_DIM,
                 speckle: bool = True, polar: bool = False, speckle_maps: int = PAPER_MAPS,
                 speckle_sizes: int = PAPER_SIZES, d_init=None, d_range=None, out_channels: int = 1,
                 spade_hidden: int | None = None):
        super().__init__()
        check_size(size)
        for name, value in (("width", width), ("z_dim", z_dim), ("mask channels", mask_channels)):
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} {value!r} not allowed: need a whole number >= 1")
        self.size, self.z_dim, self.start = size, z_dim, size // 2 ** STEPS
        hidden, top = spade_hidden or 2 * width, 16 * width
        self.fc = nn.Linear(z_dim, top * self.start ** 2)  # GauGAN: z -> 16 w x S/32 x S/32
        block = lambda fin, fout: SpadeBlock(fin, fout, mask_channels, hidden)  # noqa: E731
        self.head = block(top, top)
        self.middle = nn.ModuleList([block(top, top), block(top, top)])
        self.up = nn.ModuleList([block(top, 8 * width), block(8 * width, 4 * width), block(4 * width, 2 * width)])
        self.penultimate = block(2 * width, speckle_maps)
        if speckle:
            self.speckle = SpeckleLayer(size, size, speckle_maps, speckle_sizes, d_init, d_range, polar)
            last_in = speckle_maps * speckle_sizes
        else:
            self.speckle = None
            last_in = speckle_maps
        self.last = block(last_in, width)
        self.to_image = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, mask: torch.Tensor, z: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """z is drawn from N(0, I) when not given; z and the speckle phases come from
        `generator` (on the mask's device) when given, else from torch's global generator."""
        if mask.dim() != 4 or tuple(mask.shape[-2:]) != (self.size, self.size):
            raise ValueError(f"mask of shape {tuple(mask.shape)}; "
                             f"this generator takes (N, C, {self.size}, {self.size})")
        if z is None:
            z = torch.randn(mask.shape[0], self.z_dim, generator=generator, device=mask.device, dtype=mask.dtype)
        x = self.fc(z).view(mask.shape[0], -1, self.start, self.start)
        x = upsample(self.head(x, mask))
        for block in self.middle:
            x = block(x, mask)
        for block in self.up:
            x = block(upsample(x), mask)
        x = self.penultimate(upsample(x), mask)  # at the output size from here on
        if self.speckle is not None:
            x = self.speckle(x, generator)
        x = self.last(x, mask)
        return torch.tanh(self.to_image(F.leaky_relu(x, SLOPE)))

    def speckle_parameters(self) -> list[nn.Parameter]:
        """The speckle layer's window edges (none for the baseline): their own parameter group."""
        return [] if self.speckle is None else self.speckle.speckle_parameters()

    def other_parameters(self) -> list[nn.Parameter]:
        own = {id(p) for p in self.speckle_parameters()}
        return [p for p in self.parameters() if id(p) not in own]


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class DiscriminatorBlock(nn.Module):
    """Pre-activation residual block that halves the size: [BN, LeakyReLU,] 3x3 conv, BN,
    LeakyReLU, 3x3 stride-2 conv; shortcut 2x2 average pooling and a 1x1 conv.

    DECISION: the shortcut pools before its 1x1 conv (SNGAN's layout) rather than using a
    stride-2 1x1 conv, which would drop three pixels in four. The first block reads the image
    and mask as they are (no norm or activation before its first conv), as in SNGAN.
    """

    def __init__(self, fin: int, fout: int, first: bool = False):
        super().__init__()
        pre = [] if first else [nn.BatchNorm2d(fin), nn.LeakyReLU(SLOPE)]
        self.main = nn.Sequential(*pre, spectral_norm(nn.Conv2d(fin, fout, 3, padding=1)), nn.BatchNorm2d(fout),
                                  nn.LeakyReLU(SLOPE), spectral_norm(nn.Conv2d(fout, fout, 3, stride=2, padding=1)))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), spectral_norm(nn.Conv2d(fin, fout, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.main(x)


class ResidualDiscriminator(nn.Module):
    """(image, one-hot mask) -> one logit per image, (N, 1).

    DECISION: conditioned on the mask by concatenating its one-hot channels to the image at the
    input (as pix2pix and GauGAN's discriminators do), so every layer can judge the image
    against its labels. DECISION: blocks halve the size down to 4 x 4 (6 blocks at 256 px),
    widths w, 2w, 4w, 8w, then 8w; the head is LeakyReLU, a sum over positions and a
    spectrally normalised linear layer (SNGAN's ResNet discriminator).
    """

    def __init__(self, mask_channels: int, size: int = 256, width: int = 64, image_channels: int = 1):
        super().__init__()
        check_size(size)
        blocks, fin, n = [], image_channels + mask_channels, size
        while n > 4:
            fout = width * min(2 ** len(blocks), 8)
            blocks.append(DiscriminatorBlock(fin, fout, first=not blocks))
            fin, n = fout, n // 2
        self.size = size
        self.blocks = nn.Sequential(*blocks)
        self.head = spectral_norm(nn.Linear(fin, 1))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.blocks(torch.cat([image, mask], dim=1))
        return self.head(F.leaky_relu(x, SLOPE).sum(dim=(-2, -1)))


def init_weights(module: nn.Module, std: float = 0.02, generator: torch.Generator | None = None) -> None:
    """Convolution and linear weights from N(0, std), biases 0, batch-norm scales N(1, std).

    DECISION: N(0, 0.02) as the pix2pix family here (GauGAN: Xavier with gain 0.02, the same
    scale). Spectrally normalised weights are drawn into their unnormalised original, and their
    power-iteration vectors are drawn again from `generator` and iterated 15 times (as
    spectral_norm does when it is applied), so that one seed gives one network.

    DECISION: the convolutions inside SPADE (which read the mask and predict gamma and beta; not
    spectrally normalised) take torch's default Kaiming-uniform weights instead. This was the cause
    of the demo's IVUS collapse (bench/RESULTS.md, "Mode collapse"): with N(0, 0.02) in both of
    SPADE's stacked convolutions, gamma and beta start about 1e-3 of the normalised features, and
    the gradient of each convolution is proportional to the other's tiny weights, so the mask path
    starts at a saddle; every other path is spectrally normalised or batch-normalised to unit gain,
    z's included. In a few hundred iterations the generator then learned z and ignored the mask:
    the same z with the 8 held-out masks gave a per-pixel spread of 0.008 to 0.025 on a -1..1
    scale (0.2 between real frames), and some runs drew one image for every mask.
    """
    mask_readers = {id(conv) for m in module.modules() if isinstance(m, SPADE)
                    for conv in (m.shared[0], m.gamma, m.beta)}
    for m in module.modules():
        if id(m) in mask_readers:
            with torch.no_grad():
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)  # torch's Conv2d default
                m.bias.zero_()
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            wrapped = parametrize.is_parametrized(m, "weight")
            weight = m.parametrizations.weight.original if wrapped else m.weight
            with torch.no_grad():
                weight.normal_(0.0, std, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
                for p in (m.parametrizations.weight if wrapped else []):
                    if hasattr(p, "_u"):  # torch's _SpectralNorm
                        p._u.copy_(F.normalize(torch.randn(p._u.shape, generator=generator), dim=0, eps=p.eps))
                        p._v.copy_(F.normalize(torch.randn(p._v.shape, generator=generator), dim=0, eps=p.eps))
                        p._power_method(p._reshape_weight_to_matrix(weight), 15)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            with torch.no_grad():
                m.weight.normal_(1.0, std, generator=generator)
                m.bias.zero_()


def spectrally_normalised(module: nn.Module) -> list[nn.Module]:
    """The layers of `module` whose weight is spectrally normalised."""
    return [m for m in module.modules() if parametrize.is_parametrized(m, "weight")
            and any(hasattr(p, "_u") for p in m.parametrizations.weight)]


def build_networks(config: dict, mask_channels: int, *, speckle: bool) -> tuple[SpadeGenerator, ResidualDiscriminator]:
    """Generator and discriminator from a configuration of ganlab.specklegan_defaults, seeded."""
    if not isinstance(config["polar"], bool):
        raise UsageError(f"polar {config['polar']!r}: resolve it from the organ first (ganlab.specklegan.for_organ)")
    size = config["resolution"]
    generator = SpadeGenerator(mask_channels, size, config["g_width"], config["z_dim"], speckle=speckle,
                               polar=config["polar"], speckle_maps=config["speckle_maps"],
                               speckle_sizes=config["speckle_sizes"], d_init=config["d_init"],
                               d_range=config["d_range"], spade_hidden=config["spade_hidden"])
    discriminator = ResidualDiscriminator(mask_channels, size, config["d_width"])
    draw = torch.Generator().manual_seed(config["seed"])
    init_weights(generator, generator=draw)
    init_weights(discriminator, generator=draw)
    return generator, discriminator


# Losses: PAPER: SpeckleGAN, "Material and methods" (training): the non-saturating GAN loss.

def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """softplus(-D(G(z))): -log sigmoid of the fakes' logits."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """softplus(-D(x)) + softplus(D(G(z)))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def discriminate(discriminator, mask: torch.Tensor, real: torch.Tensor, fake: torch.Tensor):
    """(fake logits, real logits) from one pass over fakes and reals stacked, as GauGAN does.

    DECISION: one pass, so that batch norm in the discriminator normalises real and fake
    images with the same statistics (separate passes let it tell them apart by their batch
    statistics alone) and DDP sees one forward per backward.
    """
    logits = discriminator(torch.cat([fake, real]), torch.cat([mask, mask]))
    return logits.chunk(2)


def adam(generator: SpadeGenerator, discriminator: nn.Module, config: dict):
    """(generator optimizer, discriminator optimizer): Adam, the window edges in their own group.

    PAPER: SpeckleGAN, "Material and methods" (training): Adam with beta1 0.5, beta2 0.999, eps
    1e-8. The generator's window edges d get the learning rate lr_speckle
    (ganlab.specklegan_defaults); the baseline has no such group. Every group records its
    `initial_lr`, which the step decay (set_lr_scale) multiplies.
    """
    betas, eps = (config["beta1"], config["beta2"]), config["adam_eps"]
    groups = [{"params": generator.other_parameters(), "lr": config["lr_g"], "initial_lr": config["lr_g"],
               "name": "generator"}]
    if generator.speckle_parameters():
        groups.append({"params": generator.speckle_parameters(), "lr": config["lr_speckle"],
                       "initial_lr": config["lr_speckle"], "name": "speckle"})
    discriminator_group = [{"params": list(discriminator.parameters()), "lr": config["lr_d"],
                            "initial_lr": config["lr_d"], "name": "discriminator"}]
    return (torch.optim.Adam(groups, lr=config["lr_g"], betas=betas, eps=eps),
            torch.optim.Adam(discriminator_group, lr=config["lr_d"], betas=betas, eps=eps))


def set_lr_scale(optimizers, scale: float) -> None:
    """Every parameter group's learning rate = its initial rate x `scale` (the step decay in force).

    DECISION: the rate is a function of the epoch alone (ganlab.specklegan_defaults.lr_scale), set
    before each step, rather than a torch LR scheduler: nothing more to checkpoint, and a resumed
    run is at the same rate as an uninterrupted one.
    """
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * scale
