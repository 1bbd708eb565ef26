"""PostgreSQL's witness of deleted records (``records/deleted_records.py``): its table and trigger.

Created on every store, new or existing, under tapevm's DDL advisory lock; the catalog is read
first, because ``CREATE OR REPLACE TRIGGER`` locks the events table against inserts even when
nothing changes.  ``TRUNCATE`` fires no row trigger: emptying the whole table by hand is not
witnessed (every session then reads as empty, which no checkpoint hides: the heads are gone).
"""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Identifier

from tapevm.infrastructure.stores.postgres.identifiers import qualified_name
from tapevm.infrastructure.stores.postgres.log import ensure_ddl
from tapevm.infrastructure.stores.records.deleted_records import DELETED_TABLE, TRIGGER


def ensure_deletion_witness(datastore: Any, table: str, ddl_lock: str) -> None:
    """Create the deleted-records table, its trigger function and trigger on ``table`` if missing."""
    schema = datastore.schema
    check = SQL("SELECT to_regclass(%s) IS NOT NULL AND EXISTS (SELECT 1 FROM pg_trigger "
                "WHERE tgrelid = to_regclass(%s) AND tgname = %s) AS ok")
    params = (qualified_name(schema, DELETED_TABLE), qualified_name(schema, table), TRIGGER)
    deleted = SQL("{}.{}").format(Identifier(schema), Identifier(DELETED_TABLE))
    function = SQL("{}.{}").format(Identifier(schema), Identifier(TRIGGER))
    ensure_ddl(datastore, ddl_lock, check, params, [
        SQL("CREATE TABLE IF NOT EXISTS {} (stream text NOT NULL, version bigint NOT NULL, topic text, "
            "deleted_at timestamptz NOT NULL DEFAULT now())").format(deleted),
        SQL("CREATE INDEX IF NOT EXISTS {} ON {} (stream, version)").format(Identifier(f"{DELETED_TABLE}_stream"), deleted),
        SQL("CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO {} (stream, version, topic) VALUES (OLD.originator_id, OLD.originator_version, OLD.topic); "
            "RETURN NULL; END $$").format(function, deleted),
        SQL("CREATE OR REPLACE TRIGGER {} AFTER DELETE OR UPDATE OF originator_id, originator_version ON {}.{} "
            "FOR EACH ROW EXECUTE FUNCTION {}()").format(Identifier(TRIGGER), Identifier(schema), Identifier(table),
                                                        function),
    ])
