"""Many phantom images at once: `ussim dataset` on dask.distributed, in resumable shards.

The N images are cut into shards of consecutive seeds. Each shard is one task: a worker
simulates its images and writes them, atomically, to `shard-<hash>.h5` in a shard folder beside
the output, the hash covering everything that decides the shard's pixels (organ, size, probe,
tissue table, scatterer density, seeds, software version). A rerun finds the finished shards by
name and only submits the rest, so an interrupted run resumes where it stopped and a changed
parameter never reuses a stale shard. The shards are then merged, streaming, into one image set.

Memory: the client holds shard paths, never images; a worker holds one image's scatterers and
one shard; the merge streams one shard at a time. So peak memory does not grow with N
(bench/dataset_memory.py measures it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ussim import __version__, imageset, phantom, scatter, tissue
from ussim import probe as probes
from ussim.errors import UsageError

# DECISION: 8 images per shard: a lost shard costs under two minutes of one worker at 256 x 256
# on a CPU, and N = 2000 gives 250 files, few enough to merge in one pass.
SHARD_SIZE = 8
SCHEDULER_TIMEOUT_S = 10
# DECISION: the layout of a shard's file is part of its hash, so a rerun never merges shards
# written before they stated their condition and timing (layout 2) into a set that states them.
SHARD_LAYOUT = 2


@dataclass(frozen=True)
class Shard:
    """One task: the images of seeds first..first+count-1, with everything that decides them."""
    organ: str
    size: int
    probe: str | None
    per_cell: float
    first: int
    count: int
    recipe: str  # JSON of the tissue table, probe and software version: part of the hash
    engine: str = "fast"  # ussim.simulate.ENGINES: part of the hash (a full and a fast shard differ)

    @property
    def seeds(self) -> range:
        return range(self.first, self.first + self.count)

    @property
    def name(self) -> str:
        digest = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:16]
        return f"shard-{self.first:07d}-{digest}.h5"


def plan(organ: str, n: int, *, seed: int = 0, size: int = 256, probe: str | None = None,
         per_cell: float = scatter.SCATTERERS_PER_CELL, shard_size: int = SHARD_SIZE,
         engine: str = "fast") -> list[Shard]:
    """The shards of a dataset of `n` images with seeds seed..seed+n-1; checks every value first."""
    if n < 1:
        raise UsageError(f"--n {n}: a dataset needs at least 1 image")
    if shard_size < 1:
        raise UsageError(f"--shard-size {shard_size}: need at least 1 image per shard")
    if seed < 0:
        raise UsageError(f"--seed {seed}: seeds must be non-negative")
    if organ not in phantom.GENERATORS:
        raise UsageError(f"unknown organ '{organ}' (allowed: {', '.join(phantom.GENERATORS)})")
    if not per_cell > 0:
        raise UsageError(f"--scatterers-per-cell {per_cell:g} must be positive")
    if engine not in phantom.METHODS:
        raise UsageError(f"--engine {engine}: unknown (allowed: {', '.join(phantom.METHODS)})")
    table = tissue.load(organ)
    phantom.display_grid(table, (size, size))  # refuses a size too small to image, here, not on a worker
    resolved_probe = probes.load(probe or table.probe)
    recipe = json.dumps({"tissue": dataclasses.asdict(table), "probe": resolved_probe.as_dict(),
                         "software_version": __version__, "shard_layout": SHARD_LAYOUT}, sort_keys=True, default=str)
    return [Shard(organ, size, probe, float(per_cell), first, min(shard_size, seed + n - first), recipe, engine)
            for first in range(seed, seed + n, shard_size)]


def shard_folder(out: Path) -> Path:
    """Where the shards of `out` live: beside it, so a rerun with the same --out finds them."""
    return out.with_name(out.name + ".shards")


def is_complete(path: Path) -> bool:
    """A shard file that exists and reads as a valid image set (a shard is written atomically, so
    anything else at that name is foreign and is simulated again)."""
    if not path.is_file():
        return False
    try:
        with imageset.read(path, validate_labels=False):
            return True
    except UsageError:
        return False


def make_shard(shard: Shard, folder: str, device: str = "auto", threads: int | None = None) -> str:
    """Simulate one shard and write it; runs on a dask worker. Returns the shard's path."""
    path = Path(folder) / shard.name
    if is_complete(path):
        return str(path)
    if threads:  # workers sharing a machine split its cores instead of each taking all of them
        import numba
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    # The shard's first image warms this worker's simulator up, untimed (phantom.warm_up).
    samples = [phantom.random_sample(shard.organ, seed=seed, size=shard.size, probe_name=shard.probe,
                                     device=device, progress=False, per_cell=shard.per_cell, warm=index == 0,
                                     engine=shard.engine)
               for index, seed in enumerate(shard.seeds)]
    anatomy = [imageset.params_of(s)["anatomy"] for s in samples]
    simulation = imageset.params_of(samples[0])["simulation"]
    merged = imageset.concat(samples) if len(samples) > 1 else samples[0]
    merged.attrs["timing"] = samples[0].attrs["timing"]  # warmed by the first image, for all of them
    merged.attrs["params"] = json.dumps({"shard": shard_params(shard), "simulation": simulation,
                                         "anatomy": anatomy}, sort_keys=True, default=str)
    imageset.write(merged, path, overwrite=True)
    return str(path)


