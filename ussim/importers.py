"""Importers: real (or any) images with masks into an image set.

Two layouts are read: `.npz` archives like those in ../shared/data/real (images, masks,
class_names, optional split/ids/image_class/chroma_frac/pixel_mm/orig_hw), and the original layout
of public datasets, a folder of images beside a folder of masks matched by file name. Both go
through the same steps: select (split, image class, colour overlay, the source's aspect ratio),
grayscale, fit to a size.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from ussim.progress import bar as progress_bar

from ussim import imageset, raster
from ussim.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Progress (ussim.progress): a bar in a terminal, a line at least every 30 s in a log;
# progress=False hides it.


def real_data_dir() -> Path | None:
    """The folder of real archives: $USSIM_REAL_DATA, else ../shared/data/real beside the repo."""
    configured = os.environ.get("USSIM_REAL_DATA")
    folder = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/data/real"
    return folder if folder.is_dir() else None


class _Selection:
    """The steps common to both importers, and the record of what they did."""

    def __init__(self, size, fit, gray, max_color_fraction, source_aspect=None):
        self.size = raster.parse_size(size) if isinstance(size, str) else size
        if fit not in raster.FIT_MODES:
            raise UsageError(f"unknown fit mode '{fit}' (allowed: {', '.join(raster.FIT_MODES)})")
        if gray not in raster.GRAY_MODES:
            raise UsageError(f"unknown grayscale mode '{gray}' (allowed: {', '.join(raster.GRAY_MODES)})")
        if max_color_fraction is not None and not 0 <= max_color_fraction <= 1:
            raise UsageError(f"--max-color-fraction {max_color_fraction} is outside 0..1")
        if source_aspect is not None:
            low, high = source_aspect
            if not 0 < low <= high:
                raise UsageError(f"--source-aspect {low:g}:{high:g} is not a range of width/height ratios "
                                 f"(allowed: 0 < MIN <= MAX)")
        self.fit, self.gray, self.max_color_fraction = fit, gray, max_color_fraction
        self.source_aspect = source_aspect
        self.images, self.labels, self.ids, self.excluded_color, self.excluded_aspect = [], [], [], [], []
        self.grids = set()  # (source shape, placement) pairs seen: one means a common mm grid

    def add(self, sample_id, pixels, label, color_frac=None, source_shape=None, *, where: str):
        """Keep one image (any numeric type, see raster.PIXEL_RULE) with its label; `where` names it in
        errors. `source_shape`: (height, width) of the original image where an archive resized it
        (default: the image's own)."""
        pixels = raster.to_uint8(pixels, where)
        if self.source_aspect is not None:
            height, width = source_shape if source_shape is not None else pixels.shape[:2]
            if not self.source_aspect[0] <= width / height <= self.source_aspect[1]:
                self.excluded_aspect.append(sample_id)
                return
        if self.max_color_fraction is not None:
            if color_frac is None:
                color_frac = raster.color_fraction(pixels)
            if color_frac > self.max_color_fraction:
                self.excluded_color.append(sample_id)
                return
        image = raster.to_gray(pixels, self.gray)
        if image.shape != label.shape:
            raise UsageError(f"'{sample_id}': image {image.shape} and mask {label.shape} differ in size")
        source_shape = image.shape
        if self.size is not None:
            image, label, place = raster.fit(image, label, self.size, self.fit)
        else:
            if self.images and image.shape != self.images[0].shape:
                raise UsageError(f"images differ in size ({self.images[0].shape} and {image.shape} "
                                 f"for '{sample_id}'): pass --size to fit them to one size")
            place = raster.Placement(image.shape[0], image.shape[1], 0, 0)
        self.grids.add((source_shape, place))
        self.images.append(image)
        self.labels.append(label.astype(np.uint8, copy=False))
        self.ids.append(str(sample_id))

    def build(self, *, class_names, organ, method, params, source_pixel_mm=None):
        if not self.images:
            why = ", ".join(f"{len(ids)} excluded {reason}" for ids, reason in (
                (self.excluded_color, "as colour overlays"), (self.excluded_aspect, "by their source's aspect ratio"))
                if ids)
            raise UsageError(f"no images left to import after selection{f' ({why})' if why else ''}")
        coords = {}
        # Physical positions are known only when every source had the same size and placement.
        if source_pixel_mm is not None and len(self.grids) == 1:
            ((h, w), place), = self.grids
            ny, nx = self.images[0].shape
            coords = {"y_mm": raster.pixel_centres_mm(ny, source_pixel_mm * h / place.height, place.offset_y),
                      "x_mm": raster.pixel_centres_mm(nx, source_pixel_mm * w / place.width, place.offset_x)}
        params = {**params, "size": self.size, "fit": self.fit, "gray": self.gray,
                  "max_color_fraction": self.max_color_fraction, "excluded_color": self.excluded_color,
                  "source_aspect": self.source_aspect, "excluded_aspect": self.excluded_aspect,
                  "source_pixel_mm": source_pixel_mm}
        return imageset.make(np.stack(self.images), np.stack(self.labels), class_names=class_names,
                             organ=organ, method=method, params=params, sample_id=self.ids, **coords)


def _check_labels(label: np.ndarray, class_names, where: str) -> None:
    top = int(label.max()) if label.size else 0
    if top >= len(class_names):
        raise UsageError(f"{where}: label value {top} is outside class_names "
                         f"({len(class_names)} names, allowed 0..{len(class_names) - 1})")


def _remap_classes(labels, class_names, rename, drop_unused):
    """Apply --rename old=new and, if asked, drop classes no kept mask uses (renumbering)."""
    names = [rename.get(n, n) for n in class_names]
    unknown = sorted(set(rename) - set(class_names))
    if unknown:
        raise UsageError(f"--rename names unknown class(es) {', '.join(unknown)} "
                         f"(classes: {', '.join(class_names)})")
    if not drop_unused:
        return labels, names
    used = np.zeros(len(names), bool)
    for label in labels:
        used[np.unique(label)] = True
    used[0] = True  # DECISION: class 0 (background / outside) is always kept as the padding class
    lookup = np.cumsum(used).astype(np.uint8) - 1
    return [lookup[label] for label in labels], [n for n, keep in zip(names, used, strict=True) if keep]


def import_npz(path, *, organ="unknown", method=None, split=None, image_class=None,
               rename=None, drop_unused_classes=False, size=None, fit="letterbox", gray="luma",
               max_color_fraction=None, source_aspect=None, progress=True):
    """Import an archive with `images` (N,H,W[,C]) uint8, `masks` (N,H,W) and `class_names`.

    Optional keys: `ids`, `split` (for `split=`), `image_class` (for `image_class=`, else the
    mask is searched for the class), `chroma_frac` (for `max_color_fraction=`), `pixel_mm`,
    `orig_hw` (N,2: each image's height and width before the archive resized it, for
    `source_aspect=(min, max)`, the range of width/height ratios kept).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such archive")
    try:
        archive = np.load(path, allow_pickle=False)
        keys = set(archive.files)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise UsageError(f"{path}: not a readable .npz archive ({error})") from None
    missing = {"images", "masks", "class_names"} - keys
    if missing:
        raise UsageError(f"{path}: archive lacks {', '.join(sorted(missing))} "
                         f"(it has {', '.join(sorted(keys)) or 'nothing'})")
    try:
        images, masks = archive["images"], archive["masks"]
        class_names = [str(c) for c in archive["class_names"]]
        optional = {k: archive[k] for k in ("ids", "split", "image_class", "chroma_frac", "pixel_mm", "orig_hw")
                    if k in keys}
    except ValueError as error:  # object arrays need pickle, which we never allow
        raise UsageError(f"{path}: unreadable array ({error})") from None
    if images.ndim not in (3, 4) or masks.ndim != 3 or images.shape[:3] != masks.shape:
        raise UsageError(f"{path}: wrong shapes: images {images.shape} and masks {masks.shape} "
                         f"(need images (N,H,W) or (N,H,W,C) and masks (N,H,W))")
    if not np.issubdtype(masks.dtype, np.integer) or masks.min() < 0:
        raise UsageError(f"{path}: masks must hold non-negative integer class indices, got {masks.dtype}")
    n = len(images)
    ids = optional.get("ids", np.array([f"{i:06d}" for i in range(n)])).astype(str)
    keep = np.ones(n, bool)
    if split is not None:
        if "split" not in optional:
            raise UsageError(f"{path}: archive has no 'split' key, so --split cannot be applied")
        splits = optional["split"].astype(str)
        wanted = split if isinstance(split, (list, tuple)) else [split]
        unknown = sorted(set(wanted) - set(splits))
        if unknown:
            raise UsageError(f"unknown split(s) {', '.join(unknown)} (archive has: {', '.join(sorted(set(splits)))})")
        keep &= np.isin(splits, wanted)
    if image_class is not None:
        wanted = image_class if isinstance(image_class, (list, tuple)) else [image_class]
        unknown = sorted(set(wanted) - set(class_names))
        if unknown:
            raise UsageError(f"unknown image class(es) {', '.join(unknown)} (classes: {', '.join(class_names)})")
        indices = [class_names.index(c) for c in wanted]
        if "image_class" in optional:
            keep &= np.isin(optional["image_class"], indices)
        else:
            keep &= np.array([np.isin(indices, np.unique(m)).any() for m in masks])
    if max_color_fraction is not None and "chroma_frac" not in optional and images.ndim == 3:
        raise UsageError(f"{path}: grayscale archive without 'chroma_frac', so --max-color-fraction cannot be applied")
    # An archive's images are already resized: the source's shape is only known from `orig_hw`.
    if source_aspect is not None and "orig_hw" not in optional:
        raise UsageError(f"{path}: archive without 'orig_hw', so --source-aspect cannot be applied")
    source_shapes = optional.get("orig_hw")
    if source_shapes is not None and (source_shapes.shape != (n, 2) or not (source_shapes > 0).all()):
        raise UsageError(f"{path}: 'orig_hw' must hold a positive height and width per image ({n} x 2), "
                         f"got shape {source_shapes.shape} with values {source_shapes.min()}..{source_shapes.max()}")
    selection = _Selection(size, fit, gray, max_color_fraction, source_aspect)
    chroma = optional.get("chroma_frac")
    for i in progress_bar(np.flatnonzero(keep), desc=f"import {path.name}", unit="img", enabled=progress):
        _check_labels(masks[i], class_names, f"{path}: mask of sample '{ids[i]}'")
        selection.add(ids[i], images[i], masks[i], None if chroma is None else float(chroma[i]),
                      None if source_shapes is None else source_shapes[i], where=f"{path}: image of sample '{ids[i]}'")
    selection.labels, class_names = _remap_classes(selection.labels, class_names, rename or {}, drop_unused_classes)
    params = {"importer": "npz", "source": path.name, "source_sha256": imageset.file_sha256(path), "split": split,
              "image_class": image_class, "rename": rename, "drop_unused_classes": drop_unused_classes}
    pixel_mm = float(optional["pixel_mm"]) if "pixel_mm" in optional else None
    return selection.build(class_names=class_names, organ=organ, method=method or f"real:{path.stem}",
                           params=params, source_pixel_mm=pixel_mm)


def parse_palette(text: str) -> list[tuple[tuple[int, int, int], str]]:
    """'0,0,0=background;255,0,0=follicle' -> [((0,0,0),'background'), ((255,0,0),'follicle')]."""
    palette = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        colour, sep, name = entry.partition("=")
        try:
            rgb = tuple(int(v) for v in colour.split(","))
        except ValueError:
            rgb = ()
        if not sep or not name.strip() or len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
            raise UsageError(f"bad palette entry '{entry}': write r,g,b=class_name with 0..255 values, "
                             f"entries separated by ';'")
        palette.append((rgb, name.strip()))
    colours = [c for c, _ in palette]
    if not palette or len(set(colours)) != len(colours) or len({n for _, n in palette}) != len(palette):
        raise UsageError(f"bad palette '{text}': give at least one entry, each colour and name once")
    return palette


def _list_images(folder: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise UsageError(f"{what} folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"{what} folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    by_stem = {}
    for file in files:
        if file.stem in by_stem:
            raise UsageError(f"{what} folder has two files named {file.stem}: "
                             f"{by_stem[file.stem].name} and {file.name}")
        by_stem[file.stem] = file
    return by_stem


def _load_pixels(path: Path, what: str) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode == "P":
                return np.asarray(img) if what == "mask-index" else np.asarray(img.convert("RGBA"))
            if (img.mode.startswith("I;16") or img.mode == "I") and what == "mask-index":
                return np.asarray(img, dtype=np.int64)  # 16-bit class indices, checked below
            if img.mode.startswith("I;16"):  # 16-bit grayscale (PNG, TIFF), in the file's byte order
                return np.asarray(img).astype(np.int16 if img.mode == "I;16S" else np.uint16)
            if img.mode == "I":  # 32-bit integers, or a signed 16-bit TIFF that PIL widened
                pixels = np.asarray(img)
                return pixels.astype(np.int16) if _is_int16_tiff(img) else pixels
            if img.mode == "F":  # 32-bit float (TIFF): checked and scaled by raster.to_uint8
                return np.asarray(img)
            if img.mode not in ("L", "LA", "RGB", "RGBA"):
                img = img.convert("RGB")
            return np.asarray(img)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise UsageError(f"cannot read {what.split('-')[0]} {path}: {error}") from None


def _is_int16_tiff(img) -> bool:
    """A TIFF of signed 16-bit samples (BitsPerSample 16, SampleFormat 2), which PIL opens as mode I."""
    tags = getattr(img, "tag_v2", None)
    if tags is None:
        return False
    bits, sample_format = (tuple(np.atleast_1d(tags.get(tag, ()))) for tag in (258, 339))
    return set(bits) == {16} and set(sample_format) == {2}


def _mask_to_label(pixels, path, palette, tolerance):
    if palette is None and not np.issubdtype(pixels.dtype, np.integer):
        raise UsageError(f"mask {path} holds {pixels.dtype} values; index masks hold integer class indices "
                         f"(colour-coded masks take --palette)")
    if palette is None:
        if pixels.ndim == 3:
            if not (np.all(pixels[..., :3] == pixels[..., :1])):
                raise UsageError(f"mask {path} is colour-coded: pass --palette 'r,g,b=name;...'")
            pixels = pixels[..., 0]
        return pixels
    pixels = raster.to_uint8(pixels, f"mask {path}")  # colours compare on 0..255, whatever the bit depth
    rgb = np.broadcast_to(pixels[..., None], pixels.shape + (3,)) if pixels.ndim == 2 else pixels[..., :3]
    label = np.full(rgb.shape[:2], 255, np.uint8)
    for index, (colour, _) in enumerate(palette):
        match = np.all(np.abs(rgb.astype(np.int16) - colour) <= tolerance, axis=2)
        label[match & (label == 255)] = index
    unmatched = np.argwhere(label == 255)
    if unmatched.size:
        y, x = unmatched[0]
        raise UsageError(f"mask {path}: colour {tuple(int(v) for v in rgb[y, x])} at (y={y}, x={x}) is not in "
                         f"--palette ({len(unmatched)} such pixels; raise --palette-tolerance for JPEG masks)")
    return label


def import_folder(images_dir, masks_dir, *, class_names=None, palette=None, palette_tolerance=0,
                  mask_suffix="", organ="unknown", method=None, pixel_mm=None, size=None,
                  fit="letterbox", gray="luma", max_color_fraction=None, source_aspect=None, progress=True):
    """Import a folder of images and a folder of masks matched by file name.

    A mask `<stem><mask_suffix>.<ext>` belongs to the image `<stem>.<ext'>`. Masks are
    class-index images (then `class_names` names the indices; default class_0, class_1, ...)
    or colour-coded with `palette` (text 'r,g,b=name;...' or a parsed list). `source_aspect=(min,
    max)` keeps the images whose width/height lies in that range.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    if isinstance(palette, str):
        palette = parse_palette(palette)
    if palette is not None and class_names is not None:
        raise UsageError("give either --classes (index masks) or --palette (colour masks), not both")
    if pixel_mm is not None and not pixel_mm > 0:
        raise UsageError(f"--pixel-mm {pixel_mm} must be positive")
    images = _list_images(images_dir, "image")
    masks = {}
    for stem, file in _list_images(masks_dir, "mask").items():
        if stem.endswith(mask_suffix):
            masks[stem[:len(stem) - len(mask_suffix)] if mask_suffix else stem] = file
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise UsageError(f"{len(orphans)} mask(s) without a matching image in {images_dir}, e.g. "
                         f"{masks[orphans[0]].name} (matching is by file name; see --mask-suffix)")
    unmasked = sorted(set(images) - set(masks))
    if unmasked:
        raise UsageError(f"{len(unmasked)} image(s) without a mask in {masks_dir}, e.g. {images[unmasked[0]].name}")
    if palette is not None:
        names = [name for _, name in palette]
    selection = _Selection(size, fit, gray, max_color_fraction, source_aspect)
    for stem in progress_bar(sorted(images), desc=f"import {images_dir.name}", unit="img", enabled=progress):
        pixels = _load_pixels(images[stem], "image")
        mask = _mask_to_label(_load_pixels(masks[stem], "mask-index" if palette is None else "mask"),
                              masks[stem], palette, palette_tolerance)
        if palette is None and class_names is not None:
            _check_labels(mask, class_names, f"mask {masks[stem]}")
        if int(mask.max()) > 255:
            raise UsageError(f"mask {masks[stem]}: class index {int(mask.max())} does not fit uint8 (0..255)")
        selection.add(stem, pixels, mask, where=f"image {images[stem]}")
    if palette is None and class_names is not None:
        names = list(class_names)
    elif palette is None:  # DECISION: unnamed index masks get class_0..class_K, K the largest index seen
        names = [f"class_{i}" for i in range(max((int(label.max()) for label in selection.labels), default=0) + 1)]
    params = {"importer": "folder", "images": images_dir.name, "masks": masks_dir.name,
              "mask_suffix": mask_suffix, "palette": [[list(c), n] for c, n in palette] if palette else None,
              "palette_tolerance": palette_tolerance}
    default_method = f"real:{images_dir.resolve().parent.name}/{images_dir.name}"
    return selection.build(class_names=names, organ=organ, method=method or default_method,
                           params=params, source_pixel_mm=pixel_mm)

