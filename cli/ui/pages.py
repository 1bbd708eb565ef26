"""The HTML of each view, from the data ``views.py`` returns; every user text through ``html.esc``.

Pages are whole documents that work without script (links and GET forms, so every view has a URL
to share); htmx only swaps the part that changed (the slider's state, a blame panel, the replay
report) and ``ui.js`` adds the live stream, folding and copying.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from tapevm.cli.render import iso_time
from tapevm.cli.ui.html import error_body, esc, fold, href, layout, table
from tapevm.cli.ui.views import Timeline, TimelineQuery

ARCHIVE = re.compile(r"^(?P<base>.+)\.\d+$")  # a session kept aside by ``-f`` (``work.1``)


def sessions_page(rows: list[dict[str, Any]], search: str) -> str:
    """Every session as a fork tree: forks under their source, ``-f`` archives marked."""
    names = {r["id"] for r in rows}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        parent = r["parent"].rpartition("@")[0] if r["parent"] else None
        children.setdefault(parent if parent in names else None, []).append(r)

    def branch(parent: str | None) -> str:
        items = "".join(f"<li>{_session_line(r, names)}{branch(r['id'])}</li>"
                        for r in sorted(children.get(parent, []), key=lambda r: r["id"]))
        return f'<ul class="tree">{items}</ul>' if items else ""

    found = f"{len(rows)} sessions" + (f" matching “{esc(search)}”" if search else "")
    body = (f'<h1>Sessions</h1><form class="bar" method="get" action="/"><input type="search" name="q" '
            f'value="{esc(search)}" placeholder="search by name" aria-label="search by name">'
            f'<button>search</button></form><p class="count">{found}</p>'
            f'<div id="sessions">{branch(None)}</div>')
    return layout("sessions", body)


def _session_line(r: dict[str, Any], names: set[str]) -> str:
    archive = ARCHIVE.match(r["id"])
    marks = []
    if r["parent"]:
        marks.append(f'<span class="tag fork">fork of {esc(r["parent"])}</span> '
                     f'<a class="tag" href="{href("diff", a=r["parent"].rpartition("@")[0], b=r["id"])}">diff</a>')
    for m in r.get("merges") or ():
        marks.append(f'<span class="tag merge">{esc(m["kind"])} from {esc(m["source"])}@{m["source_seq"]} '
                     f'(event {m["seq"]})</span>')
    if archive and archive.group("base") in names:
        marks.append('<span class="tag archive">archived by -f</span>')
    if r["writer"]:
        marks.append(f'<span class="tag live">writing: {esc(r["writer"])}</span>')
    when = iso_time(r["last_activity"]) if r["last_activity"] else "-"
    return (f'<a class="session" href="{href("s", r["id"])}">{esc(r["id"])}</a> '
            f'<span class="meta">head {r["events"]:,} · {r["stored_bytes"]:,} bytes · last {esc(when)}</span> '
            + " ".join(marks))


def timeline_page(tl: Timeline, query: TimelineQuery) -> str:
    """A page of the timeline: filters, jumps, the forms with their events, the way on; live at the head."""
    name = tl.session
    types = ",".join(query.types)
    filters = (f'<form class="bar" method="get" action="{href("s", name)}">'
               f'<label>type <input name="type" value="{esc(types)}" placeholder="FormEvaluated,…"></label>'
               f'<label>text <input name="q" value="{esc(query.text)}" placeholder="in the summary"></label>'
               f'<label>kind <input name="kind" value="{esc(",".join(query.kinds))}" placeholder="effect,error,…" '
               f'size="12"></label><label>namespace <input name="ns" value="{esc(query.ns)}" size="8"></label>'
               f'<label>from event <input name="from" type="number" min="1" value="{tl.start}"></label>'
               f'<label>snapshot <input name="snapshot" list="snaps" placeholder="name"></label>'
               f'<button>go</button></form><datalist id="snaps">'
               + "".join(f'<option value="{esc(s["name"])}">' for s in tl.snapshots) + "</datalist>")
    live = ""
    if tl.next_start is None and not query.filtered():
        live = (f'<p id="live" class="live" data-url="{href("s", name, "live", after=tl.head)}">'
                f'live: new forms appear here as they commit</p>')
    body = (f'<h1>Timeline of {esc(name)}</h1><p class="count">events {tl.start:,}…'
            f'{(tl.next_start or tl.head + 1) - 1:,} of {tl.head:,}</p>{filters}{_pager(tl, query)}'
            f'<table class="timeline"><thead><tr><th>event</th><th>place</th><th>form / event</th>'
            f'<th>result</th><th>ms</th></tr></thead><tbody id="rows">{timeline_rows(name, tl.events)}</tbody>'
            f'</table>{live}{_pager(tl, query)}')
    return layout(f"timeline of {name}", _pending(tl.pending) + body, name)


def _pending(forms: Sequence[dict[str, Any]]) -> str:
    """A form suspended at ``(await ...)``: what it awaits, since when, its form and its stack with locals."""
    out = []
    for f in forms:
        late = ' <span class="tag error">timed out</span>' if f["timed_out"] else ""
        deadline = f' · deadline {esc(f["deadline"])}' if f["deadline"] else ""
        frames = "".join(f'<tr><td>{esc(fr["function"])}</td><td>{esc(fr["where"])}</td><td>'
                         + esc(" ".join(f"{k}={v}" for k, v in fr["locals"].items())) + "</td></tr>"
                         for fr in f["stack"])
        out.append(f'<section class="pending" id="pending"><h2>pending: awaits {esc(f["tag"])}{late}</h2>'
                   f'<p>form <a href="#e{f["form"]}">#{f["form"]}</a> at {esc(f["where"])}, suspended at event '
                   f'{f["suspended_at"]} since {esc(f["since"])}{deadline}</p><pre>{esc(f["source"])}</pre>'
                   f'<p>payload <code>{esc(f["payload"])}</code></p><table class="stack"><thead><tr><th>function'
                   f'</th><th>where</th><th>locals</th></tr></thead><tbody>{frames}</tbody></table>'
                   f'<p>answer with <code>tape answer -i {esc(f["session"])} {esc(f["tag"])} VALUE</code></p></section>')
    return "".join(out)


def _pager(tl: Timeline, query: TimelineQuery) -> str:
    common = {"type": ",".join(query.types) or None, "q": query.text or None,
              "kind": ",".join(query.kinds) or None, "ns": query.ns or None}
    links = []
    if tl.start > 1:
        links.append(f'<a href="{href("s", tl.session, **{"from": max(1, tl.start - query.page)}, **common)}">'
                     f'← earlier</a>')
    if tl.next_start is not None:
        links.append(f'<a class="next" href="{href("s", tl.session, **{"from": tl.next_start}, **common)}">'
                     f'later →</a>')
    return f'<p class="pager">{" ".join(links)}</p>'


def timeline_rows(name: str, events: Sequence[dict[str, Any]]) -> str:
    """The rows of a page (or of the live stream's news): each form with its events folded under it."""
    forms = {e["seq"] for e in events if e["type"] == "FormSubmitted"}
    under: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        if e["cause"] in forms and e["seq"] != e["cause"]:  # (a form's FormSubmitted is its own row)
            under.setdefault(e["cause"], []).append(e)
    out = []
    for e in events:
        if e["type"] == "FormSubmitted":
            out.append(_form_row(name, e, under.get(e["seq"], [])))
        elif e["cause"] not in forms:
            out.append(_event_row(name, e))
    return "".join(out)


def _form_row(name: str, form: dict[str, Any], events: list[dict[str, Any]]) -> str:
    done = next((e for e in events if e["type"] == "FormEvaluated"), None)
    failed = done is not None and not done["data"].get("ok")
    failed = failed or any(e["type"] == "EffectCompleted" and not e["data"].get("ok", True) for e in events)
    result = _form_result(done)
    ms = f"{_seconds(form['time'], done['time']) * 1000:.1f}" if done else ""
    data = form["data"]
    inner = "".join(_event_row(name, e) for e in events)
    detail = (f'<details class="events"><summary>{len(events)} event{"s" * (len(events) != 1)}</summary>'
              f'<table class="inner"><tbody>{inner}</tbody></table></details>') if events else ""
    return (f'<tr id="e{form["seq"]}" class="form{" err" if failed else ""}">'
            f'<td>{_seq_link(name, form["seq"])}</td><td class="place">{esc(data["file"])}:{esc(data["line"])}</td>'
            f'<td>{fold(data["source"])}{detail}</td><td class="result">{result}</td><td>{ms}</td></tr>')


def _form_result(done: dict[str, Any] | None) -> str:
    if done is None:
        return '<span class="pending">(not finished here)</span>'
    data = done["data"]
    if data.get("ok"):
        return fold(data["result"]["value"] if isinstance(data.get("result"), dict) else str(data.get("printed")))
    return f'<span class="errtext">{esc(data.get("error_kind"))}: {fold(str(data.get("error_message")))}</span>'


def _seconds(start: str, end: str) -> float:
    parse = dt.datetime.fromisoformat
    return (parse(end) - parse(start)).total_seconds()


def _seq_link(name: str, seq: int) -> str:
    return f'<a class="seq" href="{href("s", name, "state", at=seq)}" title="the state after this event">{seq}</a>'


def _event_row(name: str, e: dict[str, Any]) -> str:
    t = e["type"]
    bad = t in ("EffectCompleted", "FormEvaluated") and not e["data"].get("ok", True)
    body = fold(e["summary"])
    if t in ("EffectRequested", "EffectCompleted"):
        payload = orjson.dumps(e["data"], option=orjson.OPT_INDENT_2).decode()
        body += (f'<details class="payload"><summary>{"request" if t == "EffectRequested" else "answer"} '
                 f'({len(payload):,} characters)</summary><button type="button" class="copy">copy</button>'
                 f'<pre class="full">{esc(payload[:200_000])}</pre></details>')
    return (f'<tr id="e{e["seq"]}" class="event t-{esc(t)}{" err" if bad else ""}"><td>{_seq_link(name, e["seq"])}</td>'
            f'<td class="type">{esc(t)}</td><td colspan="3">{body}</td></tr>')


def state_page(data: dict[str, Any]) -> str:
    """The time slider: a range over the events, the snapshots as marks, the state with what changed."""
    name, at, head = data["session"], data["at"], data["head"]
    marks = "".join(f'<option value="{s["at"]}" label="{esc(s["name"])}"></option>' for s in data["snapshots"])
    snaps = " ".join(f'<a class="mark" href="{href("s", name, "state", at=s["at"], prev=at)}">'
                     f'◆ {esc(s["name"])} @{s["at"]}</a>' for s in data["snapshots"])
    restores = data.get("restores")
    marks += "".join(f'<option value="{r["seq"]}" label="restore {esc(r["snapshot"])}"></option>' for r in restores or ())
    snaps += "".join(f' <a class="mark restore" href="{href("s", name, "state", at=r["seq"], prev=at)}">'
                     f'↺ restore of {esc(r["snapshot"])} @{r["seq"]}</a>' for r in restores or ())
    if restores is None:
        snaps += ' <span class="meta">(restores are marked on sessions of up to 200,000 events)</span>'
    step = (f'<a class="step" id="back" href="{href("s", name, "state", at=max(0, at - 1), prev=at)}">◀ step</a>'
            f'<a class="step" id="forward" href="{href("s", name, "state", at=min(head, at + 1), prev=at)}">'
            f'step ▶</a>')
    slider = (f'<form id="slider" class="bar" method="get" action="{href("s", name, "state")}" '
              f'hx-get="{href("s", name, "state")}" hx-trigger="change" hx-target="main" hx-select="main" '
              f'hx-swap="outerHTML" hx-push-url="true"><input type="hidden" name="prev" value="{at}">'
              f'<input type="range" id="at-range" name="at" min="0" max="{head}" value="{at}" list="marks" '
              f'aria-label="event number"><input type="number" id="at-number" name="at" min="0" max="{head}" '
              f'value="{at}" aria-label="event number"><button>show</button></form>'
              f'<datalist id="marks">{marks}</datalist><p class="marks">{step} {snaps}</p>')
    around = (f'<p class="marks"><a id="in-timeline" href="{href("s", name, **{"from": max(1, at - 10)})}">'
              f'this event in the timeline</a> <a id="vs-head" href="{href("diff", a=f"{name}@{at}", b=name)}">'
              f'diff with the head</a></p>') if at else ""
    body = (f'<h1>{esc(name)} after event <span id="at">{at}</span> of {head}</h1>{slider}{around}'
            f'<div id="state" hx-boost="true" hx-target="#blame" hx-select="#blame-report" hx-swap="innerHTML" '
            f'hx-push-url="false">{state_tables(name, data)}</div><aside id="blame"></aside>')
    return layout(f"{name}@{at}", body, name)


def state_tables(name: str, data: dict[str, Any]) -> str:
    st, delta, at = data["state"], data["delta"], data["at"]
    changed = _changed_keys(delta)
    link = _blame_links(name, at)
    rows = [(f"{ns}/{b}" in changed, [link("binding", f"{ns}/{b}"), fold(value)])
            for ns, bindings in st["namespaces"].items() for b, value in bindings.items()]
    parts = [_section("bindings", ("name", "value"), rows),
             _section("atoms", ("atom", "value"),
                      [(f"#{k}" in changed, [esc(f"#{k}"), fold(v)]) for k, v in st["atoms"].items()]),
             _section("facts", ("fact",), [(f in changed, [link("fact", f)]) for f in st["facts"]]),
             _section("files", ("path", "size"), [(p in changed, [link("file", p), f'{f["size"]:,}'])
                                                  for p, f in st["files"].items()])]
    if delta is not None:
        parts.insert(0, _delta_note(delta))
    return "".join(parts)


def _section(title: str, headers: Sequence[str], rows: list[tuple[bool, list[str]]]) -> str:
    if not rows:
        return ""
    body = "".join(f'<tr{" class=changed" if hot else ""}>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                   for hot, cells in rows)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return (f'<section class="{esc(title)}"><h2>{esc(title)} ({len(rows):,})</h2>'
            f'<table class="state"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>')


def _changed_keys(delta: dict[str, Any] | None) -> set[str]:
    if delta is None:
        return set()
    keys = {f"{ns}/{k}" for ns, c in delta["bindings"].items() for k in (*c["added"], *c["changed"])}
    keys |= {f"#{k}" for k in (*delta["atoms"]["added"], *delta["atoms"]["changed"])}
    keys |= set(delta["facts"]["asserted"]) | set(delta["files"]["written"])
    return keys


def _delta_note(delta: dict[str, Any]) -> str:
    s = delta["summary"]
    changed = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in s.items() if v) or "nothing"
    removed = [f"{ns}/{k}" for ns, c in delta["bindings"].items() for k in c["removed"]]
    removed += list(delta["facts"]["retracted"]) + list(delta["files"]["deleted"])
    gone = (" · removed: " + ", ".join(f"<code>{esc(r)}</code>" for r in removed)) if removed else ""
    return (f'<p id="delta" class="delta">since event {delta["from"]}: {esc(changed)}{gone} '
            f'(highlighted)</p>')


