"""Every endpoint of ``tape ui`` without a browser: Starlette's TestClient against the real app on a
real store (both backends): status codes, the JSON shapes (those of ``--json``), escaping, the token
and host checks, the security headers, and that nothing writes to the store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

import tapevm
from tapevm.cli.ui.app import build_app
from tapevm.cli.ui.guard import loopback_hosts

from .conftest import HOSTILE_IMG, HOSTILE_NAME, HOSTILE_SCRIPT, HOSTILE_URL, Served

Tape = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def client(populated: str) -> Iterator[TestClient]:
    with tapevm.open_store(populated) as store:
        yield TestClient(build_app(store), base_url="http://127.0.0.1")


def cli_json(tape: Tape, store: str, *args: str) -> object:
    done = tape("--store", store, *args, "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


PAGES = ["/", "/?q=wor", "/s/work", "/s/work?from=5&type=FormEvaluated,FormSubmitted&q=define",
         "/s/work?snapshot=before-change", "/s/work/state", "/s/work/state?at=4&prev=2",
         "/s/work/blame?binding=user/x", "/s/work/blame?fact=(likes ann tea)", "/s/work/blame?file=notes.txt",
         "/diff", "/diff?a=work&b=feat", "/diff?a=work@3&b=work", "/s/work/replay", "/s/work/replay?run=1",
         "/static/ui.css", "/static/ui.js", "/static/htmx.min.js"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text[:500]
    if not path.startswith("/static"):
        assert r.headers["content-type"].startswith("text/html")
        assert "<main>" in r.text and "internal error" not in r.text


@pytest.mark.parametrize(("path", "status"), [
    ("/s/missing", 404), ("/api/s/missing/events", 404), ("/s/work/state?at=99999", 400),
    ("/s/work/state?at=abc", 400), ("/api/s/work/events?type=NoSuchType", 400), ("/s/work/blame", 400),
    ("/api/s/work/blame?binding=user/never", 400), ("/api/diff?a=work", 400), ("/nowhere", 404),
    ("/s/work?snapshot=nope", 400)])
def test_bad_requests_are_refused_with_a_message(client: TestClient, path: str, status: int) -> None:
    r = client.get(path)
    assert r.status_code == status
    if path.startswith("/api"):
        assert r.json()["error"]


def test_json_shapes_are_those_of_the_cli(client: TestClient, populated: str, tape: Tape) -> None:
    assert [r["id"] for r in client.get("/api/sessions").json()] == \
        [r["id"] for r in cli_json(tape, populated, "sessions")]  # type: ignore[union-attr]
    for at in (3, 9, 20):
        ui = client.get(f"/api/s/work/state?at={at}").json()
        assert ui["state"] == cli_json(tape, populated, "state", "-i", "work", "--at", str(at))
    page = client.get("/api/s/work/events?from=1").json()
    log = tape("--store", populated, "log", "-i", "work", "--json", "--to", str(page["events"][-1]["seq"]))
    assert page["events"] == [json.loads(line) for line in log.stdout.splitlines()]
    ui_diff = client.get("/api/diff?a=work&b=feat").json()
    cli_diff = cli_json(tape, populated, "diff", "work", "feat", "--events")
    assert {k: v for k, v in ui_diff.items() if k != "changes"} == {k: v for k, v in cli_diff.items()  # type: ignore[union-attr]
                                                                     if k != "changes"}
    assert [{k: v for k, v in c.items() if not k.endswith("_text")} for c in ui_diff["changes"]] == \
        cli_diff["changes"]  # type: ignore[index]
    assert client.get("/api/s/work/blame?binding=user/x").json() == cli_json(tape, populated, "blame", "x", "-i", "work")
    replayed = client.get("/api/s/work/replay").json()
    assert replayed["ok"] and replayed["verified"] and replayed["events"] > 10


def test_slider_delta_names_what_changed(client: TestClient) -> None:
    data = client.get("/api/s/work/state?at=20&prev=3").json()
    assert data["delta"]["from"] == 3 and data["delta"]["to"] == 20
    page = client.get("/s/work/state?at=20&prev=3").text
    assert 'id="delta"' in page and "class=changed" in page
    assert 'href="/diff?a=work%4020&amp;b=work"' in page and 'href="/s/work?from=10"' in page
    assert 'href="/diff?a=work&amp;b=feat"' in client.get("/").text  # a fork, compared with its source


def test_timeline_pages_and_filters(client: TestClient) -> None:
    head = client.get("/api/s/work/events").json()["head"]
    page = client.get("/api/s/work/events?from=2&type=FormEvaluated").json()
    assert page["events"] and all(e["type"] == "FormEvaluated" for e in page["events"])
    assert all(e["seq"] >= 2 for e in page["events"]) and page["next"] is None
    text = client.get("/api/s/work/events?q=ann").json()["events"]
    assert text and all("ann" in e["summary"] for e in text)
    snap = client.get("/api/s/work/state").json()["snapshots"][0]
    assert client.get("/s/work?snapshot=before-change").text.count(f'id="e{snap["at"]}"') == 1
    assert client.get(f"/api/s/work/events?from={head + 5}").json()["events"] == []
    ids = re.findall(r'<tr id="(e\d+)"', client.get("/s/work").text)
    assert ids and len(ids) == len(set(ids))  # every event's row once: #eN anchors are unique
    errors = client.get("/api/s/work/events?kind=error").json()["events"]
    assert errors and all("type-error" in e["summary"] or not e["data"].get("ok", True) for e in errors)
    effects = {e["type"] for e in client.get("/api/s/work/events?kind=effect").json()["events"]}
    assert effects == {"EffectCompleted"}  # as tape audit --kind effect: one entry per call, at its answer
    user = client.get("/api/s/work/events?ns=user").json()["events"]
    assert user and all(e["data"]["ns"] == "user" for e in user)
    assert not client.get("/api/s/work/events?ns=elsewhere").json()["events"]
    assert client.get("/api/s/work/events?kind=nonsense").status_code == 400
    assert 'name="kind" value="effect"' in client.get("/s/work?kind=effect").text


def test_hostile_values_are_escaped(client: TestClient) -> None:
    pages = [client.get(p).text for p in ("/s/work", "/s/work/state", "/s/work/blame?binding=user/evil",
                                           "/diff?a=work&b=feat", "/s/work/blame?fact=(note \"<b>bold</b>\")")]
    joined = "\n".join(pages)
    assert HOSTILE_SCRIPT not in joined and "<script>alert" not in joined
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in joined
    assert HOSTILE_IMG not in joined and "<img" not in joined
    assert 'href="javascript:' not in joined and HOSTILE_URL in joined  # shown as text, never a link
    assert "\u202e" not in joined and "\\u202e" in joined
    assert "<b>bold</b>" not in joined
    assert len(client.get("/s/work/state").content) < 250_000  # a 300,000-character value is folded and cut


def test_security_headers(client: TestClient) -> None:
    r = client.get("/s/work")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text and "style=" not in r.text  # no inline script or style of our own


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_nothing_but_get(client: TestClient, method: str) -> None:
    for path in ("/", "/s/work", "/api/s/work/replay", "/api/s/work/events"):
        assert client.request(method, path).status_code == 405


def test_reading_everything_writes_nothing(populated: str, client: TestClient) -> None:
    with tapevm.open_store(populated) as store:
        before = [(r.session, r.events, r.stored_bytes) for r in store.sessions()]
        with store.session("work", create=False, writable=False) as s:
            log_before = [(e.seq, e.type_name) for e in s.events()]
    for path in PAGES + ["/api/s/work/replay", "/api/s/feat/replay", "/api/sessions", "/api/diff?a=work&b=feat"]:
        client.get(path)
    with tapevm.open_store(populated) as store:
        assert [(r.session, r.events, r.stored_bytes) for r in store.sessions()] == before
        with store.session("work", create=False, writable=False) as s:
            assert [(e.seq, e.type_name) for e in s.events()] == log_before


def test_host_check_refuses_other_hosts(populated: str) -> None:
    with tapevm.open_store(populated) as store:
        app = build_app(store, hosts=loopback_hosts(8765))
        assert TestClient(app, base_url="http://127.0.0.1:8765").get("/").status_code == 200
        assert TestClient(app, base_url="http://localhost:8765").get("/").status_code == 200
        assert TestClient(app, base_url="http://evil.example:8765").get("/").status_code == 421
        assert TestClient(app, base_url="http://127.0.0.1:9999").get("/api/sessions").status_code == 421


def test_token_is_checked_on_every_request(populated: str) -> None:
    with tapevm.open_store(populated) as store:
        app = build_app(store, token="s3cret-token-value")
        c = TestClient(app, base_url="http://192.0.2.1")
        for path in ("/", "/api/sessions", "/static/ui.css", "/s/work/live"):
            assert c.get(path).status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        assert c.get("/api/sessions", headers={"authorization": "Bearer s3cret-token-value"}).status_code == 200
        first = c.get("/s/work?token=s3cret-token-value&from=2", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/s/work?from=2"
        assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Strict" in first.headers["set-cookie"]
        assert c.get("/s/work?from=2").status_code == 200  # the cookie it set
        c.cookies.clear()
        assert c.get("/s/work").status_code == 401


def test_tape_ui_without_the_extra_says_what_to_install(tape_env: dict[str, str], tmp_path: object) -> None:
    probe = ("import sys\nsys.modules['starlette'] = None\n"
             "from tapevm.cli.main import main\nsys.argv = ['tape', 'ui']\nmain()\n")
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True,
                          env=tape_env, timeout=60)
    assert done.returncode == 2
    assert "pip install 'tapevm[ui]'" in done.stderr and "starlette" in done.stderr


def test_a_divergence_shows_the_event_both_sides_and_the_source(client: TestClient,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed primitive (as a new tapevm version might bring) makes the replay differ from the record."""
    from tapevm.vm.primitives import registry

    monkeypatch.setattr(registry.PRIMITIVES["+"], "fn", lambda *xs: 0)
    d = client.get("/api/s/work/replay").json()["divergence"]
    assert d["form"]["source"] == "(define total (+ x 40))" and d["form"]["file"] == "work.lisp"
    assert d["expected"]["data"] != d["actual"]["data"]
    page = client.get("/s/work/replay?run=1").text
    assert "DIVERGES from the record" in page and "first differing event" in page
    assert f'id="e{d["seq"]}"' not in page and f'at={d["seq"]}"' in page  # a link to the state there
    assert "(define total (+ x 40))" in page and "expected (recorded)" in page and "actual (replayed)" in page


