"""Images from a trained generator: for every mask of an image-set file, or for one edited mask.

    snapshot = load("runs/00003-pgsgan-ovary_train")
    ds = generate_set(snapshot, "masks.h5")                       # an image set, seconds per image
    image = generate_image(snapshot, edited_label, sketch=sketch)   # label editing (paper Fig. 5)

Masks are brought to the model's resolution (labels by nearest neighbour), the condition is
built as in training (Canny sketches with the run's own settings, of the masks' own images, of
seeded training images with sketch_from="training", or the masks' stored `sketch`: see
ganlab.conditions), and the images are returned at the masks' size unless another is asked for.
A set states what the model saw (`condition`) and how its seconds were measured (`timing`: wall
seconds per image at batch 1 on the device used, after one untimed warm-up image).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ussim.progress import bar as progress_bar

from ganlab import conditions, data, diversity, registry, runs
from ganlab.growing import resize
from ganlab.sketch import condition_channels, to_uint8
from ussim import imageset
from ussim.errors import UsageError


@dataclass
class Snapshot:
    spec: registry.ModelSpec
    config: dict
    class_names: list[str]
    generator: torch.nn.Module
    schedule: dict
    path: Path
    sha256: str
    epoch: int
    device: torch.device
    sampling: dict | None = None   # a diffusion model's sampler, steps and guidance in force (else None)

    @property
    def resolution(self) -> int:
        return self.config["resolution"]


def load(run_or_file, device: torch.device | str = "cpu", *, sampler: str | None = None, steps: int | None = None,
         guidance: float | None = None) -> Snapshot:
    """The light snapshot of a run folder (or a snapshot file), ready for inference.

    A diffusion model (segdiff) samples with `sampler`, `steps` and `guidance`, each the run's
    default when None; a GAN refuses them in one line.
    """
    path = Path(run_or_file)
    if not path.is_file():
        path = runs.find_run(run_or_file) / runs.SNAPSHOT
    saved = runs.load(path, runs.SNAPSHOT_FORMAT)
    spec, config = registry.get(saved["model"]), saved["config"]
    given = {"sampler": sampler, "steps": steps, "guidance": guidance}
    if spec.sampling_options is None and any(v is not None for v in given.values()):
        named = ", ".join(f"--{k} {v}" for k, v in given.items() if v is not None)
        raise UsageError(f"{named}: {spec.name} is a GAN (one forward pass per image); sampler, steps and guidance "
                         "apply to diffusion models (segdiff) only")
    sampling = None if spec.sampling_options is None else spec.sampling_options(config, **given)
    channels = condition_channels(len(saved["class_names"]), spec.uses_sketch)
    try:
        generator = spec.build(config, channels).generator
        generator.load_state_dict(saved["generator"])
    except (KeyError, RuntimeError) as error:
        # e.g. a SpeckleGAN snapshot from before issue 18 (SPADE width, channel attention changed)
        raise UsageError(f"{path}: this {saved['model']} snapshot does not fit the current network "
                         f"({type(error).__name__}: {str(error).splitlines()[0][:120]}); retrain it") from None
    device = torch.device(device)
    generator.to(device).eval()
    return Snapshot(spec, config, list(saved["class_names"]), generator, dict(saved["schedule"]), path,
                    data.file_sha256(path), int(saved["epoch"]), device, sampling)


@torch.inference_mode()
def _run(snapshot: Snapshot, label: torch.Tensor, sketch_map: torch.Tensor | None) -> torch.Tensor:
    """Generator output in -1..1 for one label map (and sketch) already at the model's size."""
    condition = snapshot.spec.condition(label[None].to(snapshot.device),
                                        None if sketch_map is None else sketch_map[None].to(snapshot.device),
                                        len(snapshot.class_names))
    return registry.make_images(snapshot.spec, snapshot.generator, resize(condition, snapshot.schedule["g_size"]),
                                snapshot.sampling)


def _sketch_at_size(snapshot: Snapshot, sketch_map, image) -> torch.Tensor | None:
    """The sketch at the model's size: the one given, else Canny of the image, else none."""
    size = snapshot.resolution
    if not snapshot.spec.uses_sketch:
        return None
    if sketch_map is not None:
        return torch.from_numpy(data.resize_labels((np.asarray(sketch_map)[None] > 0).astype(np.uint8), size)[0])
    if image is not None:
        resized = data.resize_images(np.asarray(image, np.uint8)[None], size)
        return torch.from_numpy(data.edge_sketches(resized, data.canny_settings(snapshot.config))[0])
    raise UsageError(f"{snapshot.spec.name} needs a sketch: pass sketch= (or image= to draw it from)")


