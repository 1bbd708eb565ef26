"""The ``tape`` command: a thin layer over the Python API.

Every command is one call into the library plus rendering.  Errors are one
line on stderr and a non-zero exit (2 for usage, 1 otherwise); ``--debug``
shows the traceback instead.  Every error line is masked first (``masked``):
the secrets the environment configures and the ``--store`` URL's password
never reach the terminal, whatever error text carried them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import click
from rich.text import Text

from tapevm.cli import render
from tapevm.cli.options import err
from tapevm.domain.errors import TapeError, UsageError
from tapevm.infrastructure import logs
from tapevm.infrastructure.config import ENV_DURABILITY, ENV_STORE, Settings, tape_variables

NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d*)?")


def configure_logging(debug: bool, log_format: str = "text") -> None:
    """Warnings and up as key=value lines on stderr, or JSON lines under ``TAPE_LOG_FORMAT=json`` (with
    --debug: everything, configured at once)."""
    logs.configure(logging.DEBUG if debug else logging.WARNING, sort_keys=False, force=debug,
                   json=log_format == "json")


# Each command, by name, and where it lives (module, function): a module is imported only when one
# of its commands runs, so ``tape eval`` does not pay for the imports of ``tape follow`` or ``tape image``.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run_commands", "run"), "eval": ("run_commands", "eval_"), "repl": ("run_commands", "repl"),
    "log": ("inspect_commands", "log_"), "state": ("inspect_commands", "state"),
    "sessions": ("inspect_commands", "sessions"), "info": ("inspect_commands", "info"),
    # sessions: branches (issue 4)
    "fork": ("branch_commands", "fork"), "clone": ("branch_commands", "clone"), "diff": ("branch_commands", "diff"),
    "merge": ("branch_commands", "merge"), "take": ("branch_commands", "take"),
    "export": ("branch_commands", "export"),
    "sql": ("housekeeping_commands", "sql"), "gc": ("housekeeping_commands", "gc"),
    "follow": ("follow_commands", "follow_"),
    # recorded effects, replay, integrity, provenance (issue 5)
    "replay": ("replay_commands", "replay_"), "resume": ("replay_commands", "resume"),
    "verify": ("integrity_commands", "verify"), "audit": ("provenance_commands", "audit_"),
    "blame": ("provenance_commands", "blame"), "world": ("provenance_commands", "world"),
    # time travel (issue 3)
    "snapshot": ("time_travel_commands", "snapshot"), "snapshots": ("time_travel_commands", "snapshots"),
    "restore": ("time_travel_commands", "restore"), "delta": ("time_travel_commands", "delta"),
    "checkpoints": ("checkpoint_commands", "checkpoints"), "image": ("image_commands", "image"),
    "delete": ("lifecycle_commands", "delete"),
    "deleted": ("lifecycle_commands", "deleted"),
    "archive": ("lifecycle_commands", "archive"),
    "ui": ("ui_commands", "ui"),  # the web time machine (the optional ui extra)
    "pending": ("durable_commands", "pending"), "answer": ("durable_commands", "answer"),  # await (durable forms)
    "mcp": ("mcp_commands", "mcp"),  # serving a session to MCP clients (the mcp extra)
}


class TapeGroup(click.Group):
    """Turns every TapeError (and any unexpected error) into one line and an exit code; loads each
    command's module on first use (``COMMANDS``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        import importlib

        module, attr = where
        command: click.Command = getattr(importlib.import_module(f"tapevm.cli.{module}"), attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TapeError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            err.print(Text.assemble(("error:", "red"), f" {masked(str(e), ctx)}"))
            ctx.exit(e.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            ctx.exit(130)
        except BrokenPipeError:
            # The reader went away (``tape log | head``): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except Exception as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            err.print(f"internal error: {type(e).__name__}: {masked(str(e), ctx)} (run with --debug for a traceback)")
            ctx.exit(1)


@click.group(cls=TapeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", envvar=ENV_STORE, metavar="PATH|URL",
              help="Event store: a SQLite file or postgresql://... URL [env TAPE_STORE; default $TAPE_HOME/store.db].")
@click.option("--durability", type=click.Choice(["full", "fast"]), envvar=ENV_DURABILITY, default="full",
              show_default=True,
              help="SQLite commit durability: 'full' survives power loss; 'fast' may lose the last commits "
                   "on power loss (never corrupts) [env TAPE_DURABILITY].")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--no-pager", is_flag=True, help="Print long output (log, audit) instead of paging it on a terminal.")
@click.version_option(package_name="tapevm", prog_name="tape")
@click.pass_context
def cli(ctx: click.Context, store: str | None, durability: str, debug: bool, no_pager: bool) -> None:
    """tapevm: an event-sourced Lisp VM. Every change is an event; state is a projection of the log."""
    settings = Settings.from_environment()
    configure_logging(debug, settings.log_format_name())
    settings.checkpoint_interval_events()  # a bad TAPE_CHECKPOINT_INTERVAL: refused before anything is opened
    settings.secrets()  # a bad TAPE_SECRETS too
    ctx.ensure_object(dict)
    ctx.obj["store"] = store
    ctx.obj["durability"] = durability
    ctx.obj["debug"] = debug
    ctx.obj["no_pager"] = no_pager


def masked(text: str, ctx: click.Context | None = None) -> str:
    """``text`` as it may be printed: every secret the environment configures masked (``[secret NAME]``),
    and the password of the ``--store`` URL."""
    secrets = Settings.from_environment().secrets(strict=False)  # (the error shown may be TAPE_SECRETS')
    store = ctx.obj.get("store") if ctx is not None and ctx.obj else None
    if store:
        secrets.add_url("--store password", store)
    return secrets.mask(text)


def _shown(text: str) -> str:
    """``text`` with its undecodable bytes as ``\\xNN``, short enough for one line."""
    return render.short(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), 60)


def _check_utf8(args: list[str]) -> None:
    """Refuse an argument (or a TAPE_* variable) that is not valid UTF-8: one line naming it, exit 2."""
    for i, arg in enumerate(args, 1):
        if render.not_utf8(arg):
            raise UsageError(f"argument {i} ('{_shown(arg)}') is not valid UTF-8")
    for name, value in tape_variables():
        if render.not_utf8(value):
            raise UsageError(f"environment variable {_shown(name)} is not valid UTF-8")


def _one_line(e: click.ClickException) -> str:
    """A click error as one line: ``invalid value for '--from': ... (see 'tape log --help')``."""
    message = " ".join(e.format_message().split()).rstrip(".")
    message = message[:1].lower() + message[1:]
    if isinstance(e, click.NoSuchOption) and NEGATIVE_NUMBER.fullmatch(e.option_name):
        # click reads '-1' as an option: say what a user who meant a number needs to know
        message = (f"{e.option_name} is not an option, and event numbers and counts are 0 or more "
                   "(an argument that starts with '-' goes after '--')")
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click.UsageError) and ctx is not None and ctx.command.get_help_option(ctx) is not None:
        flag = "--help" if "--help" in ctx.help_option_names else ctx.help_option_names[0]
        message += f" (see '{ctx.command_path} {flag}')"
    return message


def main(args: list[str] | None = None) -> None:
    """Console entry point: every error, click's usage errors too, is one line on stderr."""
    argv = sys.argv[1:] if args is None else args
    try:
        _check_utf8(argv)
    except UsageError as e:
        err.print(f"error: {masked(str(e))}")
        sys.exit(e.exit_code)
    try:  # (a TapeError reaches here only under --debug: its traceback is wanted)
        code = cli.main(args=argv, prog_name="tape", standalone_mode=False, obj={})
    except click.exceptions.NoArgsIsHelpError as e:  # 'tape' or a group alone: its help, as click shows it
        click.echo(e.ctx.get_help(), err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        err.print(f"error: {masked(_one_line(e))}")
        sys.exit(e.exit_code)
    except click.Abort:
        err.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
