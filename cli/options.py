"""Options and helpers shared by the ``tape`` commands."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click
import orjson
from rich.console import Console
from rich.text import Text

from tapevm.domain.addresses import refuse_hidden_characters, validate_session_id
from tapevm.domain.errors import UsageError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.config import Settings, parse_limit
from tapevm.infrastructure.session.service import (
    FormOutcome,
    ImageWriter,
    Session,
    open_session,
)
from tapevm.infrastructure.stores.factory import open_store
from tapevm.vm.limits import LIMIT_NAMES, FormLimits, flag_of
from tapevm.vm.reader import read_forms

F = TypeVar("F", bound=Callable[..., Any])

# Never markup: what is printed holds user text (names, descriptions, values, error messages), and
# "[/x]" in a snapshot name made rich raise MarkupError; colours go through Text styles instead.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


MAX_EVENT = 2**63 - 1  # the largest event number a store can hold (SQLite's and PostgreSQL's 64-bit integers)
EVENT_NUMBER = click.IntRange(0, MAX_EVENT)
EVENT_NUMBER_1 = click.IntRange(1, MAX_EVENT)  # event 1 and later
MAX_COUNT = 1_000_000_000  # the most a count option (--batch, --interval) may ask for


class Seconds(click.FloatRange):
    """A finite number of seconds in (0, ``maximum``], or [``minimum``, ``maximum``]: ``inf``, ``nan`` and 0 are refused."""

    name = "seconds"

    def __init__(self, maximum: float, minimum: float = 0.0) -> None:
        super().__init__(minimum, maximum, min_open=minimum == 0)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = click.FloatRange.convert(self, value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return rv


class SessionId(click.ParamType[str, Any]):
    """A session id (or address ``ID@N``): any non-empty text."""

    name = "id"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not str(value).strip():
            self.fail("a session id cannot be empty", param, ctx)
        refuse_hidden_characters(str(value))  # (also for commands that read a session without opening it)
        return value


SESSION_ID = SessionId()


class NewSessionId(SessionId):
    """The id of a session a command creates, checked before any store is opened."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return validate_session_id(super().convert(value, param, ctx))


NEW_SESSION_ID = NewSessionId()


def session_option(f: F) -> F:
    return click.option("-i", "--session", "session_id", type=SESSION_ID, default="default", show_default=True,
                        metavar="ID", help="Session id.")(f)


def continuation_options(f: F) -> F:
    """``-u/--continue`` (the session must exist) and ``-f/--fresh`` (start anew, keeping the old one)."""
    f = click.option("-f", "--fresh", is_flag=True,
                     help="Start a new session even if ID exists; the old one is kept under a free name (ID.1, ...).")(f)
    return click.option("-u", "--continue", "must_continue", is_flag=True,
                        help="Continue session ID (fail if it does not exist); with run, only the forms of FILE not committed yet run.")(f)


_LIMIT_HELP = {
    "steps": "function calls", "time": "seconds of evaluation", "output": "bytes printed",
    "effects": "effects performed (each is a commit)", "journal": "changes and outputs held in memory",
}


def _keep_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        assert param.name is not None
        name = param.name.removeprefix("max_")
        ctx.meta.setdefault("tape_limits", {})[f"max_{name}"] = parse_limit(name, value, flag_of(name))


def limit_options(f: F) -> F:
    """``--max-steps``, ``--max-time``, ``--max-output``, ``--max-effects``, ``--max-journal``: what each form
    of this command may use (over ``TAPE_MAX_*`` and the defaults; 0: no limit).  Kept in ``ctx.meta``
    for :func:`runs_forms`."""
    for name in reversed(LIMIT_NAMES):
        f = click.option(flag_of(name), f"max_{name}", metavar="SECONDS" if name == "time" else "N",
                         expose_value=False, callback=_keep_limit,
                         help=f"Stop a form past this many {_LIMIT_HELP[name]} (limit-exceeded; 0: no limit).")(f)
    return f


def _echo(text: str) -> None:
    try:
        click.echo(text, nl=False)
    except BrokenPipeError:  # the reader went away (tape eval ... | head): the form goes on, its output recorded
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def runs_forms(ctx: click.Context, session: Session) -> Session:
    """``session`` as a command that runs forms uses it: its forms' output streamed to the terminal as it
    is printed, under the limits of the command's options (over ``TAPE_MAX_*`` and the defaults)."""
    session.echo = _echo
    limits = limits_given(ctx)
    if limits is not None:
        session.limits = limits
    return session


def limits_given(ctx: click.Context) -> FormLimits | None:
    """The limits this command's ``--max-*`` options give, over ``TAPE_MAX_*`` and the defaults (None: no option)."""
    given = ctx.meta.get("tape_limits")
    return Settings.from_environment().form_limits().with_values(**given) if given else None


def check_syntax(source: str, file: str) -> None:
    """Refuse source with a syntax error (ReadError, exit 2) before a session is opened: otherwise
    ``-f`` would have set the old session aside, ``--image`` loaded the image, or a new id been
    created, all for a command that is then refused."""
    read_forms(source, file)


