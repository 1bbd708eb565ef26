"""Every tool of an MCP server as a Python callable, through the official ``mcp`` SDK's client.

Imported only by :mod:`.loading` (the ``mcp`` extra is optional).  A server is
a command (run as a subprocess, spoken to over stdio) or an ``http(s)://`` URL
(Streamable HTTP).  Its tools are listed once when it is loaded, on a
session kept open for the process (:class:`McpConnection`); a server that died
is started again by the next call, and the servers this process started are
stopped when it ends.  Each call
is an effect like any other: recorded whole, replayed from the log without
starting the server.

A tool's result is its structured content when it has one (a ``{"result": x}``
wrapper the SDK adds for a plain value is taken off), else its text blocks
joined; a result the server flags as an error raises :class:`McpToolFailed`,
recorded as the call's ``effect-error``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import shlex
import tempfile
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import mcp
from mcp.client.stdio import stdio_client

from tapevm.domain.errors import EffectProviderError
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.tools.declaration import ToolSpec

T = TypeVar("T")
CALL_TIMEOUT = 120.0  # seconds a tool call may take before it fails
log = get_logger("tapevm.mcp")
CLOSE_TIMEOUT = 10.0  # seconds a server is given to stop when the process ends


class McpToolFailed(Exception):
    """The server answered the call with an error result; the program sees it as an ``effect-error``."""


def server_target(server: str) -> Any:
    """What ``mcp.Client`` connects to: the URL, or the command's parameters (split like a shell would)."""
    if server.startswith(("http://", "https://")):
        return server
    words = shlex.split(server)
    if not words:
        raise EffectProviderError("--mcp-server: give a command that starts an MCP server, or its http(s):// URL")
    return mcp.StdioServerParameters(command=words[0], args=words[1:])


class McpServerFailed(Exception):
    """The server could not be started or spoken to; carries the last line it wrote to stderr."""


class McpConnection:
    """One session with one server, opened on first use and kept for the process.

    The SDK's client is async and its context must be entered and left by one task, so a
    daemon thread runs an event loop with one serving task per connection, which holds the
    ``mcp.Client`` open and runs the calls it is handed one at a time.  A call that fails
    below the tool (the server died, the protocol broke) closes the session; the next call
    opens a new one (a command is started again).  A command's stderr goes to a temporary
    file, not to tape's (whose errors are one line): its last line is added to the error.
    """

    def __init__(self, server: str) -> None:
        self.server = server
        self.target = server_target(server)
        self.errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by close()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name=f"mcp {server}", daemon=True).start()
        self.lock = threading.Lock()
        self.requests: asyncio.Queue[tuple[Any, asyncio.Future[Any] | None]] | None = None
        self.serving: concurrent.futures.Future[None] | None = None

    def run(self, work: Callable[[mcp.Client], Awaitable[T]]) -> T:
        """``work(client)`` on the open session (opened first when there is none)."""
        with self.lock:
            try:
                if self.serving is None or self.serving.done():
                    started: concurrent.futures.Future[None] = concurrent.futures.Future()
                    self.serving = asyncio.run_coroutine_threadsafe(self._serve(started), self.loop)
                    started.result(CALL_TIMEOUT)
                result: T = asyncio.run_coroutine_threadsafe(self._ask(work), self.loop).result(CALL_TIMEOUT)
                return result
            except Exception as e:  # noqa: BLE001 - whatever failed (spawn, protocol, time-out), say why
                self.serving = None  # done with that session (it may still be closing): the next call opens one
                raise self._failed(e) from None

    def _failed(self, error: Exception) -> McpServerFailed:
        self.errlog.seek(0)
        said = [line.strip() for line in self.errlog.read().splitlines() if line.strip()]
        self.errlog.seek(0, 2)
        text = f"{type(error).__name__}: {error}".rstrip(": ")
        return McpServerFailed(text + (f" (it said: {said[-1]})" if said else ""))

    def close(self) -> None:
        """End the session (a command's server is stopped by the SDK) and the loop; waits a few seconds."""
        with self.lock:
            serving, self.serving = self.serving, None
            if serving is not None and not serving.done() and self.requests is not None:
                requests = self.requests
                self.loop.call_soon_threadsafe(requests.put_nowait, (None, None))
                try:
                    serving.result(CLOSE_TIMEOUT)
                except Exception as e:  # noqa: BLE001 - closing what failed already: noted, not raised
                    log.debug("MCP server did not close cleanly", server=self.server, error=str(e))
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.errlog.close()

    async def _ask(self, work: Callable[[mcp.Client], Awaitable[T]]) -> T:
        assert self.requests is not None
        reply: asyncio.Future[T] = self.loop.create_future()
        await self.requests.put((work, reply))
        return await reply

    async def _serve(self, started: concurrent.futures.Future[None]) -> None:
        self.requests = requests = asyncio.Queue[tuple[Any, asyncio.Future[Any] | None]]()
        target = self.target
        transport = stdio_client(target, errlog=self.errlog) if isinstance(target, mcp.StdioServerParameters) else target
        try:
            async with mcp.Client(transport, read_timeout_seconds=CALL_TIMEOUT) as client:
                started.set_result(None)
                while True:
                    work, reply = await requests.get()
                    if reply is None:  # close()
                        return
                    try:
                        reply.set_result(await work(client))
                    except Exception as e:  # noqa: BLE001 - below the tool: this session is done
                        reply.set_exception(e)
                        return
        except Exception as e:  # noqa: BLE001 - the session could not be opened (or broke): tell the waiters
            if not started.done():
                started.set_exception(e)
            while not requests.empty():
                waiting = requests.get_nowait()[1]
                if waiting is not None:
                    waiting.set_exception(e)


