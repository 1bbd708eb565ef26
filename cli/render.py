"""How events and states look: aligned text for people, stable JSON for machines.

The JSON shapes are documented in docs/cli.md; change them only compatibly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import click
import orjson
from rich.console import Console

from tapevm.domain.events import (
    EVENT_TYPES,
    Assigned,
    AtomCreated,
    AtomReset,
    ContentStored,
    Defined,
    EffectCompleted,
    EffectRequested,
    Event,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileImported,
    FileWritten,
    FormEvaluated,
    FormSubmitted,
    ImageLoaded,
    MergeApplied,
    NamespaceEntered,
    OutputWritten,
    RecordedEvent,
    SessionForked,
    SessionStarted,
    SnapshotTaken,
    StateRestored,
)
from tapevm.domain.state import State, split_fact
from tapevm.vm.form_events import PRINTED_LIMIT
from tapevm.vm.state_printer import EVIDENCE_MARK, StatePrinter


def iso_time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def not_utf8(text: str) -> bool:
    """True when ``text`` came from bytes that are not UTF-8 (Python keeps them as lone surrogates:
    an argument, a variable, a line of piped input)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def visible(text: str) -> str:
    """``text`` with its non-printable characters as ``\\uXXXX``: a session id an older tapevm accepted
    (U+202E RIGHT-TO-LEFT OVERRIDE reversed the rest of its row, U+200B hid in it) shows what is stored."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text)


def short(text: str, width: int = 80) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


def event_summary(r: RecordedEvent, show: StatePrinter | None = None, full: bool = False) -> str:
    """One line saying what an event did.  Values are read only as far as the line shows them
    (:meth:`StatePrinter.preview`), or whole with ``full``; never printed whole to be cut."""
    e = r.event
    def val(enc: Any, width: int) -> str:
        if show is None:
            return short(str(enc), min(width, 40))
        return show.preview(enc, None).text if full else short(show.preview(enc, width).text, width)

    if isinstance(e, FormSubmitted):
        where = e.file.rsplit("/", 1)[-1]
        return f"{where}:{e.line}  {short(e.source, 70)}"
    if isinstance(e, FormEvaluated):
        if not e.ok:
            return f"error {e.error_kind}: {short(e.error_message or '', 70)}"
        return f"=> {val(e.result, 70)}" if full and show is not None else f"=> {short(e.printed, 70)}"
    if isinstance(e, (Defined, Assigned)):
        op = "define" if isinstance(e, Defined) else "set!"
        return f"{op} {e.ns}/{e.name} = {val(e.value, 60)}"
    if isinstance(e, NamespaceEntered):
        return f"in-ns {e.ns}"
    if isinstance(e, (AtomCreated, AtomReset)):
        op = "atom" if isinstance(e, AtomCreated) else "reset!"
        return f"{op} #{e.atom} = {val(e.value, 60)}"
    if isinstance(e, (FactAsserted, FactRetracted)):
        op = "assert!" if isinstance(e, FactAsserted) else "retract!"
        evidence = e.evidence if isinstance(e, FactAsserted) else None
        return f"{op} {val(e.fact, 70)}" + ("" if evidence is None else f" {EVIDENCE_MARK}{val(evidence, 60)}")
    if isinstance(e, FileWritten):
        return f"write {e.path} ({e.size} bytes, {e.content[:12]})"
    if isinstance(e, FileDeleted):
        return f"delete {e.path}"
    if isinstance(e, OutputWritten):
        return f"output {short(e.text, 70)}"
    if isinstance(e, ContentStored):
        return f"content: {_count(len(e.nodes), 'value node')}, {_count(len(e.blobs), 'blob')}"
    if isinstance(e, SessionStarted):
        return f"tapevm {e.tapevm_version}, vm {e.vm_version}"
    if isinstance(e, SessionForked):
        return f"── forked from {e.source_name}@{e.at}: events 1..{e.at} above are {e.source_name}'s ──"
    if isinstance(e, MergeApplied):
        return _merge_summary(e, val)
    if isinstance(e, EffectRequested):
        call = f"effect ({e.kind}{''.join(' ' + val(a, 100) for a in e.args)})"
        return call if full else call[:100]
    if isinstance(e, EffectCompleted):
        outcome = f"-> {val(e.result, 60)}" if e.ok else f"failed {e.error_kind}: {short(e.error_message or '', 60)}"
        return f"{outcome} ({e.size} B, {e.duration_ms:.1f} ms)"
    if isinstance(e, FileImported):
        return f"import {e.path} ({e.size} bytes) from {e.source}"
    if isinstance(e, SnapshotTaken):
        return f"snapshot {e.name!r} of event {e.at}" + (f": {short(e.description, 50)}" if e.description else "")
    if isinstance(e, StateRestored):
        return f"restore {e.snapshot!r} (the state of event {e.target})"
    if isinstance(e, ImageLoaded):
        source = f"{e.source_session}@{e.source_seq}"
        return f"image {e.image} ({source}, format {e.format_version}{', with history' if e.with_history else ''})"
    return short(str(e.__dict__), 80)


def _merge_summary(e: MergeApplied, val: Callable[[Any, int], str]) -> str:
    """Where every merged value came from: ``merge from SRC@N: set user/x = 1, ...``."""
    parts = [f"{ns}/{name} = {val(v, 30)}" for ns, name, v in e.bindings]
    parts += [f"removed {ns}/{name}" for ns, name in e.removed]
    parts += [f"atom #{a}" for a, _ in e.atoms]
    parts += [f"+fact {val(f, 30)}" for f in e.facts_added]
    parts += [f"-fact {val(f, 30)}" for f in e.facts_removed]
    parts += [f"file {p}" if k else f"removed file {p}" for p, k in e.files]
    return f"{e.kind} from {e.source_name}@{e.source_seq}: " + (", ".join(parts) or "no changes (conflicts kept)")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


VALUE_LIMIT = PRINTED_LIMIT  # characters of a value ``tape log --json`` shows (as FormEvaluated keeps its text)


def event_json(r: RecordedEvent, show: StatePrinter | None = None, full: bool = False) -> dict[str, Any]:
    """One event as JSON: its envelope, its fields, and a one-line summary for people.

    Without ``show``, ``data`` is the stored fields as they are (values in the value encoding).
    With it, every value in ``data`` is a value object (:func:`shown_data`): the value's text
    cut at :data:`VALUE_LIMIT` (whole with ``full``) and its content key; a ContentStored's
    nodes and blobs are listed by key, kind and size (as stored with ``full``).  So a line costs what it
    shows, and by default no more than the limit per value however large the value."""
    return {
        "session": r.session,
        "seq": r.seq,
        "cause": r.cause,
        "time": iso_time(r.recorded_at),
        "type": r.event.type_name,
        "version": r.event.version,
        "data": dict(r.event.__dict__) if show is None else shown_data(r.event, show, full),
        "summary": event_summary(r, show),
    }


_VALUE_FIELDS: dict[type[Event], tuple[str, ...]] = {
    Defined: ("value",), Assigned: ("value",), AtomCreated: ("value",), AtomReset: ("value",),
    FactAsserted: ("fact",), FactRetracted: ("fact",), FormEvaluated: ("result",), EffectCompleted: ("result",),
}


def shown_data(e: Event, show: StatePrinter, full: bool) -> dict[str, Any]:
    """An event's fields with its values shown as ``{"value", "truncated", "ref"}`` objects."""
    data = dict(e.__dict__)
    limit = None if full else VALUE_LIMIT

    def value(enc: Any) -> dict[str, Any]:
        return show.preview(enc, limit).as_json()

    for name in _VALUE_FIELDS.get(type(e), ()):
        if name != "result" or data.get("ok"):  # a failed form or effect has no result
            data[name] = value(data[name])
    if isinstance(e, FactAsserted) and e.evidence is not None:
        data["evidence"] = value(e.evidence)
    if isinstance(e, EffectRequested):
        data["args"] = [value(a) for a in e.args]
    elif isinstance(e, MergeApplied):
        data["bindings"] = [[ns, name, value(v)] for ns, name, v in e.bindings]
        data["atoms"] = [[a, value(v)] for a, v in e.atoms]
        data["facts_added"] = [value(f) for f in e.facts_added]
        data["facts_removed"] = [value(f) for f in e.facts_removed]
    elif isinstance(e, ContentStored) and not full:
        data["nodes"] = [{"ref": key, "kind": node[0] if node else None, "bytes": len(orjson.dumps(node))}
                         for key, node in e.nodes]
        data["blobs"] = [_blob_json(b) for b in e.blobs]
    return data


