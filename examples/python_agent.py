"""A small tool-using agent written in Python, recorded by tapevm without a line of Lisp.

Run it (a store in a temporary directory unless one is given)::

    python examples/python_agent.py [STORE]

What it shows, on a real store:

1. **record**: the agent loop asks a model (``ask``, answered by the offline
   ``script:`` provider from ``python_agent_script.json``) which tool to use,
   calls that tool as a recorded step (``s.step``), keeps what it learnt as
   bindings (``s.define``) and stops at a final answer;
2. **audit**: every model call and step is in the timeline, with its
   arguments and result (``tape audit -i agent`` shows the same);
3. **replay offline**: the Python program runs again against its recording,
   every answer from the log (no model, no tool called), and the CLI's
   ``tape replay -i agent --verify`` agrees;
4. **fork**: a what-if run from the point after the task was set, with the
   search index changed, compared with the original.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tapevm
from tapevm.infrastructure.session.llm_providers import ScriptedLLM

SCRIPT = Path(__file__).with_name("python_agent_script.json")
TASK = "find out how tapevm replays a session"
INDEX = {
    "event sourcing": ["every change is an event in a log", "state is a fold of the log; replay is offline"],
}
calls: list[str] = []  # what the tools really did (a replay adds nothing)


def search(query: str, index: dict[str, list[str]] = INDEX) -> list[str]:
    """A tool: look ``query`` up in an index (a real agent would reach the web here)."""
    calls.append(query)
    return index.get(query, [])


def run_agent(s: tapevm.Session, tools: dict[str, Callable[..., Any]], max_turns: int = 4) -> str:
    """The loop: ask the model what to do, do it as a step, tell the model what was observed."""
    prompt = "task: " + tapevm.to_python(s.eval("task"))
    for turn in range(max_turns):
        reply = s.call("ask", prompt)                    # the model: a recorded `ask` effect
        action, _, argument = reply.partition(": ")
        if action == "final":
            s.define("answer", argument)
            return argument
        observed = s.step(action, tools[action], argument)   # the tool: a recorded step
        s.define("observed", observed)                   # memory, blamed on the step's form
        prompt = "observed: " + "; ".join(observed)
    raise RuntimeError(f"no final answer in {max_turns} turns")


def program(s: tapevm.Session) -> str:
    """The whole recorded program: set the task, run the loop (what a replay re-runs)."""
    s.define("task", TASK)
    return run_agent(s, {"search": search})


def main(store: str) -> int:
    with tapevm.open_session("agent", store=store, fresh=True) as s:
        s.effects.providers.llm = ScriptedLLM.from_file(SCRIPT)
        answer = program(s)
        # the fork point below: the end of the form that set the task
        task_set = next(e.seq for e in s.events() if e.type_name == "FormEvaluated")
    print(f"1. recorded: {answer!r} (tool calls: {calls})")

    with tapevm.open_store(store) as st:
        effects = [e.what for e in st.audit("agent") if e.kind == "effect"]
        print(f"2. audited: {len(effects)} effects:", *effects, sep="\n   ")
        before = len(calls)
        again = tapevm.replay_agent(program, "agent", st)
        verified = st.replay("agent", verify=True)
        print(f"3. replayed offline: {again.value!r}, {again.events} events identical, "
              f"tools called {len(calls) - before} times; replay --verify: {'identical' if verified.ok else 'DIVERGED'}")

        st.fork(f"agent@{task_set}", "what-if")
    with tapevm.open_session("what-if", store=store) as w:
        w.effects.providers.llm = ScriptedLLM.from_file(SCRIPT)
        other = run_agent(w, {"search": lambda q: search(q, {"event sourcing": ["a log of events"]})})
    with tapevm.open_store(store) as st:
        changed = ["/".join(c.key) for c in st.compare("agent", "what-if").diff.changes]
    print(f"4. forked at event {task_set}: {other!r}; bindings that differ: {changed}")
    print(f"   try: tape --store {store} audit -i agent; tape --store {store} blame -i agent observed")
    return 0 if verified.ok and len(calls) == before + 1 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(Path(tempfile.mkdtemp()) / "agent.db")))
