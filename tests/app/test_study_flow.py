"""Reader-study core: durability, blinding, isolation, resume (no UI)."""

import io
import json
import threading

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app import study
from app.study import db
from app.study.images import png_chunk_types
from tests.app.study_sets import write_sets
from ussim.errors import UsageError

METHODS = ("pgsgan_secretname", "physsim_hiddenname")


@pytest.fixture
def made(tmp_path):
    sets, real = write_sets(tmp_path, METHODS, n=11)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    handle = study.create_study(url, "trial", sets, real, cases_per_reader=9, practice_cases=2, seed=5,
                                field_of_view="full")
    tokens = study.add_readers(handle, ["ann", "bob"])
    yield handle, tokens
    db.dispose_engines()


def _answer_all(session, answer="synthetic"):
    while (case := study.next_case(session)) is not None:
        study.submit(session, case.case_key, answer, 3)


def test_sqlite_runs_in_wal_with_full_sync_and_foreign_keys(made):
    handle, _ = made
    with db.engine_for(handle.db_url).connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_double_submission_changes_nothing(made):
    handle, tokens = made
    session = study.open_session(handle.db_url, tokens["ann"])
    case = study.next_case(session)
    assert study.submit(session, case.case_key, "real", 2).status == "saved"
    again = study.submit(session, case.case_key, "synthetic", 5)
    assert again.status == "already answered"
    csv_rows = study.export_csv(handle).splitlines()
    assert len(csv_rows) == 2 and ",real,2," in csv_rows[1]


def test_resume_at_first_unanswered_case_after_reopening(made):
    handle, tokens = made
    session = study.open_session(handle.db_url, tokens["ann"])
    seen = []
    for _ in range(3):
        case = study.next_case(session)
        seen.append(case.position)
        study.submit(session, case.case_key, "real", 4)
    assert seen == [1, 2, 3]
    db.dispose_engines()  # a new engine, as after a server restart
    session = study.open_session(handle.db_url, tokens["ann"])
    case = study.next_case(session)
    assert (case.position, case.total) == (4, 11)  # 9 scored anatomies + 2 practice
    assert study.progress(session) == (3, 11)


def test_each_reader_has_an_own_stable_order_with_practice_first(made):
    handle, tokens = made
    ann, bob = (study.open_session(handle.db_url, tokens[n]) for n in ("ann", "bob"))

    def order(session):
        keys = []
        while (case := study.next_case(session)) is not None:
            keys.append((case.case_key, case.practice))
            study.submit(session, case.case_key, "real", 1)
        return keys

    ann_order, bob_order = order(ann), order(bob)
    assert [p for _, p in ann_order] == [True, True] + [False] * 9
    # Other rows of the Latin square: the same anatomies, each from another source, in another order.
    assert not set(ann_order) & set(bob_order) and ann_order != bob_order
    assert sorted(_admin_column(handle, "ann", "anatomy")) == sorted(_admin_column(handle, "bob", "anatomy"))
    # Stable: asking again (after a restart) gives the stored order, not a new shuffle.
    db.dispose_engines()
    assert _admin_order(handle, "ann") == [key for key, _ in ann_order]


def _admin_order(handle, reader):
    return _admin_column(handle, reader, "case_key")


def _admin_column(handle, reader, column):
    return [row[column] for row in study.rows_from_csv(study.export_csv(handle)) if row["reader"] == reader]


def test_same_seed_gives_the_same_orders_in_a_fresh_database(made, tmp_path):
    handle, _ = made
    sets = {m: handle_set(handle, method=m) for m in METHODS}
    orders = []
    for name in ("one", "two"):
        url = f"sqlite:///{tmp_path / name}.db"
        again = study.create_study(url, "trial", sets, handle_set(handle, real=True), 3, practice_cases=2, seed=5,
                                   field_of_view="full")
        session = study.open_session(url, study.add_readers(again, ["ann"])["ann"])
        _answer_all(session)
        rows = study.export_csv(again).splitlines()[1:]
        orders.append([tuple(row.split(",")[4:9]) for row in rows])  # anatomy .. source sample id
    assert orders[0] == orders[1]


