"""tapevm as an MCP server: one session served over stdio to any MCP client (an LLM's code sandbox).

``tape mcp -i ID`` opens session ID for writing (holding its writer lease
while it serves) and answers the official MCP Python SDK's protocol on stdin
and stdout.  The client gets a sandboxed, fully audited, rewindable
code-execution environment:

========================  =====================================================================
tool                      what it does (the library call the CLI makes too)
========================  =====================================================================
``eval(source)``          run forms in the session, each recorded like ``tape eval``'s (file ``<mcp>``)
``state()``               the state at the head (``tape state --json``)
``state_at(at)``          the state after event ``at`` (``tape state --at``)
``log(start, stop)``      events, as ``tape log --json`` shows them (at most ``limit``)
``blame(name)``           which event and form produced a binding, and its history (``tape blame``)
``snapshot(name)``        name the head (``tape snapshot``)
``restore(name)``         back to a snapshot; the history stays in the log (``tape restore``)
``fork(new, at)``         a new session branching at event ``at`` (``tape fork ID@N NEW``)
``diff(a, b)``            what differs between two sessions or ``ID@N`` points (``tape diff``)
``replay_verify()``       re-run the session offline and compare (``tape replay --verify``)
========================  =====================================================================

Resources: ``tape://sessions`` (every session of the store) and
``tape://sessions/{name}/timeline`` (a session's audit timeline).

Contracts: all store work runs on ONE worker thread, in the order calls
arrive (a session is one writer; SQLite connections stay on their thread).
A tapevm error is the tool's error result, its one line masked like the
CLI's; nothing but protocol messages is written to stdout (a form's printed
output is returned, not echoed; logs go to stderr); nothing reads stdin but
the protocol (``(read-line)`` sees end of input: ``nil``, recorded).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tapevm.cli import render
from tapevm.cli.main import masked
from tapevm.domain.errors import TapeError
from tapevm.domain.state import MISSING
from tapevm.infrastructure.images.session_opener import open_session
from tapevm.infrastructure.session.service import Session
from tapevm.infrastructure.store import Store
from tapevm.vm.state_printer import StatePrinter

T = TypeVar("T")
MCP_FILE = "<mcp>"
LOG_LIMIT = 200


class ServedSession:
    """The session served, and the one thread that touches it and its store."""

    def __init__(self, location: str | None, name: str, durability: str | None) -> None:
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tape-mcp")
        self.session: Session = self.worker.submit(
            lambda: open_session(name, location, durability=durability)
        ).result()
        self.store = Store(self.session.store)
        # stdin is the protocol's: (read-line) must never read a client's messages, so it sees end of input
        self.session.effects.providers.stdin = io.StringIO("")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the worker thread; a TapeError becomes the tool's error, one masked line."""
        try:
            return await asyncio.wrap_future(self.worker.submit(fn, *args))
        except TapeError as e:
            raise ToolError(masked(str(e))) from None

    def close(self) -> None:
        self.worker.submit(self.session.close).result()
        self.worker.shutdown()

    # -- the operations, each run on the worker ----------------------------------------------------
    def eval(self, source: str) -> dict[str, Any]:
        outcomes = self.session.run(source, MCP_FILE)
        return {"session": self.session.id, "head": self.session.head, "forms": [
            {"event": o.seq, "ok": o.ok, "value": o.printed if o.ok else None, "output": o.output,
             "error": None if o.ok else f"{o.error_kind}: {o.error_message}"} for o in outcomes]}

    def log(self, start: int, stop: int | None, limit: int) -> dict[str, Any]:
        s = self.session
        show = StatePrinter(s.state)
        events: list[dict[str, Any]] = []
        for r in s.events(start, stop):
            if len(events) == limit:
                return {"session": s.id, "head": s.head, "events": events, "more_from": r.seq}
            events.append(render.event_json(r, show))
        return {"session": s.id, "head": s.head, "events": events, "more_from": None}

    def blame(self, name: str) -> dict[str, Any]:
        s = self.session
        found = self.store.blame(s.id, name)
        show = StatePrinter(s.state)
        return {"target": found.target, "at": found.at, "history": [
            {"event": e.seq, "op": e.op, "value": None if e.removed or e.value is None else show(e.value),
             "cause": e.cause, "form": f"{e.form_file}:{e.form_line}" if e.form_file else "",
             "source": e.form_source, "detail": e.detail} for e in found.history]}

    def fork(self, new: str, at: int | None) -> dict[str, Any]:
        made = self.store.fork(f"{self.session.id}@{self.session.head if at is None else at}", new)
        return {"session": made.session, "source": made.source, "at": made.at}

    def diff(self, a: str, b: str) -> dict[str, Any]:
        c = self.store.compare(a, b)
        show_a, show_b = StatePrinter(c.a_state), StatePrinter(c.b_state)

        def side(show: StatePrinter, value: Any) -> str | None:
            return None if value is MISSING or value is None else show(value)

        return {"a": c.a, "b": c.b, "common_ancestor": c.common_ancestor, "changes": [
            {"kind": ch.kind, "key": "/".join(map(str, ch.key)) if isinstance(ch.key, tuple) else str(ch.key),
             "a": side(show_a, ch.a), "b": side(show_b, ch.b)} for ch in c.diff.changes]}

    def replay_verify(self, name: str | None) -> dict[str, Any]:
        result = self.store.replay(name or self.session.id, verify=True)
        d = result.divergence
        return {"session": result.session, "identical": result.ok, "events": result.events, "forms": result.forms,
                "note": result.note, "divergence": None if d is None else {
                    "event": d.seq, "cause": d.cause, "form": f"{d.form_file}:{d.form_line}",
                    "source": d.form_source}}

    def timeline(self, name: str) -> list[dict[str, Any]]:
        return [e.as_json() for e in self.store.audit(name)]


