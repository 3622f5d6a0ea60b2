"""Image sets as training data and as masks to generate from, at a model's resolution.

Any image-set file trains (real, simulated, or generated); it is read once into memory as
uint8 at the model's final size, with its Canny sketches when the model uses them, and batches
become float tensors only when drawn.

DECISION: images are brought to the model's square size by antialiased bilinear resizing and
labels by nearest neighbour; non-square sets are refused (the importer letterboxes them), so
no anatomy is stretched here. Sketches are drawn at the model's size, from the resized image.
DECISION: no data augmentation (pix2pix jitters by resize-and-crop and flips): a crop moves the
probe's near field and a vertical flip puts shadows above what casts them; the paper names none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from ussim.progress import bar as progress_bar

from ganlab import sketch
from ussim import imageset
from ussim.errors import UsageError


@dataclass
class Masks:
    """Labels, images and (when drawn or stored) sketches at one square size, as uint8 tensors."""
    labels: torch.Tensor
    images: torch.Tensor
    sketches: torch.Tensor | None
    class_names: list[str]
    sample_ids: list[str]
    organ: str
    source: dict

    def __len__(self) -> int:
        return self.labels.shape[0]


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Gray uint8 (n, y, x) to (n, size, size): antialiased bilinear, rounded to nearest."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    x = torch.from_numpy(np.ascontiguousarray(images)).float().unsqueeze(1)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def resize_labels(labels: np.ndarray, size: int) -> np.ndarray:
    """Class maps (n, y, x) to (n, size, size) by nearest neighbour: no class is invented at edges."""
    if labels.shape[-1] == size and labels.shape[-2] == size:
        return labels
    x = torch.from_numpy(np.ascontiguousarray(labels)).unsqueeze(1)
    return F.interpolate(x, size=(size, size), mode="nearest-exact")[:, 0].numpy()


file_sha256 = imageset.file_sha256


def load(path, size: int, *, canny: dict | None, prefer_stored_sketch: bool = False,
         samples: int | None = None, progress: bool = True) -> Masks:
    """Read an image set at `size` x `size`; draw Canny sketches when `canny` settings are given.

    Training sets draw their sketches from their images with the run's settings; mask files
    for generation may bring their own (edited) sketch instead (`prefer_stored_sketch`).
    """
    path = Path(path)
    with imageset.read(path) as ds:
        if ds.sizes["y"] != ds.sizes["x"]:
            raise UsageError(f"{path}: images are {ds.sizes['y']} x {ds.sizes['x']} px; ganlab needs square "
                             "images (import with --size N to letterbox them)")
        count = ds.sizes["sample"] if samples is None else min(samples, ds.sizes["sample"])
        part = ds.isel(sample=slice(0, count))
        labels = np.asarray(part["label"].values)
        images = np.asarray(part["image"].values)
        stored = np.asarray(part["sketch"].values) if prefer_stored_sketch and "sketch" in part else None
        source = {"path": str(path.resolve()), "sha256": file_sha256(path), "samples": int(count),
                  "method": ds.attrs["method"], "size": int(ds.sizes["y"])}
        names, ids, organ = imageset.class_names_of(ds), [str(s) for s in part["sample_id"].values], ds.attrs["organ"]
    labels = resize_labels(labels, size)
    images = resize_images(images, size)
    sketches = None
    if stored is not None:
        sketches = resize_labels((stored > 0).astype(np.uint8), size)
        source["sketch"] = "stored"
    elif canny is not None:
        with progress_bar(total=len(labels), desc="sketches", unit="img", enabled=progress) as bar:
            sketches = edge_sketches(images, canny, bar)
        source["sketch"] = "canny"
    return Masks(torch.from_numpy(labels), torch.from_numpy(images),
                 None if sketches is None else torch.from_numpy(sketches), names, ids, organ, source)


def canny_settings(config: dict) -> dict:
    return {"sigma": config["canny_sigma"], "low": config["canny_low"], "high": config["canny_high"]}


def edge_sketches(images: np.ndarray, canny: dict, progress=None) -> np.ndarray:
    return sketch.edge_sketches(images, progress=progress, **canny)


def batch(masks: Masks, index: torch.Tensor, condition, device) -> dict:
    """Float tensors for the samples at `index`: the model's condition and the real image."""
    labels = masks.labels[index].to(device)
    sketches = None if masks.sketches is None else masks.sketches[index].to(device)
    return {"condition": condition(labels, sketches, len(masks.class_names)),
            "image": sketch.to_unit(masks.images[index].to(device))}