def test_practice_gives_feedback_scored_cases_do_not(made):
    handle, tokens = made
    session = study.open_session(handle.db_url, tokens["bob"])
    case = study.next_case(session)
    assert case.practice and study.submit(session, case.case_key, "real", 3).feedback in ("real", "synthetic")
    study.submit(session, study.next_case(session).case_key, "real", 3)
    case = study.next_case(session)
    assert not case.practice and study.submit(session, case.case_key, "real", 3).feedback is None


def test_pngs_are_bare_and_identical_in_format(made):
    handle, tokens = made
    session = study.open_session(handle.db_url, tokens["ann"])
    formats = set()
    while (case := study.next_case(session)) is not None:
        assert set(png_chunk_types(case.png)) <= {"IHDR", "IDAT", "IEND"}
        image = Image.open(io.BytesIO(case.png))
        formats.add((image.mode, image.size, tuple(sorted(image.info))))
        study.submit(session, case.case_key, "real", 1)
    with db.engine_for(handle.db_url).connect() as connection:
        kinds = {r for (r,) in connection.execute(text('SELECT DISTINCT is_real FROM "case"'))}
    assert kinds == {0, 1} and formats == {("L", (32, 32), ())}


def test_no_method_name_reaches_a_reader(made):
    handle, tokens = made
    session = study.open_session(handle.db_url, tokens["ann"])
    leaked = [repr(session)]
    while (case := study.next_case(session)) is not None:
        leaked += [repr(case._replace(png=b"")), case.png.decode("latin-1")]
        leaked.append(repr(study.submit(session, case.case_key, "synthetic", 5)))
    blob = "\n".join(leaked).lower()
    for secret in (*METHODS, "pgsgan", "physsim", "toy", "rayleigh", ".h5"):
        assert secret not in blob


def test_bad_token_and_foreign_case_are_refused(made):
    handle, tokens = made
    with pytest.raises(study.UnknownToken, match="unknown reader token"):
        study.open_session(handle.db_url, "not-a-token")
    ann, bob = (study.open_session(handle.db_url, tokens[n]) for n in ("ann", "bob"))
    # Cases are shared between readers, so a truly foreign key comes from a second study.
    other = study.create_study(handle.db_url, "other", {"m": handle_set(handle)}, handle_set(handle, real=True),
                               cases_per_reader=1, seed=1, field_of_view="full")
    carl = study.open_session(handle.db_url, study.add_readers(other, ["carl"])["carl"])
    foreign = study.next_case(carl).case_key
    with pytest.raises(UsageError, match="not one of your cases"):
        study.submit(ann, foreign, "real", 3)
    assert study.progress(bob) == (0, 11)


def handle_set(handle, real=False, method=METHODS[0]):
    with db.engine_for(handle.db_url).connect() as connection:
        settings = connection.execute(text("SELECT settings FROM study WHERE id = :i"), {"i": handle.id}).scalar()
    settings = json.loads(settings) if isinstance(settings, str) else settings
    return settings["real"] if real else settings["sets"][method]


@pytest.mark.parametrize("kwargs, message", [
    ({"answer": "maybe"}, "answer 'maybe' not allowed"),
    ({"confidence": 6}, "confidence 6 not allowed"),
])
def test_bad_answers_are_one_line_usage_errors(made, kwargs, message):
    handle, tokens = made
    session = study.open_session(handle.db_url, tokens["ann"])
    args = {"case_key": study.next_case(session).case_key, "answer": "real", "confidence": 3}
    with pytest.raises(UsageError, match=message) as error:
        study.submit(session, **{**args, **kwargs})
    assert "\n" not in str(error.value)


