"""`python -m ganlab ...` runs the `ganlab` command (also under torchrun: `-m ganlab`)."""

from ganlab.cli import main

main()
