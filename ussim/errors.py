"""User errors and the one convention every command line of the toolkit follows.

A `UsageError` is bad input from the user (a wrong value, a missing or foreign file). The
library raises it with a message that names the bad value and what is allowed; the command
lines print that message as one line and exit with status 2, never with a traceback. So do
the operating system's refusals (OSError with an errno: permission, disk full, a folder where a
file goes) and running out of memory: the user's environment, not a bug. Anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence


class UsageError(ValueError):
    """Bad input from the user. The message is one line that says what is wrong and what is allowed."""


def run_cli(prog: str, command: Callable[[Sequence[str] | None], int | None],
            argv: Sequence[str] | None = None) -> int:
    """Run `command(argv)` and turn user errors into one line on stderr and exit status 2."""
    try:
        return command(argv) or 0
    except UsageError as error:
        message = " ".join(str(error).split())  # one line, whatever the message held
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error of ours, and no traceback. Point
        # stdout at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as error:
        if error.errno is None:  # not the operating system's (e.g. h5py's read errors): a bug, keep its traceback
            raise
        # The file system refused (permission, disk full, a folder where a file goes...): the user's
        # environment, not a bug; commands check their outputs first, this is the last line of defence.
        where = f"{error.filename}: " if error.filename else ""
        print(f"{prog}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except MemoryError as error:
        # Sizes are checked against the machine's memory when parsed; this catches what an estimate missed.
        reason = " ".join(str(error).split()) or "allocation failed"
        print(f"{prog}: error: out of memory ({reason}); choose a smaller size or count", file=sys.stderr)
        return 2
