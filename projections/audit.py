"""The audit timeline: what happened in a session, one entry per event a person cares about.

Each entry says when, what changed, which input form caused it (file and
line), and for effects the call, its duration and payload size.  Values are
shown through a ``show(encoding) -> str`` callable the caller supplies (the
CLI prints them as Lisp source, no further than :data:`SHOWN_WIDTH`
characters: an entry cuts a value to at most 80, so printing more is waste,
and printing a long list whole at every change made the timeline quadratic).  Streaming: entries are produced while the
log is read, so long sessions need no memory.

The store is read by session name: the caller hands it already seen through
names (``infrastructure.stores.named_sessions``), so a renamed session or a
fork reads its whole lineage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tapevm.domain.events import (
    Assigned,
    AtomCreated,
    AtomReset,
    ContentStored,
    Defined,
    EffectCompleted,
    EffectRequested,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileImported,
    FileWritten,
    FormEvaluated,
    FormSubmitted,
    NamespaceEntered,
    OutputWritten,
    RecordedEvent,
)
from tapevm.domain.ports import EventStore
from tapevm.domain.state import fact_entry
from tapevm.projections.model_usage import TokenUsage, completed_usage

AUDIT_KINDS = ("effect", "define", "fact", "file", "output", "error")

Show = Callable[[Any], str]
SHOWN_WIDTH = 100  # characters of a value an entry can show (its widest cut is 80)


@dataclass
class AuditEntry:
    seq: int
    time: float
    kind: str                     # input | effect | define | fact | file | output | error | result | session
    what: str                     # one line for people
    cause: int
    form: str = ""                # "file:line" of the causing form
    duration_ms: float | None = None
    size: int | None = None
    error: bool = False
    tokens: TokenUsage | None = None  # a chat call's (or, on a form's result, all its chat calls') tokens

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"seq": self.seq, "time": self.time, "kind": self.kind, "what": self.what,
                                "cause": self.cause, "form": self.form, "error": self.error}
        if self.duration_ms is not None:
            data["duration_ms"] = self.duration_ms
        if self.size is not None:
            data["size"] = self.size
        if self.tokens is not None:
            data["input_tokens"], data["output_tokens"] = self.tokens.input_tokens, self.tokens.output_tokens
        return data

    def matches(self, kinds: tuple[str, ...]) -> bool:
        return not kinds or self.kind in kinds or ("error" in kinds and self.error)


def _args(show: Show, args: list[Any]) -> str:
    return " ".join(show(a) for a in args)


def audit(store: EventStore, session_name: str, show: Show, start: int = 1, stop: int | None = None,
          kinds: tuple[str, ...] = (), decode: Callable[[Any], Any] | None = None) -> Iterator[AuditEntry]:
    """The timeline of events ``start..stop`` (forms and effect requests before ``start`` are looked up).

    ``store`` reads by session name (it is seen through names).  With ``decode`` (encoding -> value),
    each ``chat`` call's entry and each form's result carry the tokens spent (``model_usage``).
    """
    forms: dict[int, str] = {}
    requests: dict[str, EffectRequested] = {}
    first = start
    # the form and effect request of the first entries may precede ``start``: read from the form's start
    for r in store.read(session_name, start, start):
        first = min(start, r.cause)
    tokens: dict[int, TokenUsage] = {}
    for r in store.read(session_name, first, stop):
        kind = requests[r.event.key].kind if type(r.event) is EffectCompleted and r.event.key in requests else None
        entry = _entry(r, show, forms, requests)
        if decode is not None and entry is not None:
            _count_tokens(r, entry, kind, decode, tokens)
        if entry is not None and r.seq >= start and entry.matches(kinds):
            yield entry


def _entry(r: RecordedEvent, show: Show, forms: dict[int, str],
           requests: dict[str, EffectRequested]) -> AuditEntry | None:
    e = r.event
    form = forms.get(r.cause, "")

    def entry(kind: str, what: str, **kw: Any) -> AuditEntry:
        return AuditEntry(r.seq, r.recorded_at, kind, what, r.cause, form, **kw)

    if isinstance(e, FormSubmitted):
        forms[r.seq] = f"{e.file}:{e.line}"
        form = forms[r.seq]
        return entry("input", _short(e.source, 100))
    if isinstance(e, EffectRequested):
        requests[e.key] = e
        return None
    if isinstance(e, EffectCompleted):
        req = requests.pop(e.key, None)
        call = f"({req.kind}{' ' + _short(_args(show, req.args), 60) if req and req.args else ''})" if req else "(?)"
        outcome = f"-> {_short(show(e.result), 60)}" if e.ok else f"failed: {e.error_kind}: {e.error_message}"
        return entry("effect", f"{call} {outcome}", duration_ms=e.duration_ms, size=e.size, error=not e.ok)
    if isinstance(e, (Defined, Assigned)):
        op = "define" if isinstance(e, Defined) else "set!"
        return entry("define", f"{op} {e.ns}/{e.name} = {_short(show(e.value), 70)}")
    if isinstance(e, NamespaceEntered):
        return entry("define", f"in-ns {e.ns}")
    if isinstance(e, (AtomCreated, AtomReset)):
        op = "atom" if isinstance(e, AtomCreated) else "reset!"
        return entry("define", f"{op} #{e.atom} = {_short(show(e.value), 70)}")
    if isinstance(e, (FactAsserted, FactRetracted)):
        op = "assert!" if isinstance(e, FactAsserted) else "retract!"
        fact = fact_entry(e.fact, e.evidence) if isinstance(e, FactAsserted) else e.fact  # shown with its evidence
        return entry("fact", f"{op} {_short(show(fact), 80)}")
    if isinstance(e, FileImported):
        return entry("file", f"import {e.path} from {e.source} ({e.size} bytes)", size=e.size)
    if isinstance(e, FileWritten):
        return entry("file", f"write {e.path} ({e.size} bytes)", size=e.size)
    if isinstance(e, FileDeleted):
        return entry("file", f"delete {e.path}")
    if isinstance(e, OutputWritten):
        return entry("output", _short(e.text, 100))
    if isinstance(e, FormEvaluated):
        if e.ok:
            return entry("result", f"=> {_short(e.printed, 90)}")
        return entry("error", f"{e.error_kind}: {_short(e.error_message or '', 90)}", error=True)
    if isinstance(e, ContentStored):
        return None
    fields = " ".join(f"{k}={v}" for k, v in e.__dict__.items())
    return entry("session", f"{e.type_name} {_short(fields, 80)}")


def _count_tokens(r: RecordedEvent, entry: AuditEntry, kind: str | None, decode: Callable[[Any], Any],
                  tokens: dict[int, TokenUsage]) -> None:
    """Put a chat call's tokens on its entry and add them to its form's, which its result shows."""
    e = r.event
    if isinstance(e, EffectCompleted):
        spent = completed_usage(e, kind, decode)
        if spent is not None:
            entry.tokens = TokenUsage()
            entry.tokens.add(spent)
            entry.what += f" [tokens {spent[0]} in, {spent[1]} out]"
            tokens.setdefault(r.cause, TokenUsage()).add(spent)
    elif isinstance(e, FormEvaluated) and r.cause in tokens:
        entry.tokens = tokens.pop(r.cause)
        entry.what += f" [tokens {entry.tokens.input_tokens} in, {entry.tokens.output_tokens} out]"


def _short(text: str, width: int) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= width else text[: width - 1] + "…"