def _blame_links(name: str, at: int) -> Callable[[str, str], str]:
    """Links to the blame of a binding, fact or file (opened beside the state: ``#state`` boosts them)."""
    base = f"/s/{quote(name, safe='')}/blame?"
    suffix = f"&at={at}" if at else ""

    def link(kind: str, key: str) -> str:
        return f'<a class="blame" href="{esc(base + kind + "=" + quote(key, safe="") + suffix)}">{esc(key)}</a>'

    return link


def blame_page(name: str, data: dict[str, Any]) -> str:
    cur = data["current"]
    now = (f'<p>current value set by event {_seq_link(name, cur["seq"])} ({esc(cur["op"])}) '
           f'{_origin(cur)}: {fold(cur["value"])}</p>') if cur else "<p>no value now (removed)</p>"
    rows = [[_seq_link(name, e["seq"]), esc(e["op"]), fold(e["value"]), _origin(e)] for e in data["history"]]
    body = (f'<div id="blame-report"><h2>blame: <code>{esc(data["target"])}</code> at event {data["at"]}</h2>'
            f'{now}<h3>history</h3>{table(("event", "op", "value", "form"), rows, "history")}</div>')
    return layout(f"blame {data['target']}", body, name)


def _origin(e: dict[str, Any]) -> str:
    form = e["form"]
    if form["file"]:
        return f'<span class="place">{esc(form["file"])}:{esc(form["line"])}</span> {fold(form["source"] or "")}'
    return esc(f'{e["op"]} of {e["detail"]}' if e["detail"] else f'event {e["cause"]}')


