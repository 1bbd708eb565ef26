"""tapevm: an event-sourced runtime for a small Lisp VM.

The public Python API::

    import tapevm

    with tapevm.open_session("work", store="work.db") as s:
        s.eval("(define x 42)")
        s.state.namespaces["user"]["x"]   # the folded state at the head
        s.state_at(3)                      # the state after event 3
        list(s.events(1, 10))              # recorded events 1..10
        s.snapshot("before")               # name the head; s.restore("before") goes back
        s.delta(3, s.head)                 # what changed between two event numbers
        tapevm.save_image(s, "work.img")   # one portable file; tapevm.load_image(store, path, id)

    tapevm.follow("work.db", ["sql", "checkpoints"], once=True)   # what ``tape follow --once`` does
"""

from __future__ import annotations

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
    # sessions: names, branches, read model (issue 4)
    "SessionAddress": "tapevm.infrastructure.addresses",
    "parse_address": "tapevm.infrastructure.addresses",
    "fork": "tapevm.infrastructure.branching",
    "clone": "tapevm.infrastructure.branching",
    "merge": "tapevm.infrastructure.merging",
    "take": "tapevm.infrastructure.merging",
    "compare": "tapevm.infrastructure.session_compare",
    "export_state": "tapevm.vm.state_export",
    "run_sql": "tapevm.infrastructure.read_model",
    "ReadModel": "tapevm.infrastructure.read_model",
    "list_sessions": "tapevm.infrastructure.session_info",
    "session_info": "tapevm.infrastructure.session_info",
    "collect_garbage": "tapevm.infrastructure.housekeeping",
    "lease_holder": "tapevm.infrastructure.session_lease",
    # issue 5: replay, integrity, provenance, providers
    "replay": "tapevm.infrastructure.replay",
    "verify_chain": "tapevm.infrastructure.hash_chain",
    "chain_head": "tapevm.infrastructure.hash_chain",
    "audit": "tapevm.infrastructure.audit",
    "blame_binding": "tapevm.infrastructure.provenance",
    "blame_fact": "tapevm.infrastructure.provenance",
    "blame_file": "tapevm.infrastructure.provenance",
    "ScriptedLLM": "tapevm.infrastructure.llm_providers",
    "OpenAICompatibleLLM": "tapevm.infrastructure.llm_providers",
    # time travel (issue 3): sessions also have snapshot/snapshots/restore/delta/state_at
    "Delta": "tapevm.projections.delta",
    "diff": "tapevm.projections.delta",
    "apply_delta": "tapevm.projections.delta",
    "compose": "tapevm.projections.delta",
    "save_image": "tapevm.infrastructure.image_ops",
    "load_image": "tapevm.infrastructure.image_ops",
    "load_state": "tapevm.infrastructure.image_ops",
    "image_info": "tapevm.infrastructure.image_ops",
    # followers (issue 6): tape follow
    "follow": "tapevm.infrastructure.followers",
    "Follower": "tapevm.infrastructure.followers",
    "FollowStatus": "tapevm.infrastructure.followers",
    "LogTail": "tapevm.infrastructure.log_tail",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read on first use: importlib.metadata costs every ``tape`` start ~20 ms
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("tapevm")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            return "0.0.0"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tapevm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)




__all__ = [
    "ConflictError",
    "CorruptRecord",
    "Delta",
    "EvalError",
    "FollowStatus",
    "Follower",
    "FormOutcome",
    "LogTail",
    "OpenAICompatibleLLM",
    "ReadModel",
    "RecordedEvent",
    "ScriptedLLM",
    "Session",
    "SessionAddress",
    "SessionNotFound",
    "State",
    "StoreError",
    "TapeError",
    "UsageError",
    "__version__",
    "apply_delta",
    "audit",
    "blame_binding",
    "blame_fact",
    "blame_file",
    "chain_head",
    "clone",
    "collect_garbage",
    "compare",
    "compose",
    "diff",
    "export_state",
    "follow",
    "fork",
    "image_info",
    "lease_holder",
    "list_sessions",
    "load_image",
    "load_state",
    "merge",
    "open_session",
    "open_store",
    "parse_address",
    "replay",
    "run_retrying",
    "run_sql",
    "save_image",
    "session_info",
    "take",
    "verify_chain",
]
