"""Images of 100,000 bindings: save and load time, size against the JSON export and against the log.

Targets (issue 3): saved in 1 s or less, loaded in 0.5 s or less, at most 20%
of the size of its JSON export, and loading it at least 10x faster than
rebuilding the same state from the log.

The session is written directly with ``store.append``, one commit record per
form as a session writes them (``--batch N``: records of N events instead):
forms of 100 ``define``s.  ``--values realistic`` (default): short texts from a
vocabulary, counters, prices, small tagged records and lists (content nodes);
``--values random``: random tokens and numbers, which no compressor can shrink
(the size target cannot be met by any format there; reported for honesty).

Measured, each best of ``--repeat``:

* save: ``save_image(session, path)`` (state at the head -> encode -> compress -> fsync -> rename);
* load: ``load_state(path)`` (read -> check every section's checksum -> decompress -> parse and check
  every column -> a State).  The namespaces and the node table are built on their first read
  (``image_state_codec.DeferredState``): construction that cannot fail once the columns are checked;
* load + first read: the same, then ``state.namespaces`` (the bindings and nodes built): the eager figure;
* load into a new session: ``load_image`` (also appends and folds the session's first events);
* rebuild: ``fold_fields(store.read_fields(session))`` of the same log: the baseline;
* the JSON export (``tape image export``'s document, compact, and as printed with indentation).

    .venv/bin/python bench/bench_image.py
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import _common as C
import orjson

SESSION = "img"


WORDS = ["read", "write", "brief", "task", "agent", "plan", "note", "file", "result", "error", "retry", "done",
         "open", "close", "user", "tool", "call", "value", "list", "map", "step", "goal", "draft", "review",
         "merge", "test", "build", "deploy", "fetch", "parse", "store", "query", "index", "cache", "alpha",
         "beta", "gamma", "delta", "report", "summary", "status", "pending", "ready", "failed"]


def realistic(rng: random.Random, i: int) -> Any:
    """Values like an agent's working memory: short texts, counters, prices, tagged records."""
    from tapevm.vm.values import make_list

    kind = i % 5
    if kind == 0:
        return f"{rng.choice(WORDS)} the {rng.choice(WORDS)} for {rng.choice(WORDS)} #{rng.randrange(1000)}"
    if kind == 1:
        return rng.randrange(10**6)
    if kind == 2:
        return round(rng.random() * 1000, 2)
    if kind == 3:
        return make_list([rng.choice(WORDS), rng.randrange(100), rng.choice(WORDS)])
    return make_list([rng.randrange(1000) for _ in range(3)])


def random_value(rng: random.Random, i: int) -> Any:
    """Values with no redundancy at all: random tokens, numbers, big numbers."""
    from tapevm.vm.values import make_list

    kind = i % 5
    return (rng.randbytes(8).hex() if kind == 0 else rng.randrange(10**9) if kind == 1
            else rng.random() * 1000 if kind == 2 else rng.randrange(10**20, 10**21) if kind == 3
            else make_list([rng.randrange(1000) for _ in range(3)]))


def build(path: Path, bindings: int, values: str = "realistic", batch_events: int = 0) -> float:
    """The session's log; one commit record per form as a session writes it (``batch_events`` > 0:
    forms gathered into records of about that many events, the layout of runs before the commit
    records, kept to compare)."""
    from tapevm.domain.content import ContentTable
    from tapevm.domain.events import (
        ContentStored,
        Defined,
        FormEvaluated,
        FormSubmitted,
        RecordedEvent,
        SessionStarted,
    )
    from tapevm.infrastructure.stores.factory import open_store
    from tapevm.vm.value_codec import ValueEncoder

    rng = random.Random(5)
    start = time.perf_counter()
    encoder = ValueEncoder(ContentTable())
    with open_store(str(path), durability="fast") as store:
        now = time.time()
        batch = [RecordedEvent(SESSION, 1, 1, now, SessionStarted(tapevm_version="bench", vm_version=1))]
        seq = 2
        for start_i in range(0, bindings, 100):
            cause = seq
            defines = []
            for i in range(start_i, min(bindings, start_i + 100)):
                value = realistic(rng, i) if values == "realistic" else random_value(rng, i)
                defines.append(Defined(ns="user", name=f"b{i}", value=encoder.encode(value)))
            nodes = encoder.take_new_nodes()
            encoder.commit()
            events: list[Any] = [FormSubmitted(source="(define ...)", file="<bench>", line=1, column=1)]
            if nodes:
                events.append(ContentStored(nodes=nodes, blobs=[]))
            events += defines + [FormEvaluated(ok=True, printed="nil")]
            for e in events:
                batch.append(RecordedEvent(SESSION, seq, cause, now, e))
                seq += 1
            if len(batch) >= batch_events:
                store.append(batch)
                batch = []
        if batch:
            store.append(batch)
    return time.perf_counter() - start


