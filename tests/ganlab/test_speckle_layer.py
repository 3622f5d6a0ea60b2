"""The speckle layer: window, gradient, grain size, range of d, randomness of the phases."""

import math

import pytest
import torch

from ganlab.speckle_layer import SpeckleLayer, box_window, default_d_init, frequencies, speckle
from ussim.errors import UsageError


def window(d: float, height: int = 32, width: int = 32) -> torch.Tensor:
    return box_window(torch.tensor(d, dtype=torch.float64), frequencies(height).double(), frequencies(width).double())


@pytest.mark.parametrize("d", [1.0, 2.5, 7.0, 7.3, 12.8, 20.0, 30.99, 31.0])
def test_window_area_is_d_squared(d):
    # Exact by construction for 1 <= d <= n - 1; the tolerance only absorbs rounding.
    assert window(d).sum().item() == pytest.approx(d * d, rel=1e-9)
    assert window(d, 32, 48).sum().item() == pytest.approx(d * d, rel=1e-9)


def test_window_is_the_hard_box_at_odd_whole_d():
    w = window(7.0)
    assert set(w.unique().tolist()) == {0.0, 1.0}
    k = frequencies(32)
    inside = (k <= 3)[:, None] & (k <= 3)[None, :]  # 7 bins centred on DC
    assert torch.equal(w > 0, inside)


def grain_width(out: torch.Tensor) -> float:
    """Half width at half maximum (px) of the autocovariance along x and y, averaged."""
    x = out - out.mean(dim=(-2, -1), keepdim=True)
    auto = torch.fft.ifft2(torch.fft.fft2(x).abs() ** 2).real.mean(dim=(0, 1))
    auto = auto / auto[0, 0]
    widths = []
    for line in (auto[0, : auto.shape[1] // 2], auto[: auto.shape[0] // 2, 0]):
        i = int((line < 0.5).nonzero()[0])
        widths.append(i - 1 + float((line[i - 1] - 0.5) / (line[i - 1] - line[i])))
    return sum(widths) / 2


def test_speckle_grain_scales_as_n_over_d():
    n, draw = 128, torch.Generator().manual_seed(1)
    maps = torch.ones(4, 4, n, n)  # a constant echogenicity: pure speckle
    widths = {}
    for d in (8.0, 16.0):
        phase = torch.rand(maps.shape, generator=draw) * (2 * math.pi)
        out = speckle(maps, torch.full((4, 1), d), phase)
        widths[d] = grain_width(out)
        assert 0.35 < widths[d] * d / n < 0.55  # the grain is about 0.44 N / d
        assert (out ** 2).mean().item() == pytest.approx(1.0, abs=0.05)  # brightness kept whatever d
    assert widths[8.0] / widths[16.0] == pytest.approx(2.0, rel=0.15)


def test_output_shape_non_negative_with_gradient_for_every_d():
    torch.manual_seed(0)
    for polar in (False, True):
        layer = SpeckleLayer(32, 32, channels=2, sizes=3, polar=polar)
        maps = torch.randn(2, 2, 32, 32, requires_grad=True)  # negative values too
        out = layer(maps)
        assert out.shape == (2, 6, 32, 32)
        assert (out >= 0).all()
        (out * torch.randn_like(out)).sum().backward()
        assert (layer.d_logit.grad != 0).all()
        assert maps.grad.abs().sum() > 0


def test_d_starts_in_the_paper_range_scaled_with_the_size():
    assert default_d_init(256) == (28.0, 48.0)
    assert default_d_init(64) == (7.0, 12.0)
    d = SpeckleLayer(256, 256).d
    assert d.shape == (8, 4)
    assert torch.allclose(d[0], torch.tensor([28.0, 34.0 + 2 / 3, 41.0 + 1 / 3, 48.0]), atol=1e-4)


def test_d_stays_in_its_range_after_a_huge_step():
    layer = SpeckleLayer(32, 32, channels=1, sizes=2, d_range=(2.0, 20.0))
    optimizer = torch.optim.SGD(layer.speckle_parameters(), lr=1e6)
    for sign in (1.0, -1.0):
        optimizer.zero_grad()
        (sign * layer(torch.ones(1, 1, 32, 32)).sum()).backward()
        optimizer.step()
        assert ((layer.d >= 2.0) & (layer.d <= 20.0)).all()


def test_phases_are_fresh_each_pass_and_repeat_with_a_seed():
    layer = SpeckleLayer(16, 16, channels=1, sizes=1).eval()  # eval: speckle stays random
    maps = torch.ones(1, 1, 16, 16)
    assert not torch.equal(layer(maps), layer(maps))
    same = [layer(maps, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(*same)
    torch.manual_seed(7)
    first = layer(maps)
    torch.manual_seed(7)
    assert torch.equal(first, layer(maps))


def test_set_d_and_bad_ranges():
    layer = SpeckleLayer(32, 32, channels=1, sizes=2)
    layer.set_d([[5.5, 9.0]])
    assert torch.allclose(layer.d, torch.tensor([[5.5, 9.0]]), atol=1e-4)
    with pytest.raises(UsageError, match="speckle size d"):
        layer.set_d(40.0)
    with pytest.raises(UsageError, match="d_init"):
        SpeckleLayer(32, 32, d_init=(28.0, 48.0))  # the paper's 256 px range does not fit 32 px
    with pytest.raises(UsageError, match="d_range"):
        SpeckleLayer(32, 32, d_range=(20.0, 10.0))


def test_channel_attention_reads_the_input_maps_not_the_phases():
    # PAPER: SpeckleGAN, "SpeckleGAN architecture": coefficients from the speckle layer's input maps.
    torch.manual_seed(0)
    layer = SpeckleLayer(32, 32, channels=2, sizes=3)
    seen = []
    layer.attention.register_forward_hook(lambda module, args, out: seen.append(out.detach().clone()))
    maps = torch.rand(2, 2, 32, 32) + 0.5
    first = layer(maps, torch.Generator().manual_seed(1))
    second = layer(maps, torch.Generator().manual_seed(2))
    assert not torch.allclose(first, second)             # two phase draws: two speckle patterns
    assert seen[0].shape == (2, 6)                       # one coefficient per output map
    assert torch.equal(seen[0], seen[1])                 # ... the same for both draws
    layer(maps * torch.tensor([3.0, 0.2])[None, :, None, None], torch.Generator().manual_seed(1))
    assert not torch.allclose(seen[2], seen[0])          # other input maps: other coefficients
    # The output is the speckle of each map weighted by its coefficient.
    plain = speckle(maps, layer.d, torch.rand(maps.shape, generator=torch.Generator().manual_seed(1)) * (2 * math.pi))
    assert torch.allclose(first, plain * seen[0][:, :, None, None], atol=1e-5)
