"""The session's effect port: performs effects and records them, or answers them from the log.

The VM asks for every nondeterministic input through :class:`~tapevm.vm.effects.EffectPort`;
:class:`SessionEffects` is the session's implementation.  For each effect it

1. makes sure the form's FormSubmitted is committed (lazily, on the form's
   first effect, so effect-free forms stay one transaction);
2. gets the answer from its :class:`AnswerSource`: the live providers
   (:class:`LiveAnswers`), or the recorded log (:class:`RecordedAnswers`,
   used by replay and by finishing an interrupted form);
3. commits ``[ContentStored], EffectRequested, EffectCompleted`` in ONE
   transaction before the form goes on, so a crash never loses a result that
   was already paid for.  Large texts become content-addressed TEXT nodes,
   stored once however often they recur.

The effect key is ``"<form event>.<ordinal>:<hash of kind and encoded arguments>"``.

Masking: every string of the arguments is masked before it is recorded (the
provider or tool still gets the real ones), and every string of a result, and an
error's message, before the program sees it (so a secret in an answer never
reaches the log, and a replay sees exactly what the program saw).  The mask is
the session's secrets first (:class:`~tapevm.domain.secrets.Secrets`: those the
environment configures, ``Settings.secrets``, those the HTTP provider holds, and
those registered with :meth:`SessionEffects.secret`), each shown as ``[secret
NAME]``, then each redaction hook registered with :meth:`SessionEffects.redact`.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TextIO

import xxhash

from tapevm.domain.content import canonical_bytes
from tapevm.domain.errors import EffectProviderError, ReplayDivergence, TapeError
from tapevm.domain.events import ContentStored, EffectCompleted, EffectRequested, Event, RecordedEvent
from tapevm.domain.secrets import Secrets
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.models.chat import answer_to_lisp, request_from_lisp
from tapevm.infrastructure.session.llm_providers import (
    LLMCallFailed,
    LLMProvider,
    llm_from_environment,
)
from tapevm.infrastructure.tools.declaration import call_tool
from tapevm.infrastructure.tools.loading import default_tools
from tapevm.vm.effects import (
    ASK,
    CHAT,
    EFFECT_ERROR,
    EFFECT_UNAVAILABLE,
    LIST_IMAGES,
    NOW,
    RANDOM,
    READ_LINE,
    STEP,
    TOOL,
    UUID,
    EffectAbort,
)
from tapevm.vm.errors import LispError
from tapevm.vm.printer import to_source
from tapevm.vm.suspension import AWAIT, Suspend
from tapevm.vm.value_codec import ValueEncoder
from tapevm.vm.values import NIL, ErrorValue, Keyword, LMap, Pair, Symbol, make_list

Tool = Callable[..., Any]
Redactor = Callable[[str], str]


# -- Python <-> Lisp values for tools and providers -----------------------------------
def to_lisp(value: Any) -> Any:
    """A tool's Python result as a Lisp value: None -> nil, list -> list, tuple -> vector, dict -> map."""
    if value is None:
        return NIL
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return make_list([to_lisp(v) for v in value])
    if isinstance(value, tuple):
        return tuple(to_lisp(v) for v in value)
    if isinstance(value, dict):
        return LMap((to_lisp(k), to_lisp(v)) for k, v in value.items())
    if isinstance(value, (Pair, LMap, Symbol, Keyword)) or value is NIL:
        return value
    raise TypeError(f"a tool returned a {type(value).__name__}, which is not data")


def to_python(value: Any) -> Any:
    """A Lisp argument as plain Python for a tool: nil -> None, list -> list, vector -> tuple, map -> dict."""
    if value is NIL:
        return None
    if type(value) is Pair:
        items = []
        while type(value) is Pair:
            items.append(to_python(value.car))
            value = value.cdr
        return items
    if type(value) is tuple:
        return tuple(to_python(v) for v in value)
    if type(value) is LMap:
        return {to_python(k): to_python(v) for k, v in value.items()}
    if type(value) is Symbol or type(value) is Keyword:
        return value.name
    return value


