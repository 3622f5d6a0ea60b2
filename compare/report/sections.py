"""The body of the report, written to HTML and Markdown side by side so the two hold the same text.

    Body        the two documents being built, with heading levels relative to a `top` level:
                2 in a report of one comparison, 3 under a comparison's own heading in a report
                of several (one file, several references)
    comparison  what the report says about one comparison: tables, charts, image grid, policies
"""

from __future__ import annotations

import dataclasses
import html

import xarray as xr

from compare import results, verdicts
from compare.report import charts, grids, policies, tables
from compare.segmentation import store


@dataclasses.dataclass
class Body:
    top: int = 2
    html: list[str] = dataclasses.field(default_factory=list)
    md: list[str] = dataclasses.field(default_factory=list)
    charts: int = 0  # plotly.js is embedded only when some chart needs it

    def heading(self, title: str, level: int, anchor: str = "") -> None:
        at = f' id="{html.escape(anchor)}"' if anchor else ""
        self.html.append(f"<h{level}{at}>{html.escape(title)}</h{level}>")
        self.md.extend(["", f"{'#' * level} {title}"])

    def section(self, title: str) -> None:
        self.heading(title, self.top)

    def paragraph(self, text: str, notice: bool = False) -> None:
        self.html.append(f'<p class="notice">{html.escape(text)}</p>' if notice else f"<p>{html.escape(text)}</p>")
        self.md.extend(["", f"> {text}" if notice else text])

    def table(self, t: tables.Table) -> None:
        self.html.append(t.to_html(self.top + 1))
        self.md.extend(["", t.to_markdown(self.top + 1)])

    def chart(self, fragment: str | None) -> None:
        if fragment:
            self.html.append(f'<div class="chart">{fragment}</div>')
            self.charts += 1

    def items(self, title: str, lines: list[str]) -> None:
        if lines:
            level = self.top + 1
            self.html.append(f"<h{level}>{html.escape(title)}</h{level}><ul>"
                             + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")
            self.md.extend(["", f"{'#' * level} {title}", "", *(f"- {line}" for line in lines)])


def comparison(body: Body, ds: xr.Dataset, grid: grids.Grid | str, grid_png: str) -> None:
    """One comparison's sections; `grid` is its image grid or why there is none, `grid_png` the twin's image."""
    if "value" in ds:
        body.section("Realism")
        body.table(tables.sets_table(ds))
        body.table(tables.realism_table(ds))
        body.section("What the intervals resolve")
        body.items("Differences between methods, metric by metric", verdicts.verdicts(ds))
        body.section("Cost")
        body.table(tables.timing_table(ds))
        body.chart(charts.timing(ds))
        body.section("Per-class gray values and speckle")
        body.table(tables.js_table(ds))
        body.chart(charts.js(ds))
        for table in (tables.class_frd_table(ds), tables.gray_table(ds), tables.envelope_table(ds)):
            if table is not None:
                body.table(table)
        body.section("Images made from the same mask")
        grid_section(body, grid, grid_png)
    if store.has_segmentation(ds):
        body.section("Segmentation utility")
        body.table(tables.segmentation_table(ds))
        body.chart(charts.segmentation(ds))
    body.section("Policies and notes")
    if "value" in ds:
        body.items("How the comparison was measured", policies.comparison(ds))
        body.items("Notes from the comparison run", results.notes_of(ds))
    if store.has_segmentation(ds):
        body.items("How the segmentation benchmark was run", policies.segmentation(ds))
        body.items("Notes from the segmentation benchmark", store.notes_of(ds))


def grid_section(body: Body, grid: grids.Grid | str, grid_png: str) -> None:
    if isinstance(grid, str):
        body.html.append(f'<p class="notice">{html.escape(grid)}</p>')
        body.md.extend(["", grid])
        return
    for notice in grid.notices:
        body.paragraph(notice, notice=True)
    legend = "".join(f'<span class="swatch" style="background:{grids.class_colour(k)}"></span>{html.escape(name)}'
                     for k, name in enumerate(grid.classes))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["sample", *grid.columns])
    rows = []
    for sample_id, cells in zip(grid.row_ids, grid.cells, strict=True):
        tds = "".join(f'<td><img src="{grids.data_uri(cell)}" alt="{html.escape(column)} {html.escape(sample_id)}">'
                      f"</td>" if cell is not None else "<td>–</td>"
                      for column, cell in zip(grid.columns, cells, strict=True))
        rows.append(f"<tr><td>{html.escape(sample_id)}</td>{tds}</tr>")
    body.html.append(f'<p>Mask colours:{legend}</p><table class="grid"><thead><tr>{head}</tr></thead><tbody>'
                     f'{"".join(rows)}</tbody></table>')
    colours = ", ".join(f"{name} {grids.class_colour(k)}" for k, name in enumerate(grid.classes))
    body.md.extend(["", f"![image grid]({grid_png})", "",
                    f"Rows: reference samples {', '.join(grid.row_ids)}. Columns: {', '.join(grid.columns)} (light "
                    f"gray: no image from that mask). Mask colours: {colours}."])
