"""The reader page: one image at a time, real or synthetic, confidence 1-5.

Blinding: nothing here knows a method. Widget keys use the case's place in the reader's own
order, the image is the stored re-encoded PNG with no caption, and feedback (practice only) says
"real" or "synthetic", never which method. Each answer is committed by `submit` before the rerun
that shows the next case, so an acknowledged answer survives a killed server. The seconds per case
are the server's (from when `next_case` first sent the case), so a reload does not reset them.
"""

from __future__ import annotations

import streamlit as st

from app import settings, study
from ussim.errors import UsageError

FEEDBACK = "reader_feedback"  # the last practice case's truth, shown once after the rerun


def render() -> None:
    st.title("Realism reading")
    try:
        session = study.open_session(settings.db_url(), str(st.query_params.get("token", "")))
        case = study.next_case(session)
        answered, total = study.progress(session)
    except UsageError as error:
        st.error(str(error))
        return
    feedback = st.session_state.pop(FEEDBACK, None)
    if feedback is not None:
        st.info(f"Practice case: that image was {feedback}.")
    st.progress(answered / total if total else 1.0, text=f"{answered} of {total} answered")
    if case is None:
        st.success("Finished: every case is answered. Thank you! You can close this page.")
        return
    show_case(session, case)


def show_case(session: study.ReaderSession, case: study.Case) -> None:
    if case.practice:
        st.caption("Practice case: not scored; you will be told the answer.")
    # output_format="PNG": Streamlit's "auto" turns a grayscale PNG into a lossy JPEG, against the
    # rule that every image reaches the browser as the same metadata-free grayscale PNG; a PNG
    # narrower than the page is served byte for byte (so every case has the same length).
    st.image(case.png, output_format="PNG")
    answer = st.radio("Is this image real or synthetic?", study.reader.ANSWERS, index=None, horizontal=True,
                      key=f"answer_{case.position}")
    confidence = st.radio("Confidence (1 = guessing, 5 = certain)", list(study.reader.CONFIDENCES), index=None,
                          horizontal=True, key=f"confidence_{case.position}")
    if not st.button("Submit and show the next image", key=f"submit_{case.position}", type="primary"):
        return
    if answer is None or confidence is None:
        st.error("Choose real or synthetic and a confidence from 1 to 5, then submit.")
        return
    try:
        result = study.submit(session, case.case_key, answer, int(confidence))
    except UsageError as error:
        st.error(str(error))
        return
    if result.feedback is not None:
        st.session_state[FEEDBACK] = result.feedback
    st.rerun()


if __name__ == "__main__":  # run as an st.Page script by app/main.py
    render()
