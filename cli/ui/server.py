"""Serving the application: the socket, the token, uvicorn.

The socket is bound before the application is built, so ``--port 0`` (any free port) works and
the address printed is the one served; the host check then knows the real port.  A host other
than a loopback address always needs a token: ``TAPE_UI_TOKEN``, else a fresh random one printed
with the address.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass

import uvicorn

from tapevm.cli.ui.app import build_app
from tapevm.cli.ui.guard import LOOPBACK, loopback_hosts
from tapevm.infrastructure.store import Store


@dataclass(frozen=True)
class Listening:
    """Where the app listens, and the address to open (with the token, when there is one)."""

    sock: socket.socket
    url: str
    token: str | None


def listen(host: str, port: int, token: str | None) -> Listening:
    """Bind ``host:port`` (0: any free port); beyond loopback, make sure there is a token."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(24)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}/" + (f"?token={token}" if token else "")
    return Listening(sock, url, token)


def serve(store: Store, where: Listening, host: str) -> None:
    """Serve ``store`` on the bound socket until interrupted."""
    port = where.sock.getsockname()[1]
    app = build_app(store, token=where.token, hosts=loopback_hosts(port) if host in LOOPBACK else None)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1,
                            lifespan="off")
    uvicorn.Server(config).run(sockets=[where.sock])
