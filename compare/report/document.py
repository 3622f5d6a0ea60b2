"""`uscompare report`: a results file as a self-contained HTML page and its Markdown twin.

The HTML page works offline: plotly.js is embedded inline once, images are base64 PNG data URIs,
and nothing is fetched from anywhere. The Markdown twin (same name, .md) holds the same tables,
cell for cell, the same policies and notes. DECISION: its image grid is one PNG beside it
(<name>_grid.png), not data URIs that would bury the text and that most Markdown viewers drop;
the charts are HTML only (their numbers are in the tables).
Each file is written to a temporary name and renamed, so a crash never leaves half a report.
"""

from __future__ import annotations

import datetime
import html
import os
import uuid
from pathlib import Path

import plotly.offline
import xarray as xr

import compare
from compare import results
from compare.report import charts, grids, policies, tables
from compare.segmentation import store
from ussim.errors import UsageError

STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}.caption{color:#555;
font-size:.9em;max-width:70em}.grid img{width:160px;image-rendering:pixelated}.grid td{padding:2px;text-align:center}
.swatch{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle;border:1px solid #999}
.notice{background:#fff4ce;padding:.5em}"""


def output_paths(out: Path) -> tuple[Path, Path, Path]:
    """The HTML page, its Markdown twin and the twin's grid image."""
    return out, out.with_suffix(".md"), out.with_name(f"{out.stem}_grid.png")


def write_atomic(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(content)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_report(results_path: str | os.PathLike, out: str | os.PathLike, *, sets_dir: str | os.PathLike | None = None,
                 with_grids: bool = True, grid_rows: int = 4, overwrite: bool = False) -> list[Path]:
    """Write the report of `results_path` to `out` (HTML) and its twin; return the paths written."""
    results_path, out = Path(results_path), Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"report file {out} must end in .html (its Markdown twin is written beside it as .md)")
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: folder {out.parent} does not exist")
    existing = [str(p) for p in output_paths(out)[:2] if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{' and '.join(existing)} exist(s); pass --overwrite to replace")
    ds = results.read(results_path)
    grid, why_not = None, "No image grid: switched off (--no-grids)."
    if with_grids and "value" in ds:
        grid = grids.build(ds, results_path, Path(sets_dir) if sets_dir else None, grid_rows)
        why_not = "No image grid: no method's image was made from a mask of the reference set."
    html_path, md_path, png_path = output_paths(out)
    page, twin = render(ds, results_path.name, grid if grid is not None else why_not, png_path.name)
    written = []
    if grid is not None:
        write_atomic(png_path, grids.png_bytes(grids.montage(grid)))
        written.append(png_path)
    else:
        png_path.unlink(missing_ok=True)  # an earlier report's grid would no longer match its twin
    write_atomic(md_path, twin.encode("utf-8"))
    write_atomic(html_path, page.encode("utf-8"))
    return [html_path, md_path, *written]


def render(ds: xr.Dataset, source: str, grid: grids.Grid | str, grid_png: str) -> tuple[str, str]:
    """(HTML page, Markdown twin) of the results in `ds`; `grid` is the image grid or why there is none."""
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    head = (f"Results file {source} (format version {int(ds.attrs['results_format_version'])}, written by uscompare "
            f"{ds.attrs.get('software_version', '?')}); report by uscompare {compare.__version__} at {created}.")
    body, md = [f"<p>{html.escape(head)}</p>"], ["# Synthetic ultrasound: comparison report", "", head]
    chart_count = 0

    def section(title: str) -> None:
        body.append(f"<h2>{html.escape(title)}</h2>")
        md.extend(["", f"## {title}"])

    def table(t: tables.Table) -> None:
        body.append(t.to_html())
        md.extend(["", t.to_markdown()])

    def chart(fragment: str | None) -> None:
        nonlocal chart_count
        if fragment:
            body.append(f'<div class="chart">{fragment}</div>')
            chart_count += 1

    def items(title: str, lines: list[str]) -> None:
        if lines:
            body.append(f"<h3>{html.escape(title)}</h3><ul>"
                        + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
            md.extend(["", f"### {title}", "", *(f"- {line}" for line in lines)])

    if "value" in ds:
        section("Realism and cost")
        table(tables.sets_table(ds))
        table(tables.realism_table(ds))
        chart(charts.timing(ds))
        section("Per-class gray values and speckle")
        table(tables.js_table(ds))
        chart(charts.js(ds))
        table(tables.speckle_table(ds))
        section("Images made from the same mask")
        grid_section(grid, body, md, grid_png)
    if store.has_segmentation(ds):
        section("Segmentation utility")
        table(tables.segmentation_table(ds))
        chart(charts.segmentation(ds))
    section("Policies and notes")
    if "value" in ds:
        items("How the comparison was measured", policies.comparison(ds))
        items("Notes from the comparison run", results.notes_of(ds))
    if store.has_segmentation(ds):
        items("How the segmentation benchmark was run", policies.segmentation(ds))
        items("Notes from the segmentation benchmark", store.notes_of(ds))
    script = f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>' if chart_count else ""
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Synthetic ultrasound: comparison '
            f'report</title><style>{STYLE}</style>{script}</head><body><h1>Synthetic ultrasound: comparison report'
            f'</h1>{"".join(body)}</body></html>\n')
    return page, "\n".join(md) + "\n"


def grid_section(grid: grids.Grid | str, body: list[str], md: list[str], grid_png: str) -> None:
    if isinstance(grid, str):
        body.append(f'<p class="notice">{html.escape(grid)}</p>')
        md.extend(["", grid])
        return
    for notice in grid.notices:
        body.append(f'<p class="notice">{html.escape(notice)}</p>')
        md.extend(["", f"> {notice}"])
    legend = "".join(f'<span class="swatch" style="background:{grids.class_colour(k)}"></span>{html.escape(name)}'
                     for k, name in enumerate(grid.classes))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["sample", *grid.columns])
    rows = []
    for sample_id, cells in zip(grid.row_ids, grid.cells, strict=True):
        tds = "".join(f'<td><img src="{grids.data_uri(cell)}" alt="{html.escape(column)} {html.escape(sample_id)}">'
                      f"</td>" if cell is not None else "<td>–</td>"
                      for column, cell in zip(grid.columns, cells, strict=True))
        rows.append(f"<tr><td>{html.escape(sample_id)}</td>{tds}</tr>")
    body.append(f'<p>Mask colours:{legend}</p><table class="grid"><thead><tr>{head}</tr></thead><tbody>'
                f'{"".join(rows)}</tbody></table>')
    colours = ", ".join(f"{name} {grids.class_colour(k)}" for k, name in enumerate(grid.classes))
    md.extend(["", f"![image grid]({grid_png})", "",
               f"Rows: reference samples {', '.join(grid.row_ids)}. Columns: {', '.join(grid.columns)} (light gray: "
               f"no image from that mask). Mask colours: {colours}."])
