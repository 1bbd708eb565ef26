"""Laws of file versions stored as edits (appends, splices, zstd patches) of the version before.

However a sequence of writes is stored (whole, appended, spliced; chains cut
after EDIT_DEPTH splices), every version reads back whole, is keyed by the
hash of its whole content, and survives the entry encoding the log and the
checkpoints carry, read in any order by a table that assembled nothing yet.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from tapevm.domain.content import BlobTable, ContentTable, Piece, ZstdPatch, content_hash
from tapevm.domain.events import FormEvaluated, FormSubmitted
from tapevm.domain.state import add_blob_entries, blob_entry
from tapevm.vm import form_events
from tapevm.vm.form_events import FormEventBuilder, changed_region
from tapevm.vm.world import FILE_WRITE, Mutation

ALPHABET = "ab\n é✓"


def _text(max_size: int) -> st.SearchStrategy[bytes]:
    return st.text(ALPHABET, max_size=max_size).map(str.encode)


# an edit of the current content: (kind, position fraction, length fraction, new text)
edit = st.tuples(st.sampled_from(["append", "splice", "splice", "two", "two", "truncate", "rewrite", "same"]),
                 st.integers(0, 100).map(lambda n: n / 100), st.integers(0, 100).map(lambda n: n / 1000), _text(40))


def _apply(old: bytes, kind: str, where: float, span: float, text: bytes) -> bytes:
    if kind == "append":
        return old + text
    if kind == "same":
        return old
    if kind == "rewrite":
        return text * 60
    i = int(where * len(old))
    j = i + int(span * (len(old) - i))
    if kind == "truncate":
        return old[:i]
    if kind == "two":  # two regions: the start, and one further on
        return text + old[len(text):i] + text + old[j:]
    return old[:i] + text + old[j:]


def _form_blobs(builder: FormEventBuilder, writes: list[Mutation]) -> list[list[Any]]:
    """The blob entries of the ContentStored of one form that made ``writes`` (committed)."""
    drafts = builder.build(FormSubmitted(source="(edit)", file="<test>", line=1, column=1), writes, FormEvaluated(ok=True, printed="nil"))
    builder.commit()
    return [entry for type_name, _, fields in drafts if type_name == "ContentStored" for entry in fields["blobs"]]


# a first version around PIECE_MIN (1 KiB), so edits of it may be stored as pieces; cut at any byte
first_version = st.tuples(_text(30), st.integers(600, 3000)).map(lambda t: ((t[0] or b"z") * t[1])[:t[1]])


@given(first_version, st.lists(edit, min_size=1, max_size=40), st.integers(1, 6), st.randoms(use_true_random=False))
def test_every_version_reads_back_whole_in_any_order(start: bytes, edits: list[tuple[str, float, float, bytes]],
                                                       per_form: int, rnd: random.Random) -> None:
    old_depth = form_events.EDIT_DEPTH
    form_events.EDIT_DEPTH = 3  # short chains, so cutting them is exercised too
    try:
        blobs = BlobTable()
        builder = FormEventBuilder(ContentTable(), blobs)
        versions: list[bytes] = []
        entries: list[list[Any]] = []
        writes: list[Mutation] = []
        for kind, where, span, text in [("rewrite", 0.0, 0.0, b""), *edits]:
            old = versions[-1] if versions else None
            data = start if old is None else _apply(old, kind, where, span, text)
            writes.append(Mutation(FILE_WRITE, ("f.txt", data, old)))
            versions.append(data)
            if len(writes) == per_form:  # several writes in one form: pieces on pending versions
                entries.extend(_form_blobs(builder, writes))
                writes = []
        entries.extend(_form_blobs(builder, writes))
    finally:
        form_events.EDIT_DEPTH = old_depth
    for data in versions:
        assert blobs.get(blobs.key_for(data)[0]) == data
    assert all(blobs.copies_under(key) <= 3 for key, _ in blobs.items())
    stored = [v for _, v in blobs.items()]
    event(f"splices: {min(3, sum(type(v) is Piece and v.head >= 0 for v in stored))}")
    event(f"zstd patches: {min(3, sum(type(v) is ZstdPatch for v in stored))}")
    event(f"appends: {min(3, sum(type(v) is Piece and v.head < 0 for v in stored))}")
    cold = BlobTable()
    add_blob_entries(cold, entries)  # what a fold of the log's ContentStored entries builds
    again = BlobTable()
    add_blob_entries(again, [blob_entry(k, v) for k, v in cold.items()])  # what checkpoints carry
    order = list(versions)
    rnd.shuffle(order)
    for table in (cold, again):
        for data in order:
            assert table.get(content_hash(data)) == data


@given(_text(300), _text(300))
def test_changed_region_keeps_only_what_both_share(old: bytes, new: bytes) -> None:
    head, tail = changed_region(old, new)
    assert head + tail <= min(len(old), len(new))
    assert old[:head] == new[:head] and old[len(old) - tail:] == new[len(new) - tail:]
    middle = new[head:len(new) - tail]
    middle.decode("utf-8")  # cut at character boundaries: a text file's middle is text
    assert new == new[:head] + middle + new[len(new) - tail:]
