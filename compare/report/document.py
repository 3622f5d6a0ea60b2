"""`uscompare report`: a results file as a self-contained HTML page and its Markdown twin.

The HTML page works offline: plotly.js is embedded inline once, images are base64 PNG data URIs,
and nothing is fetched from anywhere. The Markdown twin (same name, .md) holds the same tables,
cell for cell, the same policies and notes. DECISION: its image grid is one PNG beside it
(<name>_grid.png), not data URIs that would bury the text and that most Markdown viewers drop;
the charts are HTML only (their numbers are in the tables).

A file of several comparisons (results.write_comparisons) gets the file's `notice` at the top, a
list of its comparisons, then one top-level section per comparison (headed by its `title`) holding
what the report of a single comparison holds; each comparison's grid is its own PNG,
<name>_grid_<comparison>.png.
Nothing half-written: every file (grids, Markdown, HTML) is first written whole to a temporary
name, and only then are all renamed into place, the HTML last (ussim.atomicio.write_together).
So the HTML page exists only beside a complete set; a Markdown twin without its page is the
leftover of a run killed between two renames, and the next run replaces it without --overwrite.
"""

from __future__ import annotations

import datetime
import html
import os
import re
from pathlib import Path

import plotly.offline

import compare
from compare import results
from compare.report import grids, sections
from ussim import atomicio
from ussim.errors import UsageError

TITLE = "Synthetic ultrasound: comparison report"

STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.3em .6em;
text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}.caption{color:#555;
font-size:.9em;max-width:70em}.grid img{width:160px;image-rendering:pixelated}.grid td{padding:2px;text-align:center}
.swatch{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle;border:1px solid #999}
.notice{background:#fff4ce;padding:.5em}"""


def output_paths(out: Path) -> tuple[Path, Path, Path]:
    """The HTML page, its Markdown twin and the twin's grid image (of a file of one comparison)."""
    return out, out.with_suffix(".md"), out.with_name(f"{out.stem}_grid.png")


def slugs(names: list[str]) -> dict[str, str]:
    """A file-name- and anchor-safe, distinct slug per comparison name."""
    found: dict[str, str] = {}
    for name in names:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "comparison"
        slug, k = base, 2
        while slug in found.values():  # DECISION: clashes ("a b" and "a-b") get -2, -3... in file order
            slug, k = f"{base}-{k}", k + 1
        found[name] = slug
    return found


def grid_paths(out: Path, comparisons: results.Comparisons) -> dict[str, Path]:
    if not comparisons.grouped:
        return {name: output_paths(out)[2] for name in comparisons.datasets}
    return {name: out.with_name(f"{out.stem}_grid_{slug}.png")
            for name, slug in slugs(list(comparisons.datasets)).items()}


def earlier_grids(out: Path) -> set[Path]:
    """Grid images an earlier report at `out` may have left: the one-comparison name and those its twin links."""
    names = {output_paths(out)[2].name}
    md_path = output_paths(out)[1]
    if md_path.is_file():
        # DECISION: only PNGs the earlier twin itself links are removed, never a pattern match that
        # could catch another report's files beside it.
        names |= set(re.findall(r"!\[image grid\]\(([^()/\\]+\.png)\)", md_path.read_text(errors="replace")))
    return {out.with_name(name) for name in names if name.startswith(f"{out.stem}_grid")}


def _bytes_writer(content: bytes):
    return lambda tmp: Path(tmp).write_bytes(content)


def leftover_twin(out: Path) -> bool:
    """Whether the Markdown twin at `out` is what a killed run of this command left: our report's
    title on its first line, and no HTML page beside it."""
    html_path, md_path, _ = output_paths(out)
    if html_path.exists() or not md_path.is_file():
        return False
    with open(md_path, "rb") as handle:
        return handle.readline().decode("utf-8", "replace").strip() == f"# {TITLE}"


def write_report(results_path: str | os.PathLike, out: str | os.PathLike, *, sets_dir: str | os.PathLike | None = None,
                 with_grids: bool = True, grid_rows: int = 4, overwrite: bool = False) -> list[Path]:
    """Write the report of `results_path` (one comparison or several) to `out` (HTML) and its twin; return the
    paths written."""
    results_path, out = Path(results_path), Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"report file {out} must end in .html (its Markdown twin is written beside it as .md)")
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: folder {out.parent} does not exist")
    for path in output_paths(out)[:2]:
        if path.is_dir():
            raise UsageError(f"cannot write {path}: it is a folder")
    existing = [str(p) for p in output_paths(out)[:2] if p.exists() and not leftover_twin(out)]
    if existing and not overwrite:
        raise UsageError(f"{' and '.join(existing)} exist(s); pass --overwrite to replace")
    comparisons = results.read_comparisons(results_path)
    pngs = grid_paths(out, comparisons)
    found: dict[str, grids.Grid | str] = {}
    for name, ds in comparisons.datasets.items():  # every set is located before anything is written
        grid, why_not = None, "No image grid: switched off (--no-grids)."
        if with_grids and "value" in ds:
            grid = grids.build(ds, results_path, Path(sets_dir) if sets_dir else None, grid_rows)
            why_not = "No image grid: no method's image was made from a mask of the reference set."
        found[name] = grid if grid is not None else why_not
    html_path, md_path, _ = output_paths(out)
    page, twin = render(comparisons, results_path.name, found, {name: p.name for name, p in pngs.items()})
    stale = earlier_grids(out)
    writers = {pngs[name]: _bytes_writer(grids.png_bytes(grids.montage(grid)))
               for name, grid in found.items() if isinstance(grid, grids.Grid)}
    written = list(writers)
    writers[md_path] = _bytes_writer(twin.encode("utf-8"))
    writers[html_path] = _bytes_writer(page.encode("utf-8"))  # last: its presence means "complete"
    atomicio.write_together(writers)
    for path in stale - set(written):
        path.unlink(missing_ok=True)  # an earlier report's grid would no longer match its twin
    return [html_path, md_path, *written]


def render(comparisons: results.Comparisons, source: str, found: dict[str, grids.Grid | str],
           grid_pngs: dict[str, str]) -> tuple[str, str]:
    """(HTML page, Markdown twin); `found` holds each comparison's grid or why it has none."""
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    attrs = comparisons.attrs
    head = (f"Results file {source} (format version {int(attrs['results_format_version'])}, written by uscompare "
            f"{attrs.get('software_version', '?')}); report by uscompare {compare.__version__} at {created}.")
    if comparisons.grouped:
        head += f" It holds {len(comparisons.datasets)} comparisons, each with its own reference set."
    body = sections.Body(top=3 if comparisons.grouped else 2, md=["# " + TITLE, "", head])
    body.html.append(f"<p>{html.escape(head)}</p>")
    if attrs.get("notice"):
        body.paragraph(str(attrs["notice"]), notice=True)
    if not comparisons.grouped:
        (name, ds), = comparisons.datasets.items()
        sections.comparison(body, ds, found[name], grid_pngs[name])
    else:
        anchors = {name: f"comparison-{slug}" for name, slug in slugs(list(comparisons.datasets)).items()}
        body.html.append("<ul>" + "".join(f'<li><a href="#{html.escape(anchors[name])}">'
                                          f"{html.escape(comparisons.title(name))}</a></li>"
                                          for name in comparisons.datasets) + "</ul>")
        body.md.extend(["", *(f"- {comparisons.title(name)}" for name in comparisons.datasets)])
        for name, ds in comparisons.datasets.items():
            body.heading(comparisons.title(name), 2, anchors[name])
            sections.comparison(body, ds, found[name], grid_pngs[name])
    script = f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>' if body.charts else ""
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{TITLE}</title><style>{STYLE}</style>'
            f'{script}</head><body><h1>{TITLE}</h1>{"".join(body.html)}</body></html>\n')
    return page, "\n".join(body.md) + "\n"