_connections: dict[str, McpConnection] = {}


@atexit.register
def close_connections() -> None:
    """Close every connection (stopping the servers this process started) before the process ends."""
    while _connections:
        _connections.popitem()[1].close()


def connection(server: str) -> McpConnection:
    """The process's connection to ``server`` (one per server)."""
    if server not in _connections:
        _connections[server] = McpConnection(server)
    return _connections[server]


class McpTool:
    """One tool of one server; calling it calls the tool (a single mapping: its arguments by name;
    positional arguments fill the schema's properties in order)."""

    def __init__(self, server: str, spec: ToolSpec) -> None:
        self.server = server
        self.name = spec.name
        self.spec = spec

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            return dict(args[0])
        names = list(self.spec.parameters.get("properties", {}))
        if len(args) > len(names):
            raise McpToolFailed(f"{self.name} takes at most {len(names)} arguments ({', '.join(names) or 'none'}), "
                                f"got {len(args)}")
        return {**dict(zip(names, args, strict=False)), **kwargs}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        arguments = self.arguments(args, kwargs)
        result = connection(self.server).run(lambda c: c.call_tool(self.name, arguments))
        return tool_result(self.name, result)

    def __repr__(self) -> str:
        return f"<mcp tool {self.name} of {self.server!r}>"


def tool_result(name: str, result: Any) -> Any:
    """A CallToolResult as Python data (see the module docstring)."""
    text = "".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        raise McpToolFailed(text or f"{name} failed")
    structured = result.structured_content
    if structured is not None:
        if isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured
    return text


def server_tools(server: str) -> dict[str, McpTool]:
    """Every tool ``server`` lists, by name; an EffectProviderError saying why when it cannot be reached."""
    try:
        listing = connection(server).run(lambda c: c.list_tools())
    except McpServerFailed as e:
        raise EffectProviderError(f"MCP server {server!r} could not be listed: {e}") from None
    return {t.name: McpTool(server, ToolSpec(t.name, t.description or "", t.input_schema)) for t in listing.tools}
