"""Pixel operations for importing images: pixel values to 0..255, grayscale, colour-overlay
fraction, fitting to a size.

Images are resampled with scipy.ndimage (linear, with a Gaussian anti-alias prefilter when
shrinking) and label maps with nearest neighbour, so labels stay class indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ussim.errors import UsageError

FIT_MODES = ("letterbox", "resize")
GRAY_MODES = ("luma", "mean")
# PAPER/standard: ITU-R BT.601 luma weights, what PIL's convert("L") and most scanners' DICOM
# grayscale exports use.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])
# DECISION: a pixel counts as coloured (a Doppler or annotation overlay) when its chroma,
# max(R,G,B) - min(R,G,B), exceeds 30 of 255: JPEG chroma noise on gray B-mode stays well
# below that, colour-flow overlays are far above it.
CHROMA_MIN = 30
# The rule `ussim import --help` states, applied to every image before anything else.
PIXEL_RULE = ("uint8 pixels are kept; uint16 and int16 are scaled by their type's range to 0..255 "
              "(round(v/257), round((v+32768)/257)); other integers must lie in 0..255; float pixels must "
              "lie in 0..1 and become round(255*v); NaN or infinite pixels are refused")


def to_uint8(pixels: np.ndarray, where: str) -> np.ndarray:
    """The image's values as uint8 0..255 by PIXEL_RULE, or a UsageError naming `where` (the file or
    sample) and the values found.

    DECISION: int16 is scaled by its full range like uint16 ((v + 32768) / 257): a signed type's
    range is all that the file says about its scale, and the same rule for both 16-bit types keeps
    a volume exported either way at the same gray levels.
    """
    pixels = np.asarray(pixels)
    if pixels.dtype == np.uint8:
        return pixels
    if np.issubdtype(pixels.dtype, np.floating):
        finite = np.isfinite(pixels)
        if not finite.all():
            y, x = np.argwhere(~finite)[0][:2]
            raise UsageError(f"{where}: {int((~finite).sum())} NaN or infinite pixel value(s), the first at "
                             f"(y={y}, x={x}); allowed: finite values, float images in 0..1")
        low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
        if low < 0 or high > 1:
            raise UsageError(f"{where}: float pixel values span {low:g}..{high:g}; allowed: 0..1 (scaled to "
                             f"0..255 by round(255*v)), or save the images as uint8 or uint16")
        return np.rint(pixels.astype(np.float64) * 255).astype(np.uint8)
    if pixels.dtype in (np.uint16, np.int16):
        offset = -int(np.iinfo(pixels.dtype).min)
        return np.rint((pixels.astype(np.float64) + offset) / 257).astype(np.uint8)
    if np.issubdtype(pixels.dtype, np.integer):
        low, high = (int(pixels.min()), int(pixels.max())) if pixels.size else (0, 0)
        if low < 0 or high > 255:
            raise UsageError(f"{where}: {pixels.dtype} pixel values span {low}..{high}; allowed: 0..255 for "
                             f"{pixels.dtype} (uint16 and int16 are scaled by their range, float in 0..1)")
        return pixels.astype(np.uint8)
    raise UsageError(f"{where}: pixels of type {pixels.dtype} cannot be imported (allowed: unsigned or signed "
                     f"integers, or float in 0..1)")


def to_gray(pixels: np.ndarray, mode: str = "luma") -> np.ndarray:
    """uint8 grayscale from a gray (H,W), gray+alpha (H,W,2), RGB or RGBA (H,W,3|4) array."""
    if mode not in GRAY_MODES:
        raise UsageError(f"unknown grayscale mode '{mode}' (allowed: {', '.join(GRAY_MODES)})")
    if pixels.ndim == 2:
        return pixels.astype(np.uint8, copy=False)
    if pixels.ndim != 3 or pixels.shape[2] not in (2, 3, 4):
        raise UsageError(f"cannot make a grayscale image from an array of shape {pixels.shape}")
    if pixels.shape[2] == 2:
        return pixels[..., 0].astype(np.uint8, copy=False)
    rgb = pixels[..., :3].astype(np.float64)
    gray = rgb @ LUMA_WEIGHTS if mode == "luma" else rgb.mean(axis=2)
    return np.clip(np.rint(gray), 0, 255).astype(np.uint8)


def color_fraction(pixels: np.ndarray) -> float:
    """Fraction of pixels whose chroma exceeds CHROMA_MIN; 0 for grayscale arrays."""
    if pixels.ndim == 2 or pixels.shape[2] < 3:
        return 0.0
    rgb = pixels[..., :3].astype(np.int16)
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    return float(np.mean(chroma > CHROMA_MIN))


@dataclass(frozen=True)
class Placement:
    """Where the source image lies in the fitted one: an inner (height, width) window at
    (offset_y, offset_x) holds the resampled source; the rest is padding."""
    height: int
    width: int
    offset_y: int
    offset_x: int


def parse_size(text: str) -> tuple[int, int]:
    """'256' -> (256, 256); '256x320' -> (256, 320) as (height, width)."""
    parts = text.lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 8 or max(size) > 8192:
        raise UsageError(f"bad size '{text}': give N or HxW with 8 <= N <= 8192, e.g. 256 or 256x320")
    return size


def placement(shape: tuple[int, int], size: tuple[int, int], mode: str) -> Placement:
    """How an image of `shape` is scaled and placed into `size` by letterbox or resize."""
    if mode not in FIT_MODES:
        raise UsageError(f"unknown fit mode '{mode}' (allowed: {', '.join(FIT_MODES)})")
    (h, w), (out_h, out_w) = shape, size
    if mode == "resize":
        return Placement(out_h, out_w, 0, 0)
    scale = min(out_h / h, out_w / w)
    inner_h = min(out_h, max(1, round(h * scale)))
    inner_w = min(out_w, max(1, round(w * scale)))
    return Placement(inner_h, inner_w, (out_h - inner_h) // 2, (out_w - inner_w) // 2)


def fit(image: np.ndarray, label: np.ndarray, size: tuple[int, int],
        mode: str = "letterbox") -> tuple[np.ndarray, np.ndarray, Placement]:
    """Fit a uint8 image and its label map to `size`; letterbox pads with 0 (first class)."""
    if image.shape != label.shape:
        raise UsageError(f"image {image.shape} and mask {label.shape} differ in size")
    place = placement(image.shape, size, mode)
    inner = (place.height, place.width)
    out_image = np.zeros(size, np.uint8)
    out_label = np.zeros(size, np.uint8)
    window = (slice(place.offset_y, place.offset_y + place.height),
              slice(place.offset_x, place.offset_x + place.width))
    out_image[window] = resample_image(image, inner)
    out_label[window] = resample_label(label, inner)
    return out_image, out_label, place


def resample_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Linear resampling on pixel-area grids; Gaussian prefilter when shrinking against aliasing."""
    if image.shape == tuple(shape):
        return image.astype(np.uint8, copy=False)
    zoom = (shape[0] / image.shape[0], shape[1] / image.shape[1])
    data = image.astype(np.float32)
    # DECISION: sigma = (1/zoom - 1)/2 per axis, the anti-aliasing rule scikit-image's resize
    # uses, so that speckle is not aliased into a coarser false texture when shrinking.
    sigma = [max(0.0, (1 / z - 1) / 2) for z in zoom]
    if any(sigma):
        data = ndimage.gaussian_filter(data, sigma, mode="nearest")
    out = ndimage.zoom(data, zoom, order=1, mode="nearest", grid_mode=True)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def resample_label(label: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resampling, so every output pixel holds one of the input's classes."""
    if label.shape == tuple(shape):
        return label.astype(np.uint8, copy=False)
    zoom = (shape[0] / label.shape[0], shape[1] / label.shape[1])
    return ndimage.zoom(label, zoom, order=0, mode="nearest", grid_mode=True).astype(np.uint8)


def pixel_centres_mm(n: int, pixel_mm: float, offset: int) -> np.ndarray:
    """Positions of `n` pixel centres in mm, origin at the source image's first pixel edge."""
    return (np.arange(n) + 0.5 - offset) * pixel_mm
