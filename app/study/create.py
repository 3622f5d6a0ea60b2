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
from app.study.canvas import canvas_for
from app.study.design import anatomy_key, source_for
from app.study.images import encode_png, png_length
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


def create_study(db_url: str, name: str, sets: Mapping[str, str | Path], real: str | Path, cases_per_reader: int,
                 practice_cases: int = 0, seed: int = 0, field_of_view: str = "organ") -> Study:
    """A study in which each reader sees `cases_per_reader` scored anatomies (plus `practice_cases`
    more, with feedback, not scored), each anatomy once, from a source that rotates across readers.

    Cases are matched by label mask: only masks that the real set and every method set hold are
    used (the demo's sets all image the same held-out masks). Each drawn anatomy is stored once per
    source, cut to the same field of view (app.study.canvas) and encoded to the same byte length
    (app.study.images); `add_readers` assigns each reader one source per anatomy (app.study.design).
    """
    if not sets:
        raise UsageError("a study needs at least one method image set, got none")
    if REAL in sets:
        raise UsageError(f"method name {REAL!r} is reserved for the real set; rename that method")
    if cases_per_reader < 1:
        raise UsageError(f"cases_per_reader must be >= 1, got {cases_per_reader}")
    if practice_cases < 0:
        raise UsageError(f"practice_cases must be >= 0, got {practice_cases}")
    sources = {REAL: Path(real), **{method: Path(sets[method]) for method in sorted(sets)}}
    keys, shape, organ = {}, None, None
    for source, path in sources.items():
        with imageset.read(path) as ds:
            this_shape = (ds.sizes["y"], ds.sizes["x"])
            # DECISION: all sets must share one image size; resampling only some sets would
            # leave interpolation traces that give the method away.
            if shape is not None and this_shape != shape:
                raise UsageError(f"{path}: images are {this_shape[0]}x{this_shape[1]}, other sets are "
                                 f"{shape[0]}x{shape[1]}; all sets must have the same size")
            shape = this_shape
            if source == REAL:
                organ = ds.attrs.get("organ")
            labels = np.asarray(ds["label"].values)
        by_key: dict[str, int] = {}
        for index, label in enumerate(labels):
            by_key.setdefault(anatomy_key(label), index)
        keys[source] = by_key
    shared = [key for key in keys[REAL] if all(key in keys[s] for s in sources)]
    needed = cases_per_reader + practice_cases
    if len(shared) < needed:
        fewest = min(sets, key=lambda m: sum(k in keys[m] for k in keys[REAL]))
        raise UsageError(f"the real set and every method set share {len(shared)} label masks (fewest: {fewest}, "
                         f"{sum(k in keys[fewest] for k in keys[REAL])}); the study needs {needed} "
                         f"({cases_per_reader} scored + {practice_cases} practice, each reader sees each anatomy once)")
    rng = np.random.default_rng(seed)
    drawn = [shared[i] for i in rng.permutation(len(shared))[:needed]]
    with imageset.read(sources[REAL]) as ds:
        real_images = [np.asarray(ds["image"][keys[REAL][key]].values) for key in drawn]
    canvas = canvas_for(field_of_view, organ, shape).trimmed_to(real_images)
    anatomies = [{"key": key, "rank": rank if rank < cases_per_reader else rank - cases_per_reader,
                  "practice": rank >= cases_per_reader, "sample_ids": {}} for rank, key in enumerate(drawn)]
    rows = []
    for source, path in sources.items():
        with imageset.read(path) as ds:
            for anatomy in anatomies:
                index = keys[source][anatomy["key"]]
                sample_id = str(ds["sample_id"].values[index])
                anatomy["sample_ids"][source] = sample_id
                pixels = canvas.apply(np.asarray(ds["image"][index].values, dtype=np.uint8))
                rows.append({"method": source, "is_real": source == REAL, "is_practice": anatomy["practice"],
                             "anatomy": anatomy["key"], "source_sample_id": sample_id, "png": encode_png(pixels),
                             "case_key": secrets.token_urlsafe(16)})
    settings = {"methods": sorted(sets), "real": str(real), "sets": {m: str(p) for m, p in sets.items()},
                "cases_per_reader": cases_per_reader, "practice_cases": practice_cases, "seed": seed,
                "sources": list(sources), "anatomies": anatomies,
                "display": {**canvas.as_dict(), "encoding": "PNG, 8-bit grayscale, zlib level 0, no metadata",
                            "png_bytes": png_length(shape)}}
    engine = db.engine_for(db_url)
    with engine.begin() as connection:
        if connection.execute(select(db.study.c.id).where(db.study.c.name == name)).first():
            raise UsageError(f"a study named {name!r} already exists in {db_url}; choose another name")
        study_id = connection.execute(insert(db.study).values(
            name=name, created=db.now(), settings=settings, salt=secrets.token_hex(16))).inserted_primary_key[0]
        connection.execute(insert(db.case), [{**row, "study_id": study_id} for row in rows])
    return Study(db_url, study_id, name)


def add_readers(study: Study, names: Sequence[str]) -> dict[str, str]:
    """Add readers, each in the next row of the study's Latin square (app.study.design) with an
    own random case order; returns {name: token}. The tokens are shown once: only their hashes
    are stored."""
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
        case_ids = {(c.anatomy, c.method): c.id for c in connection.execute(
            select(db.case.c.id, db.case.c.anatomy, db.case.c.method).where(db.case.c.study_id == study.id))}
        taken = set(connection.execute(select(db.reader.c.display_name)
                                       .where(db.reader.c.study_id == study.id)).scalars())
        if taken & set(names):
            raise UsageError(f"reader names {sorted(taken & set(names))} already in study {study.name!r}; "
                             "choose other names")
        n_existing = connection.execute(select(func.count()).select_from(db.reader)
                                        .where(db.reader.c.study_id == study.id)).scalar_one()
        sources = settings["sources"]
        for number, name in enumerate(names, start=n_existing):
            token = secrets.token_urlsafe(32)
            design_row = number % len(sources)
            reader_id = connection.execute(insert(db.reader).values(
                study_id=study.id, token_hash=hash_token(token, salt), display_name=name,
                design_row=design_row)).inserted_primary_key[0]
            shown = {practice: [case_ids[(a["key"], sources[source_for(a["rank"], design_row, len(sources))])]
                                for a in settings["anatomies"] if a["practice"] == practice]
                     for practice in (True, False)}
            # Seeded by (study seed, reader number): reproducible, yet different per reader.
            rng = np.random.default_rng([settings["seed"], number])
            order = [shown[True][i] for i in rng.permutation(len(shown[True]))] + \
                    [shown[False][i] for i in rng.permutation(len(shown[False]))]
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
