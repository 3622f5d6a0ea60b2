"""SpeckleGAN's training augmentation: image and mask turn and flip together."""

import pytest
import torch

from ganlab.augment import augment
from ussim.errors import UsageError


def pair(n=6, size=32):
    """Class maps with an off-centre square, and images that are those maps as gray values."""
    labels = torch.zeros(n, size, size, dtype=torch.uint8)
    labels[:, 4:14, 6:20] = 1
    labels[:, 18:28, 20:26] = 2
    return labels.float().unsqueeze(1), labels


def test_quarter_turns_and_flips_keep_image_and_mask_aligned_exactly():
    image, labels = pair()
    out_image, out_labels = augment(image, labels, rotation="quarter", generator=torch.Generator().manual_seed(0))
    assert out_labels.dtype == torch.uint8 and out_labels.shape == labels.shape
    assert torch.equal(out_image[:, 0], out_labels.float())
    assert not torch.equal(out_labels, labels)  # something moved


def test_any_angle_turns_resample_the_image_and_keep_mask_classes():
    image, labels = pair(size=64)
    onehot = torch.nn.functional.one_hot(labels.long(), 3).permute(0, 3, 1, 2).float()
    out_image, out_onehot = augment(image, onehot, rotation="any", generator=torch.Generator().manual_seed(1))
    assert set(out_onehot.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out_onehot.sum(1), torch.ones(6, 64, 64))  # one class per pixel
    agree = (out_image[:, 0].round() == out_onehot.argmax(1).float()).float().mean()
    assert agree > 0.97  # only edge pixels differ (bilinear image, nearest mask)


def test_seeded_draws_repeat_and_none_is_identity():
    image, labels = pair()
    runs = [augment(image, labels, generator=torch.Generator().manual_seed(4)) for _ in range(2)]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    same = augment(image, labels, rotation="none", flip=False)
    assert torch.equal(same[0], image) and torch.equal(same[1], labels)
    with pytest.raises(UsageError, match="rotation 'half'"):
        augment(image, labels, rotation="half")


def test_a_quarter_of_a_full_turn_is_a_rigid_rot90():
    import math

    from ganlab.augment import rotate
    image = torch.rand(1, 1, 16, 16)
    turned = rotate(image, torch.tensor([math.pi / 2], dtype=torch.float64), "bilinear")
    assert torch.allclose(turned, torch.rot90(image, -1, dims=(-2, -1)), atol=1e-5)


def test_vertical_flips_mirror_image_and_mask_together():
    # PAPER: SpeckleGAN, "Material and methods" (training): horizontal and vertical flips.
    image, labels = pair(n=16)
    out_image, out_labels = augment(image, labels, rotation="none", flip=False, vflip=True,
                                    generator=torch.Generator().manual_seed(2))
    assert torch.equal(out_image[:, 0], out_labels.float())
    flipped = [torch.equal(out, labels[0].flip(-2)) for out in out_labels]
    kept = [torch.equal(out, labels[0]) for out in out_labels]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)
