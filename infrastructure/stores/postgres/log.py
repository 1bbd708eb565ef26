"""The global log of a PostgreSQL store in commit order, without serialising writers.

tapevm writes to PostgreSQL without the eventsourcing library's
``LOCK TABLE ... IN EXCLUSIVE MODE`` (which serialised every commit of every
session, WAL flush included).  Without it, ``notification_id`` order is no
longer commit order: transaction A can take id 10, B id 11 and commit first,
and a follower that read "after 11" would never see 10.  So each row also
records the id of the transaction that wrote it (column ``tape_xid``,
``xid8 DEFAULT pg_current_xact_id()``), and followers read through a
*visibility fence*: only rows whose transaction is older than every
transaction still running (``tape_xid < pg_snapshot_xmin(pg_current_snapshot())``,
evaluated in the reading statement's own snapshot), in (xid, notification id)
order, and never half a transaction.

Why that is complete: every transaction id below the fence belongs to a
transaction that had finished when the read's snapshot was taken, so all its
rows are visible to that read or never will be (it aborted).  A transaction
still running, or one that has not written yet, has (or will get) an id at or
above the fence.  A follower that has applied every transaction up to id X
(X below some earlier fence) therefore never later finds a new row with an id
at or below X: "everything after X" is a gap-free way to resume.

Positions (opaque increasing integers for followers, stored in the library's
one-integer tracking table):

* rows written before the column existed (``tape_xid`` NULL; written under the
  library's table lock, so their notification ids are in commit order) have
  position = ``notification_id``, which keeps followers' old tracking records valid;
* every other row has position = ``XID_POSITION_BASE + tape_xid``, shared by all
  rows of one transaction (tapevm writes one row per transaction).

The cost: a follower lags behind by at most the oldest write transaction
running anywhere on the server (the fence is cluster-wide), so a session left
idle in a transaction that has written something holds every follower back
until it ends.  The xids are the server's own: a store copied into another
cluster (dump and restore) needs its followers rebuilt (``check_xid_horizon``).
The library's ``select_notifications`` (notification-id order) stays as it is
and is correct for listing, but not for tailing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.sql import SQL, Identifier

from tapevm.domain.errors import StoreError
from tapevm.infrastructure.stores.postgres.identifiers import qualified_name
from tapevm.infrastructure.stores.records.commit_record import CommitRecord

XID_COLUMN = "tape_xid"
# Notification ids (legacy rows) stay below this, transaction positions above it.
XID_POSITION_BASE = 1 << 40


def xid_index_name(table: str) -> str:
    return f"{table}_{XID_COLUMN}_idx"


def legacy_index_name(table: str) -> str:
    return f"{table}_{XID_COLUMN}_null_idx"


def ensure_xid_column(datastore: Any, table: str, ddl_lock: str) -> None:
    """Add ``tape_xid`` and its index to the events table if missing (new and existing stores).

    The catalog is checked first because ``ALTER TABLE`` takes an ACCESS
    EXCLUSIVE lock even when there is nothing to do; the change itself runs
    under tapevm's DDL advisory lock.  Two indexes: (xid, notification id) for
    reading by transaction, and notification id where the xid is NULL.  Existing rows keep NULL (the column is
    added without a default, which would rewrite the table and give every old
    row one id); the default applies to every later insert, whoever makes it.
    """
    schema = datastore.schema
    qualified = SQL("{}.{}").format(Identifier(schema), Identifier(table))
    check = SQL(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attname = %s AND NOT attisdropped) AND to_regclass(%s) IS NOT NULL "
        "AND to_regclass(%s) IS NOT NULL AS ok"
    )
    params = (qualified_name(schema, table), XID_COLUMN, qualified_name(schema, xid_index_name(table)),
              qualified_name(schema, legacy_index_name(table)))
    ensure_ddl(datastore, ddl_lock, check, params, [
        SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} xid8").format(qualified, Identifier(XID_COLUMN)),
        SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT pg_current_xact_id()").format(qualified, Identifier(XID_COLUMN)),
        SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, notification_id)").format(
            Identifier(xid_index_name(table)), qualified, Identifier(XID_COLUMN)),
        # the rows from before the column, in notification-id order (empty in a new store)
        SQL("CREATE INDEX IF NOT EXISTS {} ON {} (notification_id) WHERE {} IS NULL").format(
            Identifier(legacy_index_name(table)), qualified, Identifier(XID_COLUMN)),
    ])


def ensure_ddl(datastore: Any, ddl_lock: str, check: Any, params: Sequence[Any], statements: Sequence[Any]) -> None:
    """Run ``statements`` unless ``check`` (a query answering ``ok``) says they ran: the catalog is read
    first, without a lock (DDL locks its table even when there is nothing to do), then again under
    tapevm's DDL advisory lock, in the transaction that runs them."""
    with datastore.get_connection() as conn:
        if conn.execute(check, params).fetchone()["ok"]:
            return
        with conn.transaction():
            conn.execute(ddl_lock)
            if conn.execute(check, params).fetchone()["ok"]:
                return
            for statement in statements:
                conn.execute(statement)


