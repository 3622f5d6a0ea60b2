"""Nothing half-written: files and groups of files appear whole or not at all.

Every writer of the toolkit writes to a hidden temporary sibling and renames it onto its name
(`os.replace`, atomic on one file system), so a crash leaves the old file or the new one, never
a part. A group of outputs (a report's HTML, Markdown and grid images; a phantom's image set and
PNG; a run folder) is written whole into temporaries first and renamed only when every part is
written.

Temporary names carry the host and the process id: `.NAME.<host>-<pid>-<hex>.tmp`. A process
killed with `kill -9` cannot remove its temporary; the next writer of the same NAME on the same
host removes every such leftover whose process is gone (`remove_stale`). DECISION: temporaries
of another host (a dask worker writing to shared storage) or of a live process are left alone,
and a reused process id only delays a removal: a hidden temporary is never read by anything.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

SUFFIX = ".tmp"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", socket.gethostname())[:32] or "host"


def temporary_name(path: Path) -> Path:
    """A hidden sibling of `path` that names this host and process."""
    return path.with_name(f".{path.name}.{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}")


def _owner(temporary: Path, name: str) -> tuple[str, int] | None:
    """(host, pid) from a temporary name of NAME, None for a name not made by `temporary_name`."""
    tail = temporary.name[len(name) + 2:-len(SUFFIX)]  # after ".NAME."
    match = re.fullmatch(r"(\w+)-(\d+)-[0-9a-f]{8}", tail)
    return (match.group(1), int(match.group(2))) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale(path: Path) -> list[Path]:
    """Remove the temporaries of `path` left by dead processes of this host; return them."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for found in path.parent.glob(f".{glob.escape(path.name)}.*{SUFFIX}"):
        owner = _owner(found, path.name)
        if owner is None or owner[0] != _host() or _alive(owner[1]):
            continue
        if found.is_dir() and not found.is_symlink():
            shutil.rmtree(found, ignore_errors=True)
        else:
            found.unlink(missing_ok=True)
        removed.append(found)
    return removed


def fsync_folder(folder: Path) -> None:
    """Make renames inside `folder` durable."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object], *, durable: bool = True) -> Path:
    """Call write(temporary_path), then rename the temporary onto `path`; on any failure remove it.

    `durable` also fsyncs the file and its folder, so that the rename survives a power loss.
    """
    path = Path(path)
    remove_stale(path)
    tmp = temporary_name(path)
    try:
        write(tmp)
        if durable:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_folder(path.parent)
    return path


def write_together(writers: Mapping[Path, Callable[[Path], object]]) -> list[Path]:
    """Write several files as one: every writer writes its temporary, then all are renamed in the
    order given (put the file whose presence means "done" last). A failure before the renames
    leaves nothing new; one during them removes the files this call already renamed into place."""
    pending: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for path, write in writers.items():
            path = Path(path)
            remove_stale(path)
            tmp = temporary_name(path)
            pending.append((tmp, path))
            write(tmp)
            _fsync_file(tmp)
        for tmp, path in pending:
            os.replace(tmp, path)
            placed.append(path)
    except BaseException:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    for folder in {path.parent for _, path in pending}:
        fsync_folder(folder)
    return placed


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder of `path`; fill it, and on leaving the block it is renamed
    to `path` (which must not exist, or be an empty folder). On an error it is removed."""
    path = Path(path)
    remove_stale(path)
    tmp = temporary_name(path)
    tmp.mkdir()
    try:
        yield tmp
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_folder(path.parent)
