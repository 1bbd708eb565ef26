"""The plain eventsourcing-library baseline: an Application with one aggregate type.

``Namespace`` is the library-idiomatic twin of a tapevm session's global
namespace: its ``define(ns, name, value)`` command triggers a ``Defined``
event (stored by the library's mapper with its default JSONTranscoder) whose
replay sets ``bindings[name] = value`` -- the same work tapevm's fold does for
a Defined event.

Persistence is the library's own SQLite module, selected the documented way
(``PERSISTENCE_MODULE=eventsourcing.sqlite``, ``SQLITE_DBNAME=<file>``, given
as the application's ``env``).  The library opens its connections in WAL mode
but does not set ``synchronous``; :func:`full_sync_app` makes every
connection of the application's pool run ``PRAGMA synchronous=FULL``, the
setting tapevm's default durability uses, and :func:`pragmas` reads back what
the connections actually run with so each benchmark can print it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder, Transcoding
from eventsourcing.sqlite import SQLiteConnectionPool


class Namespace(Aggregate):
    def __init__(self, name: str) -> None:
        self.name = name
        self.bindings: dict[str, Any] = {}

    @event("Defined")
    def define(self, ns: str, name: str, value: Any) -> None:
        self.bindings[name] = value


@dataclass(frozen=True)
class Closure:
    """A user function as a library user would keep it in an event: what tapevm stores of one.

    tapevm's closure node holds the parameter list, the body forms, the captured
    environment (none for a top-level ``lambda``), the name and the namespace;
    here the same fields, the body as nested lists of symbols (``str``) and
    numbers, the way a Lisp form is plain JSON data.
    """

    params: list[str]
    body: list[Any]
    name: str | None
    ns: str


class ClosureAsDict(Transcoding):
    """The library's documented way to store a custom value type (a ``Transcoding``
    registered in ``Application.register_transcodings``, as its own test suite
    does for ``EmailAddress``)."""

    type = Closure
    name = "closure"

    def encode(self, obj: Closure) -> dict[str, Any]:
        return {"params": obj.params, "body": obj.body, "name": obj.name, "ns": obj.ns}

    def decode(self, data: dict[str, Any]) -> Closure:
        return Closure(data["params"], data["body"], data["name"], data["ns"])


class NamespaceApp(Application[Any]):
    """A plain library application; no snapshotting, no cache (the defaults); closures as values."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(ClosureAsDict())


def closure_value(name: str, k: int) -> Closure:
    """The library twin of ``(define NAME (lambda (x) (+ x K)))``: the closure tapevm stores."""
    return Closure(["x"], [["+", "x", k]], name, "user")




@contextlib.contextmanager
def _synchronous_full() -> Iterator[None]:
    original = SQLiteConnectionPool._create_connection

    def create(self: SQLiteConnectionPool) -> Any:
        conn = original(self)
        conn._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return conn

    SQLiteConnectionPool._create_connection = create  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQLiteConnectionPool._create_connection = original  # type: ignore[method-assign]


def full_sync_app(db_path: str) -> NamespaceApp:
    """A NamespaceApp on ``db_path`` whose connections all use synchronous=FULL."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": db_path}
    with _synchronous_full():
        app = NamespaceApp(env=env)
    # Connections are created lazily; keep the patch on this app's pool.
    pool = app.recorder.datastore.pool  # type: ignore[attr-defined]
    original = type(pool)._create_connection

    def create() -> Any:
        conn = original(pool)
        conn._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return conn

    pool._create_connection = create
    for conn in list(getattr(pool, "_pool", [])):
        with contextlib.suppress(Exception):
            conn._sqlite_conn.execute("PRAGMA synchronous=FULL")
    return app


SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def pragmas(datastore: Any) -> dict[str, str]:
    """journal_mode and synchronous of a connection the datastore writes with."""
    with datastore.transaction(commit=True) as c:
        c.execute("PRAGMA journal_mode")
        journal = c.fetchone()[0]
        c.execute("PRAGMA synchronous")
        sync = c.fetchone()[0]
    return {"journal_mode": str(journal).upper(), "synchronous": SYNC_NAMES.get(sync, str(sync))}


def define_batch(agg: Namespace, names: list[str], values: list[Any], ns: str = "user") -> None:
    for name, value in zip(names, values):
        agg.define(ns, name, value)


def timed_saves(
    app: NamespaceApp, events: int, size: int, value: Callable[[str, int], Any] | None = None
) -> tuple[float, int, int, float]:
    """Save batches of ``size`` Defined events until ``events`` are stored: (seconds, events, saves,
    CPU seconds of this process meanwhile).

    The Created event is saved before the clock starts; one ``app.save`` per batch,
    as the benchmarks' baseline ("Application.save of 100-event batches").  The
    ``i``-th definition of batch ``b`` binds ``b * size + i`` (integers, the default) or
    ``value(name, b * size + i)``, e.g. :func:`closure_value` (made inside the timed loop,
    as tapevm makes its closures while running the form).
    """
    import gc
    import time

    names = [f"x{i}" for i in range(size)]
    agg = Namespace("user")
    app.save(agg)
    v0 = agg.version
    gc.collect()
    saves = 0
    start, cpu = time.perf_counter(), time.process_time()
    while agg.version - v0 < events:
        base = saves * size
        if value is None:
            for i in range(size):
                agg.define("user", names[i], base + i)
        else:
            for i in range(size):
                agg.define("user", names[i], value(names[i], base + i))
        app.save(agg)
        saves += 1
    return time.perf_counter() - start, agg.version - v0, saves, time.process_time() - cpu
