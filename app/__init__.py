"""app: the Streamlit dashboard (comparison views, phantom and label editor, blinded reader
study). The only package that imports Streamlit."""