def build_server(served: ServedSession) -> MCPServer:
    """The MCP server over ``served``: its tools and resources (see the module docstring)."""
    s = served.session
    server = MCPServer("tapevm", log_level="WARNING", instructions=(
        f"A tapevm session ({s.id!r}): a small Lisp VM whose every change is recorded in an append-only log. "
        "eval runs Lisp forms; state, log, blame show what happened and why; snapshot/restore/fork rewind "
        "and branch; replay_verify re-runs the session offline and checks it reproduces."))
    _add_tools(server, served)
    _add_more_tools(server, served)

    @server.resource("tape://sessions", name="sessions", mime_type="application/json",
                     description="Every session of the store: id, events, bytes, last activity, parent, writer.")
    async def sessions() -> list[dict[str, Any]]:
        return await served.call(lambda: [row.as_json() for row in served.store.sessions()])

    @server.resource("tape://sessions/{name}/timeline", name="timeline", mime_type="application/json",
                     description="A session's audit timeline: each change, the form that caused it, effects, errors.")
    async def timeline(name: str) -> list[dict[str, Any]]:
        return await served.call(served.timeline, name)

    return server


def _add_tools(server: MCPServer, served: ServedSession) -> None:
    s = served.session

    @server.tool(description="Run Lisp forms in the session; each form is recorded (audited) and its value, "
                             "printed output or error returned.")
    async def eval(source: str) -> dict[str, Any]:
        return await served.call(served.eval, source)

    @server.tool(description="The session's state at its head: bindings by namespace, atoms, facts, files.")
    async def state() -> dict[str, Any]:
        return await served.call(lambda: render.state_json(s.state))

    @server.tool(description="The session's state after event AT.")
    async def state_at(at: int) -> dict[str, Any]:
        return await served.call(lambda: render.state_json(s.state_at(at)))

    @server.tool(description="The session's events START..STOP (at most LIMIT; more_from says where to go on).")
    async def log(start: int = 1, stop: int | None = None, limit: int = LOG_LIMIT) -> dict[str, Any]:
        return await served.call(served.log, start, stop, max(1, min(limit, 10 * LOG_LIMIT)))

    @server.tool(description="Which event and form produced binding NAME's value, and its whole history.")
    async def blame(name: str) -> dict[str, Any]:
        return await served.call(served.blame, name)


def _add_more_tools(server: MCPServer, served: ServedSession) -> None:
    s = served.session

    @server.tool(description="Name the session's current point (head) as snapshot NAME.")
    async def snapshot(name: str, description: str = "") -> dict[str, Any]:
        made = await served.call(s.snapshot, name, None, description)
        return {"name": made.name, "at": made.at}

    @server.tool(description="Go back to snapshot NAME (recorded: the history stays in the log).")
    async def restore(name: str) -> dict[str, Any]:
        event = await served.call(s.restore, name)
        return {"event": event.seq, "head": event.seq}

    @server.tool(description="Branch the session at event AT (default: its head) into a new session NEW.")
    async def fork(new: str, at: int | None = None) -> dict[str, Any]:
        return await served.call(served.fork, new, at)

    @server.tool(description="What differs between two sessions or points (ID or ID@N).")
    async def diff(a: str, b: str) -> dict[str, Any]:
        return await served.call(served.diff, a, b)

    @server.tool(description="Re-run a session (default: this one) offline from its log and compare every event.")
    async def replay_verify(session: str | None = None) -> dict[str, Any]:
        return await served.call(served.replay_verify, session)


def serve(location: str | None, name: str, durability: str | None) -> None:
    """Serve session ``name`` of the store at ``location`` on stdio until the client hangs up."""
    served = ServedSession(location, name, durability)
    try:
        build_server(served).run("stdio")
    finally:
        served.close()
