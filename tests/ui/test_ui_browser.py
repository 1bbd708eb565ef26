"""``tape ui`` in a real browser: headless Chromium (Debian's) driven by Playwright, against the real
``tape ui`` process on a real store.  Screenshots of the main views go to ``test-artifacts/ui/``.

Outside CI the tests skip, saying why, when no Chromium is installed; under ``CI=true`` they must run
(``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .conftest import (
    ARTIFACTS,
    HOSTILE_IMG,
    HOSTILE_NAME,
    HOSTILE_SCRIPT,
    HOSTILE_URL,
    TAPE,
    Served,
    populate,
)

if os.environ.get("CI") == "true":
    import playwright.sync_api as playwright_sync  # under CI the browser tests must run: no skipping
else:
    playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
expect = playwright_sync.expect

CHROMIUM = os.environ.get("TAPE_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
Tape = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no Chromium is installed (apt-get install -y chromium)")
        pytest.skip("no Chromium installed (apt-get install -y chromium), so the browser tests cannot run")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TAPE_LLM", "echo")
    location = str(tmp_path / "store.db")
    populate(location)
    return location


class Watched:
    """A page whose script errors, console errors (a CSP violation is one) and dialogs are kept."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def clean(self) -> None:
        assert not self.dialogs, self.dialogs
        assert not self.problems, self.problems


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    yield watched
    context.close()


def cli_state(tape: Tape, store: str, at: int) -> dict[str, Any]:
    done = tape("--store", store, "state", "-i", "work", "--at", str(at), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def shown_bindings(page: Any) -> dict[str, str]:
    rows = page.locator("section.bindings tbody tr")
    return {rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i).locator("td").nth(1).inner_text()
            for i in range(rows.count())}


def test_sessions_page_draws_the_fork_tree(serve: Callable[..., Served], store: str, page: Watched) -> None:
    ui = serve(store)
    page.page.goto(ui.url)
    tree = page.page.locator("#sessions")
    assert tree.locator("a.session", has_text="work").first.is_visible()
    feat = tree.locator("li", has=page.page.locator("a.session", has_text="feat")).last
    assert "fork of work@" in feat.inner_text()
    assert "archived by -f" in tree.locator("li", has=page.page.locator("a.session", has_text="work.1")).last.inner_text()
    page.shot("sessions")
    page.page.fill("input[name=q]", "fea")
    page.page.click("form.bar button")
    assert page.page.locator("a.session").all_inner_texts() == ["feat"]
    assert "q=fea" in page.page.url
    page.clean()


def test_timeline_shows_forms_errors_and_effects(serve: Callable[..., Served], store: str, page: Watched) -> None:
    ui = serve(store)
    page.page.goto(ui.url)
    page.page.click("a.session >> text=work")
    assert page.page.url.endswith("/s/work")
    forms = page.page.locator("tr.form")
    assert forms.count() == 15
    failed = page.page.locator("tr.form.err")
    assert failed.count() == 1 and "(car 1)" in failed.inner_text() and "type-error" in failed.inner_text()
    ask = page.page.locator("tr.form", has_text="plan the day")
    ask.locator("details.events > summary").click()
    payload = ask.locator("details.payload").last
    payload.locator("summary").click()
    assert "echo: plan the day" in payload.locator("pre.full").inner_text()
    page.shot("timeline")
    page.page.goto(ui.base + "/s/work?type=FormEvaluated&q=type-error")
    assert page.page.locator("tr.event").count() == 1
    page.clean()


def test_slider_steps_match_tape_state(serve: Callable[..., Served], store: str, page: Watched, tape: Tape) -> None:
    ui = serve(store)
    page.page.goto(ui.base + "/s/work/state?at=3")
    assert shown_bindings(page.page) == {f"user/{k}": v for k, v in cli_state(tape, store, 3)["namespaces"]["user"].items()}
    page.page.click("#forward")
    page.page.wait_for_url(re.compile(r"at=4"))
    page.page.locator("#at-range").fill("12")  # dragging the slider: htmx swaps in the state after event 12
    # (waits that poll from the page's side: a string predicate would be evaluated there, which the CSP forbids)
    expect(page.page.locator("#at")).to_have_text("12")
    assert "at=12" in page.page.url and "prev=4" in page.page.url
    expected = cli_state(tape, store, 12)
    assert shown_bindings(page.page) == {f"user/{k}": v for k, v in expected["namespaces"]["user"].items()}
    facts = page.page.locator("section.facts td").all_inner_texts()
    assert facts == expected["facts"]
    assert page.page.locator("#delta").is_visible() and page.page.locator("tr.changed").count() >= 1
    assert page.page.locator("a.mark", has_text="before-change").is_visible()
    page.shot("slider")
    page.page.click("#back")
    page.page.wait_for_url(re.compile(r"at=11"))
    assert shown_bindings(page.page) == {f"user/{k}": v for k, v in cli_state(tape, store, 11)["namespaces"]["user"].items()}
    page.clean()


