"""tapevm: an event-sourced runtime for a small Lisp VM.

The public Python API::

    import tapevm

    with tapevm.open_session("work", store="work.db") as s:
        s.eval("(define x 42)")
        s.state.namespaces["user"]["x"]   # the folded state at the head
        s.state_at(3)                      # the state after event 3
        list(s.events(1, 10))              # recorded events 1..10
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

from typing import Any

from tapevm.domain.errors import (
    ConflictError,
    CorruptRecord,
    SessionNotFound,
    StoreError,
    TapeError,
    UsageError,
)

# The session API pulls in the VM and the store; import it on first use so that
# ``import tapevm.domain`` stays light.
_LAZY = {
    "EvalError": "tapevm.infrastructure.session",
    "FormOutcome": "tapevm.infrastructure.session",
    "Session": "tapevm.infrastructure.session",
    "open_session": "tapevm.infrastructure.session",
    "open_store": "tapevm.infrastructure.store_factory",
    "run_retrying": "tapevm.infrastructure.conflict_retry",
    "RecordedEvent": "tapevm.domain.events",
    "State": "tapevm.domain.state",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tapevm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


try:
    __version__ = _version("tapevm")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"

__all__ = [
    "ConflictError", "CorruptRecord", "EvalError", "FormOutcome", "RecordedEvent", "Session",
    "SessionNotFound", "State", "StoreError", "TapeError", "UsageError", "__version__",
    "open_session", "open_store", "run_retrying",
]
