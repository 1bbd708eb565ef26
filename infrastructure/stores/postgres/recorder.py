"""PostgreSQL, for many machines: the eventsourcing library's recorder over psycopg 3.

The library's ``PostgresApplicationRecorder`` and its table, with tapevm's
write path: a head check inside the insert transaction, and no table lock, so
writers on different sessions commit concurrently (the library's
``LOCK TABLE ... IN EXCLUSIVE MODE`` serialised every commit, WAL flush
included).  Followers keep reading the global log in commit order through the
transaction-id column and visibility fence of ``log.py``.  Each row
is a commit record (see ``records/record_codec.py``); the primary key (session, first event
number) stops two writers at the same head, the head check any other stale writer.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresProcessRecorder,
)
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool import PoolTimeout

from tapevm.domain.errors import StoreError, UsageError
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.postgres.log import ensure_xid_column
from tapevm.infrastructure.stores.postgres.deletion_witness import ensure_deletion_witness
from tapevm.infrastructure.stores.records.deleted_records import DELETED_TABLE, first_deleted_sql, refuse_hole
from tapevm.infrastructure.stores.records.events_table import EVENT_COLUMNS, EVENTS_TABLE, checked_starts, start_query
from tapevm.infrastructure.stores.records.stream_head import (
    HeadMismatch,
    LeaseFence,
    check_fence,
    check_head,
    head_of,
)

log = get_logger("tapevm.postgres")

# ?schema=NAME: one tapevm store per schema, so several share a database;
# pool_size (connections kept open, default 2) and max_overflow (extra ones under
# load, default 4); connect_timeout in seconds (default 5).
URL_OPTIONS = frozenset({"schema", "pool_size", "max_overflow", "connect_timeout"})
# A schema name goes into SQL (some of it, the library's and the checkpoints', not quoted): an
# unquoted PostgreSQL identifier of at most 63 bytes, nothing else.
SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# (least, most) for the numeric options: a pool of 10**20 connections hung opening it.
URL_NUMBERS: dict[str, tuple[float, float]] = {"pool_size": (1, 100), "max_overflow": (0, 100),
                                               "connect_timeout": (0.1, 600)}


class TapePostgresRecorder(PostgresApplicationRecorder):
    """The library's recorder, writing without its table lock (see ``log.py``).

    A commit record (one row, no tracking) is ONE statement in its own
    implicit transaction: the head check and the insert together
    (``CHECKED_INSERT``), then a NOTIFY.  Anything else (several rows, a
    process recorder's tracking row) is one pipelined transaction: [BEGIN, the
    library's hook, the head SELECT, the INSERT], [COMMIT], then NOTIFY.  Fewer
    statements matter: on a small machine the writers' own CPU, psycopg's
    per-statement work included, is what limits concurrent throughput.

    The NOTIFY that wakes followers runs in its own transaction after the
    commit: a NOTIFY inside the writing transaction holds PostgreSQL's
    database-wide notification lock through the commit's WAL flush, which
    serialises the commits of all writers just as the table lock did.
    """

    #: Write the library's way instead (``LOCK TABLE ... IN EXCLUSIVE MODE`` until COMMIT):
    #: only for benchmarks that compare the two.
    table_lock: bool = False
    #: When to NOTIFY followers: "after_commit" (tapevm's way), "in_transaction" (the library's), "none".
    notify: str = "after_commit"

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.head_statement = SQL(
            "SELECT originator_version AS v, topic AS t FROM {}.{} WHERE originator_id = %s "
            "ORDER BY originator_version DESC LIMIT 1"
        ).format(Identifier(datastore.schema), Identifier(events_table_name))
        self.notify_statement = SQL("NOTIFY {}").format(Identifier(self.channel_name))
        self.checked_insert = SQL(CHECKED_INSERT).format(t=SQL("{}.{}").format(
            Identifier(datastore.schema), Identifier(events_table_name)))
        # the same with the library's NOTIFY inside the transaction (notify = "in_transaction", for benchmarks)
        self.checked_insert_notify = self.checked_insert + SQL(", pg_notify({}, '') AS notified").format(
            Literal(self.channel_name))
        self._rendered: tuple[str, str, str] | None = None  # the statements as text, which psycopg caches
        self._fenced: dict[str, tuple[str, str]] = {}  # lease table -> FENCED_INSERT (+ NOTIFY) as text

    def create_table(self) -> None:
        """The library's table, plus the transaction-id column followers read the log by."""
        super().create_table()
        ensure_xid_column(self.datastore, self.events_table_name, ddl_lock_sql(self.datastore.schema))
        ensure_deletion_witness(self.datastore, self.events_table_name, ddl_lock_sql(self.datastore.schema))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert in one transaction, after checking the head; no table lock.

        The primary key already stops two writers at the same number; the head
        check also stops a writer whose idea of the head is stale in any other
        way, so event numbers stay gapless and commits never overlap.  A
        mismatch raises (and rolls back) after the INSERT was sent in the same
        round trip: cheaper than waiting for the SELECT first.
        """
        fence: LeaseFence | None = kwargs.get("lease")
        if len(stored_events) == 1 and not kwargs.get("tracking") and not self.table_lock:
            return self._insert_one(stored_events[0], bool(kwargs.get("fork_start")), fence)
        failure: Exception | None = None
        ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline() as pipeline:
                try:
                    with conn.transaction():
                        with conn.cursor() as curs:
                            self._insert_events(curs, stored_events, **kwargs)  # the library's hook
                            if self.table_lock:
                                self._lock_table(curs)
                            if self.notify == "in_transaction":
                                curs.execute(self.notify_statement)
                        if stored_events:
                            ids = self._insert_checked(conn, pipeline, stored_events, bool(kwargs.get("fork_start")),
                                                       fence)
                except Exception as e:  # noqa: BLE001 - re-raised below, outside the pipeline (which would warn)
                    failure = e
            if failure is not None:  # inside get_connection, which turns psycopg errors into the library's
                raise failure
            if stored_events and self.notify == "after_commit":
                self._notify_committed(conn.cursor())
        return ids

    def _insert_one(self, event: StoredEvent, fork_start: bool, fence: LeaseFence | None) -> Sequence[int]:
        """One row: (lease fence,) head check and insert in one statement (its own transaction), then NOTIFY."""
        with self.datastore.get_connection() as conn:
            if self._rendered is None:
                self._rendered = (self.checked_insert.as_string(conn), self.checked_insert_notify.as_string(conn),
                                  self.notify_statement.as_string(conn))
            insert, insert_notify, notify = self._rendered
            if fence is not None:
                insert, insert_notify = self._fenced_statements(conn, fence)
            if self.notify == "in_transaction":
                insert = insert_notify
            params = {"s": event.originator_id, "v": event.originator_version, "t": event.topic,
                      "b": event.state, "fork": fork_start}
            if fence is not None:
                params["k"] = fence.token
            with conn.cursor() as curs:
                curs.execute(insert, params, prepare=True)
                row = curs.fetchone()
                assert row is not None  # the statement always returns one row
                if self.notify == "after_commit" and row["n"] is not None:
                    self._notify_committed(curs, notify)
        if row["n"] is None and fence is not None:  # the fence first: a lost lease explains a moved head too
            check_fence(str(event.originator_id), fence,
                        None if row["lt"] is None else (row["lt"], row["lp"], row["lh"]))
        if row["n"] is None:  # the statement refused: say why, as the Python head check words it
            head = head_of(row["v"], row["t"]) if row["v"] is not None else 0
            check_head(str(event.originator_id), event.originator_version, event.topic, head, fork_start=fork_start)
            raise HeadMismatch(f"session {event.originator_id!r}: the commit at {event.originator_version} "
                               f"does not follow the head ({head}); reopen the session")
        return [row["n"]]

    def _fenced_statements(self, conn: Any, fence: LeaseFence) -> tuple[str, str]:
        """FENCED_INSERT over ``fence``'s lease table (and its variant with the NOTIFY inside), as text."""
        rendered = self._fenced.get(fence.table)
        if rendered is None:
            statement = SQL(FENCED_INSERT).format(t=SQL("{}.{}").format(
                Identifier(self.datastore.schema), Identifier(self.events_table_name)), lease=SQL(fence.table))
            notified = statement + SQL(", pg_notify({}, '') AS notified").format(Literal(self.channel_name))
            rendered = self._fenced[fence.table] = (statement.as_string(conn), notified.as_string(conn))
        return rendered

    def _notify_committed(self, curs: Any, statement: Any = None) -> None:
        """Wake followers; the row is committed already, so a failure here is only logged.

        Raising would make the caller (and the library's retry) treat a
        committed write as failed; followers also poll, so they still see it.
        """
        try:
            curs.execute(statement or self.notify_statement, prepare=True)
        except psycopg.Error as e:
            log.warning("notify_failed", channel=self.channel_name, error=str(e).strip().splitlines()[0:1])

    def _insert_checked(self, conn: Any, pipeline: Any, stored_events: Sequence[StoredEvent],
                        fork_start: bool, fence: LeaseFence | None) -> Sequence[int] | None:
        first = stored_events[0]
        with conn.cursor() as head_curs, conn.cursor() as curs, conn.cursor() as lease_curs:
            if fence is not None:
                lease_curs.execute(SQL("SELECT token, pid, host FROM {} WHERE session = %s FOR KEY SHARE").format(
                    SQL(fence.table)), (first.originator_id,))
            head_curs.execute(self.head_statement, (first.originator_id,), prepare=True)
            PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events)
            pipeline.sync()  # a duplicate key raises here, inside the transaction
            if fence is not None:
                lease = lease_curs.fetchone()
                check_fence(str(first.originator_id), fence,
                            None if lease is None else (lease["token"], lease["pid"], lease["host"]))
            row = head_curs.fetchone()
            # our own row is not visible to the SELECT, which ran first: this is the head before us
            head = head_of(row["v"], row["t"]) if row else 0
            check_head(str(first.originator_id), first.originator_version, first.topic, head, fork_start=fork_start)
            return self._fetch_ids_after_insert_events(curs, stored_events)

    def _table(self) -> Any:
        return SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.events_table_name))

    def head(self, stream: str) -> int:
        """The last event number: the last commit record's first number + its event count - 1."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT originator_version AS v, topic AS t FROM {} WHERE originator_id = %s "
                    "ORDER BY originator_version DESC LIMIT 1"
                ).format(self._table()),
                (stream,),
            )
            row = curs.fetchone()
            return head_of(row["v"], row["t"]) if row else 0

    def record_start(self, stream: str, seq: int) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT MAX(originator_version) AS v FROM {} WHERE originator_id = %s AND originator_version <= %s"
                ).format(self._table()),
                (stream, seq),
            )
            row = curs.fetchone()
            return None if row is None or row["v"] is None else int(row["v"])

    def record_starts(self, stream: str, seqs: Sequence[int]) -> list[int | None]:
        """For each event number of ``seqs``: the first event number of the record holding it, after
        the check for a deleted record (``sqlite.recorder.record_starts``)."""
        bounds = sorted(set(seqs))
        deleted = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(DELETED_TABLE))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            table = self._table().as_string(conn)
            curs.execute(first_deleted_sql(table, deleted.as_string(conn), "%s"), (stream, bounds[-1]))
            row = curs.fetchone()
            refuse_hole(stream, None if row is None else (row["version"], row["topic"]))
            curs.execute(start_query(table, "%s", len(bounds)), [p for b in bounds for p in (stream, b)])
            rows = [(r["i"], r["v"]) for r in curs.fetchall()]
        return checked_starts(stream, bounds, rows, seqs)

    def session_heads(self) -> list[tuple[str, int, int]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT s.originator_id AS s, s.originator_version AS v, s.topic AS t, g.b AS b FROM {} s "
                    "JOIN (SELECT originator_id, MAX(originator_version) AS m, SUM(octet_length(state)) AS b "
                    "FROM {} GROUP BY originator_id) g "
                    "ON s.originator_id = g.originator_id AND s.originator_version = g.m ORDER BY s.originator_id"
                ).format(self._table(), self._table())
            )
            return [(r["s"], head_of(r["v"], r["t"]), int(r["b"] or 0)) for r in curs.fetchall()]

    def select_rows(self, stream: str, gt: int, lte: int | None, limit: int) -> list[tuple[int, str, bytes]]:
        query = SQL(
            "SELECT originator_version AS v, topic AS t, state AS s FROM {} "
            "WHERE originator_id = %s AND originator_version > %s"
        ).format(self._table())
        params: list[Any] = [stream, gt]
        if lte is not None:
            query += SQL(" AND originator_version <= %s")
            params.append(lte)
        query += SQL(" ORDER BY originator_version LIMIT %s")
        params.append(limit)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params, prepare=True)
            # (a state made NULL by hand stays None: the readers report that record as altered)
            return [(r["v"], r["t"], r["s"] if r["s"] is None else bytes(r["s"]))  # type: ignore[misc]
                    for r in curs.fetchall()]


class TapePostgresProcessRecorder(TapePostgresRecorder, PostgresProcessRecorder):
    """The library's process recorder (tracking + events in one transaction) on tapevm's write path.

    tapevm's ``insert_events`` (head check, no table lock) calls the
    library's ``_insert_events`` hook, which here inserts the tracking row.
    """


# The head check of stream_head.py in SQL, inside the INSERT (one statement, one implicit
# transaction): the stream's last row gives the head (a commit topic "commit:<format>:<count>"
# holds <count> events, any other row one); the row is inserted only if a commit starts right
# after it (or a fork's first commit starts an empty stream; foreign rows are not checked).
# The last row is returned either way, so a refusal is explained by the Python check.
_HEAD = """
last AS (
  SELECT originator_version AS v, topic AS t FROM {t} WHERE originator_id = %(s)s
  ORDER BY originator_version DESC LIMIT 1),