def test_blame_from_the_state(serve: Callable[..., Served], store: str, page: Watched) -> None:
    ui = serve(store)
    page.page.goto(ui.base + "/s/work/state")
    page.page.click("section.bindings a.blame >> text=user/x")
    report = page.page.locator("#blame #blame-report")
    report.wait_for()
    text = report.inner_text()
    assert "user/x" in text and "(set! x 2)" in text and "(define x 1)" in text
    assert report.locator("table.history tbody tr").count() == 2
    page.shot("blame")
    page.page.click("section.files a.blame >> text=notes.txt")
    expect(page.page.locator("#blame")).to_contain_text("file notes.txt")
    page.clean()


def test_diff_of_two_sessions(serve: Callable[..., Served], store: str, page: Watched) -> None:
    ui = serve(store)
    page.page.goto(ui.base + "/diff")
    page.page.fill("input[name=a]", "work")
    page.page.fill("input[name=b]", "feat")
    page.page.click("form.bar button")
    assert "a=work" in page.page.url and "b=feat" in page.page.url
    assert "the logs part at event" in page.page.locator("#parting").inner_text()
    rows = page.page.locator("table.diff tbody tr").all_inner_texts()
    assert any("user/x" in r and "2" in r and "10" in r for r in rows)
    textdiff = page.page.locator("pre.textdiff")
    assert textdiff.locator(".del").filter(has_text="line two").count() == 1
    assert textdiff.locator(".add").filter(has_text="line 2").count() == 1
    page.shot("diff")
    page.clean()


def test_replay_from_the_page(serve: Callable[..., Served], store: str, page: Watched) -> None:
    ui = serve(store)
    page.page.goto(ui.base + "/s/work/replay")
    page.page.click("#run-replay")
    verdict = page.page.locator("#verdict")
    verdict.wait_for()
    assert "agrees with the record" in verdict.inner_text()
    assert "run=1" in page.page.url
    page.shot("replay")
    page.clean()


def test_live_session_shows_a_form_another_process_writes(serve: Callable[..., Served], store: str,
                                                         page: Watched, tape: Tape) -> None:
    ui = serve(store)
    page.page.goto(ui.base + "/s/work")
    expect(page.page.locator("#live")).to_have_attribute("data-open", "1")
    before = page.page.locator("tr.form").count()
    done = tape("--store", store, "eval", "-i", "work", '(define written-elsewhere "<i>42</i>")')
    assert done.returncode == 0, done.stderr
    page.page.locator("tr.form", has_text="written-elsewhere").wait_for(timeout=10_000)
    assert page.page.locator("tr.form").count() == before + 1
    assert page.page.locator("tr.form i").count() == 0  # the new row's values are escaped too
    page.shot("live")
    page.clean()


def test_hostile_values_stay_text(serve: Callable[..., Served], store: str, page: Watched) -> None:
    ui = serve(store)
    named = "/s/" + quote(HOSTILE_NAME, safe="")
    for path in ("/", named, named + "/state", "/s/work", "/s/work/state", "/s/work/blame?binding=user/evil",
                 "/diff?a=work&b=feat", "/s/work/blame?binding=user/link"):
        page.page.goto(ui.base + path)
        assert page.page.locator("main script, main img, main iframe, a[href^='javascript:']").count() == 0
    page.page.goto(ui.base + "/")
    assert HOSTILE_NAME in page.page.locator("#sessions").inner_text()
    page.page.goto(ui.base + "/s/work/state")
    body = page.page.locator("section.bindings").inner_text()
    assert HOSTILE_SCRIPT in body and HOSTILE_IMG in body and HOSTILE_URL in body
    assert "abc\\u202eexe.txt" in body  # the override shown, not obeyed
    huge = page.page.locator("section.bindings tr", has_text="user/huge").locator("details.fold")
    assert "300,002 characters (first 100,000 shown)" in huge.locator("summary").inner_text()
    page.shot("hostile")
    time.sleep(0.2)
    page.clean()


def test_every_view_is_a_shareable_url(serve: Callable[..., Served], store: str, page: Watched) -> None:
    ui = serve(store)
    page.page.goto(ui.base + "/s/work/state?at=9")
    assert page.page.locator("#at").inner_text() == "9"
    at = page.page.locator("a.mark", has_text="before-change").inner_text().rsplit("@", 1)[1]
    page.page.goto(ui.base + "/s/work?snapshot=before-change")
    assert page.page.locator("input[name=from]").input_value() == at
    assert page.page.locator("#rows tr").first.get_attribute("id") == f"e{at}"
    page.page.goto(ui.base + "/s/work?type=FormSubmitted&q=set!")
    assert page.page.locator("#rows tr").count() == 1 and "(set! x 2)" in page.page.locator("#rows").inner_text()
    page.clean()


def test_token_when_listening_beyond_loopback(serve: Callable[..., Served], store: str, page: Watched) -> None:
    ui = serve(store, "--host", "0.0.0.0", env={"TAPE_UI_TOKEN": "browser-token-1234"})
    assert ui.url.endswith("?token=browser-token-1234")
    local = ui.base.replace("0.0.0.0", "127.0.0.1")
    assert page.page.goto(local + "/s/work").status == 401
    page.page.goto(local + "/?token=browser-token-1234")
    assert page.page.url == local + "/"
    assert page.page.goto(local + "/s/work").status == 200  # the cookie set on the first visit
    assert TAPE is not None
