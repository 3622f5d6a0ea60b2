"""The speckle layer of SpeckleGAN: fully developed speckle with a learnable grain size.

PAPER: SpeckleGAN, "Speckle layer" (its equation of I_sp): speckle is the interference of echoes from many scatterers
with random phases, seen through the band-limited system. For each input map I (an
echogenicity map made by the generator):

    I_sp = | IFFT( FFT(I * exp(j phi)) * rect_d ) |

with phases phi drawn uniformly in [0, 2 pi) afresh on every forward pass, and rect_d a square
window of edge d in the centred spectrum: the grain of the speckle is about N / d pixels.
For IVUS the layer works on a polar grid around the catheter (ganlab.polar).

PAPER: SpeckleGAN, "SpeckleGAN architecture": every input map gets several learnable window
sizes (4 for 8 maps: 32 output maps), and a channel attention weighs the 32 output maps with
coefficients computed from the 8 input maps (global sum pooling and two linear layers), so the
weights depend on what the generator drew, never on the random phases.

The window edge d is learnable: a box with fractional edges (below) is differentiable in d.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.polar import PolarGrid
from ussim.errors import UsageError

PAPER_SIZE = 256                  # px, the image size of the paper's d initialisation
PAPER_D_INIT = (28.0, 48.0)       # PAPER: SpeckleGAN, "Material and methods" (training): d starts in 28..48 px
PAPER_MAPS, PAPER_SIZES = 8, 4    # PAPER: SpeckleGAN, "SpeckleGAN architecture": 4 speckle sizes, 8 maps -> 32


def default_d_init(size: int) -> tuple[float, float]:
    """The range d starts in, for a speckle grid of `size` (the smaller side) pixels.

    DECISION: proportional to the grid size, d = (28, 48) * size / 256, so that the grain
    size / d (5.3 to 9.1 px) is the paper's at every size. At the small sizes of tests and
    demos the paper's 28 to 48 would not even fit under the largest valid d (size - 1 = 31 at
    32 px), and d is learned anyway: the start only has to be a plausible grain.
    """
    return (PAPER_D_INIT[0] * size / PAPER_SIZE, PAPER_D_INIT[1] * size / PAPER_SIZE)


def default_d_range(size: int) -> tuple[float, float]:
    """DECISION: d is kept in [1, size - 1], where the box below has area exactly d^2.

    d = 1 keeps the mean alone (no speckle, grain the whole image); d = size - 1 passes all but
    the Nyquist row and column (grain about 1 px). Outside, the window is no longer a box of
    edge d (below 1 the centre bin alone is less than 1 wide; above size - 1 the edge wraps).
    """
    return (1.0, float(size - 1))


def frequencies(n: int) -> torch.Tensor:
    """|k| of the FFT bins of a length-n axis, in FFT order (0, 1, ..., -2, -1)."""
    return (torch.fft.fftfreq(n) * n).abs()


def box_window(d: torch.Tensor, k_rows: torch.Tensor, k_cols: torch.Tensor) -> torch.Tensor:
    """Square low-pass window of edge d (any shape) in FFT order: shape (*d.shape, H, W).

    Each axis weighs bin k by clamp(d/2 + 1/2 - |k|, 0, 1): bins well inside weigh 1, the
    pair of bins at the edge weighs the fractional part, so the window's sum along an axis is
    exactly d (for 1 <= d <= n - 1) and its area d^2. At odd whole d it is the hard box of d
    bins centred on DC; in between it grows linearly with d, so d has a gradient.
    """
    half = d[..., None] / 2 + 0.5
    rows = (half - k_rows).clamp(0.0, 1.0)
    cols = (half - k_cols).clamp(0.0, 1.0)
    return rows[..., :, None] * cols[..., None, :]


def speckle(maps: torch.Tensor, d: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """|IFFT(FFT(maps * exp(j phase)) * rect_d)| for each map and each of its window sizes.

    maps (N, C, H, W) real, d (C, K) window edges, phase (N, C, H, W) radians.
    Returns (N, C * K, H, W) >= 0; the K sizes of map c are channels c*K ... c*K + K - 1.

    DECISION: the output is scaled by sqrt(H W / sum(rect_d^2)) so that a constant map I gives
    speckle of mean intensity E|I_sp|^2 = I^2 whatever d: the window changes the grain, not the
    brightness (without it the brightness grows as d / N, and d's gradient would mostly say
    "brighter", which the next block's normalisation removes anyway).
    """
    height, width = maps.shape[-2:]
    window = box_window(d, frequencies(height).to(maps.device), frequencies(width).to(maps.device))
    energy = window.square().sum(dim=(-2, -1))                       # (C, K)
    gain = torch.sqrt(height * width / energy)[..., None, None]
    scattered = torch.complex(maps * torch.cos(phase), maps * torch.sin(phase))
    spectrum = torch.fft.fft2(scattered)                             # (N, C, H, W)
    field = torch.fft.ifft2(spectrum[:, :, None] * (window * gain))  # (N, C, K, H, W)
    return field.abs().flatten(1, 2)


class ChannelAttention(nn.Module):
    """One weight per output map of the speckle layer, from its input maps.

    PAPER: SpeckleGAN, "SpeckleGAN architecture": the input feature maps of the speckle layer give
    channel attention coefficients by global sum pooling and two linear layers; the output maps
    (every input map times every speckle size) are weighted with them.
    DECISION: the pooled sum is divided by H W (a mean): a linear layer after a sum is the same
    family of functions as one after a mean (its weights scaled by H W), but at 256 x 256 the raw
    sum (about 1e4 per map) would saturate the sigmoid from the first step. DECISION: hidden width
    max(inputs, outputs / 4) (8 for 8 maps in, 32 out; squeeze-and-excitation's reduction 16
    would leave 2), ReLU between, sigmoid coefficients in (0, 1).
    """

    def __init__(self, inputs: int, outputs: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, inputs, outputs // reduction)
        self.squeeze = nn.Linear(inputs, hidden)
        self.excite = nn.Linear(hidden, outputs)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        """(N, inputs, H, W) input maps -> (N, outputs) coefficients."""
        pooled = maps.mean(dim=(-2, -1))
        return torch.sigmoid(self.excite(F.relu(self.squeeze(pooled))))


class SpeckleLayer(nn.Module):
    """`channels` maps in, channels * sizes speckle maps out, weighted by channel attention.

    height, width:  the size of the maps it receives (fixed: the polar grid and d's range need it)
    d_init:         (low, high) the window edges start evenly spread over; default_d_init
    d_range:        (low, high) d always stays in; default_d_range
    polar:          draw the speckle on a polar grid around the centre (IVUS)
    """

    def __init__(self, height: int, width: int, channels: int = PAPER_MAPS, sizes: int = PAPER_SIZES,
                 d_init: tuple[float, float] | None = None, d_range: tuple[float, float] | None = None,
                 polar: bool = False, reduction: int = 4):
        super().__init__()
        self.polar = PolarGrid(height, width) if polar else None
        grid = (self.polar.n_radii, self.polar.n_angles) if polar else (height, width)
        size = min(grid)
        self.height, self.width, self.channels, self.sizes = height, width, channels, sizes
        self.d_init = tuple(float(v) for v in (d_init or default_d_init(size)))
        self.d_range = tuple(float(v) for v in (d_range or default_d_range(size)))
        check_d(self.d_init, self.d_range, size)
        for name, value in (("speckle maps", channels), ("speckle sizes", sizes)):
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} {value!r} not allowed: need a whole number >= 1")
        # DECISION: the sizes of each map start evenly spread over d_init (28, 34.7, 41.3, 48 at
        # 256 px) rather than at random: they start different from one another, cover the
        # paper's range, and the start needs no random numbers.
        start = torch.linspace(*self.d_init, sizes).expand(channels, sizes)
        # DECISION: d = low + (high - low) * sigmoid(d_logit). No optimizer step, however large,
        # can take d out of its range, and unlike a clamp in the forward pass a step past the
        # bound does not leave d stuck there with zero gradient.
        low, high = self.d_range
        self.d_logit = nn.Parameter(torch.logit((start - low) / (high - low)).clone())
        self.attention = ChannelAttention(channels, channels * sizes, reduction)

    @property
    def d(self) -> torch.Tensor:
        """The window edges in force, (channels, sizes), in bins of the speckle grid."""
        low, high = self.d_range
        return low + (high - low) * torch.sigmoid(self.d_logit)

    @torch.no_grad()
    def set_d(self, d) -> None:
        """Set the window edges (a number or a (channels, sizes) array), strictly inside d_range."""
        low, high = self.d_range
        d = torch.as_tensor(d, dtype=self.d_logit.dtype).expand_as(self.d_logit)
        if not bool(((d > low) & (d < high)).all()):
            raise UsageError(f"speckle size d {d.tolist()} not allowed: need {low} < d < {high}")
        self.d_logit.copy_(torch.logit((d - low) / (high - low)))

    def speckle_parameters(self) -> list[nn.Parameter]:
        """The window edges: an optimizer parameter group of their own."""
        return [self.d_logit]

    def forward(self, maps: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, channels, H, W) -> (N, channels * sizes, H, W), non-negative.

        The phases are new on every call, in training and in evaluation alike (speckle is
        random); they come from `generator` when given (on the maps' device), else from torch's
        global generator, so seeded runs repeat. DECISION: one phase field per sample and input
        map, shared by that map's window sizes: those are one population of scatterers seen
        through different point spread functions (and it needs one FFT per map, not per size).
        """
        if maps.dim() != 4 or maps.shape[1] != self.channels or tuple(maps.shape[-2:]) != (self.height, self.width):
            raise ValueError(f"speckle layer got maps of shape {tuple(maps.shape)}; it takes "
                             f"(N, {self.channels}, {self.height}, {self.width})")
        x = maps.float()  # FFTs in single precision whatever the autocast
        coefficients = self.attention(x)  # from the input maps: the same whatever the phases
        if self.polar is not None:
            x = self.polar.to_polar(x)
        phase = torch.rand(x.shape, generator=generator, device=x.device) * (2 * math.pi)
        out = speckle(x, self.d, phase)
        if self.polar is not None:
            out = self.polar.to_cartesian(out)
        return (out * coefficients[:, :, None, None]).to(maps.dtype)


def check_d(d_init, d_range, size: int) -> None:
    """One line naming a bad d_init / d_range and what is allowed."""
    for name, pair in (("d_init", d_init), ("d_range", d_range)):
        if len(pair) != 2 or not all(math.isfinite(v) for v in pair) or pair[0] > pair[1]:
            raise UsageError(f"{name} {list(pair)} not allowed: need [low, high] with low <= high")
    (low, high), (start_low, start_high) = d_range, d_init
    if not (1 <= low < start_low and start_high < high <= size - 1):
        raise UsageError(f"d_init {list(d_init)} with d_range {list(d_range)} not allowed for a {size} px speckle "
                         f"grid: need 1 <= range low < init low <= init high < range high <= {size - 1}")
