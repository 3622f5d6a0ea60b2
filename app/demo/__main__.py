"""`python -m app.demo [--out DIR]`: what `make demo` runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ussim.errors import UsageError, run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.demo", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the whole simulation-versus-GAN comparison on embedded defaults (what `make demo` runs).\n"
                    "Image sets of ovary and IVUS (real ones from ../shared/data/real or $USSIM_REAL_DATA when\n"
                    "present, else simulated random anatomies); the simulator and every GAN on the same held-out\n"
                    "masks; every metric into DIR/results.nc; DIR/report.html; a ready-made blinded reader study in\n"
                    "DIR/study.db (reader links in DIR/readers.txt, a new admin password in DIR/admin-password.txt).\n"
                    "Ends by printing the command that opens the dashboard on them. About 23 minutes\n"
                    "with the real data on an idle two-core CPU (measured 2026-12-04, a slow day of the machine;\n"
                    "17.5 on a faster day, 2026-12-02); it prints its expected duration on this machine first.\n"
                    "The defaults are in app/demo/defaults.py.")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), metavar="DIR",
                        help="output folder (default runs/demo); a rerun replaces what an earlier run wrote there")
    parser.add_argument("--tiny", action="store_true",
                        help="the test's configuration: every stage on a few 64 px images in about a minute, to "
                             "check an installation (its numbers mean nothing)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars (stage lines stay)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; give a folder (it is created when missing)")
    from app.demo.defaults import DEMO, TINY
    from app.demo.pipeline import run_demo

    run_demo(args.out, TINY if args.tiny else DEMO, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("python -m app.demo", main))
