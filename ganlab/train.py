"""The one training loop of every registered model (flat, NVlabs/edm style).

Reads top to bottom: settings, devices and processes, data, run folder, networks and
optimisers (or the saved state of a run to resume), then epochs of iterations, each epoch
ending in a line of statistics and, every `snap_epochs` epochs and at the end, a sample grid, a
light snapshot and the full training state.
The model entry (ganlab.registry) supplies the networks, the condition, the schedule and the
step; everything else here is shared. Under torchrun each process trains on its share of each
batch with DistributedDataParallel (gloo on CPU, nccl on GPU); only rank 0 writes files.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from ussim.progress import bar as progress_bar

from ganlab import __version__, data, diversity, presets, registry, runs, sketch
from ganlab.growing import resize
from ganlab.pix2pix import unwrap
from ussim.errors import UsageError

# The seed of every sample grid's random draws (train.grid).
GRID_SEED = 0
# DECISION: a resumed run continues in its own folder with its own config.json; only settings
# that alter how it runs, not what it computes, may change (and epochs, to train longer).
RESUME_MAY_CHANGE = ("device", "threads", "max_iters", "epochs", "snap_epochs")


def pick_device(choice: str, local_rank: int = 0) -> torch.device:
    if choice not in ("auto", "cpu", "cuda"):
        raise UsageError(f"device '{choice}' not allowed: auto, cpu or cuda")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda requested, but torch sees no CUDA GPU; use --device cpu or auto")
    if choice == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def start_processes(device_choice: str):
    """(rank, world size, device); joins the torchrun process group when there is one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_choice, local)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def settings(model, data_path, preset, overrides: dict, resume, runs_root) -> tuple[dict, Path | None]:
    """The run description (model, preset, data, config) of a new run, or a resumed run's own."""
    if resume is None:
        if model is None or data_path is None:
            raise UsageError("a new run needs --model and --data (or --resume RUN)")
        spec = registry.get(model)
        config = presets.config_for(model, preset or "paper", overrides)
        spec.check_config(config)
        presets.check_runtime(config)
        return {"model": model, "preset": preset or "paper", "data": str(Path(data_path).resolve()),
                "config": config}, None
    run = runs.find_run(resume, runs_root)
    described = runs.read_config(run)
    if isinstance(described.get("config"), dict):  # a setting added since the run started takes its default
        described["config"].setdefault("snap_epochs", presets.RUNTIME["snap_epochs"])
    given = {"model": model, "preset": preset, "data": None if data_path is None else str(Path(data_path).resolve())}
    for key, value in given.items():
        if value is not None and value != described[key]:
            raise UsageError(f"--{key} {value} differs from the resumed run's {described[key]}; leave it out")
    for key, value in overrides.items():
        if key not in RESUME_MAY_CHANGE:
            raise UsageError(f"setting '{key}' cannot change on resume; allowed: {', '.join(RESUME_MAY_CHANGE)}")
        described["config"][key] = value
    try:
        registry.get(described["model"]).check_config(described["config"])
        presets.check_runtime(described["config"])
    except (KeyError, TypeError) as error:  # a config.json edited or damaged by hand
        raise UsageError(f"{run / runs.CONFIG}: its config is incomplete or malformed ({type(error).__name__}: "
                         f"{error}); the run cannot be resumed") from None
    return described, run


