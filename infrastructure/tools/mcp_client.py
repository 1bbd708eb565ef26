"""Every tool of an MCP server as a Python callable, through the official ``mcp`` SDK's client.

Imported only by :mod:`.loading` (the ``mcp`` extra is optional).  A server is
a command (run as a subprocess, spoken to over stdio) or an ``http(s)://`` URL
(Streamable HTTP).  Its tools are listed once when it is loaded; each call
connects, calls and disconnects, so a tool call holds no connection between
effects and a server that died is started again by the next call.  Each call
is an effect like any other: recorded whole, replayed from the log without
starting the server.

A tool's result is its structured content when it has one (a ``{"result": x}``
wrapper the SDK adds for a plain value is taken off), else its text blocks
joined; a result the server flags as an error raises :class:`McpToolFailed`,
recorded as the call's ``effect-error``.
"""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import mcp
from mcp.client.stdio import stdio_client

from tapevm.domain.errors import EffectProviderError
from tapevm.infrastructure.tools.declaration import ToolSpec

T = TypeVar("T")
CALL_TIMEOUT = 120.0  # seconds a tool call may take before it fails


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


def _run(server: str, work: Callable[[mcp.Client], Awaitable[T]]) -> T:
    """``work`` on a fresh connection to ``server``.  A command's stderr goes to a temporary file, not to
    tape's (whose errors are one line): its last line is added to the error when the connection fails."""
    target = server_target(server)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        async def main() -> T:
            transport = stdio_client(target, errlog=errlog) if isinstance(target, mcp.StdioServerParameters) else target
            async with mcp.Client(transport, read_timeout_seconds=CALL_TIMEOUT) as client:
                return await work(client)

        try:
            return anyio.run(main)
        except McpToolFailed:
            raise
        except Exception as e:  # noqa: BLE001 - whatever failed (spawn, protocol, time-out), the server said why
            errlog.seek(0)
            said = [line.strip() for line in errlog.read().splitlines() if line.strip()]
            raise McpServerFailed(f"{type(e).__name__}: {e}" + (f" (it said: {said[-1]})" if said else "")) from None


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
        result = _run(self.server, lambda c: c.call_tool(self.name, arguments))
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
        listing = _run(server, lambda c: c.list_tools())
    except McpServerFailed as e:
        raise EffectProviderError(f"MCP server {server!r} could not be listed: {e}") from None
    return {t.name: McpTool(server, ToolSpec(t.name, t.description or "", t.input_schema)) for t in listing.tools}