def shard_params(shard: Shard) -> dict:
    return {"organ": shard.organ, "size": shard.size, "probe": shard.probe, "scatterers_per_cell": shard.per_cell,
            "first_seed": shard.first, "count": shard.count, "engine": shard.engine}


def run(organ: str, n: int, out: Path, *, seed: int = 0, size: int = 256, probe: str | None = None,
        per_cell: float = scatter.SCATTERERS_PER_CELL, shard_size: int = SHARD_SIZE, workers: int | None = None,
        scheduler: str | None = None, device: str = "auto", overwrite: bool = False, keep_shards: bool = False,
        progress: bool = True, engine: str = "fast") -> Path:
    """Simulate `n` random phantoms of `organ` (seeds seed..seed+n-1) into the image set `out`.

    Shards run on a LocalCluster of `workers` processes (default: one per core, at most one per
    shard) or on the dask scheduler at `scheduler`; the shard folder must then be on storage
    that every worker sees under the same path. Finished shards of an earlier, interrupted run
    with the same parameters are reused. The shard folder is removed after the merge unless
    `keep_shards`. `engine`: full or fast (ussim.simulate; fast by default: the PSF bank is
    measured once, then each image costs about a second instead of tens).
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise UsageError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: folder {out.parent} does not exist")
    if workers is not None and scheduler is not None:
        raise UsageError("give --workers (a local cluster) or --scheduler (a running one), not both")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: need at least 1")
    shards = plan(organ, n, seed=seed, size=size, probe=probe, per_cell=per_cell, shard_size=shard_size,
                  engine=engine)
    folder = shard_folder(out)
    folder.mkdir(exist_ok=True)
    todo = [s for s in shards if not is_complete(folder / s.name)]
    try:
        if todo and scheduler is None and engine == "fast":
            # DECISION: the PSF bank is measured here, with every core, before the local workers start:
            # a worker has cores / workers numba threads, and the first to need the bank measured it
            # alone while the others waited on its lock (26 ovary anatomies from an empty cache on 2
            # cores: 213.6 s so, 119.9 s with the bank measured here; bench/RESULTS.md).
            # The workers then read it from the disk cache. A remote cluster's workers measure their own.
            phantom.warm_up_random(organ, size=size, probe_name=probe, device=device, per_cell=per_cell,
                                   engine=engine)
        if todo:
            _compute(todo, folder, device=device, workers=workers, scheduler=scheduler,
                     done=len(shards) - len(todo), total=len(shards), progress=progress)
    except BaseException:
        if not any(folder.iterdir()):  # nothing finished (e.g. no scheduler): leave no empty folder behind
            folder.rmdir()
        raise
    merge(shards, folder, out, overwrite=overwrite, params=dataset_params(shards, n, seed, shard_size))
    if not keep_shards:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def dataset_params(shards: list[Shard], n: int, seed: int, shard_size: int) -> dict:
    first = shards[0]
    return {"dataset": {"organ": first.organ, "n": n, "first_seed": seed, "size": first.size, "probe": first.probe,
                        "scatterers_per_cell": first.per_cell, "shard_size": shard_size, "engine": first.engine},
            "reproduce": f"sample with seed S: ussim phantom --organ {first.organ} --seed S --size {first.size}"
                         f" --engine {first.engine}"
                         + (f" --probe {first.probe}" if first.probe else "")
                         + f" --scatterers-per-cell {first.per_cell:g}"}


def _compute(todo: list[Shard], folder: Path, *, device, workers, scheduler, done, total, progress):
    from dask.distributed import as_completed
    from ussim.progress import bar as progress_bar

    with _client(workers, scheduler, len(todo)) as (client, threads):
        futures = client.map(make_shard, todo, folder=str(folder.resolve()), device=device, threads=threads,
                             key=[f"ussim-{s.name}" for s in todo])
        with progress_bar(total=total, initial=done, desc=f"dataset ({todo[0].organ})", unit="shard",
                  enabled=progress) as bar:
            for future in as_completed(futures):
                future.result()  # a worker's error surfaces here, with its traceback
                bar.update(1)


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None, shards: int):
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            raise UsageError(f"cannot reach the dask scheduler at {scheduler} within {SCHEDULER_TIMEOUT_S} s "
                             f"({reason}); give the address a running scheduler prints, e.g. "
                             f"tcp://10.0.0.5:8786") from None
        with client:
            yield client, None  # DECISION: a cluster's workers keep their own thread settings
        return
    cores = os.cpu_count() or 1
    workers = workers or min(cores, shards)
    # DECISION: processes, one thread each: the physics kernels release the GIL only inside numba,
    # the anatomy and merge steps are plain numpy; the cores are split between the workers' numba.
    with _environment_kept(), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:
        yield client, max(1, cores // workers)


@contextlib.contextmanager
def _environment_kept():
    """os.environ as it was before, once the local cluster is gone.

    DECISION: dask's nannies write their pre-spawn variables (MALLOC_TRIM_THRESHOLD_=65536,
    OMP/MKL/OPENBLAS_NUM_THREADS=1) into this process's environment and leave them there; every
    process started afterwards inherited them. The demo's GAN trainings, spawned after its image-set
    stage, then ran 1.5-2.6 x slower (glibc returning freed memory to the system at every
    iteration); measured 2026-12-02, bench/RESULTS.md "`make demo`".
    """
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def merge(shards: list[Shard], folder: Path, out: Path, *, overwrite: bool, params: dict) -> Path:
    """Join the shards, in seed order, into one image set at `out`, streaming: each shard's
    pixels are read when the writer reaches them, by a task that opens and closes the file."""
    parts = [_lazy_shard(folder / shard.name) for shard in shards]
    joined = imageset.concat(parts) if len(parts) > 1 else parts[0]
    # DECISION: the merged set's params name the dataset and how to remake any sample; the
    # per-image anatomy stays in the shards' params (HDF5 attributes are meant to be small,
    # and one JSON list per image would grow with N).
    joined.attrs["params"] = json.dumps({**params, "simulation": imageset.params_of(parts[0])["simulation"]},
                                        sort_keys=True, default=str)
    joined.attrs["method"] = phantom.METHODS[shards[0].engine]
    joined.attrs["timing"] = json.dumps(merged_timing([imageset.timing_of(part) for part in parts]), sort_keys=True)
    imageset.write(joined, out, overwrite=overwrite)
    return out


def merged_timing(timings: list[dict]) -> dict:
    """One `timing` statement for shards that workers timed each with its own.

    DECISION: a field on which the shards agree keeps its value; one on which they differ (a
    cluster whose workers have other devices or thread counts) holds the sorted list of the
    values found, so the statement never claims one device or thread count for all of them.
    """
    merged = {}
    for key in imageset.TIMING_KEYS:
        values = sorted({json.dumps(t[key]) for t in timings})
        merged[key] = json.loads(values[0]) if len(values) == 1 else [json.loads(v) for v in values]
    return merged


def _lazy_shard(path: Path):
    """A shard with its small variables loaded and its pixel variables as dask arrays that
    read the file on demand. Keeping every shard open instead would hold one HDF5 chunk cache
    per shard and variable: memory that grows with N (measured: +200 MB at 250 shards)."""
    import dask
    import dask.array

    with imageset.read(path, validate_labels=False) as ds:
        lazy = ds.copy()
        for name in imageset.PER_PIXEL:
            if name in ds:
                read = dask.delayed(_read_variable, pure=True)(str(path), name)
                lazy[name] = (ds[name].dims, dask.array.from_delayed(read, ds[name].shape, ds[name].dtype))
        return lazy


def _read_variable(path: str, name: str):
    import h5py
    with h5py.File(path, "r") as handle:
        return handle[name][...]