def main() -> None:
    p = C.parser(__doc__.splitlines()[0])
    p.add_argument("--bindings", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=0,
                   help="events per commit record in the log (default 0: one record per form, as sessions write)")
    p.add_argument("--values", choices=["realistic", "random"], default="realistic",
                   help="realistic: texts from a vocabulary, counters, prices, records; random: no redundancy")
    args = p.parse_args()
    if args.quick:
        args.bindings = 1_000
    repeat = args.repeat or (1 if args.quick else 3)

    from tapevm.domain.fold import fold_fields
    from tapevm.domain.state import State
    from tapevm.infrastructure.images.operations import export_image, load_image, load_state, save_image
    from tapevm.infrastructure.session.service import Session
    from tapevm.infrastructure.stores.factory import open_store
    from tapevm.projections.state_codec import canonical_state_bytes

    with C.workdir(args) as tmp:
        db = tmp / "image.db"
        build_s = build(db, args.bindings, args.values, args.batch)
        print(f"built {args.bindings:,} bindings in {build_s:.1f}s")
        image = tmp / "s.img"
        with open_store(str(db)) as store:
            session = Session(store, SESSION, create=False)
            events = session.head

            def save() -> float:
                t0 = time.perf_counter()
                save_image(session, image)
                return time.perf_counter() - t0

            def rebuild() -> float:
                t0 = time.perf_counter()
                fold_fields(store.read_fields(SESSION), State(session=SESSION))
                return time.perf_counter() - t0

            with C.Profiler(args.profile):
                save_s, _ = C.best_of(repeat, save)
            rebuild_s, _ = C.best_of(repeat, rebuild)
            expected = canonical_state_bytes(session.state)
            session.close()

        def load() -> float:
            t0 = time.perf_counter()
            load_state(image)
            return time.perf_counter() - t0

        load_s, _ = C.best_of(repeat, load)

        def load_built() -> float:
            t0 = time.perf_counter()
            load_state(image).namespaces  # noqa: B018 - the first read builds the bindings and nodes
            return time.perf_counter() - t0

        load_built_s, _ = C.best_of(repeat, load_built)
        same = canonical_state_bytes(load_state(image)) == expected

        counter = iter(range(1000))

        def load_session() -> float:
            with open_store(str(tmp / f"other{next(counter)}.db"), durability="fast") as other:
                t0 = time.perf_counter()
                load_image(other, image, "copy").close()
                return time.perf_counter() - t0

        load_session_s, _ = C.best_of(repeat, load_session)
        image_bytes = image.stat().st_size
        doc = export_image(image)
        json_compact = len(orjson.dumps(doc))
        json_indented = len(orjson.dumps(doc, option=orjson.OPT_INDENT_2)) + 1

    size_ratio = image_bytes / json_compact
    speedup = rebuild_s / load_s
    ok = {"save": save_s <= 1.0, "load": load_s <= 0.5, "size": size_ratio <= 0.20, "speedup": speedup >= 10}
    rows = [
        ("bindings", args.bindings), ("values", args.values), ("log events", events),
        ("events per commit record", args.batch or "one form"),
        ("save s", save_s), ("load (state; bindings built on first read) s", load_s),
        ("load + first read of the bindings s", load_built_s), ("load into a new session s", load_session_s),
        ("rebuild from log s", rebuild_s), ("load speedup vs rebuild", speedup),
        ("load + first read speedup vs rebuild", rebuild_s / load_built_s),
        ("image bytes", image_bytes), ("JSON export bytes (compact)", json_compact),
        ("JSON export bytes (as printed)", json_indented), ("image / JSON", size_ratio),
        ("loaded state == source, byte for byte", same),
        ("target save <= 1 s", C.verdict(ok["save"])), ("target load <= 0.5 s", C.verdict(ok["load"])),
        ("target size <= 20% of JSON", C.verdict(ok["size"])),
        ("target load >= 10x rebuild", C.verdict(ok["speedup"])),
    ]
    C.emit("image", rows, {
        "bindings": args.bindings, "values": args.values, "events": events, "batch": args.batch, "save_s": save_s, "load_s": load_s,
        "load_built_s": load_built_s, "built_speedup": rebuild_s / load_built_s,
        "load_session_s": load_session_s, "rebuild_s": rebuild_s, "speedup": speedup, "image_bytes": image_bytes,
        "json_bytes": json_compact, "json_indented_bytes": json_indented, "size_ratio": size_ratio,
        "same_state": same, "pass_save": ok["save"], "pass_load": ok["load"], "pass_size": ok["size"],
        "pass_speedup": ok["speedup"], "repeat": repeat, "quick": args.quick,
    })


if __name__ == "__main__":
    main()
