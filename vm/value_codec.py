"""Lisp values <-> the stored value encoding (see :mod:`tapevm.domain.content`).

Why it is shaped like this:

* **Structural sharing.**  Compound values become content-addressed nodes,
  so a value that shares structure with values already stored adds only its
  new nodes.  Lists are cut into chunks at positions counted from the *end*
  of the list (every ``CHUNK``-th pair), so consing onto a list or taking its
  ``cdr`` changes only the first chunk; vectors and maps are cut from the
  start and chained backwards, so appending changes only the last chunk.  A
  chunk's content key is cached on its first pair (pairs are immutable), so
  re-encoding a long list that grew by one element touches one chunk.
* **Cycles.**  Closures capture environments and a frame can hold a closure
  that captured it (``letrec``, named ``let``, internal ``define``).  The
  encoder finds strongly connected components (iterative Tarjan) and stores
  each cyclic component as one group node whose members refer to each other
  by index; everything acyclic stays a plain Merkle node.
* **No Python recursion.**  Both directions use explicit stacks, so a list
  nested 100,000 deep encodes and decodes.
* **Determinism.**  Traversal order is fixed by the value's structure, never
  by ``id()`` or ``hash()``, so the same value gives the same bytes in any
  process.
* **One job per module.**  :mod:`~tapevm.vm.value_encoder` (values to nodes),
  :mod:`~tapevm.vm.value_decoder` (nodes to values) and
  :mod:`~tapevm.vm.content_check` (is content from outside decodable?); this
  module is the codec's public face, so callers need not know the split.
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.content_check import atoms_named, content_problem
from tapevm.vm.value_decoder import ClosureFactory, ValueDecoder
from tapevm.vm.value_encoder import CHUNK, ValueEncoder, encode_scalar
from tapevm.vm.values import NilType

VM_VALUE_FORMAT = 1


def is_nil_encoding(enc: Any) -> bool:
    return enc is None


__all__ = [
    "CHUNK",
    "VM_VALUE_FORMAT",
    "ClosureFactory",
    "NilType",
    "ValueDecoder",
    "ValueEncoder",
    "atoms_named",
    "content_problem",
    "encode_scalar",
    "is_nil_encoding",
]
