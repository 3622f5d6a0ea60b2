"""Where the app's settings come from: the command line after `--`, then the environment.

    streamlit run app/main.py -- --db sqlite:///runs/study.db --results runs/demo/results.nc
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_DB = "sqlite:///runs/study.db"
DB_ENV = "USSIM_STUDY_DB"
PASSWORD_ENV = "USSIM_ADMIN_PASSWORD"
RESULTS_ENV = "USSIM_RESULTS"


def db_url(argv: list[str] | None = None) -> str:
    """--db beats $USSIM_STUDY_DB beats the default."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.db or os.environ.get(DB_ENV) or DEFAULT_DB


def results_path(argv: list[str] | None = None) -> str | None:
    """--results beats $USSIM_RESULTS beats none: the results file the comparison page starts with."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--results", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.results or os.environ.get(RESULTS_ENV) or None


def admin_password() -> str | None:
    # DECISION: no password when $USSIM_ADMIN_PASSWORD is unset (a researcher's own machine);
    # the admin pages then say so, and any shared deployment must set it.
    return os.environ.get(PASSWORD_ENV) or None
