"""The interactive loop: line editing and history via prompt_toolkit, multi-line forms.

A form spanning several lines is read until it is complete (the reader marks
an open list or string as ``incomplete``); with standard input not a terminal the same loop
reads plain lines, so ``echo '(+ 1 2)' | tape repl`` works.  Every form is recorded with the
line of the input it starts on (``<repl>:7``).  A line that is not UTF-8 is
reported (one line) and skipped; :func:`run_repl` says whether any input failed, so piped
input that failed exits non-zero.

A line that is one ``:word`` where a form would begin is a REPL command (``COMMANDS``), never
evaluated or recorded: ``:help``, ``:quit``, ``:session``, ``:state``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import click

from tapevm.cli import render
from tapevm.cli.options import out
from tapevm.domain.errors import TapeError
from tapevm.infrastructure.session.service import FormOutcome, Session
from tapevm.infrastructure.stores.factory import tape_home
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


COMMANDS = {
    ":help": "list these commands",
    ":quit": "leave the REPL (so does the end of input, Ctrl-D)",
    ":session": "the session's name, head event and current namespace",
    ":state": "the session's bindings, atoms, facts and files (as 'tape state' shows them)",
}


def _command(session: Session, line: str) -> bool | None:
    """Run the REPL command ``line``: False for :quit, True when done, None when it is unknown."""
    if line == ":quit":
        return False
    if line == ":help":
        click.echo("REPL commands (a form is evaluated and recorded; these are not):")
        for name, what in COMMANDS.items():
            click.echo(f"  {name:<9} {what}")
    elif line == ":session":
        click.echo(f"session {session.id}: {session.head} events, namespace {session.world.current_ns}")
    elif line == ":state":
        for text in render.state_text(session.state, out):
            click.echo(text, nl=False, color=out.is_terminal)
    else:
        return None
    return True


def _is_command(buffer: list[str], line: str) -> bool:
    word = line.strip()
    return not buffer and word.startswith(":") and len(word) > 1 and word[1:].replace("-", "").isalpha()


def _run(session: Session, source: str, first: int) -> Iterator[FormOutcome]:
    """Run the forms of ``source``, read from input line ``first`` on, each recorded at its own line."""
    if session.unfinished is not None:
        session.run(source, "<repl>")  # refused, saying how to finish the interrupted form
    for form, line, column, text in session.interpreter.read_forms(source, "<repl>"):
        yield session.run_form(form, first - 1 + line, column, text, "<repl>")


def run_repl(session: Session, show: Callable[[FormOutcome, bool], None]) -> bool:
    """Read, evaluate and print until the end of input; True when every form (and line) was good."""
    if sys.stdin.isatty():
        read = _terminal_reader()
    else:
        if hasattr(sys.stdin, "reconfigure"):  # bytes that are not UTF-8 arrive as surrogates, not an exception
            sys.stdin.reconfigure(errors="surrogateescape")
        read = _pipe_reader
    buffer: list[str] = []
    ok = True
    lines = first = 0  # lines read; the line the buffered form starts on
    while True:
        label = "...  " if buffer else f"{session.id}:{session.world.current_ns}> "
        line = read(label)
        if line is None:
            break
        lines += 1
        if line == CANCEL:
            buffer = []
            continue
        if _is_command(buffer, line):
            done = _command(session, line.strip())
            if done is None:
                print(f"error: unknown REPL command {line.strip()} (:help lists them)", file=sys.stderr)
                ok = False
            elif not done:
                break
            continue
        if render.not_utf8(line):
            print("error: input is not valid UTF-8: line skipped (the form it was in is dropped)", file=sys.stderr)
            buffer, ok = [], False
            continue
        if not buffer:
            first = lines
        buffer.append(line)
        source = "\n".join(buffer)
        if not source.strip():
            buffer = []
            continue
        try:
            if _incomplete(session, source):
                continue
            for outcome in _run(session, source, first):
                show(outcome, True)
                ok = ok and outcome.ok
        except TapeError as e:
            print(f"error: {session.effects.secrets.mask(str(e))}", file=sys.stderr)
            ok = False
        buffer = []
    if buffer and "".join(buffer).strip():
        print("error: incomplete form at end of input (missing ')'?)", file=sys.stderr)
        ok = False
    return ok
