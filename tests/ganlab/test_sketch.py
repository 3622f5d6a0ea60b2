"""Canny sketches of the background and the conditions built from them."""

import numpy as np
import torch
from skimage.feature import canny

from ganlab import sketch


def _scene():
    """A background with a bright band (edges to sketch) and an object whose edges must not count."""
    image = np.full((48, 48), 60, np.uint8)
    image[:, 30:] = 200                      # a vertical step edge in the background
    label = np.zeros((48, 48), np.uint8)
    label[8:24, 4:20] = 1                    # the object
    image[8:24, 4:20] = 20                   # dark object: edges at its border too
    return image, label


def test_edge_sketch_is_scikit_image_canny_with_the_given_settings():
    image, _ = _scene()
    drawn = sketch.edge_sketch(image, sigma=2.0, low=0.1, high=0.2)
    expected = canny(image / 255.0, sigma=2.0, low_threshold=0.1, high_threshold=0.2)
    assert drawn.dtype == np.uint8 and np.array_equal(drawn, expected.astype(np.uint8))
    assert drawn[:, 28:32].any()             # the step edge is found


def test_condition_keeps_the_sketch_outside_objects_only():
    image, label = _scene()
    drawn = sketch.edge_sketch(image, sigma=1.0, low=0.1, high=0.2)
    assert drawn[label == 1].any()            # Canny also marks the object border: masking matters
    c = sketch.condition(torch.from_numpy(label)[None], 2, torch.from_numpy(drawn)[None])
    assert c.shape == (1, 3, 48, 48)
    assert torch.equal(c[0, 0], torch.from_numpy(label == 0).float())      # one-hot classes
    assert torch.equal(c[0, 1], torch.from_numpy(label == 1).float())
    inside = torch.from_numpy(label == 1)
    assert c[0, 2][inside].sum() == 0 and c[0, 2][~inside].sum() > 0        # sketch outside only
    assert sketch.condition(torch.from_numpy(label)[None], 2).shape == (1, 2, 48, 48)   # cGAN: mask only


def test_any_number_of_classes_becomes_one_channel_each():
    label = torch.randint(0, 5, (2, 16, 16))
    c = sketch.condition(label, 5)
    assert c.shape == (2, 5, 16, 16) and torch.equal(c.sum(1), torch.ones(2, 16, 16))


def test_image_range_round_trips():
    image = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    assert np.array_equal(sketch.to_uint8(sketch.to_unit(image)), image.numpy())
