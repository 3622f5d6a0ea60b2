"""Admin side: create a study from image sets and add readers with personal tokens."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select

from app.study import db
from app.study.images import encode_png
from ussim import imageset
from ussim.errors import UsageError

REAL = "real"  # the truth label of real cases in the hidden `method` column


@dataclasses.dataclass(frozen=True)
class Study:
    """Admin handle on a study. Never hand this to a reader: results need only it."""
    db_url: str
    id: int
    name: str


def hash_token(token: str, salt: str) -> str:
    # Tokens are 256 random bits, so one salted SHA-256 is enough; the salt keeps equal
    # hashes from linking studies.
    return hashlib.sha256(f"{salt}:{token}".encode()).hexdigest()


def create_study(db_url: str, name: str, sets: Mapping[str, str | Path], real: str | Path,
                 n_cases_per_method: int, practice_cases: int = 0, seed: int = 0) -> Study:
    """Draw `n_cases_per_method` images from each method set and from the real set (plus
    `practice_cases` more, not scored), re-encode them identically and store them as cases."""
    if not sets:
        raise UsageError("a study needs at least one method image set, got none")
    if REAL in sets:
        raise UsageError(f"method name {REAL!r} is reserved for the real set; rename that method")
    if n_cases_per_method < 1:
        raise UsageError(f"n_cases_per_method must be >= 1, got {n_cases_per_method}")
    if practice_cases < 0:
        raise UsageError(f"practice_cases must be >= 0, got {practice_cases}")
    sources = {REAL: Path(real), **{method: Path(path) for method, path in sets.items()}}
    # DECISION: practice cases alternate real, method 1, method 2, ... so a short practice
    # block still shows both kinds; they come from samples not used as scored cases.
    practice_plan = [list(sources)[i % len(sources)] for i in range(practice_cases)]
    rng = np.random.default_rng(seed)
    drawn, shape = [], None
    for method, path in sources.items():
        n_practice = practice_plan.count(method)
        with imageset.read(path) as ds:
            n_available = ds.sizes["sample"]
            if n_available < n_cases_per_method + n_practice:
                raise UsageError(f"{path}: holds {n_available} images, the study needs "
                                 f"{n_cases_per_method + n_practice} from it")
            this_shape = (ds.sizes["y"], ds.sizes["x"])
            # DECISION: all sets must share one image size; resampling only some sets would
            # leave interpolation traces that give the method away.
            if shape is not None and this_shape != shape:
                raise UsageError(f"{path}: images are {this_shape[0]}x{this_shape[1]}, other sets are "
                                 f"{shape[0]}x{shape[1]}; all sets must have the same size")
            shape = this_shape
            picks = rng.choice(n_available, n_cases_per_method + n_practice, replace=False)
            for rank, index in enumerate(picks):
                pixels = np.asarray(ds["image"][int(index)].values, dtype=np.uint8)
                drawn.append({"method": method, "is_real": method == REAL, "is_practice": rank >= n_cases_per_method,
                              "source_sample_id": str(ds["sample_id"].values[int(index)]),
                              "png": encode_png(pixels), "case_key": secrets.token_urlsafe(16)})
    settings = {"methods": sorted(sets), "real": str(real), "sets": {m: str(p) for m, p in sets.items()},
                "n_cases_per_method": n_cases_per_method, "practice_cases": practice_cases, "seed": seed}
    engine = db.engine_for(db_url)
    with engine.begin() as connection:
        if connection.execute(select(db.study.c.id).where(db.study.c.name == name)).first():
            raise UsageError(f"a study named {name!r} already exists in {db_url}; choose another name")
        study_id = connection.execute(insert(db.study).values(
            name=name, created=db.now(), settings=settings, salt=secrets.token_hex(16))).inserted_primary_key[0]
        connection.execute(insert(db.case), [{**row, "study_id": study_id} for row in drawn])
    return Study(db_url, study_id, name)


def add_readers(study: Study, names: Sequence[str]) -> dict[str, str]:
    """Add readers, each with an own random case order; returns {name: token}. The tokens are
    shown once: only their hashes are stored."""
    if len(set(names)) != len(names) or any(not str(n).strip() for n in names):
        raise UsageError(f"reader names must be non-empty and distinct, got {list(names)}")
    engine = db.engine_for(study.db_url)
    tokens = {}
    with engine.begin() as connection:
        row = connection.execute(select(db.study.c.salt, db.study.c.settings)
                                 .where(db.study.c.id == study.id)).first()
        if row is None:
            raise UsageError(f"no study with id {study.id} in {study.db_url}")
        salt, settings = row
        cases = connection.execute(select(db.case.c.id, db.case.c.is_practice)
                                   .where(db.case.c.study_id == study.id).order_by(db.case.c.id)).all()
        taken = set(connection.execute(select(db.reader.c.display_name)
                                       .where(db.reader.c.study_id == study.id)).scalars())
        if taken & set(names):
            raise UsageError(f"reader names {sorted(taken & set(names))} already in study {study.name!r}; "
                             "choose other names")
        n_existing = connection.execute(select(func.count()).select_from(db.reader)
                                        .where(db.reader.c.study_id == study.id)).scalar_one()
        for number, name in enumerate(names, start=n_existing):
            token = secrets.token_urlsafe(32)
            reader_id = connection.execute(insert(db.reader).values(
                study_id=study.id, token_hash=hash_token(token, salt), display_name=name)).inserted_primary_key[0]
            # Seeded by (study seed, reader number): reproducible, yet different per reader.
            rng = np.random.default_rng([settings["seed"], number])
            practice = [c.id for c in cases if c.is_practice]
            scored = [c.id for c in cases if not c.is_practice]
            order = [practice[i] for i in rng.permutation(len(practice))] + \
                    [scored[i] for i in rng.permutation(len(scored))]
            connection.execute(insert(db.assignment), [
                {"reader_id": reader_id, "position": position, "case_id": case_id}
                for position, case_id in enumerate(order, start=1)])
            tokens[name] = token
    return tokens


def open_study(db_url: str, name: str) -> Study:
    """Admin handle on an existing study by name."""
    with db.engine_for(db_url).connect() as connection:
        study_id = connection.execute(select(db.study.c.id).where(db.study.c.name == name)).scalar()
        known = [] if study_id is not None else list(connection.execute(select(db.study.c.name)).scalars())
    if study_id is None:
        raise UsageError(f"no study named {name!r} in {db_url}; known: {', '.join(sorted(known)) or 'none'}")
    return Study(db_url, study_id, name)
