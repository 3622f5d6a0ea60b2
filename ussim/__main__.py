"""`python -m ussim ...` runs the `ussim` command."""

from ussim.cli import main

main()
