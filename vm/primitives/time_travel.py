"""Time travel from inside the language: ``snapshot!``, ``restore!``, ``snapshots``, ``save-image``, ``load-image``,
``list-images``.

The VM has no host access, so these only *request*: each call journals a
session request in the World (:meth:`World.request`), and the session acts
on it when the form's transaction commits, after the form's own mutations.
A form that raises commits nothing, so its requests are dropped with it.
Names are checked here, so a program can catch a bad one as a Lisp error.
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.names import snapshot_name_problem
from tapevm.vm.effects import LIST_IMAGES
from tapevm.vm.errors import VALUE_ERROR, lisp_error
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import string
from tapevm.vm.values import Keyword, LMap, Pair, make_list
from tapevm.vm.world import LOAD_IMAGE, RESTORE, SAVE_IMAGE, SNAPSHOT

SNAPSHOT_EXISTS = "snapshot-exists"
UNKNOWN_SNAPSHOT = "unknown-snapshot"
BAD_IMAGE_NAME = "bad-image-name"
UNKNOWN_IMAGE = "unknown-image"


def _options(args: tuple[Any, ...], who: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """``:key value`` pairs after the positional arguments."""
    if len(args) % 2:
        raise lisp_error(VALUE_ERROR, f"{who}: options come in :key value pairs")
    options: dict[str, Any] = {}
    for key, value in zip(args[::2], args[1::2]):
        if type(key) is not Keyword or key.name not in allowed:
            raise lisp_error(VALUE_ERROR, f"{who}: unknown option {key!r}; known: "
                                          + ", ".join(":" + a for a in allowed))
        options[key.name] = value
    return options


def _known_snapshots(m: Any) -> set[str]:
    return set(m.world.snapshots) | {args[0] for args in m.world.pending_requests(SNAPSHOT)}


def snapshot_name(name: str, who: str) -> str:
    problem = snapshot_name_problem(name)
    if problem is not None:
        raise lisp_error(VALUE_ERROR, f"{who}: invalid snapshot name {name!r}: {problem}")
    return name


@primitive("snapshot!", needs_machine=True)
def snapshot(m: Any, name: object, *options: Any) -> str:
    """Name the state as it will be when this form commits: ``(snapshot! "name" :description "...")``."""
    name = snapshot_name(string(name, "snapshot!"), "snapshot!")
    opts = _options(options, "snapshot!", ("description",))
    description = string(opts.get("description", ""), "snapshot!")
    if name in _known_snapshots(m):
        raise lisp_error(SNAPSHOT_EXISTS, f"snapshot! {name!r}: this session already has a snapshot of that name")
    m.world.request(SNAPSHOT, name, description)
    return name


@primitive("restore!", needs_machine=True)
def restore(m: Any, name: object) -> str:
    """Go back to a named snapshot when this form commits (the form's own changes are committed first)."""
    name = string(name, "restore!")
    if name not in m.world.snapshots:  # a snapshot of this same form names its end: nothing to go back to
        raise lisp_error(UNKNOWN_SNAPSHOT, f"restore! {name!r}: no committed snapshot of that name in this session")
    m.world.request(RESTORE, name)
    return name


@primitive("snapshots", needs_machine=True)
def snapshots(m: Any) -> Any:
    """This session's snapshots as ``(name event-number description)`` lists, oldest first."""
    rows = sorted(m.world.snapshots.items(), key=lambda item: (item[1][0], item[0]))
    return make_list(make_list([name, at, description]) for name, (at, description) in rows)


def image_file_name(name: str, who: str) -> str:
    """Images named from inside the language live in $TAPE_HOME/images: a bare file name only."""
    if (not name or len(name) > 200 or any(c in name for c in "/\\\x00\n\r\t:")
            or name in (".", "..") or name.startswith(".")):
        raise lisp_error(BAD_IMAGE_NAME, f"{who}: {name!r} is not a plain file name "
                                         "(images from inside the language go to $TAPE_HOME/images)")
    return name


@primitive("save-image", needs_machine=True)
def save_image(m: Any, name: object, *options: Any) -> str:
    """Save the state as it will be when this form commits to ``$TAPE_HOME/images/NAME``."""
    name = image_file_name(string(name, "save-image"), "save-image")
    opts = _options(options, "save-image", ("description",))
    description = string(opts.get("description", ""), "save-image")
    m.world.request(SAVE_IMAGE, name, description)
    return name


@primitive("load-image", needs_machine=True)
def load_image(m: Any, name: object) -> str:
    """Replace the whole state with that of the image ``$TAPE_HOME/images/NAME`` when this form commits.

    As ``restore!``: the form's own changes are committed first and then replaced; the history before
    stays in the log (``state_at``, snapshots, ``restore!`` back to a snapshot taken before the load).
    The name is looked up in the directory's listing (the ``list-images`` effect, recorded), so an image
    that is not there is an ``unknown-image`` error a program can catch, and a replay decides as the
    run did; the session reads the image itself at the commit.
    """
    name = image_file_name(string(name, "load-image"), "load-image")
    listing = _perform_list_images(m)
    known = []
    while type(listing) is Pair:
        known.append(listing.car.get(NAME) if type(listing.car) is LMap else None)
        listing = listing.cdr
    if name not in known:
        raise lisp_error(UNKNOWN_IMAGE, f"load-image {name!r}: no such image in $TAPE_HOME/images "
                                        "(see (list-images))")
    m.world.request(LOAD_IMAGE, name)
    return name


NAME = Keyword("name")


def _perform_list_images(m: Any) -> Any:
    interp = m.interp
    interp.budget.effect()  # counted like any effect: past max_effects nothing is listed or recorded
    return interp.effects.perform(LIST_IMAGES, ())


@primitive("list-images", needs_machine=True)
def list_images(m: Any) -> Any:
    """The images in ``$TAPE_HOME/images`` (what ``save-image`` writes), each a map
    ``{:name :created :size :description}``: a recorded effect, so a replay answers it from the log."""
    return _perform_list_images(m)
