"""``(chat MESSAGES :model m :tools TOOLS ...)``: the provider-neutral request and answer, and their Lisp form.

A program speaks Lisp data; a provider speaks its wire format.  Between them
sit :class:`ChatRequest` and :class:`ChatAnswer`, plain Python:

* a message is ``{"role", "content"}`` plus, for an assistant turn that called
  tools, ``"tool_calls": [{"id", "name", "arguments"}]``, and for a tool's
  answer, ``"tool_call_id"`` (role ``tool``);
* the answer is the assistant's message, its tool calls (arguments as data,
  decoded from the model's JSON), token usage, the model that answered, why it
  stopped, and the attempts it took (:mod:`.retries`).

In Lisp a message is a map with keyword keys (``{:role "user" :content "hi"}``,
``:tool-calls``, ``:tool-call-id``); the answer is the map :func:`answer_to_lisp`
builds.  Tool arguments are JSON objects and stay maps with string keys.  The
whole answer is the effect's recorded result, so a replay gives the program
exactly what it saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from tapevm.infrastructure.tools.declaration import ToolSpec, spec_of
from tapevm.vm.effects import EFFECT_UNAVAILABLE
from tapevm.vm.errors import TYPE_ERROR, LispError
from tapevm.vm.values import NIL, ErrorValue, Keyword, LMap, Pair, Symbol, make_list

ROLES = ("system", "user", "assistant", "tool")


class LLMCallFailed(Exception):
    """The provider answered with an error; recorded as the effect's error (a program can catch it)."""


@dataclass(frozen=True)
class ChatRequest:
    """What a program asks a model: messages, the model (None: the provider's), tools, other options."""

    messages: list[dict[str, Any]]
    model: str | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    options: Mapping[str, Any] = field(default_factory=dict)  # temperature, max_tokens, seed, system...


@dataclass(frozen=True)
class ChatAnswer:
    """What a model answered, whole."""

    content: str | None
    tool_calls: list[dict[str, Any]]          # {"id", "name", "arguments"}
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str
    attempts: int = 1
    retried: list[str] = field(default_factory=list)  # why each failed attempt before the answer failed


class ChatProvider(Protocol):
    """Answers a :class:`ChatRequest`; raises :class:`LLMCallFailed` for a failure the program should see."""

    def chat(self, request: ChatRequest) -> ChatAnswer: ...


# -- Lisp -> request ------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """Lisp data as JSON-like Python: lists and vectors -> lists, maps -> dicts, keywords/symbols -> names,
    nil -> None (an answer's ``:content nil`` stays "no content", not an empty list)."""
    if value is NIL:
        return None
    if type(value) is Pair:
        items = []
        while type(value) is Pair:
            items.append(plain(value.car))
            value = value.cdr
        return items
    if type(value) is tuple:
        return [plain(v) for v in value]
    if type(value) is LMap:
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if type(value) is Symbol or type(value) is Keyword:
        return value.name
    return value


def _kebab_to_snake(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k.replace("-", "_"): v for k, v in data.items()}


def message_from_lisp(value: Any, n: int) -> dict[str, Any]:
    """One message of a program's list as a request message; a type-error naming it when it is not one."""
    if type(value) is not LMap:
        raise LispError(ErrorValue(TYPE_ERROR, f"chat: message {n} is not a map such as {{:role \"user\" "
                                   f":content \"hi\"}}: {plain(value)!r}"))
    data = _kebab_to_snake(plain(value))
    role = data.get("role")
    if role not in ROLES:
        raise LispError(ErrorValue(TYPE_ERROR, f"chat: message {n} has :role {role!r}; use one of {', '.join(ROLES)}"))
    message: dict[str, Any] = {"role": role, "content": data.get("content")}
    if data.get("tool_calls"):
        message["tool_calls"] = [_kebab_to_snake(c) if isinstance(c, dict) else c for c in data["tool_calls"]]
    if role == "tool":
        message["tool_call_id"] = str(data.get("tool_call_id", ""))
        if not isinstance(message["content"], str):
            message["content"] = "" if message["content"] is None else _json_text(message["content"])
    return message


def _json_text(value: Any) -> str:
    """A tool result that is data, as the JSON text the model reads."""
    return orjson.dumps(value, default=str).decode()


def request_from_lisp(args: tuple[Any, ...], tools: Mapping[str, Callable[..., Any]]) -> ChatRequest:
    """``chat``'s arguments (messages, then ``:keyword value`` pairs) as a request.

    ``:tools`` names tools the session has (their declared schemas are sent) or gives
    ``{:name :description :parameters}`` maps; a name the session lacks is ``effect-unavailable``.
    """
    if not (type(args[0]) is Pair or type(args[0]) is tuple or args[0] is NIL):
        raise LispError(ErrorValue(TYPE_ERROR, "chat: the messages are a list or vector of maps"))
    items = _elements(args[0])
    request_messages = [message_from_lisp(m, n) for n, m in enumerate(items, 1)]
    options = {plain(args[i]).replace("-", "_"): plain(args[i + 1]) for i in range(1, len(args), 2)}
    specs = [_tool_spec(t, tools) for t in options.pop("tools", None) or []]
    model = options.pop("model", None)
    return ChatRequest(request_messages, None if model is None else str(model), specs, options)


def _elements(value: Any) -> list[Any]:
    if type(value) is tuple:
        return list(value)
    items = []
    while type(value) is Pair:
        items.append(value.car)
        value = value.cdr
    return items


def _tool_spec(given: Any, tools: Mapping[str, Callable[..., Any]]) -> ToolSpec:
    if isinstance(given, dict):
        return ToolSpec(str(given.get("name")), str(given.get("description", "")),
                        given.get("parameters") or {"type": "object", "properties": {}})
    fn = tools.get(str(given))
    if fn is None:
        known = ", ".join(sorted(tools)) or "none"
        raise LispError(ErrorValue(EFFECT_UNAVAILABLE, f"chat: no tool named {given!r} for :tools (registered: {known})"))
    return spec_of(str(given), fn)


# -- answer -> Lisp ------------------------------------------------------------------------
def data_to_lisp(value: Any) -> Any:
    """JSON-like Python as Lisp data: dicts -> maps with string keys, lists -> vectors, None -> nil."""
    if value is None:
        return NIL
    if isinstance(value, dict):
        return LMap((str(k), data_to_lisp(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(data_to_lisp(v) for v in value)
    return value


def _kw_map(pairs: list[tuple[str, Any]]) -> LMap:
    return LMap((Keyword(k), v) for k, v in pairs)


def answer_to_lisp(answer: ChatAnswer) -> LMap:
    """The map ``chat`` returns (see docs/language.md): message, tool calls, usage, model, finish reason, attempts."""
    calls = tuple(_kw_map([("id", c["id"]), ("name", c["name"]), ("arguments", data_to_lisp(c["arguments"]))])
                  for c in answer.tool_calls)
    message: list[tuple[str, Any]] = [("role", "assistant"), ("content", NIL if answer.content is None else answer.content)]
    if calls:
        message.append(("tool-calls", calls))
    return _kw_map([
        ("message", _kw_map(message)),
        ("content", NIL if answer.content is None else answer.content),
        ("tool-calls", calls),
        ("usage", _kw_map([("input-tokens", answer.input_tokens), ("output-tokens", answer.output_tokens)])),
        ("model", answer.model),
        ("finish-reason", answer.finish_reason),
        ("attempts", answer.attempts),
        ("retried", make_list(answer.retried)),
    ])
