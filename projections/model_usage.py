"""Tokens a session spent on language models, read from its recorded ``chat`` answers.

A ``chat`` effect's result is the model's whole answer, ``:usage`` included
(``{:input-tokens N :output-tokens M}``); nothing else records tokens, so the
audit timeline and ``tape info`` add them up from there.  Reading needs the
decoded value (a map is stored as content-addressed nodes): the caller gives a
``decode(encoding) -> value``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tapevm.domain.events import EffectCompleted, EffectRequested, RecordedEvent
from tapevm.vm.values import Keyword, LMap

CHAT_KIND = "chat"


@dataclass
class TokenUsage:
    """Tokens in and out, and the number of model calls that reported them."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    def add(self, tokens: tuple[int, int]) -> None:
        self.input_tokens += tokens[0]
        self.output_tokens += tokens[1]
        self.calls += 1


def usage_of(value: Any) -> tuple[int, int] | None:
    """(input, output) tokens of a ``chat`` answer as recorded (a decoded map), None for anything else."""
    if type(value) is not LMap:
        return None
    usage = value.get(Keyword("usage"))
    if type(usage) is not LMap:
        return None
    tokens = usage.get(Keyword("input-tokens")), usage.get(Keyword("output-tokens"))
    if type(tokens[0]) is not int or type(tokens[1]) is not int:
        return None
    return tokens[0], tokens[1]


def completed_usage(event: EffectCompleted, kind: str | None, decode: Callable[[Any], Any]) -> tuple[int, int] | None:
    """The tokens of one completed effect of ``kind`` (None unless a successful ``chat``)."""
    if kind != CHAT_KIND or not event.ok:
        return None
    try:
        return usage_of(decode(event.result))
    except Exception:  # noqa: BLE001 - an answer that cannot be decoded has no tokens to count
        return None


def session_usage(events: Iterable[RecordedEvent], decode: Callable[[Any], Any]) -> TokenUsage:
    """The tokens of every ``chat`` answer among ``events``."""
    total = TokenUsage()
    kinds: dict[str, str] = {}
    for r in events:
        e = r.event
        if type(e) is EffectRequested:
            kinds[e.key] = e.kind
        elif type(e) is EffectCompleted:
            tokens = completed_usage(e, kinds.pop(e.key, None), decode)
            if tokens is not None:
                total.add(tokens)
    return total
