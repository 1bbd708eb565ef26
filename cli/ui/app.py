"""The ``tape ui`` application: its routes, each a page and the JSON endpoint behind it.

Every route reads the store through ``views.py`` (one call into the library per view, the shapes
of ``--json``) and renders with ``pages.py``.  Handlers are plain functions (Starlette runs them
in its thread pool) that take the store under one lock: the store object is opened once and is
not shared between threads at the same moment.  The live stream is the one ``async`` route: it
polls the session's head twice a second and sends the new rows as server-sent events.

URL scheme (docs/ui.md): ``/`` sessions (``?q=``), ``/s/NAME`` timeline (``?from=N&type=T,U&q=TEXT``
or ``?snapshot=NAME``), ``/s/NAME/state?at=N&prev=M`` time slider, ``/s/NAME/blame?binding=|fact=|file=``,
``/diff?a=A[@N]&b=B[@M]``, ``/s/NAME/replay?run=1``, ``/s/NAME/live?after=N`` (event stream); the same
paths under ``/api`` answer JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tapevm.cli.ui import pages, views
from tapevm.cli.ui.guard import Guard
from tapevm.domain.errors import SessionNotFound, TapeError, UsageError
from tapevm.infrastructure.store import Store

STATIC = Path(__file__).resolve().parent / "static"
LIVE_POLL = 0.5   # seconds between the live stream's looks at the head
T = TypeVar("T")


class Reader:
    """The store and the sessions it keeps open (``views.Source``), used by one request at a time."""

    def __init__(self, store: Store) -> None:
        self.source = views.Source(store)
        self.lock = threading.Lock()

    def __call__(self, read: Callable[[views.Source], T]) -> T:
        with self.lock:
            return read(self.source)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


def _status(e: TapeError) -> int:
    return 404 if isinstance(e, SessionNotFound) else 400 if isinstance(e, UsageError) else 500


def _int(request: Request, key: str) -> int | None:
    value = request.query_params.get(key)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 19:
        raise UsageError(f"{key}={value!r}: give an event number (0 or more)")
    return int(value)


def _listed(request: Request, key: str) -> tuple[str, ...]:
    return tuple(t for t in request.query_params.get(key, "").replace(" ", "").split(",") if t)


def _query(request: Request) -> views.TimelineQuery:
    return views.TimelineQuery(start=_int(request, "from") or 1, types=_listed(request, "type"),
                               text=request.query_params.get("q", ""), kinds=_listed(request, "kind"),
                               ns=request.query_params.get("ns", ""))


def _blame_target(request: Request) -> dict[str, Any]:
    given = {k: request.query_params[k] for k in ("binding", "fact", "file") if k in request.query_params}
    if len(given) != 1:
        raise UsageError("blame takes exactly one of binding=, fact= or file=")
    return {**given, "at": _int(request, "at")}


def build_app(store: Store, *, token: str | None = None, hosts: set[str] | None = None) -> Guard:
    """The application over an open ``store``; ``token``/``hosts`` as ``guard.Guard`` checks them."""
    read = Reader(store)

    def page(render: Callable[[Request], str]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                return HTMLResponse(render(request))
            except TapeError as e:
                return HTMLResponse(pages.error_page(str(e), request.path_params.get("name")), _status(e))
        return endpoint

    def api(answer: Callable[[Request], Any]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                return _json(answer(request))
            except TapeError as e:
                return _json({"error": str(e)}, _status(e))
        return endpoint

    routes = [*_page_routes(read, page), *_api_routes(read, api),
              Route("/s/{name}/live", _live(read)),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    return Guard(Starlette(routes=routes), token, hosts)


Wrap = Callable[[Callable[[Request], Any]], Callable[[Request], Response]]


def _page_routes(read: Reader, page: Wrap) -> list[Route]:
    def timeline(request: Request) -> str:
        name, snapshot = request.path_params["name"], request.query_params.get("snapshot")
        query = _query(request)
        if snapshot:
            at = read(lambda s: views.snapshot_event(s, name, snapshot))
            query = dataclasses.replace(query, start=max(1, at))
        return pages.timeline_page(read(lambda s: views.timeline(s, name, query)), query)

    def state(request: Request) -> str:
        name = request.path_params["name"]
        data = read(lambda s: views.state(s, name, _int(request, "at"), _int(request, "prev")))
        return pages.state_page(data)

    def blame(request: Request) -> str:
        name, target = request.path_params["name"], _blame_target(request)
        return pages.blame_page(name, read(lambda s: views.blame(s, name, **target)))

    def diff(request: Request) -> str:
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not (a and b):
            return pages.diff_page(a, b, None)
        try:
            return pages.diff_page(a, b, read(lambda s: views.diff(s, a, b)))
        except TapeError as e:
            return pages.diff_page(a, b, None, str(e))

    def replay(request: Request) -> str:
        name = request.path_params["name"]
        run = request.query_params.get("run") == "1"
        return pages.replay_page(name, read(lambda s: views.replay(s, name)) if run else None)

    def sessions(request: Request) -> str:
        search = request.query_params.get("q", "")
        return pages.sessions_page(read(lambda s: views.sessions(s, search)), search)

    return [Route("/", page(sessions)), Route("/s/{name}", page(timeline)), Route("/s/{name}/state", page(state)),
            Route("/s/{name}/blame", page(blame)), Route("/diff", page(diff)),
            Route("/s/{name}/replay", page(replay)), Route("/s", lambda r: RedirectResponse("/"))]


def _api_routes(read: Reader, api: Wrap) -> list[Route]:
    def sessions(request: Request) -> Any:
        return read(lambda s: views.sessions(s, request.query_params.get("q", "")))

    def events(request: Request) -> Any:
        name, query = request.path_params["name"], _query(request)
        return read(lambda s: views.timeline(s, name, query)).as_json()

    def state(request: Request) -> Any:
        name = request.path_params["name"]
        return read(lambda s: views.state(s, name, _int(request, "at"), _int(request, "prev")))

    def blame(request: Request) -> Any:
        name, target = request.path_params["name"], _blame_target(request)
        return read(lambda s: views.blame(s, name, **target))

    def diff(request: Request) -> Any:
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not (a and b):
            raise UsageError("diff needs a= and b= (session names or name@N addresses)")
        return read(lambda s: views.diff(s, a, b))

    def replay(request: Request) -> Any:
        name = request.path_params["name"]
        return read(lambda s: views.replay(s, name))

    return [Route("/api/sessions", api(sessions)), Route("/api/s/{name}/events", api(events)),
            Route("/api/s/{name}/state", api(state)), Route("/api/s/{name}/blame", api(blame)),
            Route("/api/diff", api(diff)), Route("/api/s/{name}/replay", api(replay))]


def _live(read: Reader) -> Callable[[Request], Any]:
    async def live(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            after = _int(request, "after")
            head = await run_in_threadpool(read, lambda s: views.head_of(s, name))
        except TapeError as e:
            return _json({"error": str(e)}, _status(e))
        return StreamingResponse(_news(read, request, name, head if after is None else after),
                                 media_type="text/event-stream", headers={"x-accel-buffering": "no"})
    return live


async def _news(read: Reader, request: Request, name: str, after: int) -> AsyncIterator[str]:
    """Server-sent events: ``rows`` with the HTML of each batch of new rows, ``head`` with the new head."""
    yield "retry: 1000\n\n"
    quiet = 0
    while not await request.is_disconnected():
        head = await run_in_threadpool(read, lambda s: views.head_of(s, name))
        if head > after:
            events = await run_in_threadpool(read, lambda s, since=after: list(views.new_events(s, name, since)))
            html = pages.live_rows(name, events)
            after, quiet = head, 0
            yield "event: rows\n" + "".join(f"data: {line}\n" for line in html.split("\n")) + "\n"
            yield f"event: head\ndata: {head}\n\n"
        else:
            quiet += 1
            if quiet % 30 == 0:
                yield ": still here\n\n"
        await asyncio.sleep(LIVE_POLL)
