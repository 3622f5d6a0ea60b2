"""`usapp [--db URL] [--results PATH] [streamlit options]`: start the dashboard, i.e.
`streamlit run app/main.py [streamlit options] -- --db URL --results PATH`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app import settings

MAIN = Path(__file__).resolve().parent / "main.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="usapp", description=__doc__)
    parser.add_argument("--db", default=None, help=f"study database URL (SQLAlchemy); default ${settings.DB_ENV} "
                                                   f"or {settings.DEFAULT_DB}")
    parser.add_argument("--results", default=None, metavar="PATH",
                        help=f"results file the comparison page opens with; default ${settings.RESULTS_ENV} or none")
    return parser


def command(argv: list[str]) -> list[str]:
    known, streamlit_options = build_parser().parse_known_args(argv)
    app_args = (["--db", known.db] if known.db else []) + (["--results", known.results] if known.results else [])
    return [sys.executable, "-m", "streamlit", "run", str(MAIN), *streamlit_options, "--", *app_args]


def main(argv: list[str] | None = None) -> None:
    args = command(sys.argv[1:] if argv is None else argv)
    # Replace this process so Ctrl-C and SIGTERM reach the server directly.
    os.execv(args[0], args)
