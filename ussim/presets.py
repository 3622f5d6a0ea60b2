"""Shipped TOML presets (data/<folder>/*.toml, installed as `ussim_data`) or the user's own files."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from ussim.errors import UsageError


def names(folder: str) -> list[str]:
    """The preset names of data/<folder>/."""
    entries = (resources.files("ussim_data") / folder).iterdir()
    return sorted(p.name.removesuffix(".toml") for p in entries if p.name.endswith(".toml"))


def read(folder: str, name_or_path: str | Path, what: str) -> dict:
    """The parsed TOML of a preset by name, or of a file by path; one line for any problem.

    `what` names the kind of thing in messages ("probe", "organ").
    """
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"{what} file {path} does not exist")
        source = path.read_text()
    else:
        entry = resources.files("ussim_data") / folder / f"{text}.toml"
        if not entry.is_file():
            raise UsageError(f"unknown {what} '{text}' (presets: {', '.join(names(folder))}; or give a .toml path)")
        source = entry.read_text()
    try:
        return tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{what} {text}: not valid TOML ({error})") from None
