"""One line describing the machine a benchmark ran on, for its printed result."""

from __future__ import annotations

import os
import platform
import sys


def describe() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch = sys.modules.get("torch")
    return (f"{platform.node()}: {model}, {os.cpu_count()} logical CPUs, load average "
            f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}" + (f", torch {torch.__version__}" if torch else ""))
