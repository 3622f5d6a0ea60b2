"""The study's design and display (issue 17): each anatomy once per reader in a balanced Latin
square, one field of view and fill for every case, one byte length, server-side seconds, an
export from which every number can be recomputed."""

import datetime
import io
import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select, text

from app import study
from app.study import db
from app.study.canvas import canvas_for
from app.study.create import REAL
from app.study.images import png_length
from tests.app.study_sets import write_sets
from ussim.errors import UsageError

METHODS = ("gan", "sim")  # 3 sources with real


@pytest.fixture
def ivus_study(tmp_path):
    """An IVUS-organ study of 32 px images whose real frames carry a black corner (a scanner surround),
    6 readers (two full cycles of the 3-row Latin square), 6 scored anatomies + 1 practice."""
    sets, real = write_sets(tmp_path, METHODS, n=8, size=32, organ="ivus", real_corner=0)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    handle = study.create_study(url, "ivus", sets, real, cases_per_reader=6, practice_cases=1, seed=2)
    tokens = study.add_readers(handle, [f"r{i}" for i in range(6)])
    yield handle, tokens, sets, real
    db.dispose_engines()


def _cases(handle):
    with db.engine_for(handle.db_url).connect() as connection:
        return connection.execute(select(db.case.c.png, db.case.c.is_real, db.case.c.method, db.case.c.anatomy)
                                  .where(db.case.c.study_id == handle.id)).all()


def _assigned(handle):
    with db.engine_for(handle.db_url).connect() as connection:
        return connection.execute(
            select(db.reader.c.display_name, db.case.c.anatomy, db.case.c.method, db.case.c.is_practice)
            .join(db.assignment, db.assignment.c.reader_id == db.reader.c.id)
            .join(db.case, db.case.c.id == db.assignment.c.case_id)
            .where(db.reader.c.study_id == handle.id)).all()


def test_each_reader_sees_each_anatomy_once_and_every_source_equally_often(ivus_study):
    handle, *_ = ivus_study
    rows = _assigned(handle)
    by_reader = {}
    for reader, anatomy, method, practice in rows:
        by_reader.setdefault(reader, []).append((anatomy, method, practice))
    for reader, cases in by_reader.items():
        anatomies = [a for a, _, _ in cases]
        assert len(anatomies) == len(set(anatomies)) == 7, reader  # practice included: no anatomy twice
        scored = Counter(m for _, m, p in cases if not p)
        assert scored == {REAL: 2, "gan": 2, "sim": 2}, reader     # 6 scored / 3 sources
    scored_pairs = Counter((a, m) for _, a, m, p in rows if not p)
    # Two full cycles of the Latin square: every (anatomy, source) pair shown exactly twice.
    assert len(scored_pairs) == 6 * 3 and set(scored_pairs.values()) == {2}
    # Readers r and r + 3 share their cases (what kappa needs); r and r + 1 share none.
    same = {r: {(a, m) for a, m, _ in c} for r, c in by_reader.items()}
    assert same["r0"] == same["r3"] and not same["r0"] & same["r1"]


def test_the_design_is_stored_and_exported(ivus_study):
    handle, tokens, *_ = ivus_study
    design = json.loads(study.export_design(handle))
    assert design["sources"] == [REAL, *METHODS] and len(design["anatomies"]) == 7
    assert [r["design_row"] for r in design["readers"]] == [0, 1, 2, 0, 1, 2]
    assert "token" not in json.dumps(design["readers"]) and not any(t in json.dumps(design) for t in tokens.values())
    first = design["readers"][0]["assignment"]
    assert len(first) == 7 and first[0]["practice"] and all(set(a) >= {"anatomy", "method", "case_key"} for a in first)
    display = design["display"]
    assert display["field_of_view"] == "organ" and display["organ"] == "ivus" and display["fill"] == 30
    assert display["png_bytes"] == png_length((32, 32))


def test_pixels_outside_the_field_of_view_are_identical_and_a_classifier_on_them_is_at_chance(ivus_study):
    handle, _, sets, real = ivus_study
    cases = _cases(handle)
    pixels = np.stack([np.asarray(Image.open(io.BytesIO(c.png))) for c in cases])
    is_real = np.array([c.is_real for c in cases])
    canvas = canvas_for("organ", "ivus", (32, 32))
    outside = pixels[:, ~canvas.inside]
    assert outside.size and (outside == canvas.fill).all()  # one fill for every case, real or synthetic
    assert _nearest_centroid_accuracy(outside, is_real) <= max(is_real.mean(), 1 - is_real.mean())
    # The same classifier on the sources' own pixels there (the real frames' corner text) is perfect:
    # the check can fail.
    from ussim import imageset
    raw = []
    for path in (real, *sets.values()):
        with imageset.read(path) as ds:
            raw.append(ds["image"].values[:, ~canvas.inside])
    labels = np.repeat([True] + [False] * len(sets), len(raw[0]))
    assert _nearest_centroid_accuracy(np.concatenate(raw), labels) == 1.0


