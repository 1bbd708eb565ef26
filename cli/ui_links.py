"""``--ui``: the text views print the URL of the same view in ``tape ui``, to share or open.

The URL is built from ``TAPE_UI_URL`` (default ``http://127.0.0.1:8765``, where ``tape ui`` listens
unless told otherwise) and the view's URL scheme (docs/ui.md).  It goes to standard error, so the
view's own output (``--json`` included) is unchanged.  Nothing is served or checked here: ``tape ui``
must run for the link to open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tapevm.cli.ui.html import view_path
from tapevm.infrastructure.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


def ui_option(f: F) -> F:
    """The ``--ui`` flag of a text view."""
    return click.option("--ui", "ui_link", is_flag=True,
                        help="Also print this view's URL in 'tape ui' (on stderr; base from TAPE_UI_URL).")(f)


def ui_url(*parts: object, **query: object) -> str:
    """The ``tape ui`` URL of a view: ``TAPE_UI_URL`` and the view's path in the app."""
    return Settings.from_environment().ui_url.rstrip("/") + view_path(*parts, **query)


def print_ui_link(wanted: bool, *parts: object, **query: object) -> None:
    """Print the view's URL on standard error when ``--ui`` was given."""
    if wanted:
        click.echo(f"tape ui: {ui_url(*parts, **query)}", err=True)
