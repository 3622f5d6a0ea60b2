"""The Streamlit app: `streamlit run app/main.py -- --db sqlite:///runs/study.db`.

A visitor with `?token=...` is a reader and gets the reader page only; anyone else is an admin
(behind $USSIM_ADMIN_PASSWORD when it is set) and gets the comparison, phantom editor and study
pages. Navigation is built per run, so a reader's session never holds an admin page.
"""

import sys
from pathlib import Path

# `streamlit run` puts app/ itself on sys.path; the package imports need the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from app import settings  # noqa: E402

# Pages are files (each runs its render() as a script), so AppTest.switch_page can reach them.
VIEWS = Path(__file__).resolve().parent / "views"


def admin_signed_in() -> bool:
    password = settings.admin_password()
    if password is None or st.session_state.get("admin_signed_in"):
        return True
    st.title("Sign in")
    typed = st.text_input("Admin password", type="password", key="admin_password")
    if st.button("Sign in", key="admin_sign_in"):
        if typed == password:
            st.session_state["admin_signed_in"] = True
            st.rerun()
        st.error("wrong password")
    return False


def main() -> None:
    st.set_page_config(page_title="ussim", layout="wide")
    if st.query_params.get("token"):
        pages = [st.Page(VIEWS / "reader.py", title="Reader", default=True)]
        st.navigation(pages, position="hidden").run()
        return
    if not admin_signed_in():
        return
    if settings.admin_password() is None:
        st.sidebar.warning(f"No admin password: set ${settings.PASSWORD_ENV} before sharing this server.")
    pages = [st.Page(VIEWS / "comparison.py", title="Comparison", default=True),
             st.Page(VIEWS / "phantom.py", title="Phantom editor"),
             st.Page(VIEWS / "study_admin.py", title="Study admin"),
             st.Page(VIEWS / "study_results.py", title="Study results")]
    st.navigation(pages).run()


main()
