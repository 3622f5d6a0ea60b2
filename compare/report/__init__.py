"""The report of a results file: HTML (self-contained, offline) and its Markdown twin.

tables (the papers' table layouts), charts (plotly), grids (images made from the same mask),
policies (what was done, in words), sections (one comparison's part, in HTML and Markdown at once),
document (assembly, one or several comparisons, and atomic writing), command (the CLI).
"""