def _nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out accuracy of a nearest-centroid classifier; a tie goes to the majority class.
    Hand-written: sklearn is not a dependency, and the rule is three lines."""
    features, majority = features.astype(float), labels.mean() >= 0.5
    correct = 0
    for i in range(len(labels)):
        keep = np.arange(len(labels)) != i
        distance = {k: np.linalg.norm(features[i] - features[keep & (labels == k)].mean(axis=0)) for k in (True, False)}
        guess = majority if np.isclose(distance[True], distance[False]) else min(distance, key=distance.get)
        correct += guess == labels[i]
    return correct / len(labels)


def test_every_image_of_a_study_has_the_same_byte_length(ivus_study):
    handle, tokens, *_ = ivus_study
    lengths = {len(c.png) for c in _cases(handle)}
    assert lengths == {png_length((32, 32))}
    # What readers receive: every case of every reader.
    for token in tokens.values():
        session = study.open_session(handle.db_url, token)
        while (case := study.next_case(session)) is not None:
            assert len(case.png) == png_length((32, 32))
            study.submit(session, case.case_key, "real", 3)


def test_seconds_run_on_the_server_from_when_the_case_was_first_shown(ivus_study, monkeypatch):
    handle, tokens, *_ = ivus_study
    clock = [datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.timezone.utc)]
    monkeypatch.setattr(db, "now", lambda: clock[0])
    session = study.open_session(handle.db_url, tokens["r0"])
    case = study.next_case(session)
    clock[0] += datetime.timedelta(seconds=5)
    db.dispose_engines()  # a page reload after a server restart: the same case, the clock keeps running
    session = study.open_session(handle.db_url, tokens["r0"])
    assert study.next_case(session).case_key == case.case_key
    clock[0] += datetime.timedelta(seconds=7.25)
    study.submit(session, case.case_key, "synthetic", 2)
    row = study.rows_from_csv(study.export_csv(handle))[0]
    assert row["seconds"] == 12.25 and row["shown_at"].startswith("2026-12-01T09:00:00")


def test_the_exported_answers_give_back_every_number(ivus_study):
    handle, tokens, *_ = ivus_study
    for number, token in enumerate(tokens.values()):
        session = study.open_session(handle.db_url, token)
        while (case := study.next_case(session)) is not None:
            study.submit(session, case.case_key, ("real", "synthetic")[(case.position + number) % 2],
                         1 + (case.position * 3 + number) % 5)
    summary = study.results(handle, n_resamples=100)
    again = study.summarize(study.rows_from_csv(study.export_csv(handle)), n_resamples=100)
    assert json.dumps(again, sort_keys=True) == json.dumps(summary, sort_keys=True)
    assert summary["fleiss_raters"] == 2 and summary["fleiss_cases"] == 18  # rows 0-2 each read twice
    assert summary["cohen_kappa"]["r0 | r3"]["shared_cases"] == 6


def test_a_database_of_an_earlier_version_is_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = db.create_engine(url)
    with engine.begin() as connection:
        connection.execute(text('CREATE TABLE "case" (id INTEGER PRIMARY KEY, study_id INTEGER)'))
    engine.dispose()
    with pytest.raises(UsageError, match=r"earlier version .*table 'case' lacks anatomy"):
        db.engine_for(url)


def test_a_real_frames_own_narrower_sector_is_cut_from_every_case(tmp_path):
    """Ovary (sector) canvas: a real frame whose sector is narrower shows a black wedge at the
    canvas's side; the study's canvas loses that wedge for every case, and keeps a dark region of
    a real frame that does not touch the edge (anatomy, such as a cyst)."""
    sets, real = write_sets(tmp_path, ["gan"], n=3, size=64, organ="ovary")
    from ussim import imageset
    canvas = canvas_for("organ", "ovary", (64, 64))
    with imageset.read(real) as ds:
        pixels = ds["image"].values.copy()
        labels, ids = ds["label"].values, ds["sample_id"].values.tolist()
    rows, cols = np.nonzero(canvas.inside)
    wedge = canvas.inside & (np.arange(64)[None, :] <= cols.min() + 3)   # the left side of the sector
    cyst = np.zeros((64, 64), bool)
    cyst[40:44, 30:34] = True                                           # dark, away from every edge
    assert not (cyst & canvas.outer_edge).any() and (cyst <= canvas.inside).all()
    pixels[:, wedge] = np.maximum(pixels[:, wedge], 60)                 # no case is dark there ...
    pixels[0, wedge] = 0                                                # ... but real frame 0's own surround
    pixels[1, cyst] = 0
    imageset.write(imageset.make(pixels, labels, class_names=["background", "inclusion"], organ="ovary",
                                 method="real", params={}, sample_id=ids), real, overwrite=True)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    handle = study.create_study(url, "ovary", sets, real, cases_per_reader=3, seed=0)
    try:
        images = np.stack([np.asarray(Image.open(io.BytesIO(c.png))) for c in _cases(handle)])
        assert (images[:, wedge] == canvas.fill).all()                  # cut from real and synthetic alike
        assert (images[:, cyst] != canvas.fill).any()                   # the cyst stays (and gan's pixels there)
        display = json.loads(study.export_design(handle))["display"]
        assert display["fov"] == "sector" and display["trimmed_pixels"] == int(wedge.sum())
    finally:
        db.dispose_engines()
