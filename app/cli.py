"""`usapp [--db URL] [--results PATH] [--admin-password-file PATH] [streamlit options]`: start the
dashboard, i.e. `streamlit run app/main.py [streamlit options] -- --db URL --results PATH ...`.
Readers open their personal links; the admin pages need the admin password (without one they stay
closed)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app import settings
from ussim import cliargs
from ussim.errors import run_cli

MAIN = Path(__file__).resolve().parent / "main.py"


def database_url(text: str) -> str:
    """A SQLAlchemy URL whose dialect and driver are installed (checked here, not when the first page opens)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(text).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"database URL '{text}' not usable ({' '.join(str(error).split())}); "
                                         f"e.g. sqlite:///study.db or postgresql+psycopg://user@host/db") from None
    except ImportError as error:
        raise argparse.ArgumentTypeError(f"database URL '{text}': its driver is not installed ({error.name})") from None
    return text


def _existing_file(text: str) -> str:
    return str(cliargs.input_file(text))


def build_parser() -> argparse.ArgumentParser:
    parser = cliargs.Parser(prog="usapp", description=__doc__)
    parser.add_argument("--db", type=database_url, default=None,
                        help=f"study database URL (SQLAlchemy); default ${settings.DB_ENV} or {settings.DEFAULT_DB}")
    parser.add_argument("--results", type=_existing_file, default=None, metavar="PATH",
                        help=f"results file the comparison page opens with; default ${settings.RESULTS_ENV} or none")
    parser.add_argument("--admin-password-file", type=_existing_file, default=None, metavar="PATH",
                        help=f"file whose first line is the admin password (keep it mode 600); "
                             f"${settings.PASSWORD_ENV} beats it; default ${settings.PASSWORD_FILE_ENV}. "
                             "Without a password the admin pages (results, truth, comparison) stay closed")
    return parser


def command(argv: list[str]) -> list[str]:
    known, streamlit_options = build_parser().parse_known_args(argv)
    app_args = (["--db", known.db] if known.db else []) + (["--results", known.results] if known.results else []) \
        + (["--admin-password-file", known.admin_password_file] if known.admin_password_file else [])
    return [sys.executable, "-m", "streamlit", "run", str(MAIN), *streamlit_options, "--", *app_args]


def _start(argv: list[str]) -> int:
    args = command(argv)
    # A password file given but unreadable or empty: one line now, not a closed admin page later.
    settings.admin_password(args[args.index("--") + 1:])
    # Replace this process so Ctrl-C and SIGTERM reach the server directly.
    os.execv(args[0], args)
    return 0


def main(argv: list[str] | None = None) -> None:
    sys.exit(run_cli("usapp", _start, sys.argv[1:] if argv is None else argv))
