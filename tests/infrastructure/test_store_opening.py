"""Opening stores: automatic, idempotent, safe when many processes open a new store at once; schemas isolate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tapevm.domain.errors import UsageError
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store

OPENER = """
import sys
from tapevm.infrastructure.session.service import open_session
with open_session(sys.argv[2], sys.argv[1]) as s:
    s.eval("(define x 1)")
print("ok")
"""


def test_many_processes_opening_a_new_store_at_once(store_url: str) -> None:
    """8 processes create the same new store (tables, types, functions) and a session each, concurrently."""
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, store_url, f"s{i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip().endswith("ok"), err[-2000:]
    with open_store(store_url) as store:
        assert [h.session for h in store.sessions()] == [f"s{i}" for i in range(8)]
    open_store(store_url).close()  # and opening an existing store again changes nothing


@pytest.mark.postgres
def test_schemas_keep_stores_apart(postgres_url: str) -> None:
    import psycopg

    a, b = f"{postgres_url}?schema=iso_a_{id(a_name := object())}", f"{postgres_url}?schema=iso_b_{id(a_name)}"
    try:
        with open_session("same", a) as s:
            s.eval("(define where 'a)")
        with open_session("same", b) as s:
            s.eval("(define where 'b)")
            s.eval("(define more 1)")
        with open_store(a) as sa, open_store(b) as sb:
            assert sa.last_seq("same") == 4 and sb.last_seq("same") == 7
        with open_session("same", a, create=False) as s:
            assert str(s.eval("where")) == "a"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for url in (a, b):
                conn.execute(f'DROP SCHEMA IF EXISTS "{url.split("schema=")[1]}" CASCADE')


def test_a_misspelt_url_option_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown option 'schem'"):
        open_store("postgresql://postgres:pw@127.0.0.1:5432/test?schem=x")


def test_an_option_given_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="option 'schema' is given 2 times in store URL .*: give it once") as e:
        open_store("postgresql://postgres:secret@127.0.0.1:1/test?schema=a&schema=b")
    assert "secret" not in str(e.value)


def test_qualified_names_quote_each_part_as_postgresql_reads_it() -> None:
    from tapevm.infrastructure.stores.postgres.identifiers import qualified_name

    assert qualified_name("tenant_1", "tape_leases") == '"tenant_1"."tape_leases"'
    assert qualified_name('x"; DROP TABLE y; --', "t") == '"x""; DROP TABLE y; --"."t"'


@pytest.mark.postgres
def test_a_refused_connection_says_why_and_never_shows_the_password(postgres_url: str) -> None:
    """The pool retries a refused connection in the background and times out saying only how long it
    waited ("couldn't get a connection after 1.00 sec"); the error names the server's reason instead."""
    from urllib.parse import urlsplit

    from tapevm.domain.errors import StoreError

    server = urlsplit(postgres_url)
    user = server.username or "postgres"
    url = (f"postgresql://{user}:s3cret-pw@{server.hostname}:{server.port or 5432}"
           "/no_such_database_here?schema=x&connect_timeout=1")
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert 'database "no_such_database_here" does not exist' in message, message
    assert "s3cret-pw" not in message and "\n" not in message


def test_a_reader_does_not_create_a_store_file(tmp_path: Path) -> None:
    from tapevm.domain.errors import StoreNotFound

    missing = tmp_path / "sub" / "missing.db"
    with pytest.raises(StoreNotFound, match="no store at"):
        open_store(str(missing), create=False)
    with pytest.raises(StoreNotFound):
        open_session("s", str(missing), create=False, writable=False)
    assert not missing.exists() and not missing.parent.exists()
    with open_session("s", str(missing)) as s:  # a writer creates it
        s.eval("(define x 1)")
    with open_session("s", str(missing), create=False, writable=False) as r:
        assert r.head > 0


@pytest.mark.postgres
def test_a_schema_with_another_applications_events_table_is_refused_untouched(postgres_url: str) -> None:
    import uuid

    import psycopg

    from tapevm.domain.errors import StoreError

    schema = "foreign_" + uuid.uuid4().hex[:8]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.stored_events (id INT PRIMARY KEY, body TEXT)")
        conn.execute(f"INSERT INTO {schema}.stored_events VALUES (1, 'theirs')")
    try:
        with pytest.raises(StoreError, match=rf"the table {schema}\.stored_events there is not a tapevm events "
                                             r"table \(it has no column notification_id, originator_id, "
                                             r"originator_version, state, topic\); give this store a schema of its own"):
            open_store(f"{postgres_url}?schema={schema}")
        with psycopg.connect(postgres_url) as conn:
            assert conn.execute(f"SELECT * FROM {schema}.stored_events").fetchall() == [(1, "theirs")]
            tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                  (schema,)).fetchall()
            assert tables == [("stored_events",)]
            types = conn.execute("SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                                 "WHERE n.nspname = %s AND typname NOT LIKE '%%stored_events'", (schema,)).fetchall()
            assert types == []  # (the library made its composite types there before failing)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
