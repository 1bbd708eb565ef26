"""Images as a workflow: programs run on an image, and programs built into one.

* :func:`session_from_image` is what ``tape run --image`` and ``tape image run`` start from: a NEW
  session made from the image every time.  Without a name it takes the image's file name with the
  first free ``-N`` suffix (``work.img`` -> ``work-1``, ``work-2``, ...), so running an image again
  (or in the store of the session it was saved from, whose name is the image's default) just works.
  ``ephemeral=True`` makes it in a throwaway store held in memory (``memory_store``): nothing is
  written anywhere, and none of what a durable load pays for the next open (records, the content
  index, a checkpoint of the image) is paid.
* :func:`build_image` runs programs in a scratch session (in memory as well) and saves the
  image of its state: ``tape image build``.
* :func:`run_entry` is ``tape image run``'s contract: the arguments bound to ``*args*`` (a list of
  strings, defined by a recorded form like any other), then ``(main)`` called, ``main`` being the
  function the image defines in its current namespace (or the name given as the entry point).

Everything a run does is a form or an image load in the session's log: a run is replayable and
auditable like any session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tapevm.domain.errors import ImageError, SessionExists, UsageError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.images.memory_store import MemoryStore
from tapevm.infrastructure.images.operations import (
    ImageInfo,
    load_image,
    load_state,
    save_image,
    save_image_from_language,
)
from tapevm.infrastructure.session.service import FormOutcome, Session
from tapevm.infrastructure.stores.factory import open_store
from tapevm.infrastructure.stores.registry import SessionRegistry
from tapevm.infrastructure.stores.side_tables import has_side_tables
from tapevm.vm.printer import to_source
from tapevm.vm.values import make_list

ENTRY = "main"
ARGS = "*args*"
NAME_ATTEMPTS = 20  # another process may take the free name first: try the next one


def free_run_name(store: EventStore, stem: str) -> str:
    """``STEM-N`` with the smallest N >= 1 that no session of ``store`` is called (nor stored as)."""
    if has_side_tables(store):
        registry = SessionRegistry(store)
        names = registry.names()  # stream -> name: a load writes the stream of the name, so both must be free
        used = set(names) | set(names.values()) | {r.name for r in registry.rows()}
    else:
        used = {head.session for head in store.sessions()}
    n = 1
    while f"{stem}-{n}" in used:
        n += 1
    return f"{stem}-{n}"


def _image_stem(image: Path) -> str:
    """The default name's stem: the file name without its suffix, as a session id allows it."""
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in image.stem).strip("-.") or "image"
    return stem[:100]


def load_as_new_session(store: EventStore, image: str | Path, name: str | None = None) -> Session:
    """A new session of ``store`` made from ``image``: called ``name`` (SessionExists if taken), or by
    default ``STEM-N`` (:func:`free_run_name`), the next free one if another process took it first.
    In a :class:`MemoryStore` the image's values are not walked first (``check_content``)."""
    references = not isinstance(store, MemoryStore)
    if name is not None:
        return load_image(store, image, name, references=references)
    stem = _image_stem(Path(image))
    for _ in range(NAME_ATTEMPTS):
        try:
            return load_image(store, image, free_run_name(store, stem), references=references)
        except SessionExists:
            continue
    raise SessionExists(f"could not find a free session name for {image} after {NAME_ATTEMPTS} tries: "
                        "name one with -i")


@contextmanager
def scratch_store() -> Iterator[EventStore]:
    """A throwaway store in memory (:class:`MemoryStore`), emptied on exit."""
    with MemoryStore("scratch") as store:
        yield store


@contextmanager
def session_from_image(image: str | Path, store: EventStore | str | None = None, name: str | None = None,
                       *, ephemeral: bool = False, durability: str | None = None) -> Iterator[Session]:
    """A new session made from ``image``, closed on exit (see the module docstring).

    ``store``: an open store (left open), or a path or URL opened here and closed with the session
    (default: ``TAPE_STORE``); ignored when ``ephemeral``, whose throwaway store is removed on exit.
    ``name`` with ``ephemeral`` names the throwaway session.
    """
    with ExitStack() as stack:
        if ephemeral:
            target = stack.enter_context(scratch_store())
        elif isinstance(store, EventStore):
            target = store
        else:
            target = stack.enter_context(open_store(store, durability=durability, create=True))
        with load_as_new_session(target, image, name) as session:
            yield session


def args_form(args: Sequence[str]) -> str:
    """The form that binds ``*args*`` to ``args``, a list of strings (as Lisp source: it is recorded)."""
    return f"(define {ARGS} (quote {to_source(make_list(list(args)))}))"


def check_entry(image: str | Path, entry: str) -> None:
    """Refuse (UsageError) an image whose current namespace binds nothing called ``entry``, before any
    session is made from it."""
    state = load_state(image)
    if entry not in state.namespaces.get(state.current_ns, {}):
        raise UsageError(f"{image} defines no {entry!r} in its namespace {state.current_ns!r}: tape image run "
                         f"calls ({entry}) (define it before the image is built, or name another with --entry)")


def run_entry(session: Session, args: Sequence[str], entry: str = ENTRY) -> list[FormOutcome]:
    """Bind ``*args*`` then call ``(entry)``: the outcomes of the two forms (stops at the first that fails)."""
    outcomes = session.run(args_form(args), "<image run>", stop_on_error=True, render_values=False)
    if outcomes[-1].ok:
        outcomes += session.run(f"({entry})", "<image run>", stop_on_error=True, render_values=False)
    return outcomes


def build_image(programs: Sequence[tuple[str, str]], output: str | Path, description: str = "",
                prepare: Callable[[Session], object] | None = None) -> ImageInfo:
    """Run ``programs`` (``(source, file name)`` pairs, in order) in a scratch session and save the image
    of its state to ``output``.  A form that fails stops the build with an ImageError naming it, and no
    image is written.  ``prepare(session)`` may set the scratch session up first (the CLI streams its
    output to the terminal)."""
    with scratch_store() as store, Session(store, _image_stem(Path(output)),
                                                    image_writer=save_image_from_language) as session:
        if prepare is not None:
            prepare(session)
        for source, file in programs:
            for outcome in session.run(source, file, stop_on_error=True, render_values=False):
                if not outcome.ok:
                    raise ImageError(f"{file}: a form failed ({outcome.error_kind}: {outcome.error_message}); "
                                     f"no image was written to {output}")
        return save_image(session, output, description=description)
