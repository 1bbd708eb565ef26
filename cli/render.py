"""How events and states look: rich tables for people, stable JSON for machines.

The JSON shapes are documented in docs/cli.md; change them only compatibly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from rich.box import SIMPLE_HEAD
from rich.console import Console
from rich.table import Table

from tapevm.domain.events import (
    EVENT_TYPES,
    Assigned,
    AtomCreated,
    AtomReset,
    ContentStored,
    Defined,
    EffectCompleted,
    EffectRequested,
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
from tapevm.domain.state import State
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.value_codec import ValueDecoder
from tapevm.vm.world import World
from tapevm.vm.world_state import make_decoder


def iso_time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def short(text: str, width: int = 80) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"


class ValuePrinter:
    """Prints encoded values of one state as Lisp source (decoding needs a VM for closures)."""

    def __init__(self, state: State) -> None:
        world = World()
        self.decoder: ValueDecoder = make_decoder(state, world, Interpreter(world))

    def __call__(self, enc: Any) -> str:
        try:
            return to_source(self.decoder.decode(enc))
        except Exception as e:  # a value that cannot be shown must not hide the rest
            return f"#<undecodable {type(e).__name__}>"


def event_summary(r: RecordedEvent, show: ValuePrinter | None = None) -> str:
    """One line saying what an event did."""
    e = r.event
    def val(enc: Any) -> str:
        return show(enc) if show else short(str(enc), 40)

    if isinstance(e, FormSubmitted):
        where = e.file.rsplit("/", 1)[-1]
        return f"{where}:{e.line}  {short(e.source, 70)}"
    if isinstance(e, FormEvaluated):
        return f"=> {short(e.printed, 70)}" if e.ok else f"error {e.error_kind}: {short(e.error_message or '', 70)}"
    if isinstance(e, (Defined, Assigned)):
        op = "define" if isinstance(e, Defined) else "set!"
        return f"{op} {e.ns}/{e.name} = {short(val(e.value), 60)}"
    if isinstance(e, NamespaceEntered):
        return f"in-ns {e.ns}"
    if isinstance(e, (AtomCreated, AtomReset)):
        op = "atom" if isinstance(e, AtomCreated) else "reset!"
        return f"{op} #{e.atom} = {short(val(e.value), 60)}"
    if isinstance(e, (FactAsserted, FactRetracted)):
        op = "assert!" if isinstance(e, FactAsserted) else "retract!"
        return f"{op} {short(val(e.fact), 70)}"
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
    # issue 5: recorded effects and imports
    if isinstance(e, EffectRequested):
        return f"effect ({e.kind}{''.join(' ' + val(a) for a in e.args)})"[:100]
    if isinstance(e, EffectCompleted):
        outcome = f"-> {short(val(e.result), 60)}" if e.ok else f"failed {e.error_kind}: {short(e.error_message or '', 60)}"
        return f"{outcome} ({e.size} B, {e.duration_ms:.1f} ms)"
    if isinstance(e, FileImported):
        return f"import {e.path} ({e.size} bytes) from {e.source}"
    # time travel (issue 3)
    if isinstance(e, SnapshotTaken):
        return f"snapshot {e.name!r} of event {e.at}" + (f": {short(e.description, 50)}" if e.description else "")
    if isinstance(e, StateRestored):
        return f"restore {e.snapshot!r} (the state of event {e.target})"
    if isinstance(e, ImageLoaded):
        source = f"{e.source_session}@{e.source_seq}"
        return f"image {e.image} ({source}, format {e.format_version}{', with history' if e.with_history else ''})"
    return short(str(e.__dict__), 80)


def _merge_summary(e: MergeApplied, val: Any) -> str:
    """Where every merged value came from: ``merge from SRC@N: set user/x = 1, ...``."""
    parts = [f"{ns}/{name} = {short(val(v), 30)}" for ns, name, v in e.bindings]
    parts += [f"removed {ns}/{name}" for ns, name in e.removed]
    parts += [f"atom #{a}" for a, _ in e.atoms]
    parts += [f"+fact {short(val(f), 30)}" for f in e.facts_added]
    parts += [f"-fact {short(val(f), 30)}" for f in e.facts_removed]
    parts += [f"file {p}" if k else f"removed file {p}" for p, k in e.files]
    return f"{e.kind} from {e.source_name}@{e.source_seq}: " + (", ".join(parts) or "no changes (conflicts kept)")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def event_json(r: RecordedEvent, show: ValuePrinter | None = None) -> dict[str, Any]:
    """One event as JSON: its envelope, its stored fields, and a one-line summary for people."""
    return {
        "session": r.session,
        "seq": r.seq,
        "cause": r.cause,
        "time": iso_time(r.recorded_at),
        "type": r.event.type_name,
        "version": r.event.version,
        "data": dict(r.event.__dict__),
        "summary": event_summary(r, show),
    }


LOG_CHUNK = 500  # events per table of a streamed log: memory and the time to the first line stay small


def event_chunks(events: Iterable[RecordedEvent], show: ValuePrinter | None, console: Console,
                 last_seq: int) -> Iterator[str]:
    """A log as rendered text, a table of ``LOG_CHUNK`` events at a time, then a line counting them.

    The columns have fixed widths (from ``last_seq`` and the longest event type),
    so the chunks line up as one table however long the log is; only the first
    carries the header.  A million events never sit in one rich table.
    """
    widest = max(len(str(last_seq)), 5)
    type_width = max(map(len, EVENT_TYPES))
    what = max(20, console.width - 2 * widest - 12 - type_width - 13)  # 13: the column separators

    def table(header: bool) -> Table:
        t = Table(box=SIMPLE_HEAD, show_header=header, show_edge=False, pad_edge=False, expand=False)
        t.add_column("#", justify="right", style="cyan", no_wrap=True, width=widest)
        t.add_column("time", no_wrap=True, width=12)
        t.add_column("type", style="magenta", no_wrap=True, width=type_width)
        t.add_column("cause", justify="right", no_wrap=True, width=widest)
        t.add_column("what", no_wrap=True, overflow="ellipsis", max_width=what)
        return t

    count = 0
    chunk = table(header=True)
    for r in events:
        style = "red" if isinstance(r.event, FormEvaluated) and not r.event.ok else None
        chunk.add_row(str(r.seq), iso_time(r.recorded_at)[11:23], r.event.type_name, str(r.cause),
                      event_summary(r, show), style=style)
        count += 1
        if chunk.row_count == LOG_CHUNK:
            yield rendered(console, chunk)
            chunk = table(header=False)
    if chunk.row_count or count == 0:
        yield rendered(console, chunk)
    yield f"{count} event{'s' if count != 1 else ''}\n"


def rendered(console: Console, renderable: Any) -> str:
    """What ``console.print`` would print (its styles included when it writes to a terminal)."""
    with console.capture() as captured:
        console.print(renderable)
    return captured.get()


def state_json(state: State) -> dict[str, Any]:
    show = ValuePrinter(state)
    return {
        "session": state.session,
        "seq": state.seq,
        "current_ns": state.current_ns,
        "namespaces": {
            ns: {name: show(enc) for name, enc in sorted(bindings.items())}
            for ns, bindings in sorted(state.namespaces.items())
        },
        "atoms": {str(k): show(v) for k, v in sorted(state.atoms.items())},
        "facts": [show(f) for f in state.facts.values()],
        "files": {p: {"content": k, "size": len(state.blobs.get(k))} for p, k in sorted(state.files.items())},
    }


def state_tables(state: State) -> list[Table]:
    data = state_json(state)
    tables = []
    bindings = Table(title=f"{state.session} at event {state.seq} (namespace {state.current_ns})")
    bindings.add_column("namespace", style="cyan")
    bindings.add_column("name", style="bold")
    bindings.add_column("value")
    for ns, names in data["namespaces"].items():
        for name, printed in names.items():
            bindings.add_row(ns, name, short(printed, 100))
    tables.append(bindings)
    if data["atoms"]:
        atoms = Table(title="atoms")
        atoms.add_column("atom", justify="right")
        atoms.add_column("value")
        for k, v in data["atoms"].items():
            atoms.add_row(f"#{k}", short(v, 100))
        tables.append(atoms)
    if data["facts"]:
        facts = Table(title="facts")
        facts.add_column("fact")
        for f in data["facts"]:
            facts.add_row(short(f, 110))
        tables.append(facts)
    if data["files"]:
        files = Table(title="files")
        files.add_column("path")
        files.add_column("size", justify="right")
        files.add_column("content")
        for path, info in data["files"].items():
            files.add_row(path, str(info["size"]), info["content"][:16])
        tables.append(files)
    return tables
