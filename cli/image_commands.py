"""``tape image``: save a session's world to one portable file, inspect it, and start sessions from it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from tapevm.cli import render
from tapevm.cli.options import (
    NEW_SESSION_ID,
    check_syntax,
    err,
    json_option,
    limit_options,
    open_session_for,
    open_store_for,
    out,
    print_json,
    read_program,
    runs_forms,
    session_option,
    show_outcome,
)
from tapevm.domain.errors import ImageError, UsageError
from tapevm.infrastructure.images import deployment
from tapevm.infrastructure.images import operations as image_ops
from tapevm.infrastructure.session.service import Session


def _created(header: dict[str, Any]) -> str:
    """``created_at`` as a date; blank when an old or hand-made header has none (readers allow that)."""
    value = header.get("created_at")
    return render.iso_time(value) if isinstance(value, int | float) else ""


def _show_info(info: image_ops.ImageInfo, as_json: bool, verb: str = "") -> None:
    if as_json:
        print_json(info.as_json())
        return
    h = info.header
    if verb:
        out.print(f"{verb} {info.path} ({info.size:,} bytes)")
    table = Table(title=f"image {info.path}", show_header=False)
    table.add_column("key", style="cyan")
    table.add_column("value")
    for key in ("format_version", "stored_format_version", "tapevm_version", "created_at", "description",
                "source_session", "source_seq"):
        value = h.get(key, "")
        table.add_row(key, _created(h) if key == "created_at" else str(value))
    table.add_row("size", f"{info.size:,} bytes")
    for s in info.sections:
        table.add_row(f"section {s['name']}", f"{s['length']:,} bytes ({s['raw_length']:,} raw), xxh3 {s['xxh3']}")
    out.print(table)


@contextmanager
def image_session_for(ctx: click.Context, image_file: Path, session_id: str | None,
                      ephemeral: bool) -> Iterator[Session]:
    """The new session ``tape run --image`` and ``tape image run`` run in (deployment.session_from_image):
    named ``session_id`` when -i was given, else the first free ``IMAGE-N`` (said on stderr); with
    ``ephemeral``, in a throwaway store.  Set up to run forms (output streamed, limits)."""
    explicit = session_id if ctx.get_parameter_source("session_id") is not click.core.ParameterSource.DEFAULT \
        else None
    with ExitStack() as stack:
        store = None if ephemeral else stack.enter_context(open_store_for(ctx, create=True))
        s = stack.enter_context(deployment.session_from_image(image_file, store, explicit, ephemeral=ephemeral))
        if explicit is None and not ephemeral:
            err.print(f"session {s.id!r} (new, from {image_file})")
        yield runs_forms(ctx, s)


@click.group()
def image() -> None:
    """Portable images: one file holding a session's state (and optionally its history)."""


@image.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@session_option
@click.option("--at", type=int, default=None, metavar="N", help="The state after event N (default: the head).")
@click.option("--description", default="", metavar="TEXT", help="What this image is.")
@click.option("--with-history", is_flag=True, help="Also store every event up to N (a load then replays them).")
@json_option
@click.pass_context
def save(ctx: click.Context, file: Path, session_id: str, at: int | None, description: str, with_history: bool,
         as_json: bool) -> None:
    """Save a session's state to FILE (written atomically)."""
    with open_session_for(ctx, session_id, create=False) as s:
        info = image_ops.save_image(s, file, at, description, with_history)
    _show_info(info, as_json, "saved")


@image.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-i", "--session", "session_id", type=NEW_SESSION_ID, default=None, metavar="NEW_ID",
              help="Id of the new session (default: the image's file name without its suffix).")
@json_option
@click.pass_context
def load(ctx: click.Context, file: Path, session_id: str | None, as_json: bool) -> None:
    """Create a new session that starts from the image in FILE."""
    with open_store_for(ctx, create=True) as store:
        session = image_ops.load_image(store, file, session_id or file.stem)
        data = {"session": session.id, "events": session.head, "image": str(file)}
        session.close()
    if as_json:
        print_json(data)
    else:
        out.print(f"loaded {file} into session {data['session']!r} ({data['events']} events)")


@image.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def info(file: Path, as_json: bool) -> None:
    """Show an image's header and sections (without loading it)."""
    _show_info(image_ops.image_info(file), as_json)


