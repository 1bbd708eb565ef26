"""Fuzz the image loader: a damaged or hostile image file fails with a clear TapeError, never a traceback.

Arbitrary bytes through the real loader (``image_ops.load_state``, which
reads, checks and decodes every section); 10,000 inputs in the ci profile.
Damaged real images (bytes overwritten, truncated) are fuzzed next to the
image code in tests/infrastructure.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tapevm.domain.errors import TapeError

from ._fuzz import EXAMPLES_FOR_SLOW_TARGETS, FUZZ_EXAMPLES


def load(data: bytes) -> object:
    import tempfile
    from pathlib import Path

    from tapevm.infrastructure.images.operations import load_state

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.tvm"
        path.write_bytes(data)
        return load_state(path)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=4000))
def test_image_loader_on_arbitrary_bytes(data: bytes) -> None:
    try:
        load(data)
    except TapeError as e:
        assert str(e) and "\n" not in str(e)


# -- JSON exports, mutated one part at a time ------------------------------------------------------
_EXPORT: dict[str, object] = {}

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)


def an_export() -> dict[str, object]:
    """An export of a session with a binding of each kind, an atom, a fact, a file, a snapshot and its
    history (made once: every example mutates a copy)."""
    import tempfile
    from pathlib import Path

    from tapevm.infrastructure.images.operations import export_image, save_image
    from tapevm.infrastructure.session.service import open_session

    if not _EXPORT:
        with tempfile.TemporaryDirectory() as tmp, open_session("s", str(Path(tmp) / "s.db")) as s:
            s.run('(define x 1) (define f (lambda (n) (+ n x))) (define box (atom (list 1 3))) '
                  '(assert! (quote (p 1))) (write-file! "a.txt" "hello") (snapshot! "s1")')
            save_image(s, Path(tmp) / "s.img", with_history=True)
            _EXPORT.update(export_image(Path(tmp) / "s.img"))
    return _EXPORT


# The parts an export is made of (each a place a hand edit may break), tried besides random walks.
PARTS = [("header",), ("state",), ("nodes",), ("blobs",), ("history",), ("blobs", 0), ("history", 0),
         *(("state", name) for name in ("session", "seq", "current_ns", "namespaces", "atoms", "facts", "files",
                                        "snapshots", "merged")),
         ("state", "namespaces", "user"), ("state", "atoms", 0), ("state", "files", "a.txt"),
         ("state", "snapshots", "s1")]


def _walk(doc: object, steps: list[int]) -> tuple[object, ...]:
    """A place in ``doc``: from the top, each step picks a child (its number modulo the children's)."""
    path: list[object] = []
    node = doc
    for step in steps:
        keys: list[object] = list(node) if isinstance(node, dict) else list(range(len(node))) \
            if isinstance(node, list) else []
        if not keys:
            break
        path.append(keys[step % len(keys)])
        node = node[path[-1]]  # type: ignore[index]
    return tuple(path)


def import_export(doc: object) -> object:
    import tempfile
    from pathlib import Path

    import orjson

    from tapevm.infrastructure.images.operations import import_image

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "x.json").write_bytes(orjson.dumps(doc))
        return import_image(Path(tmp) / "x.json", Path(tmp) / "x.img")


@settings(max_examples=EXAMPLES_FOR_SLOW_TARGETS, deadline=None, suppress_health_check=list(HealthCheck))
@example(part=("state", "files"), steps=[], remove=False, value=[])
@example(part=("state", "files"), steps=[], remove=False, value=True)
@given(part=st.none() | st.sampled_from(PARTS), steps=st.lists(st.integers(0, 2**16), min_size=1, max_size=6),
       remove=st.booleans(), value=JSON_VALUES)
def test_image_import_of_mutated_exports(part: tuple[object, ...] | None, steps: list[int], remove: bool,
                                         value: object) -> None:
    """A real export with one part (a named one, or one a random walk reaches) replaced by any JSON, or
    removed: it imports, or fails with one line (``state.files`` as ``[]`` or ``true`` was ``internal
    error: AttributeError`` / ``TypeError``)."""
    import copy

    doc = copy.deepcopy(an_export())
    path = part if part is not None else _walk(doc, steps)
    if not path:
        return
    parent: object = doc
    for key in path[:-1]:
        parent = parent[key]  # type: ignore[index]
    if remove:
        del parent[path[-1]]  # type: ignore[attr-defined]
    else:
        parent[path[-1]] = value  # type: ignore[index]
    try:
        import_export(doc)
    except TapeError as e:
        assert str(e) and "\n" not in str(e)
