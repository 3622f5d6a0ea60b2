import numpy as np
import pytest

from ussim import examples, imageset


@pytest.fixture(autouse=True)
def private_caches(tmp_path, monkeypatch):
    """Feature and weights caches in a temporary folder; no real Inception weights are ever found."""
    monkeypatch.setenv("USCOMPARE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def resimulate(ds, *, seed: int, method: str = "fake-sim", id_prefix: str = "sim-", envelope: bool = True,
               seconds: float = 0.25, condition: dict | None = None, timing: dict | None = None):
    """A synthetic set made from the masks of `ds`: fresh speckle, same labels, ids sim-<id>."""
    rng = np.random.default_rng(seed)
    labels = ds["label"].values
    env = np.stack([examples.speckle_envelope(label, rng) for label in labels])
    reference = np.sqrt(2) * examples._grain_gain()
    db = 20 * np.log10(np.maximum(env, 1e-12) / reference)
    image = np.clip((db + 50) / 50 * 255, 0, 255).astype(np.uint8)
    n = len(labels)
    return imageset.make(image, labels, envelope=env if envelope else None,
                         class_names=imageset.class_names_of(ds), organ="phantom", method=method, params={"seed": seed},
                         seed=np.arange(n, dtype=np.int64), seconds=np.full(n, seconds, np.float32),
                         sample_id=[f"{id_prefix}{sid}" for sid in ds["sample_id"].values.tolist()],
                         condition=condition, timing=timing)


@pytest.fixture
def toy_files(tmp_path):
    """A reference set and a set made from its masks (176 px: large enough for 5-scale MS-SSIM)."""
    real = examples.toy_imageset(n=8, size=176, seed=0)
    real_path = imageset.write(real, tmp_path / "real.h5")
    sim_path = imageset.write(resimulate(real, seed=1), tmp_path / "sim.h5")
    return real_path, sim_path