@image.command("list")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@json_option
def list_(directory: Path | None, as_json: bool) -> None:
    """List the images in DIRECTORY (default: $TAPE_HOME/images, where save-image writes).

    Files that are not images are skipped (and counted); a damaged image is listed with its error.
    """
    rows, skipped = image_ops.scan_images(directory)
    if as_json:
        print_json(rows)
        return
    other = f" ({skipped} other file{'s' * (skipped != 1)} skipped)" if skipped else ""
    table = Table(title=f"{len(rows)} image{'s' * (len(rows) != 1)} in {directory or image_ops.images_dir()}{other}")
    for col in ("file", "bytes", "created", "session", "event", "description"):
        table.add_column(col, justify="right" if col in ("bytes", "event") else "left")
    for r in rows:
        if r["ok"]:
            cells = [Path(r["path"]).name, f"{r['size']:,}", _created(r), str(r.get("source_session", "")),
                     str(r.get("source_seq", "")), str(r.get("description", ""))]
            table.add_row(*cells)
        else:
            table.add_row(Path(r["path"]).name, f"{r['size']:,}", "", "", "", Text(r["error"], style="red"))
    out.print(table)


@image.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export(file: Path) -> None:
    """Print the whole image as readable JSON on stdout (``tape image import`` reads it back)."""
    print_json(image_ops.export_image(file))


@image.command("import")
@click.argument("json_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def import_(json_file: Path, file: Path, as_json: bool) -> None:
    """Write the image FILE from JSON_FILE (the output of ``tape image export``)."""
    _show_info(image_ops.import_image(json_file, file), as_json, "wrote")


@image.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", "against_source", is_flag=True,
              help="Also check the image against its source session in the store (hash-chain link, state and history).")
@json_option
@click.pass_context
def verify(ctx: click.Context, file: Path, against_source: bool, as_json: bool) -> None:
    """Check every checksum and that the state decodes (exit 1 with the first defect)."""
    result = image_ops.verify(file)
    problem = None
    if against_source:
        with open_store_for(ctx) as store:
            problem = image_ops.check_against_source(file, store)
        result["source_check"] = "ok" if problem is None else problem
    if as_json:
        print_json(result)
    else:
        out.print(f"{file}: ok (format {result['format_version']}, sections {', '.join(result['sections'])}, "
                  f"{result['bindings']} bindings, {result['value_nodes']} value nodes, {result['blobs']} blobs"
                  + (f", {result['events']} events" if result["events"] is not None else "") + ")")
        if against_source and problem is None:
            out.print(f"{file}: matches its source session's log (hash-chain link, state and history)")
    if problem is not None:
        raise UsageError(f"{file}: {problem}") if "cannot read" in problem else ImageError(f"{file}: {problem}")

@image.command()
@click.argument("programs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The image file to write.")
@click.option("--description", default="", metavar="TEXT", help="What this image is.")
@limit_options
@json_option
@click.pass_context
def build(ctx: click.Context, programs: tuple[Path, ...], output: Path, description: str, as_json: bool) -> None:
    """Run PROGRAMS in order in a scratch session and save its state as the image OUTPUT.

    Nothing is written to the store.  A form that fails stops the build (exit 1) and no image is written.
    """
    sources = [(read_program(p), str(p)) for p in programs]
    for source, name in sources:
        check_syntax(source, name)
    info = deployment.build_image(sources, output, description, prepare=lambda s: runs_forms(ctx, s))
    _show_info(info, as_json, "built")


@image.command("run", context_settings={"allow_interspersed_args": False})
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-i", "--session", "session_id", type=NEW_SESSION_ID, default=None, metavar="NEW_ID",
              help="Id of the new session (default: IMAGE-N, the first free one, printed).")
@click.option("--ephemeral", is_flag=True, help="Run in a throwaway session that nothing is written to the store for.")
@click.option("--entry", default=deployment.ENTRY, metavar="NAME", show_default=True,
              help="The function called with no arguments once *args* is bound.")
@limit_options
@click.pass_context
def run_(ctx: click.Context, file: Path, args: tuple[str, ...], session_id: str | None, ephemeral: bool,
         entry: str) -> None:
    """Run the program an image holds: a new session from FILE, ARGS bound to *args* (a list of strings),
    then (main) called.  Exit 1 if it raises an error (recorded in the session)."""
    deployment.check_entry(file, entry)
    with image_session_for(ctx, file, session_id, ephemeral) as s:
        for outcome in deployment.run_entry(s, args, entry):
            show_outcome(outcome, echo_value=False)
            if not outcome.ok:
                ctx.exit(1)
