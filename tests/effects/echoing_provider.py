"""A local OpenAI-compatible server that echoes credentials, as careless real ones do.

A request with the right Bearer key gets ``answer`` as the model's reply; any other gets
a 401 whose text echoes the Authorization header it was sent (``Incorrect API key provided:
Bearer sk-...``), padded so the header straddles the 200th character: a provider that cuts the
server's text before masking it would keep the first half of the key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

CUT = 200  # where the provider cuts a server's text


class EchoingProvider:
    def __init__(self, good_key: str) -> None:
        self.good_key = good_key
        self.answer = "fine"
        self.authorizations: list[str | None] = []
        self.url = ""


def rejection(authorization: str) -> str:
    """The 401 text: the header echoed across the cut."""
    prefix = "Incorrect API key provided: "
    pad = "x" * max(0, CUT - len(prefix) - len(authorization) // 2)
    return f"{pad}{prefix}{authorization}. You can find your API key at https://example.invalid/keys."


@contextmanager
def echoing_provider(good_key: str) -> Iterator[EchoingProvider]:
    """The server on 127.0.0.1 (``provider.url`` is its base URL, ``.../v1``) for the ``with`` block."""
    state = EchoingProvider(good_key)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            auth = self.headers.get("Authorization")
            state.authorizations.append(auth)
            if auth == f"Bearer {state.good_key}":
                status, data = 200, json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": state.answer}}]}).encode()
            else:
                status, data = 401, rejection(str(auth)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def texts_in(data: bytes) -> bytes:
    """``data`` and the decompressed contents of every zstd frame in it (records, image sections), so a
    search of the result finds a text a compressed record holds."""
    import zstandard

    parts = [data]
    start = data.find(b"\x28\xb5\x2f\xfd")
    while start != -1:
        try:
            parts.append(zstandard.ZstdDecompressor().decompressobj().decompress(data[start:]))
        except zstandard.ZstdError:
            pass
        start = data.find(b"\x28\xb5\x2f\xfd", start + 1)
    return b"\n".join(parts)
