"""The dashboard on a `make demo` run, in a real browser: does every method of the demo (the
diffusion model included) reach the comparison page, the phantom editor and the reader study?

    PYTHONPATH=. python bench/dashboard_demo.py --demo runs/demo --out bench/out/dashboard

Starts `streamlit run app/main.py` on the demo's study database and results file (as `make
dashboard` does), signs in with the demo's admin password, and in Debian's Chromium (Playwright):
  1. the comparison page: every method name of results.nc appears; full-page screenshot;
  2. the phantom editor: a new anatomy of each organ, imaged by the fast engine and by every
     trained run of that organ (the demo's seed-0 runs), each image shown; screenshot per organ;
  3. the reader study: the first reader's link opens a case; screenshot.
Prints one line per check and exits 1 if any fails. Screenshots go to --out (not committed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from compare import results
from tests.app import browser

TIMEOUT_MS = 600_000  # the phantom editor images a 256 px anatomy with several models: minutes on a busy CPU


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=Path("runs/demo"), help="a `make demo` output folder")
    parser.add_argument("--out", type=Path, default=Path("bench/out/dashboard"), help="folder for the screenshots")
    args = parser.parse_args()
    record = json.loads((args.demo / "demo.json").read_text())
    password = (args.demo / "admin-password.txt").read_text().strip()
    args.out.mkdir(parents=True, exist_ok=True)
    failures = []

    def check(ok: bool, what: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            failures.append(what)

    from playwright.sync_api import sync_playwright

    server = browser.Server(f"sqlite:///{(args.demo / 'study.db').resolve()}", args.out / "streamlit.log",
                            password=password)
    server.env["USSIM_RESULTS"] = str((args.demo / "results.nc").resolve())
    server.start()
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=browser.CHROMIUM)
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            browser.sign_in(page, server.url, password)
            comparisons = results.read_comparisons(args.demo / "results.nc")
            page.wait_for_timeout(3000)
            text = page.inner_text("body")
            for index, (organ, ds) in enumerate(comparisons.datasets.items()):
                if index:  # one comparison at a time: the radio "Comparison" chooses it
                    page.get_by_role("radiogroup", name="Comparison").get_by_text(ds.attrs["title"]).click()
                    page.wait_for_timeout(5000)
                    text = page.inner_text("body")
                for method in ds["method"].values.tolist():
                    check(method in text, f"comparison page names {organ} method {method}")
                page.screenshot(path=str(args.out / f"comparison_{organ}.png"), full_page=True)

            for organ, entry in record["organs"].items():
                runs = [trained[0]["run"] for trained in entry["methods"].values()]
                page.get_by_role("link", name="Phantom editor").click()
                page.get_by_role("button", name="Generate").wait_for(timeout=browser.TIMEOUT_MS)
                chooser = page.get_by_role("combobox", name="Organ")
                if chooser.input_value() != organ:
                    chooser.click()
                    chooser.press("Control+a")
                    chooser.type(organ)  # the selectbox filters its options by what is typed
                    page.get_by_role("option", name=organ).first.click()
                page.get_by_role("button", name="Generate").click()
                images = page.locator("[data-testid='stImage']")
                images.first.wait_for(timeout=TIMEOUT_MS)
                started = time.monotonic()
                page.locator(".st-key-phantom_gan_runs textarea").fill("\n".join(runs))
                page.get_by_role("button", name="Make the GAN and diffusion images for this mask").click()
                try:
                    images.nth(len(runs)).wait_for(timeout=TIMEOUT_MS)
                except Exception:  # noqa: BLE001 - reported below as a failed check, with what was shown
                    pass
                shown = images.count()
                page.wait_for_function("[...document.images].every(image => image.complete)", timeout=60_000)
                page.screenshot(path=str(args.out / f"phantom_{organ}.png"), full_page=True)
                check(shown >= len(runs) + 1, f"phantom editor, {organ}: {shown} images for the fast engine and "
                      f"{len(runs)} runs ({', '.join(Path(r).name for r in runs)}) in {time.monotonic() - started:.0f} s")
                errors = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']").count()
                check(errors == 0, f"phantom editor, {organ}: no error on the page ({errors})")

            tokens = [line.split("token=")[1].split()[0] for line in (args.demo / "readers.txt").read_text().splitlines()
                      if "token=" in line]
            check(bool(tokens), "readers.txt holds reader links")
            if tokens:
                page.goto(server.link(tokens[0]))
                question = page.get_by_role("radiogroup", name=browser.ANSWER_GROUP).first
                try:
                    question.wait_for(timeout=browser.TIMEOUT_MS)
                except Exception:  # noqa: BLE001 - reported as a failed check, with the screenshot
                    pass
                page.screenshot(path=str(args.out / "reader.png"), full_page=True)
                check(question.count() > 0, "the first reader's link opens a case")
            chromium.close()
    finally:
        server.kill()
    print(f"screenshots: {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
