"""``chat`` answered offline and deterministically: the ``echo`` and ``script:`` providers' chat.

The last message's text is matched against the script's rules as a prompt is
for ``ask``: the first rule whose regex matches answers, else the default,
else ``echo: <text>``.  A rule may call tools instead of (or besides)
answering: ``{"match": REGEX, "tool_calls": [{"name": N, "arguments": {...}}]}``;
a tool's result comes back as the last message (role ``tool``), so a second
rule matching that result finishes the round.  That is enough to test an
agent's whole loop without a network.

Usage is counted in words (whitespace-separated) so token accounting has
something stable to add up: the input is every message's text (and
``:system``), the output the answer's text.  Tool-call ids are
``call_<messages>_<n>``, the same on every run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from tapevm.infrastructure.models.chat import ChatAnswer, ChatRequest

ScriptRule = tuple["re.Pattern[str]", str | None, list[dict[str, Any]]]


def message_text(message: Mapping[str, Any]) -> str:
    """A message's content as text (data as JSON), '' when it has none."""
    content = message.get("content")
    if content is None:
        return ""
    return content if isinstance(content, str) else orjson.dumps(content, default=str).decode()


def words(text: str) -> int:
    return len(text.split())


def scripted_chat(rules: list[ScriptRule], default: str | None, rule: Callable[[str, Mapping[str, Any]], str] | None,
                  request: ChatRequest, name: str) -> ChatAnswer:
    """The scripted answer to ``request`` (see the module docstring); ``name`` is the model it reports
    when the request names none."""
    text = message_text(request.messages[-1]) if request.messages else ""
    content: str | None
    calls: list[dict[str, Any]] = []
    if rule is not None:
        content = rule(text, request.options)
    else:
        content, calls = _matched(rules, default, text)
    n = len(request.messages)
    tool_calls = [{"id": f"call_{n}_{i}", "name": str(c.get("name")), "arguments": c.get("arguments") or {}}
                  for i, c in enumerate(calls, 1)]
    spent = sum(words(message_text(m)) for m in request.messages) + words(str(request.options.get("system") or ""))
    return ChatAnswer(content, tool_calls, spent, words(content or ""), request.model or name,
                      "tool_calls" if tool_calls else "stop")


def _matched(rules: list[ScriptRule], default: str | None, text: str) -> tuple[str | None, list[dict[str, Any]]]:
    for pattern, answer, calls in rules:
        if pattern.search(text):
            return (None if answer is None else answer.replace("{prompt}", text)), calls
    if default is not None:
        return default.replace("{prompt}", text), []
    return f"echo: {text}", []
