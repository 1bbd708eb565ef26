"""Encoded values of one state, shown as Lisp source.

The log holds values as encodings (``["@", key]`` for compound values);
showing one needs the state's content table and, for closures, a VM to
recompile them.  ``tape log``, ``audit``, ``blame`` and ``Store.audit`` print
values through a :class:`StatePrinter`: whole (``printer(enc)``), or as far as a limit
(``printer.preview(enc, limit)``, which reads only the nodes the text shows: see
:mod:`tapevm.vm.value_preview`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapevm.domain.state import State, split_fact
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.value_codec import ValueDecoder
from tapevm.vm.value_preview import ValuePreview, preview
from tapevm.vm.world import World
from tapevm.vm.world_state import make_decoder

EVIDENCE_MARK = "; evidence: "  # between a fact and its evidence, where a fact entry is shown as one text


class StatePrinter:
    """Prints encoded values of one state as Lisp source (decoding needs a VM for closures)."""

    def __init__(self, state: State) -> None:
        world = World()
        self.decoder: ValueDecoder = make_decoder(state, world, Interpreter(world))

    def __call__(self, enc: Any) -> str:
        """``enc`` as Lisp source; a fact entry with evidence (``State.facts``) as
        ``FACT ; evidence: EVIDENCE``."""
        fact, evidence = split_fact(enc)
        try:
            text = to_source(self.decoder.decode(fact))
            return text if evidence is None else f"{text} {EVIDENCE_MARK}{to_source(self.decoder.decode(evidence))}"
        except Exception as e:  # a value that cannot be shown must not hide the rest
            return f"#<undecodable {type(e).__name__}>"

    def preview(self, enc: Any, limit: int | None) -> ValuePreview:
        """``enc`` as Lisp source cut at ``limit`` characters (None: whole), with its content key;
        the work is bounded by the limit, not the value (a fact entry with evidence: shown whole)."""
        if split_fact(enc)[1] is not None:
            text = self(enc)
            cut = limit is not None and len(text) > limit
            return ValuePreview(text[:limit] + "..." if cut else text, cut, None)
        try:
            return preview(self.decoder, enc, limit)
        except Exception as e:  # noqa: BLE001 (as __call__: one undecodable value must not hide the rest)
            return ValuePreview(f"#<undecodable {type(e).__name__}>", False, None)

    def cut_at(self, limit: int) -> Callable[[Any], str]:
        """A ``show(enc) -> str`` that prints a value no further than ``limit`` characters (for a
        caller that shows values cut, such as the audit timeline)."""
        return lambda enc: self.preview(enc, limit).text