def test_hostile_session_and_snapshot_names_are_escaped(client: TestClient) -> None:
    quoted = quote(HOSTILE_NAME, safe="")
    pages = [client.get(p) for p in ("/", f"/s/{quoted}", f"/s/{quoted}/state", f"/s/{quoted}/replay?run=1")]
    assert all(r.status_code == 200 for r in pages)
    joined = "\n".join(r.text for r in pages)
    assert HOSTILE_NAME not in joined and "&lt;img src=x onerror=alert(2)&gt;" in joined
    assert HOSTILE_SCRIPT not in joined and "<script>.lisp" not in joined
    assert f'href="/s/{quoted}"' in pages[0].text  # the link is to the quoted name, not to markup


def test_a_token_is_made_and_required_beyond_loopback(serve: Callable[..., Served], populated: str) -> None:
    ui = serve(populated, "--host", "0.0.0.0")
    token = ui.url.split("?token=", 1)[1]
    assert len(token) >= 24
    local = ui.base.replace("0.0.0.0", "127.0.0.1")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(local + "/api/sessions", timeout=10)
    assert refused.value.code == 401
    asked = urllib.request.Request(local + "/api/sessions", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(asked, timeout=10) as answer:
        assert answer.status == 200 and {r["id"] for r in json.load(answer)} >= {"work", "feat"}


def test_a_missing_store_is_refused_before_listening(tape: Tape, tmp_path: Path) -> None:
    done = tape("--store", str(tmp_path / "none.db"), "ui", "--port", "0")
    assert done.returncode == 2 and "no store at" in done.stderr and "serving" not in done.stdout
    assert not (tmp_path / "none.db").exists()


def test_live_stream_sends_a_form_another_writer_commits(client: TestClient, populated: str) -> None:
    """The live view's event stream, on both backends: a form committed by another connection
    arrives as its escaped rows, then the new head."""
    head = client.get("/api/s/work/state").json()["head"]

    def write() -> None:
        time.sleep(0.8)
        with tapevm.open_store(populated) as other, other.session("work") as s:
            s.run('(define from-elsewhere "<u>x</u>")', "elsewhere.lisp")

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[str] = []
    with client.stream("GET", f"/s/work/live?after={head}") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            seen.append(line)
            if line.startswith("event: head"):
                break
    writer.join()
    rows = "\n".join(line for line in seen if line.startswith("data: <"))
    assert "from-elsewhere" in rows and "elsewhere.lisp:1" in rows
    assert "<u>" not in rows and "&lt;u&gt;x&lt;/u&gt;" in rows
    assert client.get("/api/s/work/state").json()["head"] > head


def test_restores_are_marks_on_the_slider(client: TestClient) -> None:
    quoted = quote(HOSTILE_NAME, safe="")
    data = client.get(f"/api/s/{quoted}/state").json()
    assert [r["snapshot"] for r in data["restores"]] == [HOSTILE_SCRIPT]
    restore = data["restores"][0]
    assert restore["target"] == data["snapshots"][0]["at"] < restore["seq"] == data["head"]
    page = client.get(f"/s/{quoted}/state").text
    assert f'at={restore["seq"]}' in page and "↺ restore of &lt;script&gt;" in page and HOSTILE_SCRIPT not in page
    assert client.get("/api/s/work/state").json()["restores"] == []


def test_merges_are_drawn_in_the_sessions_tree(client: TestClient) -> None:
    rows = {r["id"]: r for r in client.get("/api/sessions").json()}
    assert [(m["kind"], m["source"]) for m in rows["work.1"]["merges"]] == [("merge", "feat")]
    assert rows["work"]["merges"] == [] and rows["feat"]["merges"] == []
    assert "merge from feat@" in client.get("/").text


def test_a_pending_await_shows_with_its_stack(populated: str, client: TestClient) -> None:
    """A form suspended at (await ...) heads its timeline (and its JSON): what it awaits, the form, the
    stack with locals, how to answer; its payload escaped like every value."""
    with tapevm.open_store(populated) as store, store.session("waiting") as s:
        s.run("(define (agent task) (let ((draft (string-append \"plan: \" task))) (list :verdict (await 'approval :payload draft))))")
        with pytest.raises(tapevm.FormPending):
            s.run(f'(agent "{HOSTILE_SCRIPT}")', "agent.lisp")
    [pending] = client.get("/api/s/waiting/events").json()["pending"]
    assert (pending["tag"], pending["where"], pending["timed_out"]) == ("approval", "agent.lisp:1", False)
    assert pending["payload"] == '"plan: ' + HOSTILE_SCRIPT + '"'
    assert [f["function"] for f in pending["stack"]][:1] == ["agent"]
    page = client.get("/s/waiting").text
    assert "pending: awaits approval" in page and "tape answer -i waiting approval VALUE" in page
    assert HOSTILE_SCRIPT not in page and "plan: &lt;script&gt;" in page
    assert client.get("/api/s/work/events").json()["pending"] == []


def test_text_views_link_to_the_same_view_in_the_ui(client: TestClient, populated: str, tape: Tape) -> None:
    """``--ui`` prints (on stderr) the URL of the view the command shows; the app serves it."""
    s = ("--store", populated)
    for args, view in ((("log", "-i", "work", "--from", "3"), "Timeline of work"),
                       (("state", "-i", "work", "--at", "4"), "work"),
                       (("blame", "x", "-i", "work"), "user/x"),
                       (("diff", "work", "feat"), "feat")):
        done = tape(*s, *args, "--ui", "--json")
        assert done.returncode == 0 and done.stdout.lstrip()[:1] in "{[", done.stderr  # stdout: the JSON only
        [url] = [line.removeprefix("tape ui: ") for line in done.stderr.splitlines() if line.startswith("tape ui: ")]
        assert url.startswith("http://127.0.0.1:8765/"), url
        page = client.get(url.removeprefix("http://127.0.0.1:8765"))
        assert page.status_code == 200 and view in page.text, (args, url)