def _redact_value(value: Any, fn: Redactor) -> Any:
    t = type(value)
    if t is str:
        return fn(value)
    if t is Pair:
        return make_list([_redact_value(v, fn) for v in to_items(value)])
    if t is tuple:
        return tuple(_redact_value(v, fn) for v in value)
    if t is LMap:
        return LMap((_redact_value(k, fn), _redact_value(v, fn)) for k, v in value.items())
    return value


def to_items(lst: Any) -> list[Any]:
    items = []
    while type(lst) is Pair:
        items.append(lst.car)
        lst = lst.cdr
    return items


# -- live providers ---------------------------------------------------------------------
@dataclass
class EffectProviders:
    """Where live effects come from.  ``llm`` defaults to the one ``TAPE_LLM`` names (lazily); ``tools``
    are those registered in Python, joined on first need by those of the entry points, ``TAPE_TOOLS`` and
    the command line (``infrastructure/tools/loading.py``; a tool registered in Python keeps its name).

    ``secrets`` (by default those the environment configures, read when the providers are made)
    are what the session masks; an HTTP provider shares them, adding its own key and URL credentials.
    """

    llm: LLMProvider | None = None
    tools: dict[str, Tool] = field(default_factory=dict)
    steps: dict[str, Tool] = field(default_factory=dict)  # Session.step's functions, by step name
    stdin: TextIO | None = None
    clock: Callable[[], float] = time.time
    _llm_loaded: bool = False
    _tools_loaded: bool = False
    secrets: Secrets = field(default_factory=lambda: Settings.from_environment().secrets())
    # What ``(list-images)`` reads: the image directory's entries as {name, created, size, description}
    # (the images room's, given with the session's image writer; see time_travel.ImageShelf).
    image_lister: Callable[[], list[dict[str, Any]]] | None = None

    def get_llm(self) -> LLMProvider | None:
        if self.llm is None and not self._llm_loaded:
            self._llm_loaded = True
            self.llm = llm_from_environment(secrets=self.secrets)
        llm = self.llm
        held = getattr(llm, "secrets", None)  # an HTTP provider's (OpenAI, Anthropic) set in Python
        if isinstance(held, Secrets) and held is not self.secrets:
            self.secrets.merge(held)
            setattr(llm, "secrets", self.secrets)  # noqa: B010 - any provider holding secrets, not one class
        return llm

    def all_tools(self) -> dict[str, Tool]:
        """The registered tools and, from the first call on, the ones loaded from outside Python."""
        if not self._tools_loaded:
            for name, fn in default_tools().items():  # (an EffectProviderError: loaded again next time)
                self.tools.setdefault(name, fn)
            self._tools_loaded = True
        return self.tools

    def chat(self, args: tuple[Any, ...]) -> Any:
        """``(chat messages :option value ...)`` with the provider's ``chat``: its whole answer as a Lisp map."""
        llm = self.get_llm()
        if llm is None:
            raise LispError(ErrorValue(EFFECT_UNAVAILABLE, "chat: no language model configured "
                                       "(set TAPE_LLM=script:PATH, echo, openai or anthropic)"))
        chat = getattr(llm, "chat", None)
        if chat is None:
            raise LispError(ErrorValue(EFFECT_UNAVAILABLE, f"chat: the provider {type(llm).__name__} answers "
                                       "ask only (give it a chat(request) method)"))
        offers_tools = Keyword("tools") in args[1::2]  # (a bad TAPE_TOOLS spoils only a chat that needs it)
        return answer_to_lisp(chat(request_from_lisp(args, self.all_tools() if offers_tools else self.tools)))

    def call(self, kind: str, args: tuple[Any, ...]) -> Any:
        """Perform one effect for real; LLMCallFailed/LispError/any tool exception means the effect failed."""
        if kind == NOW:
            return int(self.clock() * 1000)
        if kind == RANDOM:
            n = args[0]
            return int.from_bytes(os.urandom((n.bit_length() + 7) // 8 + 8), "big") % n
        if kind == UUID:
            return str(uuid.uuid4())
        if kind == READ_LINE:
            stream = self.stdin if self.stdin is not None else sys.stdin
            if args and args[0] and stream.isatty():
                sys.stderr.write(args[0])
                sys.stderr.flush()
            try:
                line = stream.readline()
                line.encode("utf-8")  # bytes that are not UTF-8 arrive as lone surrogates, which no event can hold
            except UnicodeError as e:
                raise LispError(ErrorValue(EFFECT_ERROR, f"read-line: the input line is not UTF-8 text "
                                           f"({_undecodable(e)}); give UTF-8 input")) from None
            return NIL if line == "" else line.rstrip("\n").rstrip("\r")
        if kind == ASK:
            llm = self.get_llm()
            if llm is None:
                raise LispError(ErrorValue(EFFECT_UNAVAILABLE, "ask: no language model configured "
                                           "(set TAPE_LLM=script:PATH, echo or openai)"))
            options = {to_python(args[i]): to_python(args[i + 1]) for i in range(1, len(args), 2)}
            return llm.complete(args[0], options)
        if kind == LIST_IMAGES:
            if self.image_lister is None:
                raise LispError(ErrorValue(EFFECT_UNAVAILABLE, "list-images: this session has no image directory "
                                           "(open it with tapevm.open_session)"))
            return make_list(LMap((Keyword(k), v) for k, v in row.items()) for row in self.image_lister())
        if kind == CHAT:
            return self.chat(args)
        if kind == TOOL:
            name = args[0]
            fn = self.tools.get(name) or self.all_tools().get(name)
            if fn is None:
                known = ", ".join(sorted(self.tools)) or "none"
                raise LispError(ErrorValue(EFFECT_UNAVAILABLE, f"tool: no tool named {name!r} (registered: {known})"))
            return to_lisp(call_tool(fn, tuple(to_python(a) for a in args[1:])))
        if kind == STEP:
            step = self.steps.get(args[0])
            if step is None:
                raise LispError(ErrorValue(EFFECT_UNAVAILABLE, f"step: no step function named {args[0]!r} "
                                           "(steps are Python functions a session runs with Session.step)"))
            return step(*args[1:])
        raise LispError(ErrorValue(EFFECT_UNAVAILABLE, f"unknown effect {kind}"))


def _undecodable(error: UnicodeError) -> str:
    """The first offending byte of a line that is not UTF-8, as a reader can find it."""
    if isinstance(error, UnicodeDecodeError):
        return f"byte 0x{error.object[error.start]:02x} at offset {error.start}"
    if isinstance(error, UnicodeEncodeError):
        code = ord(error.object[error.start])
        if 0xDC80 <= code <= 0xDCFF:  # a byte surrogateescape kept: count the line's bytes before it
            offset = len(error.object[:error.start].encode("utf-8", "surrogateescape"))
            return f"byte 0x{code - 0xDC00:02x} at offset {offset}"
        return f"U+{code:04X} at character {error.start}"
    return str(error)


class Answer(NamedTuple):
    """An effect's outcome: a Lisp value, or an error (kind, message)."""

    ok: bool
    value: Any
    error_kind: str | None
    error_message: str | None
    duration_ms: float


class AnswerSource(Protocol):
    def answer(self, form_seq: int, ordinal: int, kind: str, args: tuple[Any, ...], enc_args: list[Any],
               key: str) -> tuple[Answer, bool]:
        """The answer, and whether it must be recorded (False when it is already in the log)."""
        ...


class LiveAnswers:
    """Performs effects with the providers, timing each call."""

    def __init__(self, providers: EffectProviders) -> None:
        self.providers = providers

    def answer(self, form_seq: int, ordinal: int, kind: str, args: tuple[Any, ...], enc_args: list[Any],
               key: str) -> tuple[Answer, bool]:
        start = time.perf_counter()
        try:
            value = self.providers.call(kind, args)
            result = Answer(True, value, None, None, 0.0)
        except LispError as e:
            result = Answer(False, None, e.error.kind, e.error.message, 0.0)
        except LLMCallFailed as e:
            result = Answer(False, None, EFFECT_ERROR, f"{kind}: {e}", 0.0)
        except EffectProviderError as e:  # misconfigured provider: the program sees it like a missing one
            result = Answer(False, None, EFFECT_UNAVAILABLE, f"{kind}: {e}", 0.0)
        except TapeError as e:
            raise EffectAbort(e) from None
        except Exception as e:  # noqa: BLE001 - a failing tool is the program's error, recorded like any result
            result = Answer(False, None, EFFECT_ERROR, f"{kind} {args[0] if kind in (TOOL, STEP) else ''}: "
                            f"{type(e).__name__}: {e}".replace("  ", " "), 0.0)
        return result._replace(duration_ms=round((time.perf_counter() - start) * 1000, 3)), True


class RecordedEffect(NamedTuple):
    requested: EffectRequested
    completed: EffectCompleted


def recorded_effects_of(form_events: list[RecordedEvent]) -> dict[int, RecordedEffect]:
    """One form's recorded effects by ordinal (1, 2, ...): each request with its completion.

    A request the log holds no completion for (the process died while performing it) is left
    out: it was never answered, so it is asked again.  Replay and resuming a form group them alike.
    """
    requests: dict[str, EffectRequested] = {}
    out: dict[int, RecordedEffect] = {}
    for r in form_events:
        e = r.event
        if type(e) is EffectRequested:
            requests[e.key] = e
        elif type(e) is EffectCompleted and e.key in requests:
            out[len(out) + 1] = RecordedEffect(requests[e.key], e)
    return out


class RecordedAnswers:
    """Answers one form's effects from the log: ``effects[ordinal]``, results decoded with ``decode``.

    A request whose kind or arguments differ from the recorded one is a
    divergence (raised past the program's ``try``).  ``fallback`` answers
    effects the log does not have (finishing an interrupted form, or a
    what-if replay from an event on); without it a missing answer diverges.
    """

    def __init__(self, effects: Mapping[int, RecordedEffect], decode: Callable[[Any], Any],
                 fallback: AnswerSource | None = None, record_known: bool = True) -> None:
        self.effects = effects
        self.decode = decode
        self.fallback = fallback
        self.record_known = record_known

    def answer(self, form_seq: int, ordinal: int, kind: str, args: tuple[Any, ...], enc_args: list[Any],
               key: str) -> tuple[Answer, bool]:
        rec = self.effects.get(ordinal)
        if rec is None:
            if self.fallback is not None:
                return self.fallback.answer(form_seq, ordinal, kind, args, enc_args, key)
            raise EffectAbort(ReplayDivergence(
                f"the form of event {form_seq} asks for effect #{ordinal} ({kind}), which the recording does not have "
                "(the program now performs more effects than when it was recorded)"))
        req = rec.requested
        if req.kind != kind or req.args != enc_args:
            raise EffectAbort(EffectArgumentsDiffer(form_seq, ordinal, req.kind, req.args, kind, enc_args))
        c = rec.completed
        value = self.decode(c.result) if c.ok else None
        return Answer(c.ok, value, c.error_kind, c.error_message, c.duration_ms), self.record_known


class EffectArgumentsDiffer(ReplayDivergence):
    """An effect was requested with another kind or other arguments than recorded."""

    def __init__(self, form_seq: int, ordinal: int, kind: str, args: list[Any], new_kind: str,
                 new_args: list[Any]) -> None:
        super().__init__(f"effect #{ordinal} of the form of event {form_seq} was recorded as ({kind} {_short(args)}) "
                         f"but the program now asks ({new_kind} {_short(new_args)})")
        self.form_seq = form_seq
        self.ordinal = ordinal
        self.recorded = (kind, args)
        self.actual = (new_kind, new_args)


def _short(args: list[Any]) -> str:
    text = " ".join(canonical_bytes(a).decode() for a in args)
    return text if len(text) <= 120 else text[:119] + "…"


def payload_size(value: Any) -> int:
    """Bytes of a result as a person counts them: UTF-8 of a text, the printed form otherwise."""
    if type(value) is str:
        return len(value.encode("utf-8"))
    return len(to_source(value).encode("utf-8"))


def effect_key(form_seq: int, ordinal: int, kind: str, enc_args: list[Any]) -> str:
    digest = xxhash.xxh3_64_hexdigest(canonical_bytes([kind, enc_args]))
    return f"{form_seq}.{ordinal}:{digest}"


# -- the port -----------------------------------------------------------------------------
class FormRecorder(Protocol):
    """What the effect port asks of its session: commit the current form's input (once, on its first
    effect), encode values as the form's own, commit an effect's events caused by the form."""

    def commit_form_input(self) -> int: ...
    def form_encoder(self) -> ValueEncoder: ...
    def append_caused(self, events: list[Event], cause: int) -> list[RecordedEvent]: ...


class SessionEffects:
    """The EffectPort of one session (see the module docstring)."""

    def __init__(self, session: FormRecorder, providers: EffectProviders | None = None) -> None:
        self.session = session
        self.providers = providers if providers is not None else EffectProviders()
        self.live: AnswerSource = LiveAnswers(self.providers)
        self.source: AnswerSource = self.live
        self._redactors: list[Redactor] = []
        self._unnamed = 0  # secrets registered with secret() without a name (their names count them)
        self._ordinal = 0

    @property
    def secrets(self) -> Secrets:
        """The secrets masked in every effect's arguments, results and error messages (the providers')."""
        return self.providers.secrets

    def secret(self, value: str, name: str | None = None) -> None:
        """Register ``value`` as a secret, masked as ``[secret NAME]`` (by default ``[secret #N]``, the Nth
        registered without a name); a UsageError for a value shorter than a secret can be."""
        if name is None:
            self._unnamed += 1
            name = f"#{self._unnamed}"
        self.secrets.add(name, value)

    def redact(self, fn: Redactor) -> Redactor:
        """Register ``fn(text) -> text``, applied to every string of effect arguments and results, and to error
        messages, before recording (after the secrets are masked)."""
        self._redactors.append(fn)
        return fn

    def start_form(self) -> None:
        self._ordinal = 0

    @property
    def ordinal(self) -> int:
        """How many effects the current form performed (a suspended form keeps it: infrastructure/durable/)."""
        return self._ordinal

    @ordinal.setter
    def ordinal(self, n: int) -> None:
        self._ordinal = n

    def _masked(self, value: Any) -> Any:
        """``value`` with every string in it masked: the secrets, then the redaction hooks."""
        if self.secrets:
            value = _redact_value(value, self.secrets.mask)
        for fn in self._redactors:
            value = _redact_value(value, fn)
        return value

    def _masked_answer(self, ans: Answer) -> Answer:
        if not (self.secrets or self._redactors):
            return ans
        if ans.ok:
            return ans._replace(value=self._masked(ans.value))
        return ans._replace(error_message=self._masked(ans.error_message))

    def perform(self, kind: str, args: tuple[Any, ...]) -> Any:
        if kind == AWAIT:  # the form suspends: the session stores it (infrastructure/durable/suspension.py)
            raise Suspend(*args)
        session = self.session
        try:
            form_seq = session.commit_form_input()
        except TapeError as e:
            raise EffectAbort(e) from None
        self._ordinal += 1
        ordinal = self._ordinal
        encoder = session.form_encoder()
        try:
            enc_args = [encoder.encode(self._masked(a)) for a in args]
            key = effect_key(form_seq, ordinal, kind, enc_args)
            ans, record = self.source.answer(form_seq, ordinal, kind, args, enc_args, key)
            ans = self._masked_answer(ans)
            if record:
                self._record(form_seq, kind, key, enc_args, ans)
            else:
                encoder.discard()
        except BaseException:
            encoder.discard()
            raise
        if not ans.ok:
            raise LispError(ErrorValue(ans.error_kind or EFFECT_ERROR, ans.error_message or ""))
        return ans.value

    def _record(self, form_seq: int, kind: str, key: str, enc_args: list[Any], ans: Answer) -> None:
        encoder = self.session.form_encoder()
        result = encoder.encode(ans.value) if ans.ok else None
        completed = EffectCompleted(key=key, ok=ans.ok, result=result, error_kind=ans.error_kind,
                                    error_message=ans.error_message,
                                    size=payload_size(ans.value) if ans.ok else 0,
                                    duration_ms=ans.duration_ms)
        events: list[Event] = []
        nodes = encoder.take_new_nodes()
        if nodes:
            events.append(ContentStored(nodes=nodes, blobs=[]))
        events.append(EffectRequested(kind=kind, key=key, args=enc_args))
        events.append(completed)
        try:
            self.session.append_caused(events, form_seq)
        except TapeError as e:
            raise EffectAbort(e) from None
        encoder.commit()
