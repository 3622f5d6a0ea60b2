import numpy as np
import pytest

from ussim import examples, importers


@pytest.fixture
def toy():
    """A small image set with every optional variable that the format allows."""
    ds = examples.toy_imageset(n=5, size=32, seed=7)
    ds["sketch"] = (("sample", "y", "x"), (ds["label"].values > 0).astype(np.uint8))
    return ds.assign_coords(y_mm=("y", np.arange(32) * 0.1 + 0.05), x_mm=("x", np.arange(32) * 0.2 + 0.1))


@pytest.fixture
def real_dir():
    folder = importers.real_data_dir()
    if folder is None:
        pytest.skip("real archives absent: ../shared/data/real (or $USSIM_REAL_DATA) not found")
    return folder