def diff_page(a: str, b: str, data: dict[str, Any] | None, error: str = "") -> str:
    form = (f'<form class="bar" method="get" action="/diff"><label>A <input name="a" value="{esc(a)}" '
            f'placeholder="session or session@N"></label><label>B <input name="b" value="{esc(b)}"></label>'
            f'<button>compare</button></form>')
    body = f"<h1>Diff</h1>{form}" + (error_body(error) if error else "")
    if data is not None:
        ev = data["events"]
        parted = ("the logs are identical" if ev["first_difference"] is None
                  else f'the logs part at event {ev["first_difference"]}')
        ancestor = f'common ancestor: event {ev["common_ancestor"]}' if ev["common_ancestor"] else "no common ancestor"
        rows = [[esc(c["kind"]), f'<code>{esc(c["key"])}</code>', esc(c["status"]),
                 _side(c, "a"), _side(c, "b")] for c in data["changes"]]
        body += (f'<p id="parting" class="delta">{esc(ancestor)} · {esc(parted)} · {len(rows)} differences</p>'
                 + table(("kind", "key", "status", data["a"], data["b"]), rows, "diff")
                 + "".join(_file_diff(c, data["a"], data["b"]) for c in data["changes"] if c["kind"] == "file"))
    return layout("diff", body)


