"""Helpers for the end-to-end browser tests: a toy study, a real `streamlit run` server, and
reader actions in Debian's Chromium driven by Playwright.

Chromium comes from apt (tests/setup_browser.sh), not `playwright install`, which needs a
download this project cannot rely on.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.app import study_sets

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "app" / "main.py"
ARTIFACTS = ROOT / "runs" / "test-artifacts"
# Distinctive method names, so the leak search cannot match anything by accident.
METHODS = ("physics-sim", "gan-model")
ANSWER_GROUP = "Is this image real or synthetic?"
CONFIDENCE_GROUP = "Confidence (1 = guessing, 5 = certain)"
SUBMIT = "Submit and show the next image"
FINISHED = "Finished: every case is answered"
TIMEOUT_MS = 20_000


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} missing (install Debian's chromium: tests/setup_browser.sh)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


ADMIN_PASSWORD = "e2e-admin-password"
SIZE = 64


def write_sets(folder: Path, n: int) -> tuple[dict[str, str], str]:
    """A real set and one set per method imaging the same `n` masks, 64x64, with the IVUS organ
    (so every case is cut to its circular field of view); the real frames carry a black corner
    as a scanner's surround. The method is also in the file's attributes, so a leak of the
    attributes would show in the search too."""
    return study_sets.write_sets(folder, METHODS, n=n, size=SIZE, organ="ivus", real_corner=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app/main.py` in its own process group, so SIGKILL reaches every child."""

    def __init__(self, db_url: str, log: Path, port: int | None = None, password: str | None = ADMIN_PASSWORD):
        """`password`: the admin password the server is started with (None: no password, the
        admin pages stay closed)."""
        self.db_url, self.log, self.port = db_url, log, port or free_port()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("USSIM_ADMIN_PASSWORD", "USSIM_ADMIN_PASSWORD_FILE")}
        if password is not None:
            self.env["USSIM_ADMIN_PASSWORD"] = password
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def link(self, token: str) -> str:
        return f"{self.url}/?token={token}"

    def start(self) -> Server:
        command = [sys.executable, "-m", "streamlit", "run", str(MAIN), "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                   "--", "--db", self.db_url]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=log,
                                            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"streamlit did not answer /_stcore/health within 60 s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the whole group: no clean shutdown, as a crash or power cut would be."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.process = None


def sign_in(page, url: str, password: str = ADMIN_PASSWORD) -> None:
    """Sign in as the admin on the page at `url` (the comparison page opens)."""
    page.goto(url)
    page.get_by_label("Admin password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Comparison").first.wait_for(timeout=TIMEOUT_MS)


def progress_text(answered: int, total: int) -> str:
    return f"{answered} of {total} answered"


def open_reader(page, link: str, answered: int, total: int) -> None:
    page.goto(link)
    page.get_by_text(progress_text(answered, total)).wait_for(timeout=TIMEOUT_MS)


def answer(page, answered: int, total: int, choice: str = "synthetic", confidence: int = 4) -> None:
    """Answer the case on screen and wait until the page acknowledges it ("answered + 1 of M"):
    only then is the answer committed (the app commits before the rerun that shows it)."""
    # Scoped to the keyed containers of the case at position answered + 1 (practice cases come
    # first and count as answered too): right after a rerun the previous case's widgets can
    # still be on screen, and a click on them would be lost.
    position = answered + 1
    group = page.locator(f".st-key-answer_{position}").get_by_role("radiogroup", name=ANSWER_GROUP)
    group.wait_for(timeout=TIMEOUT_MS)
    # Streamlit's radio inputs are visually hidden; the option's label text takes the click.
    group.get_by_text(choice, exact=True).click()
    page.locator(f".st-key-confidence_{position}").get_by_role("radiogroup", name=CONFIDENCE_GROUP) \
        .get_by_text(str(confidence), exact=True).click()
    page.locator(f".st-key-submit_{position}").get_by_role("button", name=SUBMIT).click()
    page.get_by_text(progress_text(answered + 1, total)).wait_for(timeout=TIMEOUT_MS)


def shown_position(page) -> int:
    """The position (1-based, in the reader's own order) of the case on screen, from the
    `st-key-answer_<pos>` class Streamlit puts on a keyed widget's container."""
    found = page.locator("[class*='st-key-answer_']")
    # The progress text can render before the case's widgets do.
    found.first.wait_for(timeout=TIMEOUT_MS)
    classes = found.first.get_attribute("class").split()
    return int(next(c for c in classes if c.startswith("st-key-answer_")).rsplit("_", 1)[1])


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def publish(screenshot_path: Path, name: str) -> None:
    """Copy a screenshot to docs/screenshots/ (referenced from the README)."""
    target = ROOT / "docs" / "screenshots" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot_path, target)
