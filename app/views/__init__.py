"""The app's pages, one module each; each exposes `render()` for st.Page."""
