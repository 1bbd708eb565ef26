"""tapevm: an event-sourced runtime for a small Lisp VM.

The public Python API::

    import tapevm

    with tapevm.open_session("work", store="work.db") as s:
        s.eval("(define x 42)")
        s.state.namespaces["user"]["x"]   # the folded state at the head
        s.state_at(3)                      # the state after event 3
        list(s.events(1, 10))              # recorded events 1..10
        tapevm.StatePrinter(s.state).preview(enc, 200)   # a logged value's text, cut, and its key
        s.snapshot("before")               # name the head; s.restore("before") goes back
        s.delta(3, s.head)                 # what changed between two event numbers
        tapevm.save_image(s, "work.img")   # one portable file; tapevm.load_image(store, path, id)

    with tapevm.open_store("work.db") as store:   # the store-level operations are Store methods
        store.fork("work@3", "experiment")
        store.compare("work", "experiment").diff.changes
        store.merge("experiment", "work", prefer="take")
        store.sessions(), store.info("work"), store.sql("SELECT name FROM bindings")
        store.replay("work", verify=True), store.verify("work"), store.audit("work"), store.blame("work", "x")
        store.delete("typo"), store.deleted()              # a session gone, its tombstone kept
        store.archive("work", 5000, "work-early.img")     # events 1..4999 to a file; store.verify_archive(...)

    tapevm.follow("work.db", ["sql", "checkpoints"], once=True)   # what ``tape follow --once`` does

    with tapevm.open_session("agent", store="agent.db") as s:      # a Python agent (docs/agents.md)
        hits = s.step("search", search, "query")   # a recorded Python call: answered from the log on replay
        s.call("fn", hits, "text")                 # Python values into a form as data
        tapevm.to_python(s.eval("(list 1 2)"))     # Lisp values as Python data
    tapevm.replay_agent(program, "agent", "agent.db")   # re-run the program offline against its recording

``dir(tapevm)`` lists this surface.  The free functions of earlier releases
(``tapevm.fork(store, ...)``, ``merge``, ``take``, ``compare``, ``run_sql``,
``list_sessions``, ``session_info``, ``collect_garbage``, ``lease_holder``,
``replay``, ``verify_chain``, ``chain_head``, ``audit``, ``blame_binding``,
``blame_fact``, ``blame_file``) still work for one release, as aliases of the
``Store`` methods.
"""

from __future__ import annotations

from typing import Any

from tapevm.domain.errors import (
    ConflictError,
    CorruptRecord,
    FormPending,
    SessionLocked,
    SessionNotFound,
    StoreError,
    TapeError,
    UsageError,
)

# The API pulls in the VM and the store; each name is imported on first use so
# that ``import tapevm`` stays light.  ``_API`` is the surface ``dir(tapevm)``
# shows; ``_ALIASES`` are the free functions of earlier releases, kept for one
# release as thin aliases of the ``Store`` methods (they accept a ``Store`` or
# an event store first; see infrastructure/free_functions.py).
_API = {
    "open_session": "tapevm.infrastructure.free_functions",
    "open_store": "tapevm.infrastructure.store",
    "Session": "tapevm.infrastructure.session.service",
    "Store": "tapevm.infrastructure.store",
    "FormOutcome": "tapevm.infrastructure.session.service",
    "EvalError": "tapevm.infrastructure.session.service",
    "run_retrying": "tapevm.infrastructure.session.retry",
    "FormLimits": "tapevm.vm.limits",
    # values a session hands back
    "RecordedEvent": "tapevm.domain.events",
    "State": "tapevm.domain.state",
    "SessionAddress": "tapevm.domain.addresses",
    "parse_address": "tapevm.domain.addresses",
    "Delta": "tapevm.domain.delta",
    "diff": "tapevm.domain.delta",
    "apply_delta": "tapevm.domain.delta",
    "compose": "tapevm.domain.delta",
    "export_state": "tapevm.vm.state_export",
    "StatePrinter": "tapevm.vm.state_printer",
    "ValuePreview": "tapevm.vm.value_preview",
    # images
    "save_image": "tapevm.infrastructure.images.operations",
    "load_image": "tapevm.infrastructure.free_functions",
    "load_state": "tapevm.infrastructure.images.operations",
    "image_info": "tapevm.infrastructure.images.operations",
    "session_from_image": "tapevm.infrastructure.free_functions",
    "build_image": "tapevm.infrastructure.images.deployment",
    # followers: tape follow
    "follow": "tapevm.infrastructure.followers.catalog",
    "Follower": "tapevm.infrastructure.followers.runner",
    "FollowStatus": "tapevm.infrastructure.followers.runner",
    "LogTail": "tapevm.infrastructure.stores.log_tail",
    "ReadModel": "tapevm.infrastructure.followers.read_model",
    # model providers
    "ScriptedLLM": "tapevm.infrastructure.session.llm_providers",
    "OpenAICompatibleLLM": "tapevm.infrastructure.session.llm_providers",
    # tools: one declaration for (tool ...) and chat's :tools
    "tool": "tapevm.infrastructure.tools.declaration",
    "ToolSpec": "tapevm.infrastructure.tools.declaration",
    # Python agents: values as data, recorded steps, the program replayed against its recording
    "to_python": "tapevm.vm.python_values",
    "to_lisp": "tapevm.vm.python_values",
    "StepFailed": "tapevm.infrastructure.steps.recorder",
    "replay_agent": "tapevm.infrastructure.agents.replaying",
    "open_replay": "tapevm.infrastructure.agents.replaying",
    "AgentReplay": "tapevm.infrastructure.agents.replaying",
    "ProgramDiverged": "tapevm.infrastructure.agents.replaying",
}
_ALIASES = {
    name: "tapevm.infrastructure.free_functions"
    for name in ("fork", "clone", "merge", "take", "compare", "run_sql", "list_sessions", "collect_garbage",
                 "lease_holder", "replay", "verify_chain", "audit", "blame_binding", "blame_fact", "blame_file")
} | {
    "session_info": "tapevm.infrastructure.session_summaries",
    "chain_head": "tapevm.infrastructure.integrity",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read on first use: importlib.metadata costs every ``tape`` start ~20 ms
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("tapevm")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            return "0.0.0"
    module = _API.get(name) or _ALIASES.get(name)
    if module is None:
        raise AttributeError(f"module 'tapevm' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)




__all__ = [
    "AgentReplay",
    "ConflictError",
    "CorruptRecord",
    "Delta",
    "EvalError",
    "FollowStatus",
    "Follower",
    "FormLimits",
    "FormOutcome",
    "FormPending",
    "LogTail",
    "OpenAICompatibleLLM",
    "ProgramDiverged",
    "ReadModel",
    "RecordedEvent",
    "ScriptedLLM",
    "Session",
    "SessionAddress",
    "SessionLocked",
    "SessionNotFound",
    "State",
    "StatePrinter",
    "StepFailed",
    "Store",
    "StoreError",
    "TapeError",
    "ToolSpec",
    "UsageError",
    "ValuePreview",
    "__version__",
    "apply_delta",
    "build_image",
    "compose",
    "diff",
    "export_state",
    "follow",
    "image_info",
    "load_image",
    "load_state",
    "open_replay",
    "open_session",
    "open_store",
    "parse_address",
    "replay_agent",
    "run_retrying",
    "save_image",
    "session_from_image",
    "tool",
    "to_lisp",
    "to_python",
]


def __dir__() -> list[str]:
    """The API's short surface (the aliases of earlier releases still resolve, but are not listed)."""
    return __all__
