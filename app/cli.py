"""`usapp [--db URL] [streamlit options]`: start the dashboard, i.e.
`streamlit run app/main.py [streamlit options] -- --db URL`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app import settings

MAIN = Path(__file__).resolve().parent / "main.py"


def command(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(prog="usapp", description=__doc__)
    parser.add_argument("--db", default=None, help=f"study database URL (SQLAlchemy); default ${settings.DB_ENV} "
                                                   f"or {settings.DEFAULT_DB}")
    known, streamlit_options = parser.parse_known_args(argv)
    app_args = ["--db", known.db] if known.db else []
    return [sys.executable, "-m", "streamlit", "run", str(MAIN), *streamlit_options, "--", *app_args]


def main(argv: list[str] | None = None) -> None:
    args = command(sys.argv[1:] if argv is None else argv)
    # Replace this process so Ctrl-C and SIGTERM reach the server directly.
    os.execv(args[0], args)
