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

from tapevm.domain.state import State
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.value_codec import ValueDecoder
from tapevm.vm.value_preview import ValuePreview, preview
from tapevm.vm.world import World
from tapevm.vm.world_state import make_decoder


class StatePrinter:
    """Prints encoded values of one state as Lisp source (decoding needs a VM for closures)."""

    def __init__(self, state: State) -> None:
        world = World()
        self.decoder: ValueDecoder = make_decoder(state, world, Interpreter(world))

    def __call__(self, enc: Any) -> str:
        try:
            return to_source(self.decoder.decode(enc))
        except Exception as e:  # a value that cannot be shown must not hide the rest
            return f"#<undecodable {type(e).__name__}>"

    def preview(self, enc: Any, limit: int | None) -> ValuePreview:
        """``enc`` as Lisp source cut at ``limit`` characters (None: whole), with its content key;
        the work is bounded by the limit, not the value."""
        try:
            return preview(self.decoder, enc, limit)
        except Exception as e:  # noqa: BLE001 (as __call__: one undecodable value must not hide the rest)
            return ValuePreview(f"#<undecodable {type(e).__name__}>", False, None)

    def cut_at(self, limit: int) -> Callable[[Any], str]:
        """A ``show(enc) -> str`` that prints a value no further than ``limit`` characters (for a
        caller that shows values cut, such as the audit timeline)."""
        return lambda enc: self.preview(enc, limit).text