def train(model=None, data_path=None, *, preset: str | None = None, overrides: dict | None = None,
          runs_root="runs", resume=None, progress: bool = True, echo: bool = True,
          on_iteration=None) -> Path:
    """Train `model` on the image-set file `data_path` (or resume run `resume`); returns the run folder.

    `progress` shows each epoch's progress bar, `echo` prints the log's lines (log.txt has them always),
    `on_iteration(total)` is called after every iteration with the run's iteration count (a caller's
    own progress across several trainings).
    """
    described, run = settings(model, data_path, preset, overrides or {}, resume, Path(runs_root))
    spec, config = registry.get(described["model"]), described["config"]
    rank, world, device = start_processes(config["device"])
    if config["threads"]:
        torch.set_num_threads(int(config["threads"]))
    if config["deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # CUDA has no deterministic bilinear-upsampling backward (PGSgan's fades): warn there.
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
        torch.backends.cudnn.benchmark = False
    if config["batch"] % world:
        raise UsageError(f"batch {config['batch']} does not split over {world} processes; use a multiple of {world}")

    # Data: every process holds the whole set and takes its share of each batch.
    size = config["resolution"]
    canny = data.canny_settings(config) if spec.uses_sketch else None
    masks = data.load(described["data"], size, canny=canny, progress=progress and rank == 0)
    per_epoch = len(masks) // config["batch"]
    if per_epoch == 0:
        raise UsageError(f"{described['data']} holds {len(masks)} samples, fewer than one batch of {config['batch']}")
    if run is not None and masks.source["sha256"] != described["data_source"]["sha256"]:
        raise UsageError(f"{described['data']} changed since run {run.name} started (sha256 differs)")
    if run is None and spec.for_organ is not None:
        config = described["config"] = spec.for_organ(config, masks.organ)
        spec.check_config(config)

    # Networks and optimisers (their own checks refuse a bad setting before any folder exists).
    channels = sketch.condition_channels(len(masks.class_names), spec.uses_sketch)
    networks = spec.build(config, channels)
    networks.generator.to(device)
    if networks.discriminator is not None:  # a diffusion model has none (ganlab.registry)
        networks.discriminator.to(device)
    try:
        optimizers = spec.optimizers(networks, config)
    except ValueError as error:  # torch's own check of a rate or beta that the model's checks let through
        raise UsageError(f"a setting is not allowed by the optimiser: {error}") from None

    # Run folder: it appears with its config.json, before any training.
    if run is None:
        described.update(data_source=masks.source, class_names=masks.class_names, world_size=world,
                         command=list(sys.orig_argv), versions=versions(), created_utc=now())
        if rank == 0:
            run = runs.new_run_dir(Path(runs_root), described["model"], Path(described["data"]).stem, described)
        run = broadcast(run, world)
    log = runs.Log(run, echo=echo and rank == 0)

    # Or the saved state of the run.
    epoch, iteration, total, partial = 0, 0, 0, {}
    if resume is not None and (run / runs.STATE).is_file():
        saved = runs.load(run / runs.STATE, runs.STATE_FORMAT)
        networks.generator.load_state_dict(saved["generator"])
        optimizers.generator.load_state_dict(saved["opt_generator"])
        if networks.discriminator is not None:
            networks.discriminator.load_state_dict(saved["discriminator"])
            optimizers.discriminator.load_state_dict(saved["opt_discriminator"])
        epoch, iteration, total, partial = saved["epoch"], saved["iteration"], saved["total"], saved["partial"]
        runs.set_rng_states(saved["rng"])
    else:
        # DECISION: the global generators (CPU and CUDA) start from the run's seed, the same on
        # every rank: models that draw from them (SpeckleGAN's z, speckle phases, augmentation)
        # repeat, and state.pt's saved RNG states (rank 0's) are every rank's.
        torch.manual_seed(config["seed"])
    if rank == 0:
        log.forget_stats_from(epoch)
        log.line(f"{now()} {'resume' if resume is not None else 'start'} {run.name} at epoch {epoch} "
                 f"iteration {iteration}: {described['model']} ({described['preset']}), {len(masks)} samples at "
                 f"{size} px, {per_epoch} iterations per epoch, device {device}, {world} process(es)")
        if masks.source["size"] < size:
            log.line(f"note: the set's {masks.source['size']} px images are upsampled to {size} px; the model can "
                     "learn no finer detail than the data hold")
    if world > 1:
        if device.type == "cuda":
            # DECISION: batch norm (SpeckleGAN) normalises over the whole batch of all GPUs, as on
            # one device. SyncBatchNorm runs on GPUs only, so on CPU (gloo) each process
            # normalises its own share; the parameters are the same objects, so the optimisers hold.
            networks.generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(networks.generator)
            if networks.discriminator is not None:
                networks.discriminator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(networks.discriminator)
        ddp = torch.nn.parallel.DistributedDataParallel
        ids = [device.index] if device.type == "cuda" else None
        networks.generator = ddp(networks.generator, device_ids=ids, find_unused_parameters=spec.grows)
        if networks.discriminator is not None:
            networks.discriminator = ddp(networks.discriminator, device_ids=ids, find_unused_parameters=spec.grows)
    share = config["batch"] // world
    # DECISION: the sample grid's fixed masks are the first samples of the training set, so every
    # epoch's grid (and every run on the same file) shows the same masks beside their real images.
    fixed = torch.arange(min(config["grid_samples"], len(masks)))

    if config["max_iters"] and total >= config["max_iters"] and rank == 0:
        log.line(f"{now()} max_iters {config['max_iters']} already reached; resume with --set max_iters=null "
                 "(or a larger number) to go on")
    while epoch < config["epochs"] and not (config["max_iters"] and total >= config["max_iters"]):
        # DECISION: the data order is a function of (seed, epoch) alone, and incomplete last
        # batches are dropped: a resumed run draws the same batches, and every DDP rank always
        # holds a full share.
        order = torch.randperm(len(masks), generator=torch.Generator().manual_seed(config["seed"] * 100_003 + epoch))
        started, stop = time.perf_counter(), False
        bar = progress_bar(range(iteration, per_epoch), desc=f"epoch {epoch + 1}/{config['epochs']}", unit="it",
                   enabled=progress and rank == 0, leave=False)
        for iteration in bar:
            state = spec.schedule(config, epoch + iteration / per_epoch)
            spec.apply_schedule(networks, state)
            drawn = order[iteration * config["batch"]:(iteration + 1) * config["batch"]]
            picked = drawn[rank * share:(rank + 1) * share]  # this process's share
            losses = spec.step(networks, optimizers, data.batch(masks, picked, spec.condition, device), config, state)
            for key, value in losses.items():
                partial[key] = partial.get(key, 0.0) + float(value)
            partial["count"] = partial.get("count", 0) + 1
            total += 1
            if on_iteration is not None and rank == 0:
                on_iteration(total)
            shown = (("d", "loss_d"), ("g", "loss_g"), ("loss", "loss"))  # a diffusion model has one loss
            bar.set_postfix(phase=state["phase"], **{name: f"{partial[key] / partial['count']:.3f}"
                                                     for name, key in shown if key in partial})
            if config["max_iters"] and total >= config["max_iters"]:
                stop = True
                break
        iteration += 1
        finished = iteration >= per_epoch
        if finished:
            means = average(partial, world)
            epoch, iteration, partial = epoch + 1, 0, {}
        # The grid, snapshot and state at every snap_epochs-th epoch and wherever the run stops
        # (its last epoch, or max_iters within an epoch: then the grid shows the unfinished epoch).
        snap = stop or epoch >= config["epochs"] or (finished and epoch % config["snap_epochs"] == 0)
        if rank == 0 and (finished or snap):
            fakes = grid(run / f"samples-{epoch - finished:06d}.png", networks, spec, masks, fixed, state,
                         device) if snap else None
        if rank == 0 and finished:
            seconds = round(time.perf_counter() - started, 3)
            record = {"epoch": epoch - 1, "iterations": total, **state, **means, "seconds": seconds,
                      **({} if fakes is None else collapse_statistics(fakes, masks.images[fixed].numpy(),
                                                                      config["seed"]))}
            log.stats(record)
            log.line(f"{now()} epoch {epoch}/{config['epochs']} " + " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "epoch"))
            if record.get("collapsed"):
                log.line(f"{now()} warning: the sample grid looks collapsed (diversity MS-SSIM "
                         f"{record['diversity_ms_ssim']:.3f} >= {diversity.COLLAPSE_MS_SSIM}; the real images of "
                         f"the same masks: {record['real_diversity_ms_ssim']})")
        if rank == 0 and snap:
            checkpoint(run, described, masks, networks, optimizers, state, epoch, iteration, total, partial)
        if stop:
            break
    if world > 1:
        check_ranks_agree(networks, log, rank)
    if rank == 0:
        log.line(f"{now()} stopped at epoch {epoch} iteration {iteration} ({total} iterations in all)")
    if world > 1:
        dist.destroy_process_group()
    return run


def average(partial: dict, world: int) -> dict:
    """Epoch means of the step's losses, over all iterations of all processes."""
    keys = sorted(k for k in partial if k != "count")
    sums = torch.tensor([partial[k] for k in keys] + [partial["count"]], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(sums)
    return {k: float(sums[i] / sums[-1]) for i, k in enumerate(keys)}


@torch.no_grad()
def grid(path, networks, spec, masks, fixed, state, device) -> None:
    generator = unwrap(networks.generator)
    generator.eval()
    condition = data.batch(masks, fixed, spec.condition, device)["condition"]
    # DECISION: the grid draws (SpeckleGAN's z and speckle phases) from a generator of its own, seeded
    # alike at every grid: the training's random stream then does not depend on how often grids
    # are drawn (snap_epochs may change on resume), and every grid starts from the same noise.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(GRID_SEED)
        fakes = sketch.to_uint8(registry.make_images(spec, generator, resize(condition, state["g_size"])))
    generator.train()
    sketches = None if masks.sketches is None else masks.sketches[fixed].numpy()
    view = runs.condition_view(masks.labels[fixed].numpy(), sketches, len(masks.class_names))
    runs.sample_grid(path, view, fakes, masks.images[fixed].numpy())
    return fakes


def collapse_statistics(fakes, reals, seed: int) -> dict:
    """The grid's diversity (ganlab.diversity), and the real images' of the same masks beside it.

    DECISION: measured on the epoch's sample grid (the fixed masks, each drawn once): no extra
    generator pass, the same masks every epoch, and the real images of those masks give the
    diversity the generated ones should approach.
    """
    own = diversity.diversity(fakes, seed=seed)
    real = diversity.diversity(reals, seed=seed)
    return {**own, "real_diversity_ms_ssim": real["diversity_ms_ssim"], "real_pixel_spread": real["pixel_spread"]}


def checkpoint(run, described, masks, networks, optimizers, state, epoch, iteration, total, partial) -> None:
    """The light snapshot for inference, then the full state for exact resume."""
    generator = unwrap(networks.generator)
    common = {"model": described["model"], "config": described["config"], "class_names": masks.class_names,
              "schedule": state, "epoch": epoch, "iteration": iteration, "total": total}
    runs.save(run / runs.SNAPSHOT, {"format": runs.SNAPSHOT_FORMAT, **common, "run": str(run.resolve()),
                                    "generator": generator.state_dict()})
    critic = {} if networks.discriminator is None else {
        "discriminator": unwrap(networks.discriminator).state_dict(),
        "opt_discriminator": optimizers.discriminator.state_dict()}
    runs.save(run / runs.STATE, {"format": runs.STATE_FORMAT, **common, "partial": partial,
                                 "generator": generator.state_dict(), **critic,
                                 "opt_generator": optimizers.generator.state_dict(),
                                 "rng": runs.rng_states()})


def weights_sha256(networks) -> str:
    digest = hashlib.sha256()
    for net in (unwrap(networks.generator), unwrap(networks.discriminator)):
        if net is None:
            continue
        for tensor in net.state_dict().values():
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_ranks_agree(networks, log, rank) -> None:
    """DDP keeps replicas equal by construction; say so with evidence, and stop loudly if not."""
    hashes = [None] * dist.get_world_size()
    dist.all_gather_object(hashes, weights_sha256(networks))
    if rank == 0:
        log.line(f"{now()} ranks agree: {json.dumps(hashes)}" if len(set(hashes)) == 1
                 else f"{now()} RANKS DIFFER: {json.dumps(hashes)}")
    if len(set(hashes)) != 1:
        raise RuntimeError(f"DDP replicas hold different weights: {hashes}")


def broadcast(value, world: int):
    if world == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def versions() -> dict:
    import skimage
    return {"ganlab": __version__, "torch": torch.__version__, "scikit-image": skimage.__version__,
            "python": platform.python_version()}


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
