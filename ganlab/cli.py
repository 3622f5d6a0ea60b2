"""The `ganlab` command. Its commands (models, train, generate) arrive with the GAN issues."""

from __future__ import annotations

import argparse

from ganlab import __version__
from ussim.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganlab", description="GANs for ultrasound synthesis: cGAN, Sgan, PGSgan, SpeckleGAN. "
                                   "Training and generation commands are not implemented yet.")
    parser.add_argument("--version", action="version", version=f"ganlab {__version__}")
    return parser


def _main(argv=None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


def main(argv=None) -> int:
    raise SystemExit(run_cli("ganlab", _main, argv))