def generate_image(snapshot: Snapshot, label: np.ndarray, *, sketch: np.ndarray | None = None,
                   image: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """One uint8 image, the size of `label`, from a (possibly hand-edited) label map.

    For sketch models give the sketch to keep (e.g. the original image's, as in the paper's
    label editing) or the image to draw it from; the sketch counts only outside the objects.
    """
    label = np.asarray(label)
    if label.ndim != 2 or label.shape[0] != label.shape[1]:
        raise UsageError(f"label must be a square 2-D map, got shape {label.shape}")
    if label.max(initial=0) >= len(snapshot.class_names):
        raise UsageError(f"label value {int(label.max())} outside the model's classes "
                         f"{snapshot.class_names} (allowed 0..{len(snapshot.class_names) - 1})")
    torch.manual_seed(seed)
    at_size = torch.from_numpy(data.resize_labels(label.astype(np.uint8)[None], snapshot.resolution)[0])
    out = _run(snapshot, at_size, _sketch_at_size(snapshot, sketch, image))
    return data.resize_images(to_uint8(out), label.shape[0])[0]


def warm_up(snapshot: Snapshot, label: torch.Tensor, sketches: conditions.Sketches, out_size: int, seed: int) -> None:
    """One image made and discarded, untimed: the first torch call's one-off set-up (kernel
    selection, allocations, CUDA context) is paid here rather than by the first timed image.

    DECISION: the warm-up is the first mask's whole timed work (seeding, sketch, condition,
    generator, conversion) done once: every code path the timed images take has then run (the
    first torch.manual_seed alone costs ~0.5 ms, a tenth of a small model's image), and nothing
    about the model or its input is changed to make the warm-up cheaper (it costs one image).
    """
    torch.manual_seed(seed)
    _image(snapshot, label, sketches.for_sample(0), out_size)


def _image(snapshot: Snapshot, label: torch.Tensor, sketch_map, out_size: int) -> np.ndarray:
    return data.resize_images(to_uint8(_run(snapshot, label, sketch_map)), out_size)[0]


def generate_set(snapshot: Snapshot, masks_path, *, samples: int | None = None, size: int | None = None,
                 seed: int = 0, progress: bool = True, sketch_from: str = "reference", sketch_set=None):
    """An image set with one generated image per mask of `masks_path`, timed image by image.

    Sketch models take each mask's sketch from the reference (`sketch_from="reference"`: the masks
    file's own image, or its stored sketch) or from a training image chosen with `seed`
    (`"training"`, from `sketch_set` or by default the run's own training set); see ganlab.conditions.
    """
    conditions.check_options(snapshot.spec, sketch_from, sketch_set)
    uses_sketch = snapshot.spec.uses_sketch
    masks = data.load(masks_path, snapshot.resolution, canny=None, samples=samples, progress=progress,
                      prefer_stored_sketch=uses_sketch and sketch_from == "reference")
    if masks.class_names != snapshot.class_names:
        raise UsageError(f"{masks_path}: classes {masks.class_names} differ from the model's {snapshot.class_names}")
    sketches, statement, sketch_source = conditions.plan(snapshot, masks, sketch_from=sketch_from,
                                                         sketch_set=sketch_set, seed=seed)
    with imageset.read(masks_path) as ds:
        original = np.asarray(ds["label"][:len(masks)].values)
        coords = {k: ds[k].values for k in ("y_mm", "x_mm") if k in ds.coords}
    # DECISION: images come out at the masks' own size unless asked otherwise, so a generated
    # set pairs pixel for pixel with the set its masks came from.
    out_size = size or original.shape[-1]
    if sketch_source.get("sketch") == "canny" and sketch_from == "reference":
        masks.source.update(sketch="canny", canny=sketches.canny)
    images, shown, seconds = [], [], []
    warm_up(snapshot, masks.labels[0], sketches, out_size, seed)
    for i in progress_bar(range(len(masks)), desc="generate", unit="img", enabled=progress):
        start = time.perf_counter()
        torch.manual_seed(seed + i)
        sketch_map = sketches.for_sample(i)
        images.append(_image(snapshot, masks.labels[i], sketch_map, out_size))
        seconds.append(time.perf_counter() - start)
        if sketch_map is not None:
            outside = (sketch_map.numpy() > 0) & (masks.labels[i].numpy() == 0)
            shown.append(data.resize_labels(outside.astype(np.uint8)[None], out_size)[0])
    labels = original if out_size == original.shape[-1] else data.resize_labels(original, out_size)
    params = {"generator": "ganlab.generate", "model": snapshot.spec.name, "run": str(snapshot.path.parent.resolve()),
              "snapshot": str(snapshot.path.resolve()), "snapshot_sha256": snapshot.sha256, "epoch": snapshot.epoch,
              "schedule": snapshot.schedule, "config": snapshot.config, "masks": masks.source, "seed": seed,
              "size": out_size, "device": str(snapshot.device), "threads": torch.get_num_threads(),
              **({} if snapshot.sampling is None else {"sampling": snapshot.sampling}),
              "seconds_cover": "sketch drawing, condition, generator, conversion; batch 1; after one untimed "
                               "warm-up image", "sketch_source": sketch_source}
    timing = {"warmup_excluded": True, "device": str(snapshot.device), "batch_size": 1,
              "threads": torch.get_num_threads(), "clock": "wall"}
    extra = coords if out_size == original.shape[-1] else {}
    ds = imageset.make(np.stack(images), labels, class_names=masks.class_names, organ=masks.organ,
                       method=snapshot.spec.name, params=params,
                       seed=np.arange(seed, seed + len(masks), dtype=np.int64),
                       seconds=np.asarray(seconds, np.float32), sketch=np.stack(shown) if shown else None,
                       sample_id=masks.sample_ids, condition=statement, timing=timing, **extra)
    # The set's own collapse statistics (ganlab.diversity), seeded by the generation seed.
    ds.attrs["diversity"] = json.dumps(diversity.diversity(ds["image"].values, seed=seed), sort_keys=True)
    return ds
