"""Run folders and what lives in them (NVlabs/edm layout).

    runs/<NNNNN>-<model>-<dataname>/
        config.json     everything that defines the run, written before training starts
        log.txt         the human-readable log
        stats.jsonl     one JSON line per finished epoch (losses, phase, alpha, seconds, and, in
                        an epoch with a sample grid, its diversity: ganlab.diversity)
        samples-<EEEEEE>.png   the fixed masks' images after every snap_epochs-th epoch and where
                        the run stops (snapshot.pt and state.pt are written with it)
        snapshot.pt     light: the generator and what inference needs
        state.pt        full: both networks, both optimisers, schedule, epoch, RNG states

Every file is written to a temporary name and renamed, so a killed run leaves only whole files;
a new run folder appears with its config.json in it or not at all (`create_run`), and the
temporaries of a killed process are removed by the next writer (ussim.atomicio).
"""

from __future__ import annotations

import json
import os
import shutil
import random
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ussim import atomicio
from ussim.errors import UsageError

SNAPSHOT = "snapshot.pt"
STATE = "state.pt"
CONFIG = "config.json"
SNAPSHOT_FORMAT = "ganlab-snapshot-1"
STATE_FORMAT = "ganlab-state-1"


def atomic_write(path: Path, write) -> None:
    """Call write(temporary_path), then rename it onto `path` (ussim.atomicio, not fsynced: a
    run's files are rewritten every epoch and a lost last epoch is only trained again)."""
    atomicio.atomic_write(path, write, durable=False)


def write_json(path: Path, value) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n"))


def new_run_dir(root: Path, model: str, data_name: str, config: dict | None = None) -> Path:
    """The next numbered folder under `root` (numbers never reused), created now with `config`
    written in it as config.json: the folder appears whole, with its config, or not at all."""
    if root.exists() and not root.is_dir():
        raise UsageError(f"--runs {root} is a file; give a folder for the run folders")
    root.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", data_name) or "data"
    staging = root / f"new-{model}-{safe}"  # only the name of its hidden temporary sibling is used
    atomicio.remove_stale(staging)
    tmp = atomicio.temporary_name(staging)
    tmp.mkdir()
    try:
        if config is not None:
            write_json(tmp / CONFIG, config)
        while True:
            taken = [int(m.group(1)) for p in root.iterdir() if (m := re.match(r"(\d{5,})-", p.name))]
            path = root / f"{max(taken, default=-1) + 1:05d}-{model}-{safe}"
            if path.exists():
                continue  # cannot happen unless the listing raced; look again
            try:
                os.rename(tmp, path)  # fails on an existing non-empty folder: another run took the number
            except OSError:
                if path.is_dir() and any(path.iterdir()):
                    continue
                raise
            atomicio.fsync_folder(root)
            return path
    except BaseException:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def find_run(text: str | os.PathLike, root: Path = Path("runs")) -> Path:
    """A run folder given as a path, or as its number under `root` (e.g. 3 or 00003)."""
    path = Path(text)
    if path.is_dir():
        return path
    if str(text).isdigit() and root.is_dir():
        matches = [p for p in root.iterdir() if p.name.split("-")[0] == f"{int(text):05d}"]
        if len(matches) == 1:
            return matches[0]
    raise UsageError(f"run '{text}' not found: give a run folder (runs/NNNNN-model-data) or its number")


def read_config(run: Path) -> dict:
    path = run / CONFIG
    if not path.is_file():
        raise UsageError(f"{run} is not a ganlab run folder: {CONFIG} is missing")
    try:
        described = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} is damaged (not JSON: {type(error).__name__}); the run cannot be resumed") from None
    keys = ("model", "preset", "data", "config", "data_source")
    if not isinstance(described, dict) or any(key not in described for key in keys) \
            or not isinstance(described["config"], dict):
        raise UsageError(f"{path} is not a ganlab run description (needs {', '.join(keys)}); the run cannot be "
                         f"resumed")
    return described


class Log:
    """Lines to log.txt (and stdout); epoch statistics to stats.jsonl."""

    def __init__(self, run: Path, echo: bool = True):
        self.run, self.echo = run, echo

    def line(self, text: str) -> None:
        with open(self.run / "log.txt", "a") as handle:
            handle.write(text + "\n")
        if self.echo:
            print(text, flush=True)

    def stats(self, record: dict) -> None:
        with open(self.run / "stats.jsonl", "a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def forget_stats_from(self, epoch: int) -> None:
        """Drop records of epochs >= `epoch` (an epoch a killed run logged but did not save)."""
        path = self.run / "stats.jsonl"
        if path.is_file():
            kept = [line for line in path.read_text(errors="replace").splitlines()
                    if (record := _record(line)) is not None and record["epoch"] < epoch]
            atomic_write(path, lambda tmp: tmp.write_text("".join(k + "\n" for k in kept)))


def _record(line: str) -> dict | None:
    """A stats.jsonl line as a record; None for a line torn by a killed write (dropped)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("epoch"), int) else None


def rng_states() -> dict:
    state = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [state[0], state[1].tolist(), *state[2:]],
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(_tuples(states["python"]))
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, np.uint32), *rest))
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def save(path: Path, payload: dict) -> None:
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def iterations_trained(run: Path) -> int:
    """The iterations in the run's snapshot, an unfinished last epoch's included (stats.jsonl counts
    finished epochs only)."""
    return load(run / SNAPSHOT, SNAPSHOT_FORMAT)["total"]


def load(path: Path, expected_format: str) -> dict:
    if not path.is_file():
        where = (f"{path.parent} is not a finished training run (no {path.name})" if path.parent.is_dir()
                 else f"{path}: no such file")
        raise UsageError(where)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UsageError(f"{path}: not a readable ganlab checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise UsageError(f"{path}: not a {expected_format} file")
    return payload


def sample_grid(path: Path, condition_view: np.ndarray, fakes: np.ndarray, reals: np.ndarray, tile: int = 256) -> None:
    """A PNG with one column per fixed mask: condition, generated image, real image (tiles at most
    `tile` px, the images' own size when smaller)."""
    tile = min(tile, reals.shape[-1])
    rows = []
    for stack in (condition_view, fakes, reals):
        tiles = [np.asarray(Image.fromarray(t).resize((tile, tile), Image.BILINEAR)) if t.shape[0] != tile else t
                 for t in stack]
        rows.append(np.concatenate(tiles, axis=1))
    atomic_write(path, lambda tmp: Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format="PNG"))


def condition_view(labels: np.ndarray, sketches: np.ndarray | None, n_classes: int) -> np.ndarray:
    """Labels as gray levels (background black) with the background sketch drawn white."""
    view = (labels.astype(np.float32) * (160.0 / max(n_classes - 1, 1))).astype(np.uint8)
    if sketches is not None:
        view[(sketches > 0) & (labels == 0)] = 255
    return view
