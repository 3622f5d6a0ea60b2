"""Screenshots of the demo's report and dashboard for the README: `python docs/screenshots.py`.

Run after `make demo`. Opens runs/demo/report.html in Debian's Chromium (Playwright, no download),
then starts the dashboard on the demo's results and study (`usapp --db ... --results ...`) and
captures its comparison page. Writes docs/screenshots/report.png and docs/screenshots/comparison.png.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 1000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the dashboard did not answer at {url} within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=ROOT / "runs" / "demo", help="the demo's output folder")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder of the PNGs")
    args = parser.parse_args()
    report, results, db = args.demo / "report.html", args.demo / "results.nc", args.demo / "study.db"
    for path in (report, results, db):
        if not path.is_file():
            raise SystemExit(f"{path} missing: run `make demo` first")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "USSIM_ADMIN_PASSWORD"}
    server = subprocess.Popen([str(Path(sys.executable).with_name("usapp")), "--db", f"sqlite:///{db.resolve()}", "--results",
                               str(results.resolve()), "--server.headless", "true", "--server.port", str(port),
                               "--browser.gatherUsageStats", "false"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(report.resolve().as_uri())
            page.wait_for_timeout(1500)  # plotly draws its charts after load
            page.screenshot(path=args.out / "report.png")
            page.goto(url)
            page.get_by_text("Metrics").first.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)  # the charts and the viewer render after the table
            page.screenshot(path=args.out / "comparison.png", full_page=False)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    print(f"wrote {args.out / 'report.png'} and {args.out / 'comparison.png'}")


if __name__ == "__main__":
    main()
