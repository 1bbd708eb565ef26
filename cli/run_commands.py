"""Commands that run code: ``run``, ``eval``, ``repl``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tapevm.cli.image_commands import image_session_for
from tapevm.cli.options import (
    check_syntax,
    continuation_options,
    limit_options,
    open_writer_for,
    read_program,
    session_option,
    show_outcome,
)
from tapevm.cli.repl import run_repl
from tapevm.cli.tool_options import tool_options
from tapevm.domain.errors import UsageError
from tapevm.infrastructure.images.operations import save_image_from_language
from tapevm.infrastructure.session.run_continuation import committed_forms
from tapevm.infrastructure.session.service import Session
from tapevm.vm.reader import read_forms


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@session_option
@continuation_options
@limit_options
@tool_options
@click.option("--image", "image_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Start a new session from this image, then run FILE in it (named -i, else IMAGE-N: "
                   "the first free one, printed).")
@click.option("--ephemeral", is_flag=True,
              help="With --image: run in a throwaway session that nothing is written to the store for.")
@click.pass_context
def run(ctx: click.Context, file: Path, session_id: str, must_continue: bool, fresh: bool,
        image_file: Path | None, ephemeral: bool) -> None:
    """Run a Lisp FILE in a session, one committed transaction per top-level form.

    Stops at the first form that raises an error (its error is recorded) and exits 1.
    """
    source = read_program(file)
    if image_file is not None and (must_continue or fresh):
        raise UsageError("--image starts a new session: it cannot be combined with -u/--continue or -f/--fresh")
    if ephemeral and image_file is None:
        raise UsageError("--ephemeral runs on a copy of an image: give --image IMAGE")
    check_syntax(source, str(file))
    if image_file is not None:
        with image_session_for(ctx, image_file, session_id, ephemeral) as s:
            _run_source(ctx, s, source, file, 0)
        return
    with open_writer_for(ctx, session_id, must_continue, fresh, image_writer=save_image_from_language) as s:
        skip = 0
        if must_continue:  # run only the forms the session has not committed yet (after an exit or a crash)
            skip = committed_forms(s, str(file), [(ln, col, text) for _, ln, col, text in
                                                  s.interpreter.read_forms(source, str(file))])
            if skip:
                click.echo(f"continuing {file} in session {s.id!r} after {skip} committed forms", err=True)
        _run_source(ctx, s, source, file, skip)


def _run_source(ctx: click.Context, s: Session, source: str, file: Path, skip: int) -> None:
    for outcome in s.run(source, str(file), stop_on_error=True, skip=skip, render_values=False):
        show_outcome(outcome, echo_value=False)
        if not outcome.ok:
            ctx.exit(1)


@click.command("eval")
@click.argument("expr")
@session_option
@continuation_options
@limit_options
@tool_options
@click.pass_context
def eval_(ctx: click.Context, expr: str, session_id: str, must_continue: bool, fresh: bool) -> None:
    """Evaluate EXPR (one or more forms) and print the value of the last one.

    EXPR with no form (empty, blank or only comments) is a usage error that opens no session.
    """
    if not read_forms(expr, "<eval>"):  # a syntax error is refused here too, before a session opens
        raise UsageError("nothing to evaluate: EXPR holds no form (it is empty, blank or only comments)")
    with open_writer_for(ctx, session_id, must_continue, fresh, image_writer=save_image_from_language) as s:
        outcomes = s.run(expr, "<eval>", stop_on_error=True)
        for outcome in outcomes:
            show_outcome(outcome, echo_value=outcome is outcomes[-1])
            if not outcome.ok:
                ctx.exit(1)


@click.command()
@session_option
@continuation_options
@limit_options
@tool_options
@click.pass_context
def repl(ctx: click.Context, session_id: str, must_continue: bool, fresh: bool) -> None:
    """An interactive read-eval-print loop; every form is committed as you go.

    With standard input not a terminal, exits 1 if any form (or line) of the input failed.
    """
    with open_writer_for(ctx, session_id, must_continue, fresh, image_writer=save_image_from_language) as s:
        ok = run_repl(s, show_outcome)
    if not ok and not sys.stdin.isatty():
        ctx.exit(1)
