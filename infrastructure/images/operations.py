"""Images of sessions: save, load, inspect, list, export to JSON, import from JSON, verify.

An image holds a session's state at one event number (sections ``state`` and
``blobs``) and optionally its full history (section ``history``: every event
up to that number).  Loading one creates a new, fully event-sourced session:

* from the state: ``SessionStarted``, ``ContentStored`` (the image's content),
  ``ImageLoaded`` (its metadata and state, which replaces the empty state);
* from the history: the image's events re-appended as they were, then an
  ``ImageLoaded`` marker; the fold of that history must give the image's
  state byte for byte, or the load is refused.

Images written from inside the language (``save-image``) go only to
``$TAPE_HOME/images`` under a plain file name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from tapevm.domain.addresses import validate_session_id
from tapevm.domain.content import canonical_bytes, content_hash
from tapevm.domain.errors import ImageError, SessionExists, TapeError, UsageError
from tapevm.domain.events import ContentStored, Event, ImageLoaded, RecordedEvent, SessionStarted, draft_of
from tapevm.domain.fold import fold
from tapevm.domain.form_points import refuse_mid_form
from tapevm.domain.ports import EventStore
from tapevm.domain.state import (
    State,
    blob_entry,
    decode_blob,
    encode_blob,
    file_blobs,
    materialized,
    paused_gc,
    split_fact,
)
from tapevm.domain.upcasting import event_class, upcast
from tapevm.infrastructure.images.export_shape import export_problem
from tapevm.infrastructure.images.file_format import (
    FORMAT_VERSION,
    MAGIC,
    MAX_TIME,
    ImageFile,
    decode_image,
    header_problem,
    read_image,
    write_image,
)
from tapevm.infrastructure.session.service import Session, open_session
from tapevm.infrastructure.session.time_travel import images_dir
from tapevm.infrastructure.stores.content_index import Noted, content_index_for
from tapevm.infrastructure.stores.named_sessions import NamedSessions, link_at
from tapevm.infrastructure.stores.side_tables import has_side_tables
from tapevm.projections.image_state_codec import decode_image_state, encode_image_state
from tapevm.projections.state_codec import (
    decode_blobs,
    decode_nodes,
    decode_state,
    encode_blobs,
    encode_nodes,
    frame_state,
    same_canonical_state,
    structure,
)
from tapevm.vm.compiler import SPECIAL_FORMS
from tapevm.vm.value_codec import content_problem
from tapevm.vm.version import VM_VERSION, tapevm_version
from tapevm.vm.world import WorldError, bindable_name, normalize_path, valid_namespace_name

EXPORT_KIND = "tapevm-image-export"
EXPORT_VERSION = 1


@dataclass(frozen=True)
class ImageInfo:
    path: str
    size: int
    header: dict[str, Any]
    sections: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, **self.header, "sections": self.sections}


# -- save -------------------------------------------------------------------------------------------
def image_sections(session: Session, at: int | None, with_history: bool) -> tuple[State, dict[str, bytes]]:
    """The state at ``at`` (default: the head) and the sections that hold it."""
    # an image keeps what the state is (its live content), not what its history left behind
    state = materialized(session.state if at is None or at == session.head else session.state_at(at))
    sections = {"state": encode_image_state(state),
                "blobs": encode_blobs(file_blobs(state))}
    if with_history:
        sections["history"] = orjson.dumps([
            [r.seq, r.cause, int(r.recorded_at * 1000), r.event.type_name, r.event.version, r.event.__dict__]
            for r in session.events(1, state.seq)
        ])
    return state, sections


def save_image(session: Session, path: str | Path, at: int | None = None, description: str = "",
               with_history: bool = False) -> ImageInfo:
    """Write an image of ``session`` at event ``at`` to ``path`` (atomically)."""
    if at is not None and (at < 1 or at > session.head):
        raise UsageError(f"session {session.id!r} has events 1..{session.head}; there is no event {at}")
    if at is not None:
        refuse_mid_form(session.store, session.stream, at, "--at {n}")
    state, sections = image_sections(session, at, with_history)
    header = {"tapevm_version": tapevm_version(), "created_at": time.time(), "description": description,
              "source_session": session.id, "source_seq": state.seq,
              # the hash-chain link of the source's record holding event source_seq (issue 5): lets
              # ``image verify --store`` check the image against the log it came from
              "source_chain_link": link_at(session.store, session.id, state.seq)
              if has_side_tables(session.store) else None}  # (a store in memory keeps no records, no links)
    write_image(path, header, sections)
    return image_info(path)


class LanguageImages:
    """The image directory of the language, ``$TAPE_HOME/images``: the session's image writer
    (``Session.image_writer``), given by whoever opens a session that runs forms, which writes
    ``(save-image "name")``'s file after its form committed and lists what ``(list-images)`` answers
    (a :class:`~tapevm.infrastructure.session.time_travel.ImageShelf`)."""

    def __call__(self, session: Session, name: str, description: str, seq: int) -> None:
        """``(save-image "name")``: after the form committed, an image of the state at its last event."""
        folder = images_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)  # tapevm's own directory: made on first use
            save_image(session, folder / name, seq, description)
        except OSError as e:
            raise ImageError(f"the form committed (event {seq}) but save-image could not make {str(folder)!r}: "
                             f"{e.strerror}") from e
        except TapeError as e:
            raise ImageError(f"the form committed (event {seq}) but save-image could not write {name!r}: {e}") from e

    def load_events(self, name: str, first: int) -> list[Event]:
        """``(load-image "name")``'s events (see ImageShelf): the image's content and its ImageLoaded."""
        path = images_dir() / name
        if not path.is_file():
            raise ImageError(f"load-image: no image {name!r} in {str(images_dir())!r} (see (list-images))")
        state, nodes, marker = _checked_image(path)
        return _state_events(state, nodes, marker)

    def listing(self) -> list[dict[str, Any]]:
        """The images of the directory by file name: ``name``, ``created`` (milliseconds since the epoch, as
        ``(now)``), ``size`` (bytes) and ``description``; files that are not images are left out."""
        return [{"name": Path(row["path"]).name, "created": int(float(row.get("created_at") or 0) * 1000),
                 "size": row["size"], "description": str(row.get("description", ""))}
                for row in list_images() if row["ok"]]


save_image_from_language = LanguageImages()


# -- read -------------------------------------------------------------------------------------------
def image_state(image: ImageFile) -> State:
    """The state an image holds, content and blobs included."""
    try:
        state = decode_image_state(image.sections["state"])
        state.blobs.add_table(decode_blobs(image.sections.get("blobs", b"[]")))
    except (ValueError, KeyError) as e:
        raise ImageError(f"{image.path}: damaged image (state section: {e})") from None
    state.session = image.header.get("source_session", "")
    return state


def load_state(path: str | Path) -> State:
    """Read the state of the image at ``path``: its checksums and columns are checked, its content is not
    (:func:`check_content` walks every node, which this fast path leaves to verify, load and import)."""
    return image_state(read_image(path, ("state", "blobs")))


def check_content(path: str | Path, state: State, nodes: dict[str, Any] | None = None,
                  references: bool = True) -> None:
    """Refuse (ImageError) a state whose content the VM could not use: a reference to a node the image
    does not hold or to an atom the state does not hold, an unknown value or node tag, a node that is
    not the content its key addresses, a world file path the VM itself would refuse, a file without
    its content.  (A built-in's name is not checked: an image of a later minor version may name one
    this version lacks, which is an error only when a program calls it.)

    Checked before anything is accepted (verify, load, import): otherwise the damage shows only when
    a program first uses the value, long after the load committed (``value node … is missing``), and
    a path such as ``../evil`` would be served by ``tape world cat``.  ``nodes``: the parsed nodes
    when the caller has them already (a load parses them anyway).  ``references=False`` leaves out the
    walk over every value's references and tags (most of the cost: 100,000 bindings, seconds), for a
    session that is thrown away (``--ephemeral``): nothing it holds is committed anywhere, and a value
    it cannot decode fails the form that touches it.  Keys are still checked against their content, so
    references cannot form a cycle.
    """
    if not valid_namespace_name(state.current_ns):
        raise ImageError(f"{path}: damaged image (its current namespace {state.current_ns!r} is not a name "
                         "in-ns accepts)")
    special = frozenset(sym.name for sym in SPECIAL_FORMS)
    for ns, table in state.namespaces.items():
        if not valid_namespace_name(ns):
            raise ImageError(f"{path}: damaged image (namespace {ns!r} is not a name in-ns accepts)")
        bad = [name for name in table if "/" in name and not bindable_name(name)] + sorted(special & table.keys())
        if bad:
            raise ImageError(f"{path}: damaged image (binding {ns}/{bad[0]!r} has a name define cannot bind)")

    for file_path in state.files:
        try:
            ok = normalize_path(file_path) == file_path
            reason = "not in normal form"
        except WorldError as e:
            ok, reason = False, e.message
        if not ok:
            raise ImageError(f"{path}: damaged image (world file path {file_path!r} is not one the VM accepts: "
                             f"{reason})")
    missing = [p for p, key in state.files.items() if key not in state.blobs]
    if missing:
        raise ImageError(f"{path}: damaged image (files without content: {', '.join(missing[:5])})")
    for file_path, key in state.files.items():  # diff and merge compare files by key: it must be the content's
        try:
            digest = content_hash(state.blobs.get(key))
        except TapeError as e:
            raise ImageError(f"{path}: damaged image (the content of world file {file_path!r}: {e})") from None
        if key.partition(".")[0] != digest:
            raise ImageError(f"{path}: damaged image (world file {file_path!r}: its content is not the content "
                             f"its key {key} addresses)")
    if nodes is None and references:
        nodes = dict(_nodes_as_json(state))
    tables: list[tuple[str, dict[Any, Any]]] = [("atom ", state.atoms),
                                                ("fact ", {i: split_fact(e)[0] for i, e in enumerate(state.facts.values(), 1)}),
                                                ("fact evidence ", {i: split_fact(e)[1] for i, e in
                                                                    enumerate(state.facts.values(), 1)
                                                                    if split_fact(e)[1] is not None})]
    roots = chain(((f"binding {ns}/", table) for ns, table in state.namespaces.items()), tables)
    problem = content_problem(roots, nodes, state.atoms) if nodes is not None and references else None
    if problem is not None:
        raise ImageError(f"{path}: damaged image ({problem})")
    # keys are content hashes (a ".N" suffix on a collision), so references cannot form a cycle,
    # which the decoder would follow until Python's recursion limit
    items = state.nodes.items()
    for (key, _), digest in zip(items, map(content_hash, map(itemgetter(1), items))):
        if key != digest and key.partition(".")[0] != digest:
            raise ImageError(f"{path}: damaged image (value node {key} does not hold the content its key addresses)")


def image_info(path: str | Path) -> ImageInfo:
    image = read_image(path, ())
    sections = [{k: s[k] for k in ("name", "length", "raw_length", "xxh3")} for s in image.footer["sections"]]
    header = dict(image.header)
    header["stored_format_version"] = image.stored_version
    return ImageInfo(str(path), image.size, header, sections)


def list_images(folder: str | Path | None = None) -> list[dict[str, Any]]:
    """Every image of ``folder`` (default: $TAPE_HOME/images) with its header (see :func:`scan_images`)."""
    return scan_images(folder)[0]


def scan_images(folder: str | Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """The images of ``folder`` (files that begin as an image does), each with its header or, for a
    damaged one, why it cannot be read (``"ok": False``); and how many other files were skipped."""
    root = Path(folder) if folder is not None else images_dir()
    if not root.exists():
        if folder is None:
            return [], 0
        raise UsageError(f"no such directory: {root}")
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    rows, skipped = [], 0
    for p in sorted(root.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        if not _starts_as_image(p):
            skipped += 1
            continue
        try:
            rows.append({**image_info(p).as_json(), "ok": True})
        except ImageError as e:
            rows.append({"path": str(p), "size": p.stat().st_size, "ok": False, "error": str(e)})
    return rows, skipped


def _starts_as_image(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def verify(path: str | Path) -> dict[str, Any]:
    """Check every section's checksum, the header, that the state decodes and refers only to content it holds
    (:func:`check_content`), and that the history is a valid run of events 1..``source_seq``."""
    image = read_image(path, None)
    state = image_state(image)
    check_content(path, state)
    events = len(_checked_history(image, str(image.header.get("source_session", "")), state)) \
        if "history" in image.sections else None
    return {"path": str(path), "ok": True, "format_version": image.stored_version,
            "sections": [s["name"] for s in image.footer["sections"]], "events": events,
            "bindings": sum(len(b) for b in state.namespaces.values()), "value_nodes": len(state.nodes),
            "blobs": len(state.blobs)}


# -- load -------------------------------------------------------------------------------------------
def _history_events(image: ImageFile, name: str, last: int) -> list[RecordedEvent]:
    """The history section as events 1..``last`` of ``name``, each checked as the store would take it
    (numbers in order from 1, causes, times, fields): a load must not fail half way through its append."""
    seq = 0
    try:
        rows = orjson.loads(image.sections["history"])
        if type(rows) is not list:
            raise ValueError("not a list of events")
        out = []
        for row in rows:
            if type(row) is not list or len(row) != 6:
                raise ValueError(f"event {seq + 1} is not [seq, cause, time_ms, type, type_version, fields]")
            number, cause, ms, type_name, version, fields = row
            if number != seq + 1 or type(number) is not int:
                raise ValueError(f"event {seq + 1} is numbered {number!r}: events must be numbered 1, 2, 3...")
            seq = number
            if type(cause) is not int or not 1 <= cause <= seq:
                raise ValueError(f"event {seq} has cause {cause!r}, not an event number up to its own")
            if type(ms) not in (int, float) or not 0 <= ms <= MAX_TIME * 1000:
                raise ValueError(f"event {seq} has time {ms!r}, not milliseconds since the epoch")
            cls = event_class(type_name)
            if type(version) is not int:
                raise ValueError(f"event {seq} has type version {version!r}, not an integer")
            if version != cls.version:
                fields = upcast(type_name, version, fields)
            out.append(RecordedEvent(name, seq, cause, ms / 1000.0, cls.model_validate(fields)))
        if seq != last:
            raise ValueError(f"it holds events 1..{seq}, the state is at event {last}")
        return out
    except ValidationError as e:
        first = e.errors()[0]
        field_name = ".".join(map(str, first["loc"])) or "(fields)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ImageError(f"{image.path}: damaged image (history section: event {seq} ({type_name}): "
                         f"field {field_name}: {first['msg']}{more})") from None
    except TapeError as e:
        raise ImageError(f"{image.path}: damaged image (history section: event {seq}: {e})") from None
    except (ValueError, TypeError, KeyError) as e:
        raise ImageError(f"{image.path}: damaged image (history section: {e})") from None


def _checked_history(image: ImageFile, name: str, state: State) -> list[RecordedEvent]:
    """:func:`_history_events`, and that they fold to the image's state.

    A load appends the history as the new session's log; one that folds to another state used to be
    appended first and refused after (a session of the wrong state was left in the store).
    """
    events = _history_events(image, name, state.seq)
    try:
        folded = fold(events, State(session=name))
    except TapeError as e:
        raise ImageError(f"{image.path}: damaged image (history section: {e})") from None
    if not same_canonical_state(folded, state):
        raise ImageError(f"{image.path}: damaged image (its history does not fold to its state)")
    return events


def load_image(store: EventStore, path: str | Path, name: str, *, references: bool = True) -> Session:
    """Create session ``name`` in ``store`` from the image at ``path`` (it must not exist yet).
    ``references=False``: for a store in memory only (see :func:`check_content`, :func:`_checked_image`)."""
    with paused_gc():  # bulk building of acyclic data: the cyclic GC would walk it again and again
        return _load_image(store, path, name, references)


def _checked_image(path: str | Path, image: ImageFile | None = None,
                   references: bool = True) -> tuple[State, list[Any], dict[str, Any]]:
    """The image at ``path`` checked as a load checks it (:func:`check_content`; ``references``: with the
    walk over the values' references): its state, its nodes as JSON and the fields of its ImageLoaded.

    Without ``references`` (a session in memory) the nodes are their canonical bytes as the image holds
    them (``orjson.Fragment``: the fold's ``canonical_bytes`` gives them back as they are), not parsed:
    nothing encodes them for a record, and parsing 100,000 of them only to serialize them again was
    most of what starting a throwaway session cost.
    """
    image = image if image is not None else read_image(path, ("state", "blobs"))
    state = image_state(image)
    nodes = _nodes_as_json(state) if references else [[k, orjson.Fragment(v)] for k, v in state.nodes.items()]
    check_content(path, state, dict(nodes) if references else None, references)
    h = image.header
    marker: dict[str, Any] = {"image": Path(path).name, "format_version": image.stored_version,
                  "tapevm_version": str(h.get("tapevm_version", "")), "created_at": float(h.get("created_at", 0.0)),
                  "description": str(h.get("description", "")), "source_session": str(h.get("source_session", "")),
                  "source_seq": int(h.get("source_seq", state.seq))}
    return state, nodes, marker


def _state_events(state: State, nodes: list[Any], marker: dict[str, Any]) -> list[Event]:
    """An image's state as events: its content (:func:`_content_events`), then the ImageLoaded that sets it."""
    return [*_content_events(nodes, [blob_entry(k, v) for k, v in state.blobs.items()]),
            ImageLoaded.model_construct(**marker, with_history=False, state=_loaded_structure(state))]


def _load_image(store: EventStore, path: str | Path, name: str, references: bool) -> Session:
    validate_session_id(name)
    image = read_image(path, None)
    state, nodes, marker = _checked_image(path, image, references)
    history = _checked_history(image, name, state) if "history" in image.sections else None
    if store.last_seq(name) != 0:
        raise SessionExists(f"session {name!r} already exists in {store.url_for_display}; "
                            "load the image under a new id with -i")
    now = time.time()
    if history is not None:
        end = len(history)
        records = history + [RecordedEvent(name, end + 1, end + 1, now,
                                           ImageLoaded(**marker, with_history=True, state=None))]
    else:
        events: list[Event] = [SessionStarted(tapevm_version=tapevm_version(), vm_version=VM_VERSION),
                               *_state_events(state, nodes, marker)]
        records = [RecordedEvent(name, i + 1, 1 if i == 0 else 2, now, e) for i, e in enumerate(events)]
    # Each event a record of its own (one transaction): opening a session reads its first event
    # (lineage.fork_origin) and a checkpoint's last, and the content index finds a value in the
    # record of its ContentStored: none of them then decodes the image's whole content.
    store.append_records([[r] for r in records] if history is None else [records[:1], records[1:]])
    _index_content(store, name, records)
    session = Session(store, name, create=False, image_writer=save_image_from_language)
    # The values, atoms, facts and files folded from the new log are the image's.  Their content is the
    # image's own nodes, each checked against its key above and written as they are: reading it all
    # back through the content index (a loaded session holds none of it once checkpointed) would
    # cost what the load itself does, for nothing the check did not see.
    if not session.live_state.same_as(state):
        raise ImageError(f"{path}: the loaded session's state differs from the image's "
                         f"(session {name!r} was created; inspect it with 'tape state -i {name}')")
    return session


def _index_content(store: EventStore, stream: str, records: list[RecordedEvent]) -> None:
    """Index the content a load just appended from the events in hand, as a session indexes its own
    commits: otherwise the session's first checkpoint (written at its open, the image's content being
    a heavy tail) reads all of it back from the log and decodes it, ~30% of a load of 100,000
    bindings.  The index is a cache in its own transaction: a crash before it leaves it to be rebuilt."""
    index = content_index_for(store)
    if index is None or not records:
        return
    noted = Noted(stream)
    noted.add(records[0].seq, [draft_of(r.event) for r in records])
    index.cover(stream, records[-1].seq, noted)


IMAGE_CONTENT_EVENT = 2_000  # value nodes (or blob entries) per ContentStored of a loaded image


def _content_events(nodes: list[Any], blobs: list[Any]) -> list[Event]:
    """An image's content as ContentStored events of ``IMAGE_CONTENT_EVENT`` entries: a value is then
    found by reading the one event that stores it, not the whole image (built from a checked image by
    our own code: no need for pydantic to walk 100,000 values)."""
    step = IMAGE_CONTENT_EVENT
    events: list[Event] = [ContentStored.model_construct(nodes=nodes[i:i + step], blobs=[])
                           for i in range(0, len(nodes), step)]
    events += [ContentStored.model_construct(nodes=[], blobs=blobs[i:i + step]) for i in range(0, len(blobs), step)]
    return events or [ContentStored.model_construct(nodes=[], blobs=[])]


def _nodes_as_json(state: State) -> list[Any]:
    items = state.nodes.items()
    values = orjson.loads(b"[" + b",".join(map(itemgetter(1), items)) + b"]")
    return list(map(list, zip(map(itemgetter(0), items), values)))


def _loaded_structure(state: State) -> dict[str, Any]:
    """What ``ImageLoaded`` sets: the state less what belongs to the image's session's log (its
    snapshots and merges, its name and event number)."""
    s = structure(state)
    s.pop("snapshots")
    s.pop("merged")
    s.pop("session")
    s.pop("seq")
    return s


# -- JSON export and import ----------------------------------------------------------------------
def export_image(path: str | Path) -> dict[str, Any]:
    """The whole image as readable JSON (values in the value encoding, nodes as JSON), importable again."""
    image = read_image(path, None)
    state = image_state(image)
    doc: dict[str, Any] = {
        "kind": EXPORT_KIND,
        "export_version": EXPORT_VERSION,
        "header": {k: v for k, v in image.header.items() if k != "sections"},
        "state": structure(state),
        "nodes": dict(_nodes_as_json(state)),
        "blobs": [[k, *encode_blob(state.blobs.get(k))] for k, _ in state.blobs.items()],
    }
    if "history" in image.sections:
        doc["history"] = orjson.loads(image.sections["history"])
    return doc


def import_image(json_path: str | Path, out_path: str | Path) -> ImageInfo:
    """Write an image from a JSON export (``tape image export``'s output)."""
    try:
        doc = orjson.loads(Path(json_path).read_bytes())
    except FileNotFoundError:
        raise UsageError(f"no such file: {json_path}") from None
    except orjson.JSONDecodeError as e:
        raise ImageError(f"{json_path}: not JSON ({e})") from None
    except OSError as e:
        raise UsageError(f"cannot read {json_path}: {e.strerror}") from None
    if not isinstance(doc, dict) or doc.get("kind") != EXPORT_KIND:
        raise ImageError(f"{json_path}: not a tapevm image export (no \"kind\": \"{EXPORT_KIND}\")")
    if doc.get("export_version") != EXPORT_VERSION:
        raise ImageError(f"{json_path}: export version {doc.get('export_version')!r} is not supported")
    missing = [key for key in ("header", "state", "nodes", "blobs") if key not in doc]
    if missing:
        raise ImageError(f"{json_path}: malformed image export (it has no {', '.join(map(repr, missing))}: "
                         "give a file 'tape image export' wrote)")
    problem = export_problem(doc)
    if problem is not None:
        raise ImageError(f"{json_path}: malformed image export ({problem}; give a file 'tape image export' wrote)")
    try:
        s = doc["state"]
        nodes = encode_nodes(((k, canonical_bytes(v)) for k, v in doc["nodes"].items()), keyless=True)
        blobs = encode_blobs((k, decode_blob(e, d)) for k, e, d in doc["blobs"])
        # the export holds the structure of format 2: decoded through its codec, written in the current one
        sections = {"state": encode_image_state(decode_state(frame_state(orjson.dumps(s), nodes))), "blobs": blobs}
        if "history" in doc:
            sections["history"] = orjson.dumps(doc["history"])
        decode_nodes(nodes)
        header = {k: v for k, v in doc["header"].items() if k not in ("format_version", "migrated_from")}
    except KeyError as e:
        raise ImageError(f"{json_path}: malformed image export (a part lacks the key {e})") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise ImageError(f"{json_path}: malformed image export (a part is not of the shape 'tape image export' "
                         f"writes: {e})") from None
    problem = header_problem(header)
    if problem is not None:
        raise ImageError(f"{json_path}: malformed image export (header: {problem})")

    def check(data: bytes) -> None:
        # the whole image, read back in memory, checked as verify and load check it, before anything
        # is written: an import either writes a loadable image or leaves the target as it was
        image = decode_image(data, str(json_path))
        state = image_state(image)
        check_content(json_path, state)
        if "history" in image.sections:
            _checked_history(image, str(header.get("source_session", "")), state)

    write_image(out_path, header, sections, check)
    return image_info(out_path)


__all__ = ["FORMAT_VERSION", "ImageInfo", "export_image", "image_info", "images_dir", "import_image",
           "list_images", "load_image", "load_state", "save_image", "verify"]


def check_against_source(path: str | Path, store: Any) -> str | None:
    """None when the image's chain link matches its source session's log in ``store``; else why not."""
    image = read_image(path, None)  # (whole: its state and history are compared once the link matches)
    header = image.header
    expected = header.get("source_chain_link")
    name, seq = header.get("source_session"), header.get("source_seq")
    if not expected:
        return "the image carries no chain link (written before tapevm recorded one)"
    try:
        head = NamedSessions.of(store).last_seq(str(name))
        if head == 0:
            return f"the store has no session {name!r}: --source checks an image against the store it was saved from"
        if head < int(seq or 0):
            return f"session {name!r} has events 1..{head}, and the image was saved at event {seq}: " \
                   "it is not of this log (or the log lost its tail)"
        actual = link_at(store, str(name), int(seq or 0))
    except TapeError as e:
        return f"cannot read source session {name!r}: {e}"
    if actual is None:
        return f"the store has no linked record holding event {seq} of session {name!r}"
    if actual != expected:
        return f"session {name!r} event {seq} has chain link {actual[:16]}…, the image says {expected[:16]}…: " \
               "the image is not of this log (or the log was altered)"
    return _differs_from_source(image, store, str(name), int(seq or 0))


def _differs_from_source(image: ImageFile, store: Any, name: str, seq: int) -> str | None:
    """Why the image's state (and history) are not those of session ``name`` at event ``seq``, or None.

    The chain link is copied into the header when the image is saved: an image whose state or
    history was edited afterwards (an export edited and imported) still carries it.
    """
    with open_session(name, store, create=False, writable=False) as source:
        if not same_canonical_state(image_state(image), source.state_at(seq)):
            return f"its state is not session {name!r}'s state at event {seq}: the image was altered after it " \
                   "was saved (its header's chain link is the source's)"
        if "history" in image.sections:
            mine = ((r.seq, r.cause, r.event) for r in _history_events(image, name, seq))
            for (n, cause, event), r in zip(mine, source.events(1, seq)):
                if (n, cause, event) != (r.seq, r.cause, r.event):
                    return f"its history differs from session {name!r}'s log at event {n}: the image was altered " \
                           "after it was saved (its header's chain link is the source's)"
    return None
