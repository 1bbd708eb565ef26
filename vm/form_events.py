"""Turn what one top-level form did into the domain events that record it.

The VM journals live mutations (:mod:`tapevm.vm.world`); this module encodes
their values against the session's content (so only new nodes and blobs are
carried, in one ContentStored event) and lays out the form's events in the
order the log keeps them::

    FormSubmitted, [ContentStored], mutations and output..., FormEvaluated

The events come out as drafts (``(type, version, fields)``, see
:mod:`tapevm.domain.events`): the record codec encodes them and the session
folds them as they are, so a form of a hundred definitions builds no model
per definition.

``FormEvaluated.printed`` is stored cut to :data:`PRINTED_LIMIT` characters
(:func:`stored_printed`): the value itself is stored by reference in
``result``, and a form whose result is a long list would otherwise store the
whole list as text at every step.
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.content import MAX_SAFE_INT, BlobTable, ContentTable, Piece
from tapevm.domain.errors import ValueCodecError
from tapevm.domain.events import (
    Assigned,
    AtomCreated,
    AtomReset,
    ContentStored,
    Defined,
    Draft,
    Event,
    FactAsserted,
    FactRetracted,
    FileDeleted,
    FileWritten,
    FormEvaluated,
    FormSubmitted,
    NamespaceEntered,
    OutputWritten,
    defined_draft,
    draft_of,
)
from tapevm.domain.state import blob_entry
from tapevm.vm import world as w
from tapevm.vm.value_codec import ValueEncoder
from tapevm.vm.world import DEFINE, OUTPUT, Mutation

PRINTED_LIMIT = 200  # characters of a result's text kept in FormEvaluated.printed
PIECE_MIN = 1024  # a file version that extends one of at least this many bytes is stored as what it appends


def stored_printed(text: str) -> str:
    """``text`` as FormEvaluated stores it: the first PRINTED_LIMIT characters and ``...`` if longer
    (the same marker as ``to_source(value, limit)``)."""
    if len(text) <= PRINTED_LIMIT:
        return text
    return text[:PRINTED_LIMIT] + "..."


class FormEventBuilder:
    """Encodes one form's mutations; ``commit``/``discard`` follow the store's verdict."""

    def __init__(self, nodes: ContentTable, blobs: BlobTable) -> None:
        self.encoder = ValueEncoder(nodes)
        self.blobs = blobs
        self._pending_blobs: dict[str, bytes] = {}
        self._pending_pieces: dict[str, Piece] = {}
        self._new_blobs: list[list[Any]] = []

    def blob_key(self, data: bytes, old: bytes | None = None) -> str:
        """The key of ``data``, stored (in this form's ContentStored) if new: as the bytes it appends
        to ``old`` (the file's previous content) when it extends it, else whole."""
        key, stored = self._stored_key(data)
        if not stored:
            self._pending_blobs[key] = data
            prefix = self._extended_key(data, old)
            entry: bytes | Piece = data
            if prefix is not None:
                entry = self._pending_pieces[key] = Piece(prefix, data[len(old or b""):])
            self._new_blobs.append(blob_entry(key, entry))
        return key

    def _stored_key(self, data: bytes) -> tuple[str, bool]:
        """The key ``data`` has (in the session's blobs, or written earlier in this form) or would get,
        and whether it is stored already."""
        key, new = self.blobs.key_for(data)
        if not new:
            return key, True
        while key in self._pending_blobs:
            if self._pending_blobs[key] == data:
                return key, True
            key += "+"
        return key, False

    def _extended_key(self, data: bytes, old: bytes | None) -> str | None:
        """The key ``old`` is stored under, when ``data`` appends to it and storing a piece pays."""
        if old is None or len(old) < PIECE_MIN or len(data) <= len(old) or not data.startswith(old):
            return None
        key, stored = self._stored_key(old)
        return key if stored else None

    def mutation_event(self, m: Mutation) -> Event:
        enc = self.encoder.encode
        kind, args = m.kind, m.args
        if kind == w.DEFINE:
            return Defined(ns=args[0], name=args[1], value=enc(args[2]))
        if kind == w.ASSIGN:
            return Assigned(ns=args[0], name=args[1], value=enc(args[2]))
        if kind == w.ENTER_NS:
            return NamespaceEntered(ns=args[0])
        if kind == w.ATOM_CREATE:
            return AtomCreated(atom=args[0], value=enc(args[1]))
        if kind == w.ATOM_RESET:
            return AtomReset(atom=args[0], value=enc(args[1]))
        if kind == w.FACT_ASSERT:
            return FactAsserted(fact=enc(args[0]))
        if kind == w.FACT_RETRACT:
            return FactRetracted(fact=enc(args[0]))
        if kind == w.FILE_WRITE:
            data: bytes = args[1]
            return FileWritten(path=args[0], content=self.blob_key(data, args[2]), size=len(data))
        if kind == w.FILE_DELETE:
            return FileDeleted(path=args[0])
        if kind == w.OUTPUT:
            return OutputWritten(text=args[0])
        raise ValueError(f"unknown mutation kind {kind!r}")

    def build(
        self,
        submitted: FormSubmitted,
        mutations: list[Mutation],
        outcome: FormEvaluated,
        result: Any = None,
        has_result: bool = False,
    ) -> list[Draft]:
        """All events of the form as drafts, in log order (content first, so it precedes its users).

        Definitions, the bulk of most forms, become drafts directly
        (:func:`defined_draft`); the few other events of a form are validated
        models first (:func:`draft_of`).  Nothing here builds a model per definition.
        """
        body: list[Draft] = []
        text: list[str] = []
        encode = self.encoder.encode
        for m in mutations:
            kind, args = m
            if kind == OUTPUT:
                text.append(args[0])  # adjacent prints become one OutputWritten
                continue
            if text:
                body.append(draft_of(OutputWritten(text="".join(text))))
                text = []
            if kind == DEFINE:  # the commonest mutation by far: built here, without a dispatch
                value = args[2]
                if type(value) is not int or not -MAX_SAFE_INT < value < MAX_SAFE_INT:
                    value = encode(value)  # (a small integer is its own encoding)
                body.append(defined_draft(args[0], args[1], value))
            else:
                body.append(draft_of(self.mutation_event(m)))
        if text:
            body.append(draft_of(OutputWritten(text="".join(text))))
        if has_result:
            try:
                outcome = outcome.model_copy(update={"result": self.encoder.encode(result)})
            except ValueCodecError:
                pass  # a value that cannot be stored is still shown by ``printed``
        events: list[Draft] = [draft_of(submitted)]
        nodes = self.encoder.take_new_nodes()
        if nodes or self._new_blobs:
            events.append(draft_of(ContentStored(nodes=nodes, blobs=self._new_blobs)))
            self._new_blobs = []
        events.extend(body)
        events.append(draft_of(outcome))
        return events

    def commit(self) -> None:
        self.encoder.commit()
        pieces = self._pending_pieces
        for key, data in self._pending_blobs.items():
            piece = pieces.get(key)
            if piece is None:
                self.blobs.add(key, data)
            else:
                self.blobs.add_piece(key, *piece)
        self._reset_blobs()

    def discard(self) -> None:
        self.encoder.discard()
        self._reset_blobs()

    def _reset_blobs(self) -> None:
        self._pending_blobs = {}
        self._pending_pieces = {}
        self._new_blobs = []
