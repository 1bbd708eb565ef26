"""Regenerate the README's screenshots of ``tape ui`` (ui-timeline.png, ui-diff.png in this folder).

Writes a small demo store in a temporary folder (a session with definitions, a fact, a world file,
a snapshot, an effect answered by the offline echo model and a failing form; a fork that changes
a binding and the file), serves it with the real ``tape ui`` and photographs two views with
headless Chromium (Debian's ``chromium``) through Playwright.  Needs ``pip install -e '.[test]'``.

    .venv/bin/python docs/img/screenshots.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

import tapevm

HERE = Path(__file__).resolve().parent
DEMO = """(define tasks (list "write the brief" "review the plan"))
(define done 0)
(assert! '(owner brief ann))
(write-file! "notes.md" "# Notes\\n- brief: drafted\\n- plan: pending\\n")
(snapshot! "drafted")
(define plan (ask "plan the day" :model "m"))
(set! done (+ done 1))
(assert! '(status brief done))
(car done)
"""
FEATURE = """(set! done 2)
(write-file! "notes.md" "# Notes\\n- brief: drafted\\n- plan: approved\\n")
(define reviewer "bob")
"""


def demo_store(folder: Path) -> str:
    os.environ["TAPE_LLM"] = "echo"
    location = str(folder / "demo.db")
    with tapevm.open_store(location) as store:
        with store.session("agent") as s:
            s.run(DEMO, "agent.lisp")  # stops at the failing last form, recorded with its error
        at = store.session("agent", create=False, writable=False).snapshots()[0].at
        store.fork(f"agent@{at + 3}", "experiment")
        with store.session("experiment") as s:
            s.run(FEATURE, "experiment.lisp")
    return location


def main() -> None:
    tape = shutil.which("tape", path=str(Path(sys.executable).parent)) or "tape"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        store = demo_store(Path(tmp))
        server = subprocess.Popen([tape, "--store", store, "ui", "--port", "0"], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            base = server.stdout.readline().split("serving ", 1)[1].split()[0].rstrip("/")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1180, "height": 760})
                page.goto(base + "/s/agent")
                page.locator("tr.form", has_text="plan the day").locator("details.events > summary").click()
                page.screenshot(path=str(HERE / "ui-timeline.png"))
                page.goto(base + "/diff?a=agent&b=experiment")
                page.screenshot(path=str(HERE / "ui-diff.png"), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print("wrote", HERE / "ui-timeline.png", HERE / "ui-diff.png")


if __name__ == "__main__":
    main()