head AS (
  SELECT COALESCE((SELECT v + CASE WHEN t LIKE 'commit:%%' THEN split_part(t, ':', 3)::bigint ELSE 1 END - 1
                   FROM last), 0) AS h),
ins AS (
  INSERT INTO {t} (originator_id, originator_version, topic, state)
  SELECT %(s)s, %(v)s, %(t)s, %(b)s FROM head
  WHERE (%(t)s NOT LIKE 'commit:%%' OR (%(fork)s AND h = 0) OR %(v)s = h + 1)"""
_RETURNED = """
  RETURNING notification_id)
SELECT (SELECT v FROM last) AS v, (SELECT t FROM last) AS t, (SELECT notification_id FROM ins) AS n"""
CHECKED_INSERT = "\nWITH" + _HEAD + _RETURNED


# CHECKED_INSERT with the lease fence (records/stream_head.py): the row goes in only while the
# stream's lease row holds this writer's token (%(k)s).  FOR KEY SHARE: a taker's DELETE of the row
# waits for this statement's commit (and then finds the commit in the head it reads), while the
# holder's heartbeat UPDATE does not.  The lease row is returned, so a refusal names the new holder.
FENCED_INSERT = ("""
WITH lease AS (
  SELECT token, pid, host FROM {lease} WHERE session = %(s)s FOR KEY SHARE),""" + _HEAD + """
    AND EXISTS (SELECT 1 FROM lease WHERE token = %(k)s)""" + _RETURNED + """,
       (SELECT token FROM lease) AS lt, (SELECT pid FROM lease) AS lp, (SELECT host FROM lease) AS lh""")


def ddl_lock_sql(schema: str) -> str:
    """A transaction-scoped advisory lock that serialises tapevm's CREATE TABLEs in one schema.

    ``CREATE TABLE IF NOT EXISTS`` is not safe against a concurrent twin in
    PostgreSQL (it can fail on the catalog's unique index), and many processes
    may open a new store at once.
    """
    safe = schema.replace("'", "''")
    return f"SELECT pg_advisory_xact_lock(hashtext('tapevm-ddl:{safe}'))"


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages (even a URL that does not parse)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. "Invalid IPv6 URL": hide whatever stands between ':' and '@' after the scheme
        return re.sub(r"^([a-z]+://[^:/@]*):[^@]*@", r"\1:***@", url)
    if password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def _url_number(query: dict[str, str], name: str, default: str, url: str) -> float:
    """A numeric URL option within its bounds (URL_NUMBERS), or a one-line UsageError."""
    least, most = URL_NUMBERS[name]
    text = query.get(name, default)
    try:
        value = float(text) if name == "connect_timeout" else int(text)
    except ValueError:
        value = math.nan
    if not least <= value <= most:  # (nan, inf and non-numbers fail here too)
        kind = "a number of seconds" if name == "connect_timeout" else "an integer"
        raise UsageError(f"bad {name}={text!r} in store URL {redact_url(url)}: give {kind} from {least:g} to {most:g}")
    return value


def open_postgres_recorder(url: str) -> tuple[TapePostgresRecorder, PostgresDatastore]:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as e:  # "Invalid IPv6 URL", "Port out of range", a port that is not a number
        raise UsageError(f"bad store URL {redact_url(url)}: {e}") from None
    options = parse_qs(parts.query)
    repeated = sorted(k for k, values in options.items() if len(values) > 1)
    if repeated:  # which one would win is a guess the user should not have to make
        raise UsageError(f"option {repeated[0]!r} is given {len(options[repeated[0]])} times in store URL "
                         f"{redact_url(url)}: give it once")
    query = {k: values[0] for k, values in options.items()}
    unknown = sorted(set(query) - URL_OPTIONS)
    if unknown:  # a typo such as ?schem=x must not silently write to the public schema
        raise UsageError(
            f"unknown option {unknown[0]!r} in store URL {redact_url(url)}: use {', '.join(sorted(URL_OPTIONS))}"
        )
    schema = query.get("schema", "")
    if schema and not SCHEMA_NAME.fullmatch(schema):
        raise UsageError(f"bad schema {schema!r} in store URL {redact_url(url)}: use at most 63 letters, digits "
                         "and '_', not starting with a digit")
    pool_size = int(_url_number(query, "pool_size", "2", url))
    max_overflow = int(_url_number(query, "max_overflow", "4", url))
    connect_timeout = _url_number(query, "connect_timeout", "5", url)
    server: dict[str, Any] = {"dbname": unquote(parts.path.lstrip("/")) or "postgres", "host": host or "127.0.0.1",
                              "port": port or 5432, "user": unquote(parts.username or "postgres"),
                              "password": unquote(parts.password or "")}
    datastore: PostgresDatastore | None = None
    try:
        datastore = PostgresDatastore(
            **server,
            schema=schema,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_timeout=connect_timeout,
            originator_id_type="text",
        )
        recorder = TapePostgresRecorder(datastore, events_table_name=EVENTS_TABLE)
        create_tables(datastore, recorder)
        return recorder, datastore
    except Exception as e:  # noqa: BLE001 - re-raised as one line: the library's, psycopg's (server down...), OSError
        if datastore is not None:  # its pool, closed here: left to the collector, it closed from its own thread
            with contextlib.suppress(Exception):  # (the error to report is the one above)
                datastore.close()
        reason = _connection_refusal(server, connect_timeout) if _pool_timed_out(e) else None
        raise StoreError(f"cannot open PostgreSQL store {redact_url(url)}: {_redacted(reason or e, url)}") from None


def _pool_timed_out(error: BaseException) -> bool:
    """Whether ``error`` is the pool giving up waiting for a connection (it retries a refused one
    in the background, so its error says only how long it waited)."""
    return isinstance(error, PoolTimeout) or isinstance(error.__cause__ or error.__context__, PoolTimeout)


def _connection_refusal(server: dict[str, Any], connect_timeout: float) -> Exception | None:
    """The server's own reason for refusing a connection (``database "x" does not exist``, a failed
    password, connection refused), from one direct attempt; None if that attempt succeeds.

    A server that answers refuses at once; only a host that does not answer makes this wait, at
    most 2 s (libpq's least) or ``connect_timeout`` if that is less.
    """
    try:
        psycopg.connect(**server, connect_timeout=max(1, math.ceil(min(connect_timeout, 2.0)))).close()
    except Exception as e:  # noqa: BLE001 - any refusal is the reason to report
        return e
    return None


def create_tables(datastore: PostgresDatastore, recorder: Any) -> None:
    """Create the schema and ``recorder``'s tables if missing, one process at a time.

    Creation is idempotent but not concurrency-safe in PostgreSQL (CREATE TYPE
    and CREATE SCHEMA race); an advisory lock serialises processes opening a new store.
    """
    key = f"tapevm-schema:{datastore.schema}"
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            if datastore.schema != "public":
                curs.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(datastore.schema)))
            if hasattr(recorder, "events_table_name"):  # (a tracking recorder has no events table)
                _refuse_foreign_table(curs, datastore.schema or "public", recorder.events_table_name)
            recorder.create_table()
        finally:
            curs.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def _refuse_foreign_table(curs: Any, schema: str, table: str) -> None:
    """Refuse a schema whose table of tapevm's name lacks tapevm's columns, before anything is created there.

    It is another application's (or was altered by hand): the library would create its types and
    functions beside it and then fail on a missing column, in the server's words only.
    """
    curs.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                 (schema, table))
    columns = {row["column_name"] for row in curs.fetchall()}
    missing = sorted(set(EVENT_COLUMNS).union({"notification_id"}) - columns)
    if columns and missing:
        raise StoreError(f"the table {schema}.{table} there is not a tapevm events table (it has no column "
                         f"{', '.join(missing)}); give this store a schema of its own (?schema=NAME)")


def _redacted(error: Exception, url: str) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text
