"""Study admin page: create a study from image sets and hand out one link per reader.

Each reader sees each anatomy once; readers fill the rows of the study's Latin square in the order
they are added (app.study.design), so adding them in multiples of 1 + the number of methods
balances the design, and readers r and r + that number read the same cases (for kappa)."""

from __future__ import annotations

import streamlit as st

from app import settings, study
from ussim.errors import UsageError

LINKS = "admin_reader_links"  # the last created study's links: tokens are shown once, never stored


def parse_sets(text: str) -> dict[str, str]:
    """`NAME=path` lines -> {name: path}; blank lines are skipped."""
    sets = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, path = line.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UsageError(f"method line {number} {line.strip()!r}: write NAME=path/to/set.h5")
        if name.strip() in sets:
            raise UsageError(f"method {name.strip()!r} given twice")
        sets[name.strip()] = path.strip()
    return sets


def reader_links(base_url: str, tokens: dict[str, str]) -> dict[str, str]:
    return {name: f"{base_url.rstrip('/')}/?token={token}" for name, token in tokens.items()}


def default_base_url() -> str:
    try:
        url = st.context.url or ""
    except Exception:  # older Streamlit or a test run without a browser: fall back
        url = ""
    return url.split("?")[0].rstrip("/").removesuffix("/study_admin") or "http://localhost:8501"


def add_readers_form(db_url: str, base_url: str) -> None:
    from app.views.study_results import study_names
    try:
        names = study_names(db_url)
    except Exception as error:  # an unreachable database: one line, no traceback
        st.error(f"cannot read studies from {db_url}: {error}")
        return
    if not names:
        return
    with st.form("add_readers"):
        st.markdown("**Add readers to an existing study**")
        chosen = st.selectbox("Study", names, key="add_readers_study")
        readers_text = st.text_area("New reader names, one per line", key="add_reader_names")
        submitted = st.form_submit_button("Add readers")
    if submitted:
        try:
            new = [n.strip() for n in readers_text.splitlines() if n.strip()]
            if not new:
                raise UsageError("give at least one reader name")
            handle = study.open_study(db_url, chosen)
            st.session_state[LINKS] = (handle.name, reader_links(base_url, study.add_readers(handle, new)))
        except UsageError as error:
            st.error(f"readers not added: {error}")


def render() -> None:
    db_url = settings.db_url()
    st.title("Study admin")
    st.caption(f"Database: {db_url}")
    with st.form("create_study"):
        name = st.text_input("Study name", key="study_name")
        real = st.text_input("Real image set (path)", key="real_set")
        sets_text = st.text_area("Method image sets, one NAME=path per line", key="method_sets")
        n_cases = st.number_input("Scored cases per reader (one per anatomy; a multiple of 1 + the number of "
                                  "methods shows each source equally often)", min_value=1, value=20, step=1,
                                  key="n_cases")
        practice = st.number_input("Practice cases (with feedback, not scored)", min_value=0, value=4, step=1,
                                   key="practice_cases")
        fov = st.selectbox("Field of view every image is cut to", ["organ", "full"], key="field_of_view",
                           help="organ: the real set's organ's fitted sector or circle, one fill outside (hides "
                                "scanner text and corners); full: the whole square, for sets without a scanner's "
                                "field of view")
        readers_text = st.text_area("Reader names, one per line", key="reader_names")
        seed = st.number_input("Seed", min_value=0, value=0, step=1, key="study_seed")
        base_url = st.text_input("Address of this app, for the links", value=default_base_url(), key="base_url")
        submitted = st.form_submit_button("Create study")
    if submitted:
        try:
            names = [n.strip() for n in readers_text.splitlines() if n.strip()]
            if not name.strip() or not real.strip() or not names:
                raise UsageError("give a study name, the real image set and at least one reader")
            handle = study.create_study(db_url, name.strip(), parse_sets(sets_text), real.strip(),
                                        int(n_cases), int(practice), int(seed), field_of_view=fov)
            st.session_state[LINKS] = (handle.name, reader_links(base_url, study.add_readers(handle, names)))
        except (UsageError, OSError, ValueError) as error:
            st.error(f"study not created: {error}")
    add_readers_form(db_url, base_url)
    if LINKS in st.session_state:
        study_name, links = st.session_state[LINKS]
        st.success(f"Study {study_name!r}: send each reader their own link; it is shown only now.")
        for reader_name, link in links.items():
            st.markdown(f"**{reader_name}**")
            st.code(link, language=None)


if __name__ == "__main__":  # run as an st.Page script by app/main.py
    render()
