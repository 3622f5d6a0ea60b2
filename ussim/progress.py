"""Progress of long work: a tqdm bar in a terminal; in a log (`make demo | tee demo.log`, a batch
job) one plain line with the share done, the elapsed time and the time left at least every
LOG_INTERVAL_S seconds, also while one slow step is still running; work done within the first
interval writes nothing.

Every long loop of the toolkit (ussim, ganlab, compare) goes through `bar`, so a user who cannot
see a terminal still sees that work goes on and how long it will take.

tqdm alone does neither: with `disable=None` it switches itself off when the output is not a
terminal, and enabled it writes carriage-return updates only when an iteration ends. So a log gets
tqdm's own status line (share, elapsed, ETA) as a line of its own, and a small thread refreshes it
while an iteration takes long.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from tqdm import tqdm

# DECISION: 30 s, what issue 16 asks: often enough that a log shows life, rarely enough that a
# 30-minute demo writes about a hundred progress lines rather than thousands.
LOG_INTERVAL_S = 30.0
ENV_INTERVAL = "USSIM_PROGRESS_INTERVAL"  # seconds; tests set it short


def interval() -> float:
    """Seconds between log lines ($USSIM_PROGRESS_INTERVAL, default LOG_INTERVAL_S)."""
    try:
        value = float(os.environ.get(ENV_INTERVAL, LOG_INTERVAL_S))
    except ValueError:
        return LOG_INTERVAL_S
    return value if value > 0 else LOG_INTERVAL_S


class _Lines:
    """A text stream that turns tqdm's carriage-return updates into whole lines."""

    def __init__(self, stream):
        self.stream = stream
        self.last = time.monotonic()  # when the last line went out

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last = time.monotonic()

    def flush(self) -> None:
        self.stream.flush()


class _LogBar(tqdm):
    """tqdm writing whole lines at most every `mininterval` s on iterations, and at least that often
    from a heartbeat thread while iterations are slow."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stopped = threading.Event()
        self._heartbeat = None
        if not self.disable:
            self._heartbeat = threading.Thread(target=self._beat, daemon=True, name=f"progress {self.desc}")
            self._heartbeat.start()

    def __iter__(self):
        # tqdm's own iterator keeps the count in a local until it prints; the heartbeat must see it
        if self.disable:
            yield from self.iterable
            return
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def _beat(self) -> None:
        # a line only where the iterations left a gap of a whole interval: no doubled lines
        while not self._stopped.wait(self.mininterval / 4):
            if time.monotonic() - self.fp.last >= self.mininterval:
                self.refresh()

    def close(self) -> None:
        if getattr(self, "_stopped", None) is not None:
            self._stopped.set()
        super().close()


def is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def bar(iterable=None, *, enabled: bool = True, stream=None, **kwargs) -> tqdm:
    """A progress bar over `iterable` (or a `total`) with tqdm's keywords (desc, unit, total, ...).

    `enabled` False: silent. In a terminal: tqdm's bar. Otherwise: lines as the module says."""
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return tqdm(iterable, disable=True, **kwargs)
    if is_terminal(stream):
        return tqdm(iterable, file=stream, **kwargs)
    every = interval()
    # delay: work shorter than one interval writes no line at all (a command that fails at once
    # leaves its one error line alone)
    return _LogBar(iterable, file=_Lines(stream), mininterval=every, delay=every, ascii=True, ncols=80,
                   dynamic_ncols=False, **kwargs)