class PostgresLogReader:
    """Reads one store's events table in commit order through the visibility fence."""

    def __init__(self, datastore: Any, table: str) -> None:
        self.datastore = datastore
        t = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(table))
        cols = SQL("notification_id AS n, originator_id AS s, originator_version AS v, topic AS t, state AS b")
        x = Identifier(XID_COLUMN)
        self._legacy = SQL(
            "SELECT {cols} FROM {t} WHERE {x} IS NULL AND notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(cols=cols, t=t, x=x)
        # One statement, so the fence and the rows come from the same snapshot.  ``held`` says
        # whether committed rows wait behind the fence (a follower should look again soon).
        self._fenced = SQL(
            "WITH f AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) "
            "SELECT {cols}, {x}::text AS x, "
            "COALESCE((SELECT MAX({x}) FROM {t}) >= (SELECT xmin FROM f), false) AS held "
            "FROM (SELECT 1) one LEFT JOIN LATERAL ("
            "SELECT * FROM {t} WHERE {x} > %s::xid8 AND {x} < (SELECT xmin FROM f) "
            "ORDER BY {x}, notification_id LIMIT %s) r ON true ORDER BY r.{x}, r.notification_id"
        ).format(cols=cols, t=t, x=x)
        self._rest_of = SQL(
            "SELECT {cols}, {x}::text AS x FROM {t} WHERE {x} = %s::xid8 AND notification_id > %s "
            "ORDER BY notification_id"
        ).format(cols=cols, t=t, x=x)
        self._last = SQL("SELECT MAX({x})::text AS x FROM {t}").format(t=t, x=x)
        self._last_legacy = SQL("SELECT MAX(notification_id) AS n FROM {t} WHERE {x} IS NULL").format(t=t, x=x)
        self._horizon = SQL(
            "SELECT (SELECT MAX({x}) FROM {t}) >= pg_snapshot_xmax(pg_current_snapshot()) AS ahead"
        ).format(t=t, x=x)

    def read_after(self, position: int, limit: int) -> tuple[list[CommitRecord], bool]:
        """Whole transactions after ``position``, at least ``limit`` rows if there are that many.

        Returns the rows (each carrying the position to store once it is
        applied) and whether committed rows are held back by the fence.  A page
        never ends inside a transaction, so it may exceed ``limit`` by the rest
        of its last transaction.
        """
        rows: list[CommitRecord] = []
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            after_xid = position - XID_POSITION_BASE
            if position < XID_POSITION_BASE:
                curs.execute(self._legacy, (position, limit), prepare=True)
                rows = [CommitRecord(r["n"], str(r["s"]), r["v"], r["t"], bytes(r["b"])) for r in curs.fetchall()]
                if len(rows) >= limit:
                    return rows, False
                after_xid = 0
            curs.execute(self._fenced, (str(after_xid), limit - len(rows)), prepare=True)
            fetched = curs.fetchall()
            held = bool(fetched[0]["held"]) if fetched else False
            found = [r for r in fetched if r["x"] is not None]
            if found and len(found) == limit - len(rows):  # the page may have cut the last transaction
                last = found[-1]
                curs.execute(self._rest_of, (last["x"], last["n"]), prepare=True)
                found += curs.fetchall()
        rows += _with_positions(found, rows[-1].position if rows else position)
        return rows, held

    def last_position(self) -> int:
        """The position of the newest committed row (whether or not the fence has passed it yet)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._last, prepare=True)
            row = curs.fetchone()
            if row["x"] is not None:
                return XID_POSITION_BASE + int(row["x"])
            curs.execute(self._last_legacy, prepare=True)
            return int(curs.fetchone()["n"] or 0)

    def check_xid_horizon(self) -> None:
        """Refuse a store whose rows carry transaction ids this server has not issued yet.

        That happens when a store is copied into another cluster: new rows would
        get ids below the old ones, and followers would skip them.
        """
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._horizon)
            row = curs.fetchone()
        if row["ahead"]:
            raise StoreError(
                "this store's rows carry transaction ids newer than this PostgreSQL server's "
                "(was it copied from another server?): followers of its log cannot resume safely; "
                "rebuild them from position 0 after setting the tape_xid column to NULL"
            )


def _with_positions(rows: list[Any], before: int) -> list[CommitRecord]:
    """Rows of whole transactions, each with the position to store after applying it.

    All rows of a transaction share its xid, but only its last row carries the
    transaction's position: the rows before it carry ``before`` (the position
    before the transaction), so a follower that stops in the middle reads the
    whole transaction again rather than skipping the rest of it.
    """
    out: list[CommitRecord] = []
    for i, r in enumerate(rows):
        if i + 1 == len(rows) or rows[i + 1]["x"] != r["x"]:
            before = XID_POSITION_BASE + int(r["x"])
        out.append(CommitRecord(before, str(r["s"]), r["v"], r["t"], bytes(r["b"])))
    return out
