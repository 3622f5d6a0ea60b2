import numpy as np
import pytest

from ussim import examples


def test_toy_set_has_fully_developed_speckle_and_is_seeded():
    ds = examples.toy_imageset(n=4, size=128, seed=3)
    envelope, label = ds["envelope"].values, ds["label"].values
    background = envelope[label == 0]
    assert background.mean() / background.std() == pytest.approx(np.sqrt(np.pi / (4 - np.pi)), abs=0.1)
    ratio_db = 20 * np.log10(envelope[label == 1].mean() / background.mean())
    assert ratio_db == pytest.approx(examples.ECHOGENICITY_DB[1], abs=1.0)
    again = examples.toy_imageset(n=2, size=128, seed=4)  # sample i depends on seed + i alone
    np.testing.assert_array_equal(again["image"].values[0], ds["image"].values[1])
    assert ds["seed"].values.tolist() == [3, 4, 5, 6] and (ds["seconds"].values > 0).all()
