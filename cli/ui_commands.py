"""``tape ui``: the web time machine over the store (read-only), from the optional ``ui`` extra.

The extra's modules (starlette, uvicorn, and ``cli/ui``, which imports them) are loaded only when
the command runs, after checking they are installed, so ``tape`` without the extra says exactly
what to install instead of failing on an import.
"""

from __future__ import annotations

import importlib
import webbrowser

import click

from tapevm.cli.options import store_location
from tapevm.domain.errors import UsageError
from tapevm.infrastructure.config import ENV_UI_TOKEN, Settings
from tapevm.infrastructure.store import open_store

UI_MODULES = ("starlette", "uvicorn")


def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help=f"Address to listen on; any but a loopback address needs a token (printed, or {ENV_UI_TOKEN}).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port; the address is printed).")
@click.option("--open", "open_browser", is_flag=True, help="Open the address in a web browser.")
@click.pass_context
def ui(ctx: click.Context, host: str, port: int, open_browser: bool) -> None:
    """Serve a read-only web view of the store: sessions, timelines, time slider, diff, blame, replay."""
    missing = [m for m in UI_MODULES if not _installed(m)]
    if missing:
        raise UsageError(f"tape ui needs the 'ui' extra ({', '.join(missing)} not installed): "
                         f"pip install 'tapevm[ui]'")
    from tapevm.cli.ui.server import listen, serve

    with open_store(store_location(ctx), create=False) as store:  # a missing store: refused before listening
        try:
            where = listen(host, port, Settings.from_environment().ui_token)
        except OSError as e:
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        click.echo(f"tape ui: serving {where.url}  (read-only; Ctrl-C stops)")
        if where.token and host not in ("127.0.0.1", "localhost", "::1"):
            click.echo("anyone with this address (its token) can read the store: share it only with those who may")
        if open_browser:
            webbrowser.open(where.url)
        serve(store, where, host)
