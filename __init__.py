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
    "EvalError": "tapevm.infrastructure.session.service",
    "FormOutcome": "tapevm.infrastructure.session.service",
    "Session": "tapevm.infrastructure.session.service",
    "open_session": "tapevm.infrastructure.images.session_opener",  # with the image writer
    "open_store": "tapevm.infrastructure.stores.factory",
    "run_retrying": "tapevm.infrastructure.session.retry",
    "RecordedEvent": "tapevm.domain.events",
    "State": "tapevm.domain.state",
    # sessions: names, branches, read model (issue 4)
    "SessionAddress": "tapevm.domain.addresses",
    "parse_address": "tapevm.domain.addresses",
    "fork": "tapevm.infrastructure.branches.forks",
    "clone": "tapevm.infrastructure.branches.forks",
    "merge": "tapevm.infrastructure.branches.merging",
    "take": "tapevm.infrastructure.branches.merging",
    "compare": "tapevm.infrastructure.branches.compare",
    "export_state": "tapevm.vm.state_export",
    "run_sql": "tapevm.infrastructure.followers.read_model",
    "ReadModel": "tapevm.infrastructure.followers.read_model",
    "list_sessions": "tapevm.projections.session_summaries",
    "session_info": "tapevm.projections.session_summaries",
    "collect_garbage": "tapevm.infrastructure.housekeeping",
    "lease_holder": "tapevm.infrastructure.stores.leases",
    # issue 5: replay, integrity, provenance, providers
    "replay": "tapevm.infrastructure.session.replay",
    "verify_chain": "tapevm.infrastructure.stores.hash_chain",
    "chain_head": "tapevm.infrastructure.stores.hash_chain",
    "audit": "tapevm.projections.audit",
    "blame_binding": "tapevm.projections.provenance",
    "blame_fact": "tapevm.projections.provenance",
    "blame_file": "tapevm.projections.provenance",
    "ScriptedLLM": "tapevm.infrastructure.session.llm_providers",
    "OpenAICompatibleLLM": "tapevm.infrastructure.session.llm_providers",
    # time travel (issue 3): sessions also have snapshot/snapshots/restore/delta/state_at
    "Delta": "tapevm.projections.delta",
    "diff": "tapevm.projections.delta",
    "apply_delta": "tapevm.projections.delta",
    "compose": "tapevm.projections.delta",
    "save_image": "tapevm.infrastructure.images.operations",
    "load_image": "tapevm.infrastructure.images.operations",
    "load_state": "tapevm.infrastructure.images.operations",
    "image_info": "tapevm.infrastructure.images.operations",
    # followers (issue 6): tape follow
    "follow": "tapevm.infrastructure.followers.runner",
    "Follower": "tapevm.infrastructure.followers.runner",
    "FollowStatus": "tapevm.infrastructure.followers.runner",
    "LogTail": "tapevm.infrastructure.stores.log_tail",
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
