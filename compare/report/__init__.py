"""The report of a results file: HTML (self-contained, offline) and its Markdown twin.

tables (the papers' table layouts), charts (plotly), grids (images made from the same mask),
policies (what was done, in words), document (assembly and atomic writing), command (the CLI).
"""
