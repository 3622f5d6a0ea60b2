import pytest
import torch

from ussim import examples, imageset

# Settings that shrink any preset to networks that train in milliseconds. One thread: on a
# shared two-core machine torch's two OpenMP threads spin against other work and run ten
# times slower.
TINY = {"resolution": 64, "g_width": 8, "d_width": 8, "g_blocks": 1, "grid_samples": 2, "threads": 1}


@pytest.fixture(scope="session")
def toy_file(tmp_path_factory):
    """Eight labelled speckle images of 64 x 64 px (classes background, inclusion)."""
    path = tmp_path_factory.mktemp("data") / "toy.h5"
    imageset.write(examples.toy_imageset(n=8, size=64, seed=3), path)
    return path


@pytest.fixture(autouse=True)
def _restore_torch_settings():
    """Training in-process sets threads and deterministic mode; give other tests them back."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)
