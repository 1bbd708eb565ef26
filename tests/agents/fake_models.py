"""Local fake model servers speaking each provider's HTTP protocol (never a real service).

The official SDKs are the clients, so what they send and parse is the real
wire format.  A server answers from a queue of replies (status, JSON body,
headers) the test fills; with the queue empty it answers a plain text reply
echoing the last message.  Every request is kept (path, headers, JSON body).
The server runs in a daemon thread on 127.0.0.1, stops when its ``with``
block ends, and stops itself after ``lifetime`` seconds whatever happens.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, Any], dict[str, str], float]  # status, body, headers, seconds before answering


@dataclass
class FakeModel:
    kind: str                                   # "openai" or "anthropic"
    url: str = ""
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def then(self, body: dict[str, Any], status: int = 200, delay: float = 0.0, **headers: str) -> FakeModel:
        self.replies.append((status, body, {k.replace("_", "-"): v for k, v in headers.items()}, delay))
        return self

    def default_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]["content"]
        text = last if isinstance(last, str) else json.dumps(last)
        if self.kind == "openai":
            return openai_text(f"fake says: {text}", body["model"])
        return anthropic_text(f"fake says: {text}", body["model"])


def openai_text(content: str, model: str = "gpt-fake", prompt_tokens: int = 11, completion_tokens: int = 7,
                finish: str = "stop") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def openai_tool_call(name: str, arguments: dict[str, Any], call_id: str = "call_abc", model: str = "gpt-fake",
                     prompt_tokens: int = 20, completion_tokens: int = 5) -> dict[str, Any]:
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}
    return {"id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def openai_error(message: str, kind: str = "server_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def anthropic_text(text: str, model: str = "claude-fake", input_tokens: int = 13,
                   output_tokens: int = 4) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}


def anthropic_tool_use(name: str, arguments: dict[str, Any], call_id: str = "toolu_1", model: str = "claude-fake",
                       text: str = "Let me look.", input_tokens: int = 30, output_tokens: int = 9) -> dict[str, Any]:
    return {"id": "msg_2", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text},
                        {"type": "tool_use", "id": call_id, "name": name, "input": arguments}],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}


def anthropic_error(message: str, kind: str = "overloaded_error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@contextmanager
def fake_model(kind: str, lifetime: float = 120.0) -> Iterator[FakeModel]:
    """A running fake server of ``kind``; ``.url`` is the base URL its SDK takes."""
    state = FakeModel(kind)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                status, reply, headers, delay = (state.replies.pop(0) if state.replies
                                                 else (200, state.default_reply(body), {}, 0.0))
            time.sleep(delay)
            data = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a time-out test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stopper = threading.Timer(lifetime, server.shutdown)
    stopper.daemon = True
    stopper.start()
    port = server.server_address[1]
    state.url = f"http://127.0.0.1:{port}/v1" if kind == "openai" else f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        stopper.cancel()
        server.shutdown()
        server.server_close()
