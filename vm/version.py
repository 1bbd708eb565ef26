"""The versions a session records when it starts: the VM's and the package's.

``SessionStarted`` and image headers carry both, and a replay compares the package's; the VM's
says how its values are encoded, which a session keeps for its whole life (forks and replays of
it included), so that re-running a recorded form stores the very nodes it stored.  Imports the
domain's content tags.
"""

from __future__ import annotations

from tapevm.domain.content import TEXT_NODE_MIN, TEXT_NODE_MIN_V1

# 1: the first; 2: strings of 40 characters or more are TEXT nodes (were 1,024: issue 20)
VM_VERSION = 2


def text_node_min(vm_version: int) -> int:
    """The length from which a string is a TEXT node, in a session started at ``vm_version``."""
    return TEXT_NODE_MIN_V1 if vm_version < 2 else TEXT_NODE_MIN


def tapevm_version() -> str:
    """The version recorded in SessionStarted and image headers, and that a replay compares with.

    Read when asked: importlib.metadata costs every ``tape`` start ~20 ms (as ``tapevm.__version__``).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tapevm")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"