def _side(change: dict[str, Any], side: str) -> str:
    value = change[side]
    return '<span class="none">—</span>' if value is None else fold(str(value))


def _file_diff(c: dict[str, Any], a_name: str, b_name: str) -> str:
    a, b = c.get("a_text"), c.get("b_text")
    if (a is None and c["a"] is not None) or (b is None and c["b"] is not None):
        return f'<p>file <code>{esc(c["key"])}</code>: not text (or too large) to compare line by line</p>'
    lines = difflib.unified_diff((a or "").splitlines(), (b or "").splitlines(), a_name, b_name, lineterm="")
    return (f'<h3>file <code>{esc(c["key"])}</code></h3><pre class="textdiff">'
            + "".join(_diff_line(line) for line in lines) + "</pre>")


def _diff_line(line: str) -> str:
    cls = "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx"
    return f'<span class="{cls}">{esc(line)}</span>\n'


def replay_page(name: str, result: dict[str, Any] | None) -> str:
    run = href("s", name, "replay", run=1)
    body = (f'<h1>Replay {esc(name)}</h1><p>Re-runs the session offline, every effect answered from the log, '
            f'and compares each event with the record. Nothing is written.</p>'
            f'<p><a id="run-replay" class="button" href="{run}" hx-get="{run}" hx-target="#report" '
            f'hx-select="#report" hx-swap="outerHTML" hx-push-url="true">run replay --verify</a></p>'
            f'<div id="report">{replay_report(name, result) if result else ""}</div>')
    return layout(f"replay {name}", body, name)


