"""A small MCP server made with the official SDK, run over stdio by the tests (``python mcp_server.py``).

It stops when its client closes stdin (the SDK's stdio transport), and after
``LIFETIME`` seconds whatever happens, so a test that fails never leaves it behind.
"""

from __future__ import annotations

import os
import sys
import threading

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

LIFETIME = 60.0

server = MCPServer("tapevm-test-tools")
CALLS = sys.argv[1] if len(sys.argv) == 2 else None  # a file each call of add is written to (the SDK passes
                                                   # a server only a few safe environment variables)


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    if CALLS:
        with open(CALLS, "a") as log:
            log.write(f"add {a} {b}\n")
    return a + b


@server.tool()
def lookup(city: str) -> dict[str, object]:
    """Facts about a city."""
    return {"city": city, "population": 2_100_000 if city == "Paris" else 0}


@server.tool()
def crash() -> str:
    """The server dies in the middle of the call."""
    os._exit(1)


@server.tool()
def fail(reason: str) -> str:
    """Always fails."""
    raise ToolError(f"cannot: {reason}")


if __name__ == "__main__":
    threading.Timer(LIFETIME, lambda: os._exit(3)).start()
    if len(sys.argv) > 2 and sys.argv[1] == "--http":  # Streamable HTTP on 127.0.0.1:PORT/mcp
        CALLS = None
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        if CALLS:
            with open(CALLS, "a") as log:
                log.write(f"started {os.getpid()}\n")
        server.run()
