"""`uscompare report RESULTS.nc --out report.html`: the command-line face of compare.report.document."""

from __future__ import annotations

import argparse
from pathlib import Path

from ussim import cliargs

EXAMPLES = """examples:
  uscompare report results.nc --out report.html
  uscompare report results.nc --out report.html --sets-dir moved/sets --overwrite
"""


def add_parser(commands) -> None:
    report = commands.add_parser(
        "report", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        help="write a self-contained HTML report of a results file, and its Markdown twin",
        description="Write REPORT.html (works offline: plotly.js inline, images embedded) and REPORT.md beside it:\n"
                    "  the realism table (as the PGSgan paper's Table 1), per-class JS (as the SpeckleGAN paper's\n"
                    "  Table 1), speckle statistics, image grids of the same mask across methods, charts, the\n"
                    "  segmentation benchmark when the file holds it, and every policy and note of the run.\n"
                    "A file of several comparisons (each against its own reference) gets its notice at the top and\n"
                    "  one section per comparison.\n"
                    "The grids read the image sets whose paths the results file recorded.")
    report.add_argument("results", type=Path, metavar="RESULTS.nc", help="results file of `uscompare run`/`segment`")
    report.add_argument("--out", type=cliargs.output_file, required=True, metavar="REPORT.html",
                        help="HTML file to write; the Markdown twin goes beside it (.md, and _grid.png or "
                             "_grid_<comparison>.png per comparison)")
    report.add_argument("--sets-dir", type=cliargs.input_folder, metavar="DIR",
                        help="folder holding the image-set files when they moved since the run (found by file name)")
    report.add_argument("--no-grids", action="store_true", help="leave out the image grids (no image set is read)")
    report.add_argument("--grid-rows", type=cliargs.int_range(1, 64), default=4, metavar="N", help="masks shown in the grid (default 4)")
    report.add_argument("--overwrite", action="store_true", help="replace the report files if they exist")


def execute(args) -> None:
    from compare.report.document import write_report
    from ussim.errors import UsageError

    if args.grid_rows < 1:
        raise UsageError(f"grid-rows must be at least 1, got {args.grid_rows}")
    for path in write_report(args.results, args.out, sets_dir=args.sets_dir, with_grids=not args.no_grids,
                             grid_rows=args.grid_rows, overwrite=args.overwrite):
        print(f"wrote {path}")
