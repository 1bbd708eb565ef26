"""``chat`` over an OpenAI-compatible chat-completions API, through the official ``openai`` SDK.

Imported only by :mod:`.sdk_providers` (the ``openai`` extra is optional).  The
SDK's own retries are off: :mod:`.retries` counts and records every attempt.
Tool calls go out as ``{"type": "function", "function": {name, arguments}}``
with the arguments as JSON text, as the API wants; they come back decoded.
"""

from __future__ import annotations

from typing import Any

import openai
import orjson

from tapevm.domain.secrets import Secrets
from tapevm.infrastructure.models.chat import ChatAnswer, ChatRequest, LLMCallFailed
from tapevm.infrastructure.models.retries import Failure, RetryPolicy, with_retries
from tapevm.infrastructure.models.wire import classify_sdk_error, failure_text

NO_KEY = "none"  # the SDK refuses to start without a key; a local server needs none


class OpenAIChat:
    """A :class:`~.chat.ChatProvider` for ``<base_url>/chat/completions``.

    ``authorization`` replaces the SDK's ``Bearer`` header (HTTP Basic from a URL's credentials).
    """

    def __init__(self, base_url: str, api_key: str | None, model: str | None, timeout: float, secrets: Secrets,
                 policy: RetryPolicy, authorization: str | None = None) -> None:
        self.base_url = base_url
        self.model = model
        self.secrets = secrets
        self.policy = policy
        headers = {"Authorization": authorization} if authorization else None
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout, max_retries=0,
                                    default_headers=headers)

    def chat(self, request: ChatRequest) -> ChatAnswer:
        model = request.model or self.model
        if not model:
            raise LLMCallFailed("no model: pass :model or set TAPE_LLM_MODEL")
        body: dict[str, Any] = {"model": model, "messages": wire_messages(request)}
        if request.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": dict(t.parameters)}}
                             for t in request.tools]
        for name in ("temperature", "max_tokens", "seed", "top_p", "stop"):
            if name in request.options:
                body[name] = request.options[name]
        response, attempts, retried = with_retries(
            self.policy, lambda: self.client.chat.completions.create(**body), self.classify, self.describe)
        return answer_of(response, attempts, retried)

    def classify(self, error: Exception) -> Failure:
        return classify_sdk_error(error, openai.APIStatusError, openai.APITimeoutError, openai.APIConnectionError)

    def describe(self, failure: Failure) -> str:
        return failure_text(self.secrets, self.base_url, failure)


def wire_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The request's messages as the chat-completions API takes them (``:system`` first, when given)."""
    out: list[dict[str, Any]] = []
    if request.options.get("system"):
        out.append({"role": "system", "content": str(request.options["system"])})
    for m in request.messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            out.append({"role": "assistant", "content": m["content"], "tool_calls": [
                {"id": str(c.get("id")), "type": "function",
                 "function": {"name": str(c.get("name")), "arguments": orjson.dumps(c.get("arguments") or {}).decode()}}
                for c in m["tool_calls"]]})
        else:
            out.append({"role": m["role"], "content": "" if m["content"] is None else str(m["content"])})
    return out


def answer_of(response: Any, attempts: int, retried: list[str]) -> ChatAnswer:
    """The SDK's completion as a :class:`ChatAnswer` (arguments that are not JSON stay text)."""
    if not response.choices:
        raise LLMCallFailed(f"the answer has no choices (model {response.model})")
    choice = response.choices[0]
    calls = []
    for call in choice.message.tool_calls or []:
        function = getattr(call, "function", None)
        if function is None:
            continue
        try:
            arguments = orjson.loads(function.arguments) if function.arguments else {}
        except orjson.JSONDecodeError:
            arguments = function.arguments
        calls.append({"id": call.id, "name": function.name, "arguments": arguments})
    usage = response.usage
    return ChatAnswer(choice.message.content, calls, usage.prompt_tokens if usage else 0,
                      usage.completion_tokens if usage else 0, response.model, choice.finish_reason or "",
                      attempts, retried)
