"""Where the app's settings come from: the command line after `--`, then the environment.

    streamlit run app/main.py -- --db sqlite:///runs/study.db --results runs/demo/results.nc \
        --admin-password-file runs/demo/admin-password.txt
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ussim.errors import UsageError

DEFAULT_DB = "sqlite:///runs/study.db"
DB_ENV = "USSIM_STUDY_DB"
PASSWORD_ENV = "USSIM_ADMIN_PASSWORD"
PASSWORD_FILE_ENV = "USSIM_ADMIN_PASSWORD_FILE"
RESULTS_ENV = "USSIM_RESULTS"


def _option(name: str, argv: list[str] | None) -> str | None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(name, default=None)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return getattr(known, name.lstrip("-").replace("-", "_"))


def db_url(argv: list[str] | None = None) -> str:
    """--db beats $USSIM_STUDY_DB beats the default."""
    return _option("--db", argv) or os.environ.get(DB_ENV) or DEFAULT_DB


def results_path(argv: list[str] | None = None) -> str | None:
    """--results beats $USSIM_RESULTS beats none: the results file the comparison page starts with."""
    return _option("--results", argv) or os.environ.get(RESULTS_ENV) or None


def admin_password(argv: list[str] | None = None) -> str | None:
    """$USSIM_ADMIN_PASSWORD, else the first line of --admin-password-file or
    $USSIM_ADMIN_PASSWORD_FILE; None when neither is set. A password file that cannot be read or
    is empty is one UsageError line (the admin pages then stay closed and say why)."""
    # DECISION: without a password the admin pages are closed, never open: a tokenless visitor of a
    # shared server would otherwise see the truth per case and the method names.
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    path = _option("--admin-password-file", argv) or os.environ.get(PASSWORD_FILE_ENV)
    if not path:
        return None
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise UsageError(f"admin password file {path} not readable ({error.strerror}); "
                         "give a file holding the password on its first line") from None
    if not lines or not lines[0].strip():
        raise UsageError(f"admin password file {path} is empty; put the password on its first line")
    return lines[0].strip()
