"""The reader-study database: tables and engines (SQLite by default, PostgreSQL by URL).

Durability rules from ../shared/ARCHITECTURE.md ("Reader study rules"): SQLite runs in WAL
mode with synchronous=FULL and foreign keys on, every answer is its own transaction, and one
reader answers one case once (a UNIQUE constraint, so the database itself refuses a double).
Only portable SQL goes through SQLAlchemy Core, so the same code runs on PostgreSQL.
"""

from __future__ import annotations

import datetime

from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, ForeignKey, Integer, LargeBinary,
                        MetaData, String, Table, UniqueConstraint, create_engine, event, inspect)
from sqlalchemy.engine import Engine

from ussim.errors import UsageError

metadata = MetaData()

study = Table(
    "study", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("settings", JSON, nullable=False),
    Column("salt", String(64), nullable=False),  # per-study salt for reader token hashes
)

case = Table(
    "case", metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("study.id", ondelete="CASCADE"), nullable=False, index=True),
    # The only case identifier a reader ever sees: random, unrelated to method or order.
    Column("case_key", String(64), nullable=False, unique=True),
    Column("png", LargeBinary, nullable=False),
    # Hidden truth: read only by the admin functions in results.py.
    Column("method", String(200), nullable=False),
    Column("is_real", Boolean, nullable=False),
    Column("is_practice", Boolean, nullable=False),
    # The label mask's key (app.study.design.anatomy_key): one anatomy, one case per source.
    Column("anatomy", String(64), nullable=False, index=True),
    Column("source_sample_id", String(200), nullable=False),
    UniqueConstraint("study_id", "anatomy", "method"),
)

reader = Table(
    "reader", metadata,
    Column("id", Integer, primary_key=True),
    Column("study_id", ForeignKey("study.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    # The reader's row of the Latin square: which source they see for each anatomy.
    Column("design_row", Integer, nullable=False),
    UniqueConstraint("study_id", "display_name"),
)

assignment = Table(
    "assignment", metadata,
    Column("reader_id", ForeignKey("reader.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),  # 1-based, practice cases first
    Column("case_id", ForeignKey("case.id", ondelete="CASCADE"), nullable=False),
    # When the server first sent this case to the reader: the answer's seconds count from here,
    # so a reload does not restart the clock.
    Column("shown_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("reader_id", "case_id"),
)

answer = Table(
    "answer", metadata,
    Column("id", Integer, primary_key=True),
    Column("reader_id", ForeignKey("reader.id", ondelete="CASCADE"), nullable=False),
    Column("case_id", ForeignKey("case.id", ondelete="CASCADE"), nullable=False),
    Column("answer", String(16), nullable=False),  # "real" | "synthetic"
    Column("confidence", Integer, nullable=False),  # 1..5
    Column("seconds", Float, nullable=False),  # created - assignment.shown_at, on the server's clock
    Column("created", DateTime(timezone=True), nullable=False),
    UniqueConstraint("reader_id", "case_id", name="one_answer_per_reader_and_case"),
)

_engines: dict[str, Engine] = {}


def _sqlite_durability(dbapi_connection, _record):
    # Per-connection settings: synchronous and foreign_keys are not stored in the file, so
    # every new pooled connection must set them again.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def engine_for(db_url: str) -> Engine:
    """One engine per database URL (created with its tables on first use)."""
    if db_url in _engines:
        return _engines[db_url]
    try:
        engine = create_engine(db_url)
    except Exception as error:  # ArgumentError, NoSuchModuleError for an unknown dialect/driver
        raise UsageError(f"database URL {db_url!r} not usable ({' '.join(str(error).split())}); "
                         "use sqlite:///path/to/study.db or postgresql://user@host/dbname") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_durability)
    metadata.create_all(engine)
    _check_schema(engine, db_url)
    _engines[db_url] = engine
    return engine


def _check_schema(engine: Engine, db_url: str) -> None:
    """One line when the database holds tables of an earlier version (create_all adds no column)."""
    found = inspect(engine)
    for table in metadata.sorted_tables:
        missing = {c.name for c in table.columns} - {c["name"] for c in found.get_columns(table.name)}
        if missing:
            engine.dispose()
            raise UsageError(f"database {db_url} was made by an earlier version of the reader study (table "
                             f"{table.name!r} lacks {', '.join(sorted(missing))}); export its answers with that "
                             "version and create the study again in a new database")


def dispose_engines() -> None:
    """Close every cached engine (tests use it to reopen a database as a fresh process would)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)
