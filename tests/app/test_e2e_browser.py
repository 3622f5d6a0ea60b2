"""End-to-end: the real `streamlit run` server in Debian's Chromium (Playwright), per the reader
study rules in ../shared/ARCHITECTURE.md: two readers at once, a SIGKILLed server, a leak
search of everything the browser receives, token isolation, and PostgreSQL."""

from __future__ import annotations

import glob
import io
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select

from app import study
from app.study import db
from app.study.images import png_chunk_types, png_length
from tests.app import browser as b

pytestmark = pytest.mark.skipif(b.skip_reason() is not None, reason=str(b.skip_reason()))

N_PER_METHOD = 2  # cases per method and real: 2 + 2 + 2 = 6 per reader, enough and fast
TOTAL = 3 * N_PER_METHOD


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=b.CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def make_study(folder: Path, db_url: str, readers: list[str], n: int = N_PER_METHOD, name: str = "trial"):
    sets, real = b.write_sets(folder, 3 * n)
    handle = study.create_study(db_url, name, sets, real, cases_per_reader=3 * n, seed=7)
    return handle, study.add_readers(handle, readers), {"real": real, **sets}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server and study for the tests that do not kill it (a, c, d): one start-up only."""
    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder / 'study.db'}"
    handle, tokens, paths = make_study(folder, url, ["ann", "bob", "cat", "dan", "eve"])
    server = b.Server(url, folder / "streamlit.log").start()
    yield server, handle, tokens, paths
    server.kill()
    db.dispose_engines()


def answers_of(db_url: str, reader_name: str) -> int:
    with db.engine_for(db_url).connect() as connection:
        return connection.execute(
            select(func.count()).select_from(db.answer.join(db.reader, db.answer.c.reader_id == db.reader.c.id))
            .where(db.reader.c.display_name == reader_name)).scalar_one()


def test_two_readers_complete_the_study_at_the_same_time(chromium, shared):
    server, handle, tokens, _ = shared
    contexts = [chromium.new_context(viewport={"width": 1100, "height": 900}) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        for page, name in zip(pages, ("ann", "bob"), strict=True):
            b.open_reader(page, server.link(tokens[name]), 0, TOTAL)
        pages[0].locator("img").first.wait_for(timeout=b.TIMEOUT_MS)
        b.publish(b.screenshot(pages[0], "reader_page_with_image.png"), "reader.png")
        # Interleaved: ann, bob, ann, bob... both sessions live on one server at once.
        for answered in range(TOTAL):
            # Different answers per reader, so the results page shows non-trivial statistics.
            choices = ("synthetic", "real" if answered % 3 else "synthetic")
            for page, choice in zip(pages, choices, strict=True):
                b.answer(page, answered, TOTAL, choice=choice, confidence=1 + answered % 5)
        for page in pages:
            page.get_by_text(b.FINISHED).wait_for(timeout=b.TIMEOUT_MS)
        b.screenshot(pages[0], "reader_finished.png")
    finally:
        for context in contexts:
            context.close()
    assert answers_of(handle.db_url, "ann") == TOTAL
    assert answers_of(handle.db_url, "bob") == TOTAL
    # The admin results page, now that there are answers: the admin signs in first.
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        b.sign_in(page, server.url)
        page.get_by_role("link", name="Study results").click()
        page.get_by_text("Fleiss κ").first.wait_for(timeout=b.TIMEOUT_MS)
        page.get_by_text(f"{2 * TOTAL} scored answers from 2 readers").wait_for(timeout=b.TIMEOUT_MS)
        page.locator(".js-plotly-plot").first.wait_for(timeout=b.TIMEOUT_MS)
        b.publish(b.screenshot(page, "admin_study_results.png"), "results.png")
    finally:
        context.close()


def test_sigkill_mid_study_loses_no_acknowledged_answer_and_the_reader_resumes(chromium, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    handle, tokens, _ = make_study(tmp_path, url, ["ann"])
    server = b.Server(url, tmp_path / "streamlit.log").start()
    context = chromium.new_context()
    try:
        page = context.new_page()
        b.open_reader(page, server.link(tokens["ann"]), 0, TOTAL)
        acknowledged = 3
        for answered in range(acknowledged):
            b.answer(page, answered, TOTAL)
        server.kill()
        db.dispose_engines()  # read the file as a fresh process would
        assert answers_of(url, "ann") == acknowledged
        server.start()  # same port and database: the reader's link still works
        b.open_reader(page, server.link(tokens["ann"]), acknowledged, TOTAL)
        assert b.shown_position(page) == acknowledged + 1
        for answered in range(acknowledged, TOTAL):
            b.answer(page, answered, TOTAL)
        page.get_by_text(b.FINISHED).wait_for(timeout=b.TIMEOUT_MS)
    finally:
        context.close()
        server.kill()
        db.dispose_engines()
    assert answers_of(url, "ann") == TOTAL


def test_nothing_the_browser_receives_names_a_method(chromium, shared):
    server, _, tokens, paths = shared
    frames: list[str] = []
    images: list[tuple[str, bytes]] = []
    dom: list[str] = []

    def on_websocket(ws):
        ws.on("framereceived", lambda payload: frames.append(_text(payload)))
        ws.on("framesent", lambda payload: frames.append(_text(payload)))

    def on_response(response):
        if "/media/" in response.url or response.headers.get("content-type", "").startswith("image/"):
            images.append((response.url, response.body()))

    context = chromium.new_context()
    try:
        page = context.new_page()
        page.on("websocket", on_websocket)
        page.on("response", on_response)
        b.open_reader(page, server.link(tokens["cat"]), 0, TOTAL)
        for answered in range(TOTAL):
            page.locator("img").first.wait_for(timeout=b.TIMEOUT_MS)
            dom.append(page.content())
            b.answer(page, answered, TOTAL)
        page.get_by_text(b.FINISHED).wait_for(timeout=b.TIMEOUT_MS)
        dom.append(page.content())
    finally:
        context.close()
    # Streamlit's own fonts live under /static/media/; the app's images under /media/.
    media = [(url, body) for url, body in images if urlparse(url).path.startswith("/media/")]
    assert len(media) >= TOTAL, f"expected one image per case, saw {[u for u, _ in images]}"
    assert frames, "no websocket frame captured"
    keys = sorted({k for html in dom for k in re.findall(r"st-key-([^\s\"']+)", html)})
    assert keys and all(re.fullmatch(r"(answer|confidence|submit)_\d+", k) for k in keys), keys
    forbidden = [*b.METHODS, "toy", "rayleigh", ".h5", *paths.values(), *(Path(p).name for p in paths.values())]
    # The tokens are random URL-safe text in the query string; drop them so a chance "toy" in
    # one cannot fail the search.
    haystacks = {"html": dom, "websocket": frames, "media urls": [u for u, _ in images], "widget keys": keys}
    for where, texts in haystacks.items():
        for text in texts:
            for token in tokens.values():
                text = text.replace(token, "<token>")
            for word in forbidden:
                assert word.lower() not in text.lower(), f"{word!r} reached the browser in the {where}"
    # One byte length for every image, whatever its source (uncompressed PNG): the browser's
    # network panel shows it for every image it loads.
    assert {len(body) for _, body in media} == {png_length((b.SIZE, b.SIZE))}
    for url, body in media:
        assert "synthetic" not in url.lower() and "real" not in url.lower().split("/media/")[1]
        chunks = png_chunk_types(body)  # raises unless the served bytes are a PNG
        assert set(chunks) <= {"IHDR", "IDAT", "IEND"}, f"{url}: metadata chunks {chunks}"
        from PIL import Image
        with Image.open(io.BytesIO(body)) as image:
            assert image.mode == "L" and image.size == (b.SIZE, b.SIZE) and not image.info.get("text")


def _text(payload) -> str:
    # Streamlit's frames are protobuf bytes; strings inside them are UTF-8, so a lenient
    # decode keeps every name searchable.
    return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)


def test_a_token_opens_only_its_own_session_and_never_the_results(chromium, shared):
    server, handle, tokens, _ = shared
    context = chromium.new_context()
    try:
        page = context.new_page()
        b.open_reader(page, server.link(tokens["dan"]), 0, TOTAL)
        b.answer(page, 0, TOTAL)
        # eve's link, in the same browser: eve's own session, untouched by dan's answer.
        b.open_reader(page, server.link(tokens["eve"]), 0, TOTAL)
        # A token one character off is no token: an error, no image, no answer widgets.
        forged = tokens["dan"][:-1] + ("A" if tokens["dan"][-1] != "A" else "B")
        page.goto(server.link(forged))
        page.locator("[data-testid='stAlert']").first.wait_for(timeout=b.TIMEOUT_MS)
        assert page.locator("img").count() == 0 and page.get_by_role("radiogroup").count() == 0
        # The results page's path with a reader's token: the reader gets the reader page only.
        for path in ("study_results", "study_admin"):
            page.goto(f"{server.url}/{path}?token={tokens['dan']}")
            page.get_by_text(b.progress_text(1, TOTAL)).wait_for(timeout=b.TIMEOUT_MS)
            page.wait_for_timeout(500)  # let a late admin element, if any, render
            html = page.content()
            for admin_only in ("Study results", "Fleiss", "Specificity", "Download answers", "Study admin"):
                assert admin_only not in html, f"{admin_only!r} shown to a reader at /{path}"
    finally:
        context.close()
    assert answers_of(handle.db_url, "dan") == 1 and answers_of(handle.db_url, "eve") == 0


ADMIN_WORDS = ("Study results", "Study admin", "Comparison", "Phantom editor", "Fleiss", "Specificity",
               "Download answers", "Create study", "Practice case: that image was", "is_real")


def test_no_admin_page_without_authentication(chromium, tmp_path):
    """A server with no admin password (the default): without a token, with an empty one, a wrong
    one or another study's, no page shows results, truth, a method name or the comparison."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    make_study(tmp_path, url, ["ann"], n=1)
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    _, other_tokens, _ = make_study(other_folder, f"sqlite:///{other_folder / 'other.db'}", ["zed"], n=1,
                                    name="other-study")
    server = b.Server(url, tmp_path / "streamlit.log", password=None).start()
    context = chromium.new_context()
    visits = {"no token": "", "empty token": "?token=", "wrong token": "?token=not-a-reader",
              "another study's token": f"?token={other_tokens['zed']}"}
    try:
        page = context.new_page()
        for what, query in visits.items():
            # Navigation is built in the same script run as the page, so the page's own text
            # showing means nothing else will render.
            for path in ("", "study_results"):  # an admin page's own path changes nothing
                page.goto(f"{server.url}/{path}{query}")
                expected = "Admin pages closed" if not query else "unknown reader token"
                page.get_by_text(expected).first.wait_for(timeout=b.TIMEOUT_MS)
                html = page.content()
                for word in (*ADMIN_WORDS, *b.METHODS):
                    assert word not in html, f"{word!r} shown at /{path} with {what}"
                assert page.locator("img").count() == 0 and page.get_by_role("radiogroup").count() == 0
                assert page.locator("[data-testid='stDownloadButton']").count() == 0
        # The closed page says how to open the admin pages.
        page.goto(server.url)
        page.get_by_text("USSIM_ADMIN_PASSWORD").first.wait_for(timeout=b.TIMEOUT_MS)
    finally:
        context.close()
        server.kill()
        db.dispose_engines()


