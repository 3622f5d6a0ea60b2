"""The `uscompare` command. `demo` runs the main job; metric and report commands join later."""

from __future__ import annotations

import argparse
from pathlib import Path

from compare import __version__
from ussim.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uscompare",
        description="Compare sources of synthetic ultrasound (physics simulation, GANs) against real images.")
    parser.add_argument("--version", action="version", version=f"uscompare {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser("demo", help="run the main job on embedded defaults (what `make demo` runs)",
                               description="Run the main job on embedded defaults and write runs/demo/.")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), metavar="DIR", help="output folder")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from compare.demo import run_demo
        run_demo(args.out, progress=not args.no_progress)
    return 0


def main(argv=None) -> int:
    raise SystemExit(run_cli("uscompare", _main, argv))