def replay_report(name: str, r: dict[str, Any]) -> str:
    verdict = "agrees with the record" if r["ok"] else "DIVERGES from the record"
    head = (f'<p class="{"ok" if r["ok"] else "error"}" id="verdict">replay {esc(verdict)}: {r["events"]:,} events, '
            f'{r["forms"]:,} forms, {r["seconds"]:.3f} s</p>')
    d = r.get("divergence")
    if not d:
        return head
    form = d["form"]
    sides = [[fold(_event_text(d["expected"])), fold(_event_text(d["actual"]))]]
    changes = [[f'<code>{esc(c["what"])}</code>', fold(str(c["expected"])), fold(str(c["actual"]))]
               for c in d["state_diff"]]
    return (head + f'<p>first differing event: {_seq_link(name, d["seq"])}, in the form at '
            f'<span class="place">{esc(form["file"])}:{esc(form["line"])}</span>: {fold(form["source"] or "")}</p>'
            + table(("expected (recorded)", "actual (replayed)"), sides, "sides")
            + (table(("what", "expected", "actual"), changes, "state-diff") if changes else ""))


def _event_text(e: dict[str, Any] | None) -> str:
    if e is None:
        return "(no event)"
    return orjson.dumps(e, option=orjson.OPT_INDENT_2).decode()


def error_page(message: str, session: str | None = None) -> str:
    return layout("error", f"<h1>Cannot show this</h1>{error_body(message)}", session)


def live_rows(name: str, events: Iterable[dict[str, Any]]) -> str:
    return timeline_rows(name, list(events))