def open_writer_for(ctx: click.Context, session_id: str, must_continue: bool, fresh: bool,
                    image_writer: ImageWriter | None = None) -> Session:
    """The session a run/eval/repl writes to, honouring -u and -f (and saying where -f kept the old one)."""
    if must_continue and fresh:
        raise UsageError("-u/--continue and -f/--fresh cannot be used together")
    s = runs_forms(ctx, open_session_for(ctx, session_id, create=not must_continue, writable=True, fresh=fresh,
                                         image_writer=image_writer))
    if s.kept_as:
        err.print(f"kept the previous session {session_id!r} as {s.kept_as!r}")
    return s


MAX_PROGRAM_BYTES = 64 * 1024 * 1024  # read from a pipe or device, which could be endless (/dev/zero)


def read_program(file: Path) -> str:
    """The text of a Lisp program; a UsageError when it is missing, too large from a pipe, or not UTF-8.

    ``-`` is standard input.  A pipe (``tape run <(generate)``) or a device is read up to
    ``MAX_PROGRAM_BYTES``: it could be endless.  A leading UTF-8 byte order mark (which some
    editors write) is dropped: read as a symbol, it failed the first form as an unbound symbol
    that prints as nothing.
    """
    name = "standard input" if str(file) == "-" else str(file)
    try:
        if str(file) == "-":
            data = _read_capped(sys.stdin.buffer, name)
        elif file.exists() and not file.is_file():
            with file.open("rb") as stream:
                data = _read_capped(stream, name)
        else:
            data = file.read_bytes()
        return data.decode("utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"no such file: {file}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"cannot read {name}: it is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
                         f"{e.start}); convert it to UTF-8") from None
    except OSError as e:
        raise UsageError(f"cannot read {name}: {e}") from None


def _read_capped(stream: BinaryIO, name: str) -> bytes:
    data = stream.read(MAX_PROGRAM_BYTES + 1)
    if len(data) > MAX_PROGRAM_BYTES:
        raise UsageError(f"{name} holds more than {MAX_PROGRAM_BYTES // 2**20} MiB: give a Lisp program, "
                         "or a regular file for a larger one")
    return data


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(f)


def store_location(ctx: click.Context) -> str | None:
    return ctx.obj.get("store") if ctx.obj else None


def open_session_for(ctx: click.Context, session_id: str, create: bool = True, writable: bool | None = None,
                     fresh: bool = False, image_writer: ImageWriter | None = None) -> Session:
    """The session named on the command line, in the store the global options name.

    Readers (``create=False`` unless told otherwise) take no writer lease.  Commands that run forms
    give the ``image_writer`` their ``(save-image ...)`` needs (the images room's).
    """
    return open_session(session_id, store_location(ctx), create=create, durability=ctx.obj.get("durability"),
                        writable=create if writable is None else writable, fresh=fresh,
                        image_writer=image_writer)


def open_store_for(ctx: click.Context, create: bool = False) -> EventStore:
    """The store the global options name; only commands that write pass ``create=True``."""
    return open_store(store_location(ctx), durability=ctx.obj.get("durability"), create=create)


# Characters str.splitlines() (and other line splitters) break a line at that JSON leaves unescaped
# in strings: NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR (control characters are escaped by orjson).
_LINE_BREAKS_JSON_KEEPS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def json_text(data: Any, *, indent: bool = False) -> str:
    """``data`` as JSON text that no line splitter breaks inside a string: every JSON output goes through here.

    Valid JSON may hold U+0085, U+2028 and U+2029 unescaped, but ``str.splitlines()`` splits a
    ``tape log --json`` line there, leaving two halves that are not JSON.  Escaped as ``\\uXXXX``
    they decode to the same text.  (They can only occur inside strings: JSON outside them is ASCII.)
    """
    text = orjson.dumps(data, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    if "\u2028" in text or "\u2029" in text or "\x85" in text:
        text = text.translate(_LINE_BREAKS_JSON_KEEPS)
    return text


def print_json(data: Any) -> None:
    """One JSON document, indented."""
    click.echo(json_text(data, indent=True))


def page(ctx: click.Context, chunks: Iterable[str]) -> None:
    """Show text that may run long: through the pager on a terminal (``less`` as ``LESS=FRX`` unless
    ``LESS`` is set: quit if it fits one screen, keep colours, leave it on the screen), printed as it
    comes otherwise or with ``tape --no-pager``.  Styled only when :func:`render.colored` says so."""
    color = out.is_terminal and not out.no_color
    if out.is_terminal and not (ctx.obj and ctx.obj.get("no_pager")):
        os.environ.setdefault("LESS", "FRX")  # (read by the pager click starts; not tapevm configuration)
        click.echo_via_pager(chunks, color=color)
        return
    for text in chunks:
        click.echo(text, nl=False, color=color)


def print_json_line(data: Any) -> None:
    """One JSON document on one line (the JSON-lines outputs: ``log --json``, ``audit --json``)."""
    click.echo(json_text(data))


def show_outcome(outcome: FormOutcome, echo_value: bool) -> None:
    """A form's value (or its error, on stderr); its output was streamed as it was printed (runs_forms)."""
    if not outcome.ok:
        err.print(Text.assemble(("error", "red"), f" (event {outcome.last_seq}): {outcome.error_kind}: "
                                f"{outcome.error_message}"))
    elif echo_value:
        click.echo(outcome.printed)
