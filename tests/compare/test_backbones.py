"""Feature backbones: the FID Inception architecture against pytorch-fid, the weights' refusal and
SHA-256 check (with fake weights files; the real weights are never needed), the weights-free ones."""

import hashlib

import numpy as np
import pytest
import torch

from compare import backbones
from compare.backbones import inception_fid, weights
from compare.backbones.texture import FEATURE_DIM as TEXTURE_DIM
from tests.compare import reference_libs as ref
from ussim.errors import UsageError


@pytest.fixture(scope="module")
def random_network():
    return inception_fid.random_inception(0, "cpu")


@pytest.fixture
def gray_images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (1, 48, 64), dtype=np.uint8)  # one image: 299 x 299 inside, ~1 s on a CPU


def test_our_network_is_pytorch_fids_inception_v3(random_network, gray_images):
    """Same state dict, same images: pytorch-fid's InceptionV3([3]) (its FID blocks, resize to 299
    and normalisation, on torchvision-shaped stock blocks) gives the same 2048 features."""
    theirs = ref.pytorch_fid_inception(random_network.network.state_dict())
    x = torch.from_numpy(gray_images).float()[:, None].repeat(1, 3, 1, 1) / 255  # RGB in [0, 1], as ToTensor
    with torch.no_grad():
        expected = theirs(x)[0].squeeze(-1).squeeze(-1).numpy()
    ours = random_network.features(gray_images)
    assert ours.shape == (1, 2048)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)
    assert ours.std() > 0.05  # seeded random weights keep the features alive


def test_random_inception_is_reproducible_per_seed(random_network):
    again = inception_fid.random_inception(0, "cpu").network.state_dict()
    other = backbones.load("random-inception-1", device="cpu")
    assert other.name == "random-inception-1" and not backbones.is_inception(other.name)
    key = "Mixed_6b.branch7x7_2.conv.weight"
    assert torch.equal(random_network.network.state_dict()[key], again[key])
    assert not torch.equal(again[key], other.network.state_dict()[key])


def test_inception_fid_without_weights_refuses_in_one_line_saying_where_to_put_them():
    with pytest.raises(UsageError) as error:
        backbones.load("inception-fid", download=False)
    message = str(error.value)
    assert "\n" not in message and weights.FILENAME in message and "--weights" in message
    assert str(weights.weights_folder()) in message


def test_a_wrong_weights_file_is_refused_by_its_sha256(tmp_path):
    fake = tmp_path / weights.FILENAME
    fake.write_bytes(b"not the weights")
    with pytest.raises(UsageError, match="SHA-256"):
        backbones.load("inception-fid", weights=fake)
    with pytest.raises(UsageError, match="no such file"):
        backbones.load("inception-fid", weights=tmp_path / "missing.pth")


def test_failed_download_refuses_in_one_line(monkeypatch):
    monkeypatch.setattr(weights, "URL", "http://127.0.0.1:9/pt_inception.pth")  # nothing listens on port 9
    with pytest.raises(UsageError) as error:
        weights.locate(progress=False)
    assert "download" in str(error.value) and "\n" not in str(error.value)


def test_a_download_is_checked_and_kept_only_when_its_sha256_matches(tmp_path, monkeypatch):
    served = tmp_path / "served.pth"
    served.write_bytes(b"pretend weights")
    monkeypatch.setattr(weights, "URL", served.as_uri())
    with pytest.raises(UsageError, match="not kept"):
        weights.locate(progress=False)
    assert not any(weights.weights_folder().iterdir())  # nothing half-written left behind
    monkeypatch.setattr(weights, "SHA256", hashlib.sha256(b"pretend weights").hexdigest())
    path = weights.locate(progress=False)
    assert path == weights.weights_folder() / weights.FILENAME and path.read_bytes() == b"pretend weights"
    assert weights.locate(download=False) == path  # found in the cache next time


def test_inception_fid_loads_a_checked_state_dict(tmp_path, monkeypatch, random_network):
    path = tmp_path / weights.FILENAME
    torch.save(random_network.network.state_dict(), path)
    monkeypatch.setattr(weights, "SHA256", weights.sha256_of(path))
    backbone = backbones.load("inception-fid", weights=path, device="cpu")
    assert backbone.name == "inception-fid" and backbones.is_inception(backbone.name)
    loaded, saved = backbone.network.state_dict(), random_network.network.state_dict()
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[k], saved[k]) for k in saved)


def test_texture_backbone_is_deterministic_and_size_independent():
    backbone = backbones.load("texture-v1")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 100, 120), dtype=np.uint8)
    first = backbone.features(images)
    assert first.shape == (3, TEXTURE_DIM) == (3, backbone.dim) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, backbone.features(images))
    assert np.all(np.isfinite(backbone.features(np.zeros((1, 256, 256), np.uint8))))  # a constant image


@pytest.mark.parametrize("name, options, match", [
    ("resnet", {}, "unknown backbone 'resnet'"),
    ("texture-v1", {"weights": "w.pth"}, "--weights applies to backbone inception-fid only"),
    ("random-inception-0", {"device": "tpu"}, "unknown device 'tpu'"),
])
def test_bad_backbone_options_are_refused(name, options, match):
    with pytest.raises(UsageError, match=match):
        backbones.load(name, **options)
