"""How a delta looks: values as Lisp source, for people (aligned text) and machines (JSON).

The JSON shape is documented in docs/cli.md (``tape delta --json``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from rich.console import Console

from tapevm.cli.render import Row, titled_table
from tapevm.domain.delta import AtomChange, Delta, MapChange
from tapevm.domain.state import State
from tapevm.vm.state_printer import StatePrinter


def _shown(change: MapChange | AtomChange, show: StatePrinter) -> dict[str, Any]:
    return {
        "added": {str(k): show(v) for k, v in sorted(change.added.items())},
        "changed": {str(k): [show(o), show(n)] for k, (o, n) in sorted(change.changed.items())},
        "removed": {str(k): show(v) for k, v in sorted(change.removed.items())},
    }


def delta_json(session: str, a: int, b: int, delta: Delta, head: State) -> dict[str, Any]:
    """``head``'s content can show every value of the log (content only grows)."""
    show = StatePrinter(head)
    files = delta.files
    return {
        "session": session,
        "from": a,
        "to": b,
        "empty": delta.is_empty(),
        "summary": delta.summary(),
        "current_ns": list(delta.current_ns) if delta.current_ns else None,
        "bindings": {ns: _shown(c, show) for ns, c in sorted(delta.bindings.items())},
        "atoms": _shown(delta.atoms, show),
        "facts": {
            "asserted": [show(f) for f in delta.facts.asserted],
            "retracted": [show(f) for _, f in sorted(delta.facts.retracted.items())],
        },
        "files": {
            "written": {p: {"content": k, "size": len(head.blobs.get(k)), "before": _file(head, files.changed.get(p))}
                        for p, k in sorted({**files.added, **{p: n for p, (_, n) in files.changed.items()}}.items())},
            "deleted": sorted(files.removed),
        },
        "encoded": delta.model_dump(mode="json"),
    }


def _file(head: State, change: tuple[str, str] | None) -> dict[str, Any] | None:
    """The version a written file had before (None for a file the delta adds)."""
    if change is None:
        return None
    return {"content": change[0], "size": len(head.blobs.get(change[0]))}


_ADDED, _CHANGED, _REMOVED = {"fg": "green"}, {"fg": "yellow"}, {"fg": "red"}


def _changed_rows(rows: list[Row], kind: str, c: dict[str, Any], label: Callable[[Any], str]) -> None:
    """Rows for a map's ``added``/``changed``/``removed`` entries (bindings of a namespace, atoms)."""
    rows.extend(((f"+ {kind}", label(k), "", v), _ADDED) for k, v in c["added"].items())
    rows.extend(((f"~ {kind}", label(k), o, n), _CHANGED) for k, (o, n) in c["changed"].items())
    rows.extend(((f"- {kind}", label(k), v, ""), _REMOVED) for k, v in c["removed"].items())


def delta_text(data: dict[str, Any], console: Console) -> Iterator[str]:
    """One row per change: what, where, before, after."""
    rows: list[Row] = []
    if data["current_ns"]:
        rows.append((("namespace", "current", *data["current_ns"]), None))
    for ns, c in data["bindings"].items():
        _changed_rows(rows, "binding", c, partial("{}/{}".format, ns))
    _changed_rows(rows, "atom", data["atoms"], lambda k: f"#{k}")
    rows.extend((("- fact", f, "", ""), _REMOVED) for f in data["facts"]["retracted"])
    rows.extend((("+ fact", f, "", ""), _ADDED) for f in data["facts"]["asserted"])
    for p, info in data["files"]["written"].items():
        if info["before"] is None:
            rows.append((("+ file", p, "", f"{info['size']} bytes"), _ADDED))
        else:
            rows.append((("~ file", p, f"{info['before']['size']} bytes", f"{info['size']} bytes"), _CHANGED))
    rows.extend((("- file", p, "", ""), _REMOVED) for p in data["files"]["deleted"])
    title = f"session {data['session']}: delta {data['from']} -> {data['to']}" + (" (no changes)" if data["empty"] else "")
    return titled_table(title, ("change", "what", "before", "after"), rows, console)
