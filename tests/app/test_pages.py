"""The Streamlit app's page logic, run headless with AppTest: roles, reader flow, blinding."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import study
from app.study import db
from tests.app.study_sets import write_sets

METHODS = ("pgsgan_secretname", "physsim_hiddenname")
MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
TIMEOUT = 30


@pytest.fixture
def made(tmp_path, monkeypatch):
    sets, real = write_sets(tmp_path, METHODS, n=4)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    handle = study.create_study(url, "trial", sets, real, cases_per_reader=3, practice_cases=1, seed=3,
                                field_of_view="full")
    tokens = study.add_readers(handle, ["ann", "bob"])
    monkeypatch.setenv("USSIM_STUDY_DB", url)
    monkeypatch.delenv("USSIM_ADMIN_PASSWORD", raising=False)
    yield handle, tokens, {"real": real, **sets}
    db.dispose_engines()


def _reader_app(token):
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.query_params["token"] = token
    return at.run()


def _of(at, kind):
    """Rendered elements of one kind (Image, Progress...), found by class name: AppTest has no
    accessor for images and progress bars."""
    found, stack = [], [at.main]
    while stack:
        node = stack.pop()
        if type(node).__name__ == kind:
            found.append(node)
        stack.extend(getattr(node, "children", {}).values())
    return found


def _progress(at):
    return _of(at, "Progress")[0].proto.text


def _answer(at, answer="synthetic", confidence=4):
    position = next(r.key for r in at.radio if r.key.startswith("answer_")).split("_")[1]
    at.radio(key=f"answer_{position}").set_value(answer)
    at.radio(key=f"confidence_{position}").set_value(confidence)
    return at.button(key=f"submit_{position}").click().run()


def _visible_text(at):
    parts = [e.value for kind in ("markdown", "text", "caption", "title", "header", "subheader", "info",
                                  "success", "error", "code") for e in getattr(at, kind)]
    parts += [str(w.label) for w in [*at.radio, *at.button]]
    parts += [str(o) for r in at.radio for o in r.options]
    return " ".join(str(p) for p in parts).lower()


def _keys(at):
    # every user key in session state (widget keys included), plus the raw widget ids
    state = at._session_state._state
    keys = [str(k) for k in state.filtered_state] + [str(k) for k in state._keys()]
    keys += [str(w.key) for w in [*at.radio, *at.button] if w.key]
    return " ".join(keys).lower()


def test_reader_sees_one_image_and_answer_is_stored(made):
    handle, tokens, _ = made
    at = _reader_app(tokens["ann"])
    assert not at.exception
    assert len(_of(at, "Image")) == 1
    assert "0 of 4 answered" in _progress(at)
    at = _answer(at, "real", 2)
    assert not at.exception
    rows = study.export_csv(handle).splitlines()
    assert len(rows) == 2 and rows[1].startswith("ann,0,1,") and ",real,2," in rows[1]
    # The first case is a practice case: its truth is shown, and the next case comes up.
    assert any("Practice case: that image was" in i.value for i in at.info)
    assert "1 of 4 answered" in _progress(at)


def test_reader_finishes_and_a_new_session_resumes_finished(made):
    _, tokens, _ = made
    at = _reader_app(tokens["bob"])
    for _ in range(4):
        at = _answer(at)
    assert any("Finished" in s.value for s in at.success)
    assert not _of(at, "Image")
    again = _reader_app(tokens["bob"])
    assert any("Finished" in s.value for s in again.success)


def test_no_method_name_reaches_the_reader_page(made):
    _, tokens, _ = made
    at = _reader_app(tokens["ann"])
    for _ in range(3):
        rendered, keys = _visible_text(at), _keys(at)
        for name in (*METHODS, "pgsgan", "physsim", "secretname", "hiddenname"):
            assert name not in rendered and name not in keys
        at = _answer(at)


def test_a_results_file_given_to_the_app_never_reaches_a_reader(made, monkeypatch, tmp_path):
    _, tokens, _ = made
    path = tmp_path / "secret_results_ovary.nc"
    monkeypatch.setenv("USSIM_RESULTS", str(path))
    monkeypatch.setattr("sys.argv", ["main.py", "--results", str(path)])
    at = _reader_app(tokens["ann"])
    assert not at.exception and [t.value for t in at.title] == ["Realism reading"]
    rendered, keys = _visible_text(at), _keys(at)
    for word in ("secret_results", "results.nc", "comparison"):
        assert word not in rendered and word not in keys
    assert not at.text_input and not at.warning


def test_unknown_token_gets_one_line_error_and_no_admin_page(made):
    at = _reader_app("not-a-token")
    assert not at.exception
    assert len(at.error) == 1 and "unknown reader token" in at.error[0].value
    assert not [t for t in at.title if t.value in ("Study results", "Study admin", "Comparison")]


def test_reader_token_gives_no_access_to_results(made):
    _, tokens, _ = made
    at = _reader_app(tokens["ann"])
    assert [t.value for t in at.title] == ["Realism reading"]
    # Asking for the results page by switching to it fails: it is not in a reader's navigation.
    with pytest.raises(ValueError, match=r"Known pages: \[[^,]*reader.py'\]"):
        at.switch_page("views/study_results.py").run()
    assert not at.get("download_button")


ADMIN_TITLES = ("Comparison", "Phantom editor", "Study admin", "Study results")


def test_without_a_password_no_visitor_gets_an_admin_page(made):
    for query in ({}, {"token": ""}, {"token": "   "}):
        at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
        for key, value in query.items():
            at.query_params[key] = value
        at = at.run()
        assert not at.exception
        titles = [t.value for t in at.title]
        assert not set(titles) & set(ADMIN_TITLES), (query, titles)
        assert titles == (["Admin pages closed"] if not query else ["Realism reading"])
        if query:  # a token parameter, even empty, is a reader: the reader page refuses it
            assert len(at.error) == 1 and "unknown reader token" in at.error[0].value and not _of(at, "Image")
        else:
            assert "USSIM_ADMIN_PASSWORD" in " ".join(m.value for m in at.markdown)
        for page in URL_PATHS.values():
            with pytest.raises(ValueError, match="Known pages"):
                at.switch_page(page).run()
        assert not at.get("download_button")


def test_admin_sees_admin_pages(made, monkeypatch):
    monkeypatch.setenv("USSIM_ADMIN_PASSWORD", "s3cret")
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.session_state["admin_signed_in"] = True
    at = at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Comparison"]
    for page in ("Phantom editor", "Study admin", "Study results"):
        at.switch_page(URL_PATHS[page]).run()
        assert not at.exception and [t.value for t in at.title] == [page]


URL_PATHS = {"Phantom editor": "views/phantom.py", "Study admin": "views/study_admin.py",
             "Study results": "views/study_results.py"}


def test_admin_password_required_when_set(made, monkeypatch):
    monkeypatch.setenv("USSIM_ADMIN_PASSWORD", "s3cret")
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    assert [t.value for t in at.title] == ["Sign in"]
    at.text_input(key="admin_password").input("wrong")
    at = at.button(key="admin_sign_in").click().run()
    assert at.error and [t.value for t in at.title] == ["Sign in"]
    at.text_input(key="admin_password").input("s3cret")
    at = at.button(key="admin_sign_in").click().run()
    assert [t.value for t in at.title] == ["Comparison"]
