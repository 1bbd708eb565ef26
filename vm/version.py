"""The versions a session records when it starts: the VM's and the package's.

``SessionStarted`` and image headers carry both, and a replay compares the package's; the VM's
says what its forms mean.  Imports nothing of tapevm.
"""

from __future__ import annotations

VM_VERSION = 1


def tapevm_version() -> str:
    """The version recorded in SessionStarted and image headers, and that a replay compares with.

    Read when asked: importlib.metadata costs every ``tape`` start ~20 ms (as ``tapevm.__version__``).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tapevm")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"
