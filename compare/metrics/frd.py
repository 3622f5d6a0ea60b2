"""Fréchet Radiomics Distance v1 (FRD), computed by frd-score 1.0.1's own functions.

FRD (Konz, Osuala et al., "Fréchet Radiomic Distance (FRD)", Medical Image Analysis 2026) is a
Fréchet distance between Gaussians fitted to standardised radiomic features; it needs no network
weights. What frd-score 1.0.1 does (frd_score/frd.py), and what this module calls to do the same:

Features, per image: `process_image_mask_pair` with the extractor of
`get_feature_extractor(frd_version="v1", image_dim=2)` (configs/extraction_2d.yaml). The image is
read as float32 and made 3-D (1, y, x) with pixel spacing 1; pyradiomics then z-scores the whole
image's gray values × 100 (`normalize`, over all pixels, not just the mask), resamples it with a
B-spline to 2-pixel spacing (a 256 px image is analysed at 128 px), discretises with binWidth 5 and
shifts first-order values by 300. Image types: Original, LoG (σ 2, 3, 4, 5) and Wavelet (in 2-D:
LL, LH, HL, HH); feature classes firstorder, glcm (22 features), glrlm, glszm, ngtdm. The whole-image
mask is all ones except pixel (0, 0) (a pyradiomics workaround); a mask of ≤ 1 pixel is skipped.
Besides the 385 features the vector keeps pyradiomics' 13 numeric diagnostics (image mean, min, max
and mask pixel counts, before and after resampling), as the paper's code did: 398 numbers.

Distance (`calculate_feature_statistics`, then `compute_frd`): per set, images (rows) with any NaN
are dropped and the features cast to float32; both sets are z-scored with the reference set's mean
and population std (`z_score_normalize`, norm_ref "d1", no guard for a zero std); feature columns
with any NaN or Inf in either normalised set are dropped; mean and `np.cov` (N − 1) per set;
`calculate_frechet_distance` (pytorch-fid's: `scipy.linalg.sqrtm`, 1e-6 on the diagonals when not
finite, the imaginary part dropped whatever its size; here the same trace by a faster exact route,
see _squared_frechet_distance); FRD = ln(d²), the code's convention (the paper's Eq. 3 writes
ln(d), half of it), and -inf when d² ≤ 0.

Caveat (measured in bench/RESULTS.md): z-scoring against the reference has no floor on the std,
so a feature almost constant in the reference (e.g. wavelet-HH_firstorder_Median ≈ 0) can dominate
FRD; bootstrap resamples of a dozen images hit this often, and their intervals get a heavy right tail.

pyradiomics is imported only when features are asked for: without it the rest of `compare` works
and FRD refuses with one line that gives the install command.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from ussim.progress import bar as progress_bar

from compare.metrics import MetricUndefined
from ussim.errors import UsageError

FRD_VERSION = "v1"
# The pins of pyproject.toml's `frd` extra. pyradiomics-bhklab is a source package whose setup.py
# imports numpy and versioneer without declaring them, hence the two steps.
INSTALL_COMMAND = ("pip install setuptools wheel numpy PyWavelets pykwalify six versioneer && "
                   "pip install --no-build-isolation pyradiomics-bhklab==3.1.4 frd-score==1.0.1")
_LIBRARY_MODULES = ("frd_score.frd", "radiomics.featureextractor")


def available() -> bool:
    """Whether frd-score and pyradiomics import."""
    return _import_error() is None


def require() -> None:
    """Refuse in one line, naming what is missing and the install command, when FRD cannot run."""
    error = _import_error()
    if error is not None:
        raise UsageError(f"FRD needs frd-score and pyradiomics, which do not import here ({error}); "
                         f"install them with: {INSTALL_COMMAND} (or `make install` in a checkout)")


def versions() -> dict[str, str]:
    """The versions that made the numbers (for the results' attributes)."""
    require()
    import frd_score
    import radiomics
    return {"frd_score": frd_score.__version__, "pyradiomics": radiomics.__version__, "frd": FRD_VERSION}


def feature_names() -> list[str]:
    """Names of the radiomic_features columns, in order (frd-score's: `original_` prefix removed)."""
    require()
    return list(_feature_names())


def radiomic_features(images: np.ndarray, regions: np.ndarray | None = None, *,
                      progress: bool = True) -> np.ndarray:
    """FRD v1 features (n, 398) float64 of uint8 images (n, y, x): of the whole image, or of a region.

    `regions` (n, y, x) bool selects one region per image (e.g. label == class). DECISION: an image
    whose region pyradiomics cannot analyse gets a NaN row, which frd_from_features drops as
    frd-score drops the images it skips, so that row indices stay those of the images. Too small is:
    ≤ 1 pixel (frd-score skips the image), or after the resampling to 2-pixel spacing ≤ 1 pixel or
    a single row or column (pyradiomics' checkMask raises; the command line of frd-score would stop
    there). In practice a region under about 4 × 4 pixels, or thinner than 3 pixels. A warning
    says how many rows are NaN.
    """
    require()
    images = _checked_images(images)
    regions = _checked_regions(regions, images.shape)
    library, extractor, names = _library(), _extractor(), _feature_names()
    features = np.full((len(images), len(names)), np.nan)
    too_small = 0
    with tempfile.TemporaryDirectory(prefix="frd-") as folder, _quiet_skips():
        # DECISION: frd-score's per-image function reads files; each image (and region) is written
        # to a lossless PNG and handed to it, so that the extraction is the library's own code path,
        # the command line's exactly. Writing costs about a millisecond against ~0.5 s of extraction.
        image_path, mask_path = Path(folder) / "image.png", Path(folder) / "region.png"
        for i in progress_bar(range(len(images)), unit="img", desc="FRD radiomics" + (" (region)" if regions is not None else ""),
                      enabled=progress):
            Image.fromarray(images[i]).save(image_path)
            if regions is not None:
                Image.fromarray(regions[i].astype(np.uint8)).save(mask_path)
            result = _extract(library, extractor, image_path, mask_path if regions is not None else None)
            if result is None:
                too_small += 1
                continue
            values, named, _ = result
            if tuple(named) != names:
                raise RuntimeError(f"frd-score returned features {list(named)[:3]}... for image {i}, "
                                   f"not the {len(names)} expected")
            features[i] = values
    if too_small:
        warnings.warn(f"FRD: {too_small} of {len(images)} regions too small for pyradiomics (NaN rows, "
                      f"left out of FRD)", stacklevel=2)
    return features


def frd_from_features(reference: np.ndarray, other: np.ndarray) -> float:
    """FRD v1 of `other` against `reference`, features (n1, d) and (n2, d) from radiomic_features.

    The reference comes first: its statistics standardise both sets. DECISION: rows with a NaN are
    dropped, as frd-score does; fewer than 2 rows left in a set is MetricUndefined. The columns kept
    may differ between bootstrap resamples, as they would between runs of frd-score on those images.
    """
    require()
    sets = []
    for name, features in (("reference", reference), ("other", other)):
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or (sets and features.shape[1] != sets[0].shape[1]):
            raise UsageError(f"FRD: the {name} features have shape {features.shape}; allowed: (n, d) "
                             f"with the same d for both sets")
        kept = features[~np.isnan(features).any(axis=1)].astype(np.float32)  # frd-score's v1 compat
        if len(kept) < 2:
            raise MetricUndefined(f"FRD needs at least 2 images with features per set; the {name} set has "
                                  f"{len(kept)} of {len(features)}")
        sets.append(kept)
    normalised = [_z_score(features, sets[0]) for features in sets]
    finite = np.logical_and.reduce([np.isfinite(n).all(axis=0) for n in normalised])
    if not finite.any():
        raise MetricUndefined("FRD: no feature varies in the reference set")
    normalised = [n[:, finite] for n in normalised]
    squared = _squared_frechet_distance(*normalised)
    return float(np.log(squared)) if squared > 0 else float("-inf")


def _z_score(features: np.ndarray, base: np.ndarray) -> np.ndarray:
    """frd-score's `z_score_normalize(features, 0.0, 1.0, replace_nan=False, handle_std_zero=False,
    base_distribution=base)`, vectorised.

    DECISION: hand-written because the library loops over the 398 columns in Python with a logging
    call each (3 ms a call), and the bootstrap calls it thousands of times; the same float32
    arithmetic, checked against the library in tests/compare/test_frd.py.
    """
    mean, std = np.nanmean(base, axis=0), np.nanstd(base, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = ((features - mean) / std) * (1.0 - 0.0) + 0.0
    return np.where(np.isnan(mean) | np.isnan(std), features, scaled).astype(features.dtype)


def _squared_frechet_distance(x1: np.ndarray, x2: np.ndarray) -> float:
    """|mu1 - mu2|² + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)) of the rows of x1 and x2 (np.cov's S).

    DECISION: frd-score takes Tr(sqrtm(S1 S2)) with scipy's sqrtm of a d × d product (1-5 s for
    d = 398 on two cores: too slow to bootstrap). With S = AᵀA (A the centred rows / sqrt(n - 1)),
    the eigenvalues of S1 S2 are the squared singular values of A1 A2ᵀ, so the trace is the sum of
    the singular values of R1 R2ᵀ (R from QR of A): the same number, at most min(n, d)² work, no
    1e-6 diagonal offset needed. It agrees with frd-score's command line to ~1e-8 in FRD (tested).
    """
    # The mean term as frd-score has it: float32 features give float32 means and a float32 dot.
    diff = np.mean(x1, axis=0) - np.mean(x2, axis=0)
    a1, a2 = ((x - x.mean(axis=0)) / np.sqrt(len(x) - 1) for x in (x1.astype(np.float64), x2.astype(np.float64)))
    r1, r2 = np.linalg.qr(a1, mode="r"), np.linalg.qr(a2, mode="r")
    trace_sqrt = np.linalg.svd(r1 @ r2.T, compute_uv=False).sum()
    return float(diff.dot(diff)) + float((a1 * a1).sum() + (a2 * a2).sum() - 2 * trace_sqrt)


# --- glue -------------------------------------------------------------------------------------

def _import_error() -> str | None:
    for module in _LIBRARY_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as error:  # an absent package, or pyradiomics' C extension failing to load
            return f"{type(error).__name__}: {error}"
    return None


def _library():
    return importlib.import_module("frd_score.frd")


def features_and_warnings(images: np.ndarray, regions: np.ndarray | None) -> tuple[np.ndarray, list[tuple[type, str]]]:
    """radiomic_features and the warnings it said: one task of compare.radiomics.set_features, in a
    worker process or the caller's. DECISION: here, not in compare.radiomics: a spawned worker
    imports the module of its task, and this one needs neither torch nor xarray (4 s less a worker)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = radiomic_features(images, regions, progress=False)
    # what concerns the library's code (its imports' deprecations) is not the caller's to see
    code = (DeprecationWarning, PendingDeprecationWarning, ImportWarning)
    return rows, [(w.category, str(w.message)) for w in caught if not issubclass(w.category, code)]


@functools.cache
def _extractor():
    """frd-score's v1 extractor for 2-D images, with pyradiomics' logging quietened as its CLI does."""
    library = _library()
    library._ensure_radiomics()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    library.setVerbosity(60)
    return library.get_feature_extractor(frd_version=FRD_VERSION, image_dim=2)


@functools.cache
def _feature_names() -> tuple[str, ...]:
    """Read off one extraction of a fixed textured 64 px probe image (the names never depend on it)."""
    y, x = np.mgrid[:64, :64]
    probe = ((x * 7 + y * 13) % 256).astype(np.uint8)
    with tempfile.TemporaryDirectory(prefix="frd-") as folder:
        path = Path(folder) / "probe.png"
        Image.fromarray(probe).save(path)
        return tuple(_extract(_library(), _extractor(), path, None)[1])


def _extract(library, extractor, image_path: Path, mask_path: Path | None):
    """frd-score's (values, named values, count), or None for a region too small (see radiomic_features)."""
    try:
        return library.process_image_mask_pair((image_path, mask_path), feature_extractor=extractor,
                                               frd_version=FRD_VERSION)
    except ValueError as error:
        # Only pyradiomics' ROI check means "too small"; any other error is not ours to hide.
        if traceback.extract_tb(error.__traceback__)[-1].name == "checkMask":
            return None
        raise


@contextlib.contextmanager
def _quiet_skips():
    """Drop frd-score's root-logger lines about regions it cannot analyse (one warning counts them)."""
    def not_from_frd_score(record: logging.LogRecord) -> bool:
        return not record.pathname.replace("\\", "/").endswith("frd_score/frd.py")
    logging.getLogger().addFilter(not_from_frd_score)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(not_from_frd_score)


def _checked_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or len(images) == 0 or min(images.shape[1:]) < 4:
        raise UsageError(f"FRD: images of dtype {images.dtype} and shape {images.shape}; allowed: uint8 "
                         f"(n, y, x) with n ≥ 1 and y, x ≥ 4")
    return images


def _checked_regions(regions, shape: tuple[int, ...]) -> np.ndarray | None:
    if regions is None:
        return None
    regions = np.asarray(regions)
    if regions.dtype != bool or regions.shape != shape:
        raise UsageError(f"FRD: regions of dtype {regions.dtype} and shape {regions.shape}; allowed: bool "
                         f"of the images' shape {shape}")
    return regions