# --- PostgreSQL ----------------------------------------------------------------------------

def _pg_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _pg_skip_reason() -> str | None:
    if _pg_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) missing: apt-get install postgresql"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is missing (pip install 'psycopg[binary]')"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: initdb refuses root"
    return None


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 with a temporary data directory."""
    reason = _pg_skip_reason()
    if reason:
        pytest.skip(reason)
    binaries, port = _pg_bin(), b.free_port()
    # DECISION: initdb refuses to run as root, so as root the server runs as the `postgres`
    # user (made by Debian's package) or else `nobody`, in a folder that user owns.
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="ussim-pg-"))
    if os.geteuid() == 0:
        user = "postgres" if subprocess.run(["id", "postgres"], capture_output=True).returncode == 0 else "nobody"
        as_user = ["runuser", "-u", user, "--"]
        shutil.chown(folder, user)
    data = folder / "data"

    def run(*command):
        return subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)
    made = run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    if made.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
    started = run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                  f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=on", "start")
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed: {started.stderr.strip()[-300:]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        db.dispose_engines()
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_two_readers_complete_a_study_on_postgresql(chromium, postgres, tmp_path):
    n = 1  # one case per method and real: the flow, not the volume, is what is new here
    handle, tokens, _ = make_study(tmp_path, postgres, ["ann", "bob"], n=n)
    total = 3 * n
    server = b.Server(postgres, tmp_path / "streamlit.log").start()
    contexts = [chromium.new_context() for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        for page, name in zip(pages, ("ann", "bob"), strict=True):
            b.open_reader(page, server.link(tokens[name]), 0, total)
        for answered in range(total):
            for page in pages:
                b.answer(page, answered, total)
        for page in pages:
            page.get_by_text(b.FINISHED).wait_for(timeout=b.TIMEOUT_MS)
    finally:
        for context in contexts:
            context.close()
        server.kill()
    db.dispose_engines()
    assert answers_of(postgres, "ann") == total and answers_of(postgres, "bob") == total
    assert study.results(handle)["n_answers"] == 2 * total
