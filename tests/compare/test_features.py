"""Batched feature extraction and the per-image-set feature cache."""

import numpy as np
import pytest
import xarray as xr

from compare import features
from compare.defaults import cache_dir
from ussim.errors import UsageError


class CountingBackbone:
    """Mean and std of each image; counts the images it has seen."""

    name, cache_key, dim = "counting", "counting.v1", 2

    def __init__(self):
        self.seen = 0
        self.batches = []

    def features(self, images):
        self.seen += len(images)
        self.batches.append(len(images))
        flat = images.reshape(len(images), -1).astype(np.float32)
        return np.stack([flat.mean(1), flat.std(1)], axis=1)


def images(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), dims=("sample", "y", "x"))


def test_features_are_extracted_in_batches_and_cached_by_content():
    backbone = CountingBackbone()
    first = features.extract(images(), backbone, batch_size=3, progress=False)
    assert backbone.batches == [3, 3, 1] and first.shape == (7, 2)
    again = features.extract(images().copy(), backbone, batch_size=3, progress=False)  # same pixels, new object
    np.testing.assert_array_equal(first, again)
    assert backbone.seen == 7  # served from the cache
    entry = cache_dir() / "features" / "counting.v1" / f"{features.content_hash(images())}.npy"
    assert entry.is_file() and not list(entry.parent.glob("*.tmp*"))


def test_changed_pixels_or_another_backbone_miss_the_cache():
    backbone = CountingBackbone()
    features.extract(images(), backbone, progress=False)
    changed = images().copy()
    changed[3, 0, 0] ^= 1
    assert features.content_hash(changed) != features.content_hash(images())
    features.extract(changed, backbone, progress=False)
    assert backbone.seen == 14
    other = CountingBackbone()
    other.cache_key = "counting.v2"
    features.extract(images(), other, progress=False)
    assert other.seen == 7


def test_no_cache_means_none_read_or_written():
    backbone = CountingBackbone()
    features.extract(images(), backbone, progress=False, cache=False)
    features.extract(images(), backbone, progress=False, cache=False)
    assert backbone.seen == 14 and not (cache_dir() / "features").exists()


def test_a_corrupt_cache_entry_is_recomputed():
    backbone = CountingBackbone()
    path = features.cache_path(backbone, features.content_hash(images()))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    assert features.extract(images(), backbone, progress=False).shape == (7, 2)
    assert np.load(path).shape == (7, 2)


def test_non_finite_features_are_refused():
    class Broken(CountingBackbone):
        def features(self, batch):
            return np.full((len(batch), 2), np.nan, np.float32)

    with pytest.raises(UsageError, match="non-finite features"):
        features.extract(images(), Broken(), progress=False, label="sim")
