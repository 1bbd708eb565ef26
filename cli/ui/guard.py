"""The checks every request of ``tape ui`` passes, and the headers every response carries.

* **Host**: served on a loopback address, only requests naming a loopback host (``127.0.0.1``,
  ``localhost``, ``[::1]``) with the served port are answered, so a web page elsewhere cannot reach
  the store through DNS rebinding.
* **Token**: when one is set (always when the app listens beyond this machine), every request
  must carry it: ``Authorization: Bearer T``, the ``tape_ui_token`` cookie, or ``?token=T`` on
  the first visit, answered with a redirect that sets the cookie (HttpOnly, SameSite=Strict) and
  drops the token from the address bar.  Compared in constant time.
* **Read-only**: only GET and HEAD reach the app; anything else is 405 here, before any route.
* **Headers**: a content security policy allowing scripts, styles and connections to this origin
  only (no inline script, no ``eval``, no frames), ``nosniff``, no referrer, no framing, and no
  caching of what a session holds.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "tape_ui_token"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def loopback_hosts(port: int) -> set[str]:
    """The Host headers a loopback server answers."""
    return {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}


class Guard:
    """ASGI middleware: the host and token checks, read-only methods, the security headers."""

    def __init__(self, app: App, token: str | None, hosts: set[str] | None) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, text, extra = refusal
            await _plain(send, status, text, extra)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS + _cache(scope["path"])
            await send(message)

        await self.app(scope, receive, with_headers)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        if self.hosts is not None and headers.get("host", "") not in self.hosts:
            return 421, "tape ui answers only requests to this machine's loopback address\n", []
        if scope["method"] not in ("GET", "HEAD"):
            return 405, "tape ui is read-only: only GET requests\n", [(b"allow", b"GET, HEAD")]
        if self.token is None:
            return None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = dict(query).get("token")
        if given is not None and self._matches(given):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            where = scope["path"] + ("?" + rest if rest else "")
            cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            return 303, "token accepted\n", [(b"location", where.encode("latin-1")),
                                             (b"set-cookie", cookie.encode("latin-1"))]
        if self._matches(_bearer(headers)) or self._matches(_cookie(headers)):
            return None
        return 401, "tape ui needs its token: open the address tape ui printed (it carries ?token=...)\n", []

    def _matches(self, given: str | None) -> bool:
        assert self.token is not None
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


def _cookie(headers: dict[str, str]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:  # a malformed Cookie header carries no token
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _cache(path: str) -> list[tuple[bytes, bytes]]:
    return [(b"cache-control", b"max-age=3600" if path.startswith("/static/") else b"no-store")]


async def _plain(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               *extra, *HEADERS, (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
