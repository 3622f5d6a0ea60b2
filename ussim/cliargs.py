"""The argument types every command line of the toolkit shares, checked when the line is parsed.

A bad value ends the command before any work, in one line that names the value and what is
allowed, with exit status 2 (argparse's convention, and `ussim.errors.run_cli`'s). Numbers reject
NaN, inf and out-of-range values; sizes reject what cannot fit in this machine's memory; output
paths are checked for a folder that exists and is writable and for a directory where a file goes.

DECISION: the module lives in ussim, the bottom of the package layering (ARCHITECTURE.md:
ganlab, compare and app may import ussim, ussim imports none of them), so all four command
lines use one set of types. It needs only the standard library.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

from ussim.errors import UsageError

SEED_MAX = 2**32 - 1  # numpy's legacy seeding and most tools take seeds in 0..2**32-1
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


class Parser(argparse.ArgumentParser):
    """argparse, but a parse error is the toolkit's one line (no usage block) and exit status 2."""

    def error(self, message: str):
        text = " ".join(message.split())
        command = self.prog.split()[0]  # "ussim", also for a subcommand's parser ("ussim phantom")
        self.exit(2, f"{command}: error: {text} (see {self.prog} --help)\n")


def _typed(name: str, convert: Callable[[str], object]) -> Callable[[str], object]:
    """Give `convert` a name argparse shows, and turn UsageError into argparse's error type."""
    def parse(text: str):
        try:
            return convert(text)
        except UsageError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    parse.__name__ = name
    return parse


def _int(text: str, allowed: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise UsageError(f"'{text}' is not a whole number (allowed: {allowed})") from None


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """A whole number in [low, high] (an open end where None)."""
    allowed = (f"{low}..{high}" if low is not None and high is not None else
               f">= {low}" if low is not None else f"<= {high}" if high is not None else "any whole number")

    def convert(text: str) -> int:
        value = _int(text, allowed)
        if (low is not None and value < low) or (high is not None and value > high):
            raise UsageError(f"{value} is out of range (allowed: {allowed})")
        return value
    return _typed("whole number", convert)


positive_int = int_range(1)
non_negative_int = int_range(0)
seed = int_range(0, SEED_MAX)


def finite_float(low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False) -> Callable[[str], float]:
    """A finite number in the interval given (open or closed at each end; unbounded where None)."""
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    ends = ("-inf" if low is None else f"{low:g}", "inf" if high is None else f"{high:g}")
    allowed = f"a finite number in {left}{ends[0]}, {ends[1]}{right}"

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"'{text}' is not a number (allowed: {allowed})") from None
        if not math.isfinite(value):
            raise UsageError(f"{text} is not allowed: need {allowed}")
        if low is not None and (value < low or (low_open and value == low)):
            raise UsageError(f"{text} is out of range: need {allowed}")
        if high is not None and (value > high or (high_open and value == high)):
            raise UsageError(f"{text} is out of range: need {allowed}")
        return value
    return _typed("number", convert)


positive_float = finite_float(0, low_open=True)
non_negative_float = finite_float(0)
probability = finite_float(0, 1)


def memory_bytes() -> int:
    """Physical memory of this machine (bytes); a large number where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def check_fits_memory(pixels: int, bytes_per_pixel: float, what: str) -> None:
    """Refuse work whose working memory (pixels x bytes_per_pixel) exceeds this machine's memory."""
    need = pixels * bytes_per_pixel
    have = memory_bytes()
    if need > have:
        raise UsageError(f"{what} would need about {_bytes(need)} of memory, more than this machine's "
                         f"{_bytes(have)}: choose a smaller size or count")


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.3g} {unit}"
        count /= 1024
    return f"{count:.3g} PiB"


def image_side(smallest: int, bytes_per_pixel: float, largest: int = 8192) -> Callable[[str], int]:
    """An image side N (N x N pixels) of at least `smallest` and at most `largest`, whose working
    memory, N² x `bytes_per_pixel` (the command's own estimate), fits this machine."""
    bounded = int_range(smallest, largest)

    def convert(text: str) -> int:
        try:
            side = bounded(text)
        except argparse.ArgumentTypeError as error:
            raise UsageError(str(error)) from None
        check_fits_memory(side * side, bytes_per_pixel, f"an image of {side} x {side} px")
        return side
    return _typed("size", convert)


def device(text: str) -> str:
    """auto, cpu, cuda or cuda:N (whether that device exists is checked by the code that uses it)."""
    if not DEVICE_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"unknown device '{text}' (allowed: auto, cpu, cuda, cuda:N)")
    return text


def input_file(text: str) -> Path:
    """An existing, readable file."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{path}: not readable (permission denied)")
    return path


def input_folder(text: str) -> Path:
    """An existing folder."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: no such folder" if not path.exists() else f"{path} is not a folder")
    return path


def writable_folder_problem(folder: Path) -> str | None:
    """Why files cannot be created in `folder`, or None when they can."""
    if not folder.exists():
        return f"folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"folder {folder} is not writable"
    return None


def output_file(text: str) -> Path:
    """A file to write: not a folder, in a folder that exists and is writable. Whether an existing
    file may be replaced is the command's --overwrite (`check_new_output`)."""
    path = Path(text)
    if not path.name or text.endswith(os.sep):
        raise argparse.ArgumentTypeError(f"'{text}' names a folder; give a file name")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a folder; give a file name")
    problem = writable_folder_problem(path.parent)
    if problem:
        raise argparse.ArgumentTypeError(f"cannot write {path}: {problem}")
    return path


def output_folder(text: str) -> Path:
    """A folder to write into: an existing writable folder, or a new one whose nearest existing
    parent is a writable folder."""
    path = Path(text)
    if path.exists():
        problem = writable_folder_problem(path)
        if problem:
            raise argparse.ArgumentTypeError(f"cannot write into {path}: {problem}")
        return path
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    problem = writable_folder_problem(parent)
    if problem:
        raise argparse.ArgumentTypeError(f"cannot create {path}: {problem}")
    return path


def check_new_output(path: Path | None, overwrite: bool) -> None:
    """Before any work: refuse an existing output unless --overwrite, and a folder where a file goes."""
    if path is None:
        return
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it")
    problem = writable_folder_problem(path.parent)
    if problem:
        raise UsageError(f"cannot write {path}: {problem}")

