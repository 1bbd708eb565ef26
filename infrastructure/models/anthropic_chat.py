"""``chat`` (and ``ask``) over Anthropic's messages API, through the official ``anthropic`` SDK.

Imported only by :mod:`.sdk_providers` (the ``anthropic`` extra is optional).
The SDK's own retries are off: :mod:`.retries` counts and records every attempt.
The messages API differs from chat completions in three ways handled here:
system text is a parameter, not a message; an assistant's tool calls are
``tool_use`` content blocks; and tool results are ``tool_result`` blocks of a
*user* message (consecutive ones share one message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic

from tapevm.domain.secrets import Secrets
from tapevm.infrastructure.models.chat import ChatAnswer, ChatRequest, LLMCallFailed
from tapevm.infrastructure.models.retries import Failure, RetryPolicy, with_retries
from tapevm.infrastructure.models.wire import classify_sdk_error, failure_text

DEFAULT_MAX_TOKENS = 1024  # the API requires one; :max_tokens overrides it


class AnthropicChat:
    """A :class:`~.chat.ChatProvider` (and an ``ask`` provider) for Anthropic's ``/v1/messages``."""

    def __init__(self, base_url: str | None, api_key: str | None, model: str | None, timeout: float,
                 secrets: Secrets, policy: RetryPolicy) -> None:
        self.model = model
        self.secrets = secrets
        self.policy = policy
        self.client = anthropic.Anthropic(base_url=base_url, api_key=api_key or "none", timeout=timeout,
                                          max_retries=0)
        self.base_url = str(self.client.base_url)

    def chat(self, request: ChatRequest) -> ChatAnswer:
        model = request.model or self.model
        if not model:
            raise LLMCallFailed("no model: pass :model or set TAPE_LLM_MODEL")
        system, messages = wire_messages(request)
        body: dict[str, Any] = {"model": model, "messages": messages,
                                "max_tokens": int(request.options.get("max_tokens", DEFAULT_MAX_TOKENS))}
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = [{"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
                             for t in request.tools]
        for name in ("temperature", "top_p"):
            if name in request.options:
                body[name] = request.options[name]
        if "stop" in request.options:
            stop = request.options["stop"]
            body["stop_sequences"] = stop if isinstance(stop, list) else [stop]
        response, attempts, retried = with_retries(
            self.policy, lambda: self.client.messages.create(**body), self.classify, self.describe)
        return answer_of(response, attempts, retried)

    def complete(self, prompt: str, options: Mapping[str, Any]) -> str:
        """``ask``: one user message (``:system`` as the system text); the answer's text."""
        opts = dict(options)
        model = opts.pop("model", None)
        answer = self.chat(ChatRequest([{"role": "user", "content": prompt}], model, [], opts))
        return answer.content or ""

    def classify(self, error: Exception) -> Failure:
        return classify_sdk_error(error, anthropic.APIStatusError, anthropic.APITimeoutError,
                                  anthropic.APIConnectionError)

    def describe(self, failure: Failure) -> str:
        return failure_text(self.secrets, self.base_url, failure)


def wire_messages(request: ChatRequest) -> tuple[str, list[dict[str, Any]]]:
    """(system text, messages) as the messages API takes them."""
    system = [str(request.options["system"])] if request.options.get("system") else []
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if m["role"] == "system":
            system.append(str(m["content"] or ""))
        elif m["role"] == "tool":
            block = {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": m["content"]}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": str(m["content"])}] if m["content"] else []
            blocks += [{"type": "tool_use", "id": str(c.get("id")), "name": str(c.get("name")),
                        "input": c.get("arguments") or {}} for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m["role"], "content": "" if m["content"] is None else str(m["content"])})
    return "\n\n".join(system), out


def answer_of(response: Any, attempts: int, retried: list[str]) -> ChatAnswer:
    """The SDK's message as a :class:`ChatAnswer`: its text blocks joined, its tool_use blocks as calls."""
    texts = [b.text for b in response.content if b.type == "text"]
    calls = [{"id": b.id, "name": b.name, "arguments": b.input} for b in response.content if b.type == "tool_use"]
    usage = response.usage
    return ChatAnswer("".join(texts) if texts else None, calls, usage.input_tokens, usage.output_tokens,
                      response.model, response.stop_reason or "", attempts, retried)
