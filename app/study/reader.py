"""Reader side: sign in with a token, get the next case, submit an answer.

Nothing returned here names a method: a case is its random key, its PNG bytes and its place in
the reader's own order. Feedback ("real" / "synthetic", never the method) exists only for
practice cases.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import NamedTuple

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.study import db
from app.study.create import hash_token
from ussim.errors import UsageError

ANSWERS = ("real", "synthetic")
CONFIDENCES = range(1, 6)


@dataclasses.dataclass(frozen=True)
class ReaderSession:
    db_url: str
    reader_id: int
    study_id: int
    display_name: str


class Case(NamedTuple):
    case_key: str
    png: bytes
    position: int  # 1-based place in this reader's order
    total: int  # practice cases included
    practice: bool


class Submitted(NamedTuple):
    status: str  # "saved" or "already answered"
    feedback: str | None  # the truth ("real"/"synthetic") for practice cases, else None


class UnknownToken(UsageError):
    """A token that belongs to no reader."""


def open_session(db_url: str, token: str) -> ReaderSession:
    """The reader whose token this is; an unknown token raises UnknownToken."""
    engine = db.engine_for(db_url)
    with engine.connect() as connection:
        # DECISION: with a per-study salt the hash depends on the study, so each study's salt
        # is tried in turn; a database holds few studies, and lookup stays one indexed query each.
        for study_id, salt in connection.execute(select(db.study.c.id, db.study.c.salt)).all():
            row = connection.execute(select(db.reader.c.id, db.reader.c.display_name).where(and_(
                db.reader.c.study_id == study_id, db.reader.c.token_hash == hash_token(str(token), salt)))).first()
            if row is not None:
                return ReaderSession(db_url, row.id, study_id, row.display_name)
    raise UnknownToken("unknown reader token; use the personal link the study admin sent you")


def _aware(moment: datetime.datetime) -> datetime.datetime:
    # SQLite hands timestamps back without their zone; they were stored in UTC (db.now).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.timezone.utc)


def _answered(session: ReaderSession):
    return select(db.answer.c.case_id).where(db.answer.c.reader_id == session.reader_id)


def next_case(session: ReaderSession) -> Case | None:
    """The first case in this reader's order without an answer, or None when all are done.

    The first time a case is returned its assignment records the server's time (`shown_at`):
    the answer's seconds count from there, so reloading the page does not restart the clock.
    """
    engine = db.engine_for(session.db_url)
    with engine.begin() as connection:
        total = connection.execute(select(func.count()).select_from(db.assignment)
                                   .where(db.assignment.c.reader_id == session.reader_id)).scalar_one()
        row = connection.execute(
            select(db.case.c.case_key, db.case.c.png, db.assignment.c.position, db.case.c.is_practice,
                   db.assignment.c.shown_at)
            .join(db.case, db.case.c.id == db.assignment.c.case_id)
            .where(db.assignment.c.reader_id == session.reader_id,
                   db.assignment.c.case_id.not_in(_answered(session)))
            .order_by(db.assignment.c.position).limit(1)).first()
        if row is not None and row.shown_at is None:
            connection.execute(update(db.assignment).where(
                db.assignment.c.reader_id == session.reader_id, db.assignment.c.position == row.position,
                db.assignment.c.shown_at.is_(None)).values(shown_at=db.now()))
    if row is None:
        return None
    return Case(row.case_key, bytes(row.png), row.position, total, bool(row.is_practice))


def progress(session: ReaderSession) -> tuple[int, int]:
    """(answered, total) for this reader."""
    engine = db.engine_for(session.db_url)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(db.assignment)
                                   .where(db.assignment.c.reader_id == session.reader_id)).scalar_one()
        done = connection.execute(select(func.count()).select_from(db.answer)
                                  .where(db.answer.c.reader_id == session.reader_id)).scalar_one()
    return done, total


def submit(session: ReaderSession, case_key: str, answer: str, confidence: int) -> Submitted:
    """Store one answer in its own transaction; it is durable when this returns. Its seconds are
    the server's: from the moment `next_case` first showed the case to now.

    A second submission for the same case changes nothing and reports "already answered".
    """
    if answer not in ANSWERS:
        raise UsageError(f"answer {answer!r} not allowed; use one of {', '.join(ANSWERS)}")
    if isinstance(confidence, bool) or not isinstance(confidence, int) or confidence not in CONFIDENCES:
        raise UsageError(f"confidence {confidence!r} not allowed; use an integer from 1 to 5")
    engine = db.engine_for(session.db_url)
    try:
        with engine.begin() as connection:
            row = connection.execute(
                select(db.case.c.id, db.case.c.is_practice, db.case.c.is_real, db.assignment.c.shown_at)
                .join(db.assignment, db.assignment.c.case_id == db.case.c.id)
                .where(db.assignment.c.reader_id == session.reader_id, db.case.c.case_key == case_key)).first()
            if row is None:
                # Same message whether the key exists for another reader or not at all.
                raise UsageError(f"case {case_key!r} is not one of your cases")
            feedback = ("real" if row.is_real else "synthetic") if row.is_practice else None
            exists = connection.execute(_answered(session).where(db.answer.c.case_id == row.id)).first()
            if exists:
                return Submitted("already answered", feedback)
            answered_at = db.now()
            # Milliseconds, as the CSV export writes them. A case answered without having been
            # fetched (a client calling submit directly) counts 0 s.
            shown_at = _aware(row.shown_at) if row.shown_at is not None else answered_at
            connection.execute(insert(db.answer).values(
                reader_id=session.reader_id, case_id=row.id, answer=answer, confidence=confidence,
                seconds=round(max(0.0, (answered_at - shown_at).total_seconds()), 3), created=answered_at))
    except IntegrityError:
        # A concurrent double submission lost the race to the UNIQUE constraint.
        return Submitted("already answered", feedback)
    return Submitted("saved", feedback)
