"""The reference implementations the compare metrics are checked against, imported without torchvision.

pytorch-fid, torch-fidelity and (through torch-fidelity) torchmetrics import torchvision at module
level, but the routines the tests use (Fréchet distance, KID, precision/recall, SSIM, MS-SSIM and
pytorch-fid's FID Inception blocks) never touch it. The registry's only torchvision build needs
CUDA torch and would break the CPU torch of the environment, so it is never installed.

DECISION: while the reference packages are imported, a stand-in `torchvision` is put on the import
path: every attribute and submodule of it is an empty placeholder, except
`torchvision.models.inception`, whose InceptionA/C/E base classes and `inception_v3` come from
torch-fidelity's plain-torch copy of torchvision's Inception (same submodule names and shapes),
so pytorch-fid's FID network can be built and compared with ours. The stand-in leaves
`sys.modules` again once the imports are done, so nothing else sees it.

The reference packages are test-only dependencies installed with `pip install --no-deps` (see
the Makefile); a missing one fails the tests with a line that says how to install it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from functools import cache

import torch
from torch import nn

PINNED = "pytorch-fid==0.3.0 torch-fidelity==0.4.0 torchmetrics==1.9.0 lightning-utilities==0.15.3"


class _Placeholder(types.ModuleType):
    """A module whose every missing attribute is a fresh empty class."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (), {})
        setattr(self, name, value)
        return value


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Placeholder(spec.name)

    def exec_module(self, module):
        module.__path__ = []
        if module.__name__ == "torchvision":
            module.__version__ = "0.20.0"  # pytorch-fid: pass weights=None, init_weights=False


def _inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False):
    """torchvision's inception_v3 as pytorch-fid calls it, built from torch-fidelity's blocks."""
    from torch_fidelity import feature_extractor_inceptionv3 as tf

    net = nn.Module()
    net.Conv2d_1a_3x3 = tf.BasicConv2d(3, 32, kernel_size=3, stride=2)
    net.Conv2d_2a_3x3 = tf.BasicConv2d(32, 32, kernel_size=3)
    net.Conv2d_2b_3x3 = tf.BasicConv2d(32, 64, kernel_size=3, padding=1)
    net.Conv2d_3b_1x1 = tf.BasicConv2d(64, 80, kernel_size=1)
    net.Conv2d_4a_3x3 = tf.BasicConv2d(80, 192, kernel_size=3)
    net.Mixed_5b = tf.InceptionA(192, pool_features=32)
    net.Mixed_5c = tf.InceptionA(256, pool_features=64)
    net.Mixed_5d = tf.InceptionA(288, pool_features=64)
    net.Mixed_6a = tf.InceptionB(288)
    net.Mixed_6b = tf.InceptionC(768, channels_7x7=128)
    net.Mixed_6c = tf.InceptionC(768, channels_7x7=160)
    net.Mixed_6d = tf.InceptionC(768, channels_7x7=160)
    net.Mixed_6e = tf.InceptionC(768, channels_7x7=192)
    net.Mixed_7a = tf.InceptionD(768)
    net.Mixed_7b = tf.InceptionE_1(1280)
    net.Mixed_7c = tf.InceptionE_2(2048)
    net.fc = nn.Linear(2048, num_classes)
    return net


@cache
def _import_all() -> dict[str, types.ModuleType]:
    finder = _StandInFinder()
    sys.meta_path.insert(0, finder)
    try:
        import torchvision.models.inception as tv_inception  # the stand-in
        from torch_fidelity import feature_extractor_inceptionv3 as tf
        tv_inception.InceptionA, tv_inception.InceptionC = tf.InceptionA, tf.InceptionC
        tv_inception.InceptionE = tf.InceptionE_1  # pytorch-fid overrides forward in both E blocks
        sys.modules["torchvision.models"].inception_v3 = _inception_v3
        modules = {name: importlib.import_module(name) for name in (
            "pytorch_fid.fid_score", "pytorch_fid.inception", "torch_fidelity.metric_kid",
            "torch_fidelity.metric_prc", "torchmetrics.functional.image")}
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == "torchvision":
            raise
        raise ModuleNotFoundError(f"reference library {error.name} missing: run `make install` or "
                                  f".venv/bin/pip install --no-deps {PINNED}") from None
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
    return modules


def pytorch_fid_frechet_distance(mu1, sigma1, mu2, sigma2):
    return _import_all()["pytorch_fid.fid_score"].calculate_frechet_distance(mu1, sigma1, mu2, sigma2)


def pytorch_fid_inception(state_dict) -> nn.Module:
    """pytorch-fid's InceptionV3 (FID blocks, resize, normalisation) holding `state_dict`."""
    inception = _import_all()["pytorch_fid.inception"]
    original = inception.load_state_dict_from_url
    inception.load_state_dict_from_url = lambda url, progress=True: state_dict
    try:
        return inception.InceptionV3([3]).eval()
    finally:
        inception.load_state_dict_from_url = original


def torch_fidelity_kid(synthetic, real, *, subsets, subset_size, seed):
    """torch-fidelity's KID; its input1 is the generated set, drawn first from the generator."""
    kid = _import_all()["torch_fidelity.metric_kid"]
    out = kid.kid_features_to_metric(torch.from_numpy(synthetic), torch.from_numpy(real), kid_subsets=subsets,
                                     kid_subset_size=subset_size, rng_seed=seed, verbose=False, kid_kernel="poly",
                                     kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1)
    return out[kid.KEY_METRIC_KID_MEAN], out[kid.KEY_METRIC_KID_STD]


def torch_fidelity_precision_recall(synthetic, real, k):
    prc = _import_all()["torch_fidelity.metric_prc"]
    return prc.calculate_precision_recall_full(torch.from_numpy(synthetic), torch.from_numpy(real), k)


def torchmetrics_image():
    """torchmetrics.functional.image (structural_similarity_index_measure, multiscale_...)."""
    return _import_all()["torchmetrics.functional.image"]
