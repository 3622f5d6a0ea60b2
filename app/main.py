"""The Streamlit app: `streamlit run app/main.py -- --db sqlite:///runs/study.db`.

A visitor whose URL holds `?token=` (any value, even empty) is a reader and gets the reader page
only, which accepts nothing but a valid personal token. Anyone else gets the admin pages
(comparison, phantom editor, study pages) only after signing in with the admin password
($USSIM_ADMIN_PASSWORD or --admin-password-file); with no password configured the admin pages are
closed and a page says how to set one. Navigation is built per run, so a session that is not
signed in never holds an admin page, whatever URL path it asks for.
"""

import hmac
import sys
from pathlib import Path

# `streamlit run` puts app/ itself on sys.path; the package imports need the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from app import settings  # noqa: E402
from ussim.errors import UsageError  # noqa: E402

# Pages are files (each runs its render() as a script), so AppTest.switch_page can reach them.
VIEWS = Path(__file__).resolve().parent / "views"
SIGNED_IN = "admin_signed_in"


def closed(reason: str):
    def page() -> None:
        st.title("Admin pages closed")
        st.info("Readers: open the personal link (with ?token=...) that the study admin sent you.")
        st.markdown(f"{reason}\n\nTo open the admin pages, start the server with an admin password:\n\n"
                    f"    {settings.PASSWORD_ENV}='a long secret' usapp --db ...\n\n"
                    f"or `usapp --admin-password-file PATH` (or ${settings.PASSWORD_FILE_ENV}), a file holding "
                    "the password on its first line, readable by you only (`make demo` writes one: "
                    "runs/demo/admin-password.txt). Then open this address without a token and sign in.")
    return page


def sign_in(password: str):
    def page() -> None:
        st.title("Sign in")
        typed = st.text_input("Admin password", type="password", key="admin_password")
        if st.button("Sign in", key="admin_sign_in"):
            # Constant-time comparison: the time taken says nothing about how much of it was right.
            if hmac.compare_digest(typed.encode(), password.encode()):
                st.session_state[SIGNED_IN] = True
                st.rerun()
            st.error("wrong password")
    return page


def main() -> None:
    st.set_page_config(page_title="ussim", layout="wide")
    if "token" in st.query_params:
        pages = [st.Page(VIEWS / "reader.py", title="Reader", default=True)]
        st.navigation(pages, position="hidden").run()
        return
    try:
        password = settings.admin_password()
    except UsageError as error:
        password, reason = None, str(error)
    else:
        reason = "No admin password is configured on this server."
    if password is None:
        st.navigation([st.Page(closed(reason), title="Admin pages closed", url_path="closed", default=True)],
                      position="hidden").run()
        return
    if not st.session_state.get(SIGNED_IN):
        st.navigation([st.Page(sign_in(password), title="Sign in", url_path="sign_in", default=True)],
                      position="hidden").run()
        return
    pages = [st.Page(VIEWS / "comparison.py", title="Comparison", default=True),
             st.Page(VIEWS / "phantom.py", title="Phantom editor"),
             st.Page(VIEWS / "study_admin.py", title="Study admin"),
             st.Page(VIEWS / "study_results.py", title="Study results")]
    st.navigation(pages).run()


main()
