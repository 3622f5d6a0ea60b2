"""Finding, downloading and checking the FID Inception weights.

The weights are the TensorFlow 2015-12-05 Inception graph ported to PyTorch by pytorch-fid,
`pt_inception-2015-12-05-6726825d.pth` (95,628,359 bytes). Its SHA-256 is checked wherever the
file comes from, so a truncated download or a different network can never produce "FID" numbers.
Order of search: an explicit path, then the toolkit's cache folder, then torch hub's checkpoint
folder, where pytorch-fid and torch-fidelity download their copies (DECISION: a user who ran
either already has the file); then a download into the cache unless --offline (DECISION:
online by default, as pytorch-fid).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from ussim.progress import bar as progress_bar

from compare.defaults import cache_dir
from ussim import imageset
from ussim.errors import UsageError

FILENAME = "pt_inception-2015-12-05-6726825d.pth"
URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FILENAME}"
SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
# DECISION: torch-fidelity's `weights-inception-2015-12-05-6726825d.pth` has the same SHA-256
# (the same bytes), so a copy under that name is accepted too.
OTHER_NAMES = ("weights-inception-2015-12-05-6726825d.pth",)
DOWNLOAD_TIMEOUT_S = 30


def weights_folder() -> Path:
    return cache_dir() / "weights"


sha256_of = imageset.file_sha256


def check(path: Path) -> Path:
    """`path` if it holds the expected bytes, else a one-line UsageError."""
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file (expected {FILENAME})")
    actual = sha256_of(path)
    if actual != SHA256:
        raise UsageError(f"{path} is not {FILENAME}: SHA-256 {actual[:16]}... differs from the expected "
                         f"{SHA256[:16]}... (a truncated download or a different network)")
    return path


def candidates() -> list[Path]:
    """Folders searched, in order: the toolkit cache, torch hub's (pytorch-fid), torch-fidelity's."""
    import torch.hub  # torch is imported anyway by the network that needs the weights

    hub = Path(torch.hub.get_dir()) / "checkpoints"
    return [folder / name for folder in (weights_folder(), hub) for name in (FILENAME, *OTHER_NAMES)]


def locate(path: str | os.PathLike | None = None, *, download: bool = True, progress: bool = True) -> Path:
    """The checked weights file: `path` when given, else a cached copy, else a fresh download."""
    if path is not None:
        return check(Path(path))
    for candidate in candidates():
        if candidate.is_file():
            return check(candidate)
    target = weights_folder() / FILENAME
    if not download:
        raise UsageError(f"backbone inception-fid needs the FID Inception weights {FILENAME}: pass --weights PATH "
                         f"or put the file in {weights_folder()} (download: {URL}); "
                         f"or choose a weights-free backbone such as --backbone texture-v1")
    try:
        return fetch(URL, target, progress=progress)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = " ".join(str(getattr(error, "reason", error)).split())
        raise UsageError(f"backbone inception-fid needs the FID Inception weights {FILENAME} and the download "
                         f"failed ({reason}): download {URL} and pass --weights PATH or put the file in "
                         f"{weights_folder()}; or choose a weights-free backbone such as --backbone texture-v1") \
            from None


def fetch(url: str, target: Path, *, progress: bool = True) -> Path:
    """Download `url` to `target` through a temporary file; keep it only if its SHA-256 matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=f"downloading {target.name}",
                      enabled=progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        actual = sha256_of(tmp)
        if actual != SHA256:
            raise UsageError(f"download of {url} has SHA-256 {actual[:16]}..., expected {SHA256[:16]}...: "
                             f"not kept; try again or fetch the file by hand and pass --weights PATH")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
