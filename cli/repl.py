"""The interactive loop: line editing and history via prompt_toolkit, multi-line forms.

A form spanning several lines is read until it is complete (the reader marks
an open list or string as ``incomplete``); with standard input not a terminal the same loop
reads plain lines, so ``echo '(+ 1 2)' | tape repl`` works.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tapevm.domain.errors import TapeError
from tapevm.infrastructure.session import FormOutcome, Session
from tapevm.infrastructure.store_factory import tape_home
from tapevm.vm.errors import ReadError

ReadLine = Callable[[str], "str | None"]  # prompt -> line, or None at end of input
CANCEL = "\x03"


def _terminal_reader() -> ReadLine:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history_file = tape_home() / "repl_history"
    history_file.parent.mkdir(parents=True, exist_ok=True)
    prompt: PromptSession[str] = PromptSession(history=FileHistory(str(history_file)))

    def read(label: str) -> str | None:
        try:
            return prompt.prompt(label)
        except EOFError:
            return None
        except KeyboardInterrupt:
            return CANCEL

    return read


def _pipe_reader(label: str) -> str | None:
    line = sys.stdin.readline()
    return line.rstrip("\n") if line else None


def _incomplete(session: Session, source: str) -> bool:
    """True when ``source`` is a prefix of a form (keep reading); other syntax errors are reported."""
    try:
        session.interpreter.read_forms(source, "<repl>")
    except ReadError as e:
        if e.incomplete:
            return True
        raise
    return False


def run_repl(session: Session, show: Callable[[FormOutcome, bool], None]) -> None:
    read = _terminal_reader() if sys.stdin.isatty() else _pipe_reader
    buffer: list[str] = []
    while True:
        label = "...  " if buffer else f"{session.id}:{session.world.current_ns}> "
        line = read(label)
        if line is None:
            break
        if line == CANCEL:
            buffer = []
            continue
        buffer.append(line)
        source = "\n".join(buffer)
        if not source.strip():
            buffer = []
            continue
        try:
            if _incomplete(session, source):
                continue
            for outcome in session.run(source, "<repl>"):
                show(outcome, True)
        except TapeError as e:
            print(f"error: {e}", file=sys.stderr)
        buffer = []
    if buffer and "".join(buffer).strip():
        print("error: incomplete form at end of input (missing ')'?)", file=sys.stderr)