def test_results_from_a_completed_study(made):
    handle, tokens = made
    _answer_all(study.open_session(handle.db_url, tokens["ann"]), "synthetic")
    _answer_all(study.open_session(handle.db_url, tokens["bob"]), "synthetic")
    summary = study.results(handle, n_resamples=200)
    assert summary["n_answers"] == 18 and summary["n_readers"] == 2 and summary["n_anatomies"] == 9
    for method in METHODS:
        assert summary["methods"][method]["n_answers"] == 6  # 9 anatomies / 3 sources x 2 readers
        assert summary["methods"][method]["called_synthetic"] == 1.0
        assert summary["methods"][method]["called_synthetic_ci95"] == (1.0, 1.0)
        assert summary["methods"][method]["binomial_p"] == pytest.approx(2 * 0.5 ** 6)
        assert summary["methods"][method]["auc"] == 0.5  # same score for everything
    assert summary["specificity"] == 0.0
    assert summary["readers"]["ann"] == {"n_answers": 9, "sensitivity": 1.0, "specificity": 0.0,
                                         "accuracy": pytest.approx(6 / 9)}
    assert np.isnan(summary["fleiss_kappa"])  # ann and bob (rows 0 and 1) share no case
    assert summary["cohen_kappa"]["ann | bob"]["shared_cases"] == 0
    assert summary["median_seconds"] >= 0
    assert len(study.export_csv(handle).splitlines()) == 1 + 22  # practice rows included


def test_study_creation_refuses_bad_input(made, tmp_path):
    handle, _ = made
    real = handle_set(handle, real=True)
    with pytest.raises(UsageError, match="share 11 label masks .* the study needs 12"):
        study.create_study(handle.db_url, "big", {"m": real}, real, cases_per_reader=12, field_of_view="full")
    other, _ = write_sets(tmp_path / "other", ["m"], n=3)  # the same toy masks: 3 shared, not 11
    with pytest.raises(UsageError, match=r"share 3 label masks \(fewest: m, 3\)"):
        study.create_study(handle.db_url, "big", {"m": other["m"]}, real, cases_per_reader=4, field_of_view="full")
    with pytest.raises(UsageError, match="already exists"):
        study.create_study(handle.db_url, "trial", {"m": real}, real, cases_per_reader=1, field_of_view="full")
    with pytest.raises(UsageError, match="organ 'phantom' has no fitted field of view"):
        study.create_study(handle.db_url, "x", {"m": real}, real, cases_per_reader=1)
    with pytest.raises(UsageError, match="field of view 'sector' not allowed; use one of organ, full"):
        study.create_study(handle.db_url, "x", {"m": real}, real, cases_per_reader=1, field_of_view="sector")
    with pytest.raises(UsageError, match="reserved"):
        study.create_study(handle.db_url, "x", {"real": real}, real, cases_per_reader=1)
    with pytest.raises(UsageError, match="database URL"):
        study.create_study("nosuchdialect://x", "x", {"m": real}, real, cases_per_reader=1, field_of_view="full")


def test_database_itself_refuses_a_second_answer(made):
    handle, tokens = made
    session = study.open_session(handle.db_url, tokens["ann"])
    study.submit(session, study.next_case(session).case_key, "real", 3)
    with pytest.raises(IntegrityError):
        with db.engine_for(handle.db_url).begin() as connection:
            connection.execute(text("INSERT INTO answer (reader_id, case_id, answer, confidence, seconds, created) "
                                    "SELECT reader_id, case_id, 'real', 1, 1.0, created FROM answer"))


def test_two_readers_answer_at_the_same_time(made):
    handle, tokens = made
    threads = [threading.Thread(target=_answer_all, args=(study.open_session(handle.db_url, tokens[n]),))
               for n in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in ("ann", "bob"):
        assert study.progress(study.open_session(handle.db_url, tokens[name])) == (11, 11)


def test_admin_reopens_a_study_and_reader_names_stay_unique(made):
    handle, _ = made
    assert study.open_study(handle.db_url, "trial") == handle
    with pytest.raises(UsageError, match="no study named 'nope'.*known: trial"):
        study.open_study(handle.db_url, "nope")
    with pytest.raises(UsageError, match=r"reader names \['ann'\] already"):
        study.add_readers(handle, ["ann", "dan"])
