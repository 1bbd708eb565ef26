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
(the session prints it with ``to_source(value, PRINTED_LIMIT)``, which reads no
further than the limit): the value itself is stored by reference in
``result``, and a form whose result is a long list would otherwise store the
whole list as text at every step.
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.content import (
    MAX_SAFE_INT,
    TEXT_NODE_MIN,
    BlobTable,
    ContentTable,
    Edit,
    Piece,
    ZstdPatch,
    make_zstd_patch,
)
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
PIECE_MIN = 1024  # a file version that edits one of at least this many bytes is stored as the edit
# Assembling a version copies the whole file once per splice or zstd patch under it: a version is stored
# whole instead when it would sit on EDIT_DEPTH of them, or on ones copying EDIT_COPY_LIMIT bytes.
EDIT_DEPTH = 1024
EDIT_COPY_LIMIT = 32 << 20
EDIT_OVERHEAD = 64  # bytes an edit entry costs beyond its data (keys, counts)
SPLICE_SMALL = 256  # a splice whose middle is at most this is kept without trying a zstd patch


def changed_region(old: bytes, new: bytes) -> tuple[int, int]:
    """How many bytes ``new`` keeps of the head and of the tail of ``old`` (``head + tail`` at most
    the shorter length), cut back to UTF-8 character boundaries of ``new`` so a text file's
    changed middle stays readable text in the log."""
    head = _common_prefix(old, new)
    limit = min(len(old), len(new)) - head
    tail = _common_prefix(old[len(old) - limit:][::-1], new[len(new) - limit:][::-1]) if limit else 0
    while 0 < head < len(new) and new[head] & 0xC0 == 0x80:  # a continuation byte: mid-character
        head -= 1
    while tail and new[len(new) - tail] & 0xC0 == 0x80:
        tail -= 1
    return head, tail


def _common_prefix(a: bytes, b: bytes) -> int:
    """The length of the longest common prefix: blocks of doubling size compared in C, then a
    binary search inside the first block that differs (O(n) bytes, O(log n) Python steps)."""
    n = min(len(a), len(b))
    lo, step = 0, 256
    while lo < n:
        hi = min(n, lo + step)
        if a[lo:hi] != b[lo:hi]:
            while hi - lo > 1:  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
                mid = (lo + hi) // 2
                if a[lo:mid] == b[lo:mid]:
                    lo = mid
                else:
                    hi = mid
            return lo
        lo, step = hi, step * 2
    return n


class FormEventBuilder:
    """Encodes one form's mutations; ``commit``/``discard`` follow the store's verdict."""

    def __init__(self, nodes: ContentTable, blobs: BlobTable, text_min: int = TEXT_NODE_MIN) -> None:
        """``text_min``: the session's TEXT node threshold (``vm/version.text_node_min``)."""
        self.encoder = ValueEncoder(nodes, text_min=text_min)
        self.blobs = blobs
        self._pending_blobs: dict[str, bytes] = {}
        self._pending_edits: dict[str, Edit] = {}
        self._new_blobs: list[list[Any]] = []

    def blob_key(self, data: bytes, old: bytes | None = None) -> str:
        """The key of ``data``, stored (in this form's ContentStored) if new: as an edit of ``old``
        (the file's previous content) when that pays (:meth:`_edit`), else whole."""
        key, stored = self._stored_key(data)
        if not stored:
            self._pending_blobs[key] = data
            edit = self._edit(data, old)
            entry: bytes | Edit = data
            if edit is not None:
                entry = self._pending_edits[key] = edit
            self._new_blobs.append(blob_entry(key, entry))
        return key

    def take_new_blobs(self) -> list[list[Any]]:
        """The blob entries :meth:`blob_key` made since the last call, for a ContentStored (they
        stay pending until :meth:`commit`)."""
        blobs, self._new_blobs = self._new_blobs, []
        return blobs

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

    def _edit(self, data: bytes, old: bytes | None) -> Edit | None:
        """``data`` as an edit of ``old``, when the file is large enough, the edit small enough (under
        half the version) and the chain under ``old`` short enough (:data:`EDIT_DEPTH`,
        :data:`EDIT_COPY_LIMIT`): an append when it extends ``old``; else a splice of the one
        region that changed, or a zstd patch (:func:`~tapevm.domain.content.make_zstd_patch`) when
        that is smaller (changes far apart)."""
        if old is None or len(old) < PIECE_MIN:
            return None
        prefix, stored = self._stored_key(old)
        if not stored:
            return None
        if len(data) > len(old) and data.startswith(old):
            return Piece(prefix, data[len(old):])
        budget = len(data) // 2 - EDIT_OVERHEAD
        depth = self.blobs.copies_under(prefix, self._pending_edits)
        if depth >= EDIT_DEPTH or (depth + 1) * len(data) > EDIT_COPY_LIMIT:
            return None
        head, tail = changed_region(old, data)
        middle = data[head:len(data) - tail]
        edit: Edit | None = Piece(prefix, middle, head, tail) if len(middle) <= budget else None
        if len(middle) > SPLICE_SMALL:  # the changes may be apart: is a zstd patch smaller?
            patch = make_zstd_patch(old, data)
            if patch is not None and len(patch) * 4 // 3 < min(len(middle), budget + 1):  # (stored as base64)
                edit = ZstdPatch(prefix, patch)
        return edit

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
            return FactAsserted(fact=enc(args[0]), evidence=None if args[1] is None else enc(args[1]))
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
        nodes, blobs = self.encoder.take_new_nodes(), self.take_new_blobs()
        if nodes or blobs:
            events.append(draft_of(ContentStored(nodes=nodes, blobs=blobs)))
        events.extend(body)
        events.append(draft_of(outcome))
        return events

    def commit(self) -> None:
        self.encoder.commit()
        edits = self._pending_edits
        for key, data in self._pending_blobs.items():
            self.blobs.add(key, edits.get(key, data))
        self._reset_blobs()

    def discard(self) -> None:
        self.encoder.discard()
        self._reset_blobs()

    def _reset_blobs(self) -> None:
        self._pending_blobs = {}
        self._pending_edits = {}
        self._new_blobs = []