def _blob_json(blob: list[Any]) -> dict[str, Any]:
    """A stored blob entry (see ContentStored) without its data: its key, encoding and stored size."""
    shown: dict[str, Any] = {"ref": blob[0], "encoding": blob[1], "bytes": len(blob[2])}
    if len(blob) > 3:
        shown["prefix"] = blob[3]
    if len(blob) > 5:
        shown["head"], shown["tail"] = blob[4], blob[5]
    return shown


COLUMN_GAP = "   "  # between columns, as rich's SIMPLE_HEAD tables spaced them
LOG_CHUNK = 500  # lines per piece of a streamed table: memory and the time to the first line stay small


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    right: bool = False
    style: dict[str, Any] = field(default_factory=dict)  # click.style arguments, on a terminal
    cut: bool = True  # False: the last column's cells are shown whole (``tape log --values full``)


Row = tuple[Sequence[str], dict[str, Any] | None]  # cells, and a style for the whole row (or None)


def text_table(columns: Sequence[Column], rows: Iterable[Row], color: bool) -> Iterator[str]:
    """A table as text, ``LOG_CHUNK`` lines at a time: a header, a rule, a line per row.

    Every column has a fixed width (cells longer than it end in "…"; the last is not padded), so
    the pieces line up as one table however many rows stream through, and a row costs one string
    join: a rich table measured and rendered every cell (0.4 ms an event for ``tape log``, 0.35 ms
    a binding for ``tape state``). Styles apply only when ``color`` (a terminal).
    """
    def paint(text: str, style: dict[str, Any] | None) -> str:
        return click.style(text, **style) if color and style else text

    def cell(text: str, c: Column, last: bool) -> str:
        text = short(text, c.width if c.cut else len(text))
        return text if last and not c.right else f"{text:>{c.width}}" if c.right else f"{text:<{c.width}}"

    end = len(columns) - 1
    header = COLUMN_GAP.join(cell(c.header, c, i == end) for i, c in enumerate(columns)).rstrip()
    lines = [paint(header, {"bold": True}), "─" * (sum(c.width for c in columns) + end * len(COLUMN_GAP))]
    for cells, style in rows:
        texts = [cell(t, c, i == end) for i, (t, c) in enumerate(zip(cells, columns))]
        if not color:
            lines.append(COLUMN_GAP.join(texts).rstrip())  # (empty last cells leave no trailing blanks)
        else:
            lines.append(paint(COLUMN_GAP.join(texts), style) if style else
                         COLUMN_GAP.join(paint(t, c.style) for t, c in zip(texts, columns)))
        if len(lines) >= LOG_CHUNK:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def fitted_columns(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[Column]:
    """Columns as wide as their widest cell, the widest ones narrowed (to no less than 8, or their
    header) until the table fits ``width``."""
    natural = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    room = width - (len(headers) - 1) * len(COLUMN_GAP)
    cap = max(natural, default=0)
    while cap > 8 and sum(min(n, cap) for n in natural) > room:
        cap -= max(1, (sum(min(n, cap) for n in natural) - room) // len(natural))
    return [Column(h, max(min(n, cap), min(len(h), n))) for h, n in zip(headers, natural)]


def colored(console: Console) -> bool:
    """Whether to style text for ``console``: a terminal, and ``NO_COLOR`` unset (rich reads it into
    ``no_color``; the hand-written tables and click's styles follow the console's choice)."""
    return console.is_terminal and not console.no_color


def titled_table(title: str, headers: Sequence[str], rows: Sequence[Row], console: Console,
                 compared: tuple[int, int] | None = None) -> Iterator[str]:
    """A title line and a :func:`text_table` whose columns fit the console.

    ``compared``: two columns holding a before and an after value; where a pair is cut, both
    cells show the place where they first differ (:func:`differing_window`), so two values that
    differ past the cut never print alike.
    """
    color = colored(console)
    yield title_line(title, color)
    columns = fitted_columns(headers, [cells for cells, _ in rows], console.width)
    if compared is not None:
        i, j = compared
        width = min(columns[i].width, columns[j].width)
        rows = [(_windowed(cells, i, j, width), style) for cells, style in rows]
    yield from text_table(columns, rows, color)


def _windowed(cells: Sequence[str], i: int, j: int, width: int) -> list[str]:
    out = list(cells)
    if out[i] and out[j]:
        out[i], out[j] = differing_window(out[i], out[j], width)
    return out


def differing_window(a: str, b: str, width: int) -> tuple[str, str]:
    """``a`` and ``b`` so that cut to ``width`` they still show where they first differ.

    Unchanged when the first difference lies within the first ``width - 1`` characters (a cell
    cut to ``width`` shows it); otherwise both start with "…" a third of the width before it.
    """
    a, b = a.replace("\n", "\\n"), b.replace("\n", "\\n")
    same = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    if same < width - 1 or (len(a) <= width and len(b) <= width):
        return a, b
    # a third of the width before the difference, more when what follows it is short
    start = max(1, min(same - max(width // 3, 1), max(len(a), len(b)) - (width - 1)))
    return "…" + a[start:], "…" + b[start:]


def event_chunks(events: Iterable[RecordedEvent], show: StatePrinter | None, console: Console,
                 last_seq: int, full: bool = False) -> Iterator[str]:
    """A log as text (see :func:`text_table`), then a line counting its events; with ``full``,
    values are shown whole and the last column is not cut to the console's width."""
    widest = max(len(str(last_seq)), 5)
    type_width = max(map(len, EVENT_TYPES))
    what = max(20, console.width - 2 * widest - 12 - type_width - 4 * len(COLUMN_GAP))
    columns = [Column("#", widest, right=True, style={"fg": "cyan"}), Column("time", 12),
               Column("type", type_width, style={"fg": "magenta"}), Column("cause", widest, right=True),
               Column("what", what, cut=not full)]
    count = 0

    def rows() -> Iterator[Row]:
        nonlocal count
        for r in events:
            failed = isinstance(r.event, FormEvaluated) and not r.event.ok
            yield ((str(r.seq), iso_time(r.recorded_at)[11:23], r.event.type_name, str(r.cause),
                    event_summary(r, show, full)), {"fg": "red"} if failed else None)
            count += 1

    yield from text_table(columns, rows(), colored(console))
    yield f"{count} event{'s' if count != 1 else ''}\n"


def title_line(text: str, color: bool) -> str:
    """A table's title: a line of its own, bold on a terminal."""
    return (click.style(text, bold=True) if color else text) + "\n"


def state_json(state: State) -> dict[str, Any]:
    show = StatePrinter(state)
    return {
        "session": state.session,
        "seq": state.seq,
        "current_ns": state.current_ns,
        "namespaces": {
            ns: {name: show(enc) for name, enc in sorted(bindings.items())}
            for ns, bindings in sorted(state.namespaces.items())
            if bindings or ns == state.current_ns  # as State.semantic: an empty namespace is no difference
        },
        "atoms": {str(k): show(v) for k, v in sorted(state.atoms.items())},
        "facts": [show(split_fact(f)[0]) for f in state.facts.values()],
        "fact_evidence": [None if (e := split_fact(f)[1]) is None else show(e) for f in state.facts.values()],
        "files": {p: {"content": k, "size": len(state.blobs.get(k))} for p, k in sorted(state.files.items())},
    }


def state_text(state: State, console: Console) -> Iterator[str]:
    """A state as text: its bindings, then its atoms, facts and files (sections only when not empty),
    each a :func:`text_table`, so a state of 100,000 bindings prints in a second, not a minute."""
    data = state_json(state)
    color, width = colored(console), console.width

    def rest(cells: Iterable[str], header: str, *used: int) -> int:  # the last column: its widest cell, if it fits
        room = max(20, width - sum(used) - len(used) * len(COLUMN_GAP))
        return min(room, max([len(header), *map(len, cells)]))

    bindings = [(ns, name, printed) for ns, names in data["namespaces"].items() for name, printed in names.items()]
    ns_width = max([len("namespace")] + [len(ns) for ns, _, _ in bindings])
    name_width = min(40, max([len("name")] + [len(name) for _, name, _ in bindings]))
    yield title_line(f"{state.session} at event {state.seq} (namespace {state.current_ns})", color)
    yield from text_table([Column("namespace", ns_width, style={"fg": "cyan"}),
                           Column("name", name_width, style={"bold": True}),
                           Column("value", rest((v for _, _, v in bindings), "value", ns_width, name_width))],
                          ((row, None) for row in bindings), color)
    if data["atoms"]:
        atom_width = max(len("atom"), *(len(k) + 1 for k in data["atoms"]))
        yield "\n" + title_line("atoms", color)
        yield from text_table([Column("atom", atom_width, right=True),
                               Column("value", rest(data["atoms"].values(), "value", atom_width))],
                              (((f"#{k}", v), None) for k, v in data["atoms"].items()), color)
    if data["facts"]:
        yield "\n" + title_line("facts", color)
        shown = [f if e is None else f"{f} {EVIDENCE_MARK}{e}" for f, e in zip(data["facts"], data["fact_evidence"],
                                                                                strict=True)]
        yield from text_table([Column("fact", rest(shown, "fact"))], (((f,), None) for f in shown), color)
    if data["files"]:
        size_width = max(len("size"), *(len(str(info["size"])) for info in data["files"].values()))
        path_width = rest(data["files"], "path", size_width, 16)
        yield "\n" + title_line("files", color)
        yield from text_table([Column("path", path_width), Column("size", size_width, right=True),
                               Column("content", 16)],
                              (((path, str(info["size"]), info["content"][:16]), None)
                               for path, info in data["files"].items()), color)
