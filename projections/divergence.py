"""What a replay's divergence report says caused it: pure, from the two events and the recording's version.

Same inputs, other events: either the program changed (``replay --program``) or the code did (another
tapevm, a changed primitive, or nondeterminism that bypassed the effect port).  Imports the domain and
the VM's version only.
"""

from __future__ import annotations

from tapevm.domain.events import FormEvaluated, FormSubmitted, RecordedEvent
from tapevm.vm.version import tapevm_version


def code_cause(then: str | None) -> str:
    """Name what changed when the same inputs give other events: the tapevm version, if it did."""
    now = tapevm_version()
    if then is not None and then != now:
        return f"the code changed since the recording (recorded with tapevm {then}, replayed with {now})"
    return (f"the code changed since the recording (same tapevm {now}: a changed primitive, "
            "or nondeterminism that bypassed the effect port)")


def explain_divergence(exp: RecordedEvent | None, act: RecordedEvent, program: bool, recorded_version: str | None) -> str:
    """Why a replay produced ``act`` where the record has ``exp`` (None: past the record's end): the
    first line of a divergence report."""
    code = "the program changed" if program else code_cause(recorded_version)
    if exp is None:
        return f"the replay produced {act.type_name} after the end of the recording: {code}"
    if exp.type_name != act.type_name:
        if exp.type_name == FormSubmitted.type_name:
            return f"the form made more changes than recorded ({act.type_name} where the next form began): {code}"
        if act.type_name == FormEvaluated.type_name:
            return f"the form made fewer changes than recorded (it ended where the record has {exp.type_name}): {code}"
        return f"the form did something else ({act.type_name} instead of {exp.type_name}): {code}"
    if exp.cause != act.cause:
        return f"the event has cause {act.cause} instead of {exp.cause}: {code}"
    a, b = exp.event.__dict__, act.event.__dict__
    fields = [k for k in a if a.get(k) != b.get(k)]
    return f"{act.type_name} differs in {', '.join(fields)}: {code}"
