"""The limits a form runs under, and the per-form budget that enforces them.

A runaway form (endless recursion, a ``set!`` loop, a ``println`` loop, a macro
that expands forever, a loop that performs an effect each time round) must end
with an error a program can catch and a person can act on, never by being
killed.  Each top-level form runs under :class:`FormLimits`; past one, the form
gets a ``limit-exceeded`` error naming the limit and how to raise it, and is
committed like any other error (its output up to that point and the error; none
of its mutations).

The limits:

* ``max_steps``: function applications (closure calls, and calls from Python
  such as macro expansion) the form may make.  Every loop of the language is a
  call, so this bounds every pure runaway, deterministically.
* ``max_time``: seconds of wall-clock evaluation (checked with the steps, so a
  single long primitive call is not interrupted).
* ``max_output``: bytes (UTF-8) the form may print.
* ``max_effects``: effects (``now``, ``random``, ``ask``, ``tool``...) the form
  may perform; each is a committed transaction, so this bounds what a runaway
  writes to the log.
* ``max_journal``: entries of the form's journal (its mutations and output
  records), which live in memory until the form commits.

``None`` means no limit.  Once a limit is exceeded it stays exceeded for the
rest of the form: a ``try`` may catch the error and return a value, but the
form cannot go on computing past its budget.

**Cost.** The machine counts closure calls down in a local variable and calls
:meth:`FormBudget.tick` once every :data:`CHECK_EVERY` of them; everything else
(time, journal size) is checked there.  So the step limit is kept to within
:data:`CHECK_EVERY` calls, and a nested run (a macro's expansion) that ends
before its first check counts one step.

**Replay.** Steps, output, effects and journal are deterministic: replaying a
form with the same limits stops it at the same point.  A form that was not
stopped replays under the replaying session's limits without the time limit (it
ended once, so it ends again; but a form whose ``try`` caught a limit-exceeded
replays the same only under the same limits: give them to ``tape replay``).  Time is not, so a time
limit's message records the step at which it stopped (``after N steps``), and
:func:`replay_limits` turns a recorded ``limit-exceeded`` message back into
limits that stop the replayed form at the same step with the same message.
The message is the record: its format and its parser live side by side here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from tapevm.vm.errors import LIMIT_EXCEEDED
from tapevm.vm.world import WorldError

# How many closure calls the machine runs between two checks of the budget.
CHECK_EVERY = 4096

DEFAULT_MAX_STEPS = 20_000_000
DEFAULT_MAX_TIME = 120.0
DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024
DEFAULT_MAX_EFFECTS = 10_000
DEFAULT_MAX_JOURNAL = 1_000_000

# The limits by name: FormLimits.max_<name>, the CLI's --max-<name>, TAPE_MAX_<NAME>.
LIMIT_NAMES = ("steps", "time", "output", "effects", "journal")


def flag_of(name: str) -> str:
    """The CLI option that sets limit ``name`` (what a message tells a person to change)."""
    return f"--max-{name}"


def env_of(name: str) -> str:
    """The environment variable that sets limit ``name``'s default (read by infrastructure/config.py)."""
    return f"TAPE_MAX_{name.upper()}"


@dataclass(frozen=True)
class FormLimits:
    """What one top-level form may use (None: no limit).  See the module docstring."""

    max_steps: int | None = DEFAULT_MAX_STEPS
    max_time: float | None = DEFAULT_MAX_TIME
    max_output: int | None = DEFAULT_MAX_OUTPUT
    max_effects: int | None = DEFAULT_MAX_EFFECTS
    max_journal: int | None = DEFAULT_MAX_JOURNAL
    # Replay only: the step at which a recorded time limit stopped the form (see replay_limits).
    stop_at_step: int | None = None

    def __post_init__(self) -> None:
        for name in LIMIT_NAMES:
            value = getattr(self, f"max_{name}")
            if value is not None and not value > 0:
                raise ValueError(f"max_{name} must be positive or None (no limit), got {value!r}")
            if name != "time" and isinstance(value, float):  # counts are whole (and shown, and read back, so)
                if not value.is_integer():
                    raise ValueError(f"max_{name} must be a whole number, got {value!r}")
                object.__setattr__(self, f"max_{name}", int(value))

    def with_values(self, **values: float | None) -> FormLimits:
        """These limits with some changed (``max_steps=...``; a value of None: no limit)."""
        return replace(self, **values)  # type: ignore[arg-type]


UNLIMITED = FormLimits(None, None, None, None, None)


def _exceeded(name: str, what: str, value: float) -> WorldError:
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return WorldError(LIMIT_EXCEEDED, f"{what} ({flag_of(name)} {shown}); raise it with {flag_of(name)} N, "
                                      f"{env_of(name)} or the session's limits, or 0 for no limit")


class FormBudget:
    """What the current form has used of its :class:`FormLimits`.

    The interpreter owns one; the session starts it at each form (:meth:`start`).
    ``journal_size`` tells how many entries the form's journal holds.  Exceeding
    a limit raises a :class:`~tapevm.vm.world.WorldError` of kind ``limit-exceeded``
    (the machine turns it into a catchable Lisp error).
    """

    def __init__(self, journal_size: Callable[[], int], clock: Callable[[], float] = time.monotonic) -> None:
        self._journal_size = journal_size
        self._clock = clock
        self.limits = UNLIMITED
        self.steps = 0
        self.output_bytes = 0
        self.effects = 0
        self._deadline: float | None = None
        self._max_steps: int | None = None
        self._stopped: WorldError | None = None
        # Where printed text goes as it is printed (the terminal), besides the form's journal.
        self.echo: Callable[[str], None] | None = None

    def start(self, limits: FormLimits, echo: Callable[[str], None] | None = None) -> None:
        """A new form begins: nothing used yet; its printed text also goes to ``echo`` as it is printed."""
        self.limits = limits
        self.echo = echo
        self.steps = self.output_bytes = self.effects = 0
        self._stopped = None
        replaying_time = limits.stop_at_step is not None
        self._deadline = None if limits.max_time is None or replaying_time else self._clock() + limits.max_time
        self._max_steps = limits.stop_at_step if replaying_time else limits.max_steps

    def tick(self, used: int) -> None:
        """``used`` more steps were run: check every limit.

        The machine calls it every :data:`CHECK_EVERY` closure calls whatever the limits (and
        :meth:`Machine.call` with 1), so the steps counted at each check, and hence where a
        replay stops, do not depend on the limits in effect.
        """
        self.steps += used
        if self._stopped is not None:
            raise self._stopped
        limits = self.limits
        if self._max_steps is not None and self.steps >= self._max_steps:
            if limits.stop_at_step is not None:  # replaying a form a time limit stopped
                self._stop(self._time_error(limits.max_time or 0.0))
            self._stop(_exceeded("steps", f"the form made more than {self._max_steps:,} function calls",
                                 self._max_steps))
        if self._deadline is not None and self._clock() > self._deadline:
            self._stop(self._time_error(limits.max_time or 0.0))
        if limits.max_journal is not None and self._journal_size() > limits.max_journal:
            self._stop(_exceeded("journal", f"the form made more than {limits.max_journal:,} changes and outputs "
                                            "(held in memory until it ends)", limits.max_journal))

    def _time_error(self, seconds: float) -> WorldError:
        return _exceeded("time", f"the form ran for more than {seconds:g} s, stopped after {self.steps} steps",
                         seconds)

    def _stop(self, error: WorldError) -> None:
        self._stopped = error
        raise error

    def output(self, text: str) -> None:
        """``text`` is about to be printed: count it (refused past ``max_output``), then echo it."""
        limit = self.limits.max_output
        if limit is not None:
            size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
            if self.output_bytes + size > limit:
                raise _exceeded("output", f"the form printed more than {limit:,} bytes", limit)
            self.output_bytes += size
        if self.echo is not None:
            self.echo(text)

    def effect(self) -> None:
        """An effect is about to be performed: count it (refused past ``max_effects``)."""
        if self._stopped is not None:
            raise self._stopped
        limit = self.limits.max_effects
        self.effects += 1
        if limit is not None and self.effects > limit:
            raise _exceeded("effects", f"the form performed more than {limit:,} effects", limit)


_RECORDED = re.compile(r"\(--max-(steps|time|output|effects|journal) ([0-9.e+]+)\)")
_STOPPED_AT = re.compile(r"stopped after ([0-9]+) steps")


def replay_limits(error_kind: str | None, error_message: str | None) -> FormLimits | None:
    """The limits that reproduce a recorded ``limit-exceeded`` outcome on replay: no limit but the one it
    names (a time limit becomes a stop at the recorded step, with the same message).  None for any
    other outcome: the form ended under its limits, and replays under the replaying session's."""
    if error_kind != LIMIT_EXCEEDED or not error_message:
        return None
    found = _RECORDED.search(error_message)
    if found is None:
        return None
    name, value = found.group(1), found.group(2)
    if name == "time":
        at = _STOPPED_AT.search(error_message)
        if at is None:
            return None
        return UNLIMITED.with_values(max_time=float(value), stop_at_step=int(at.group(1)))
    return UNLIMITED.with_values(**{f"max_{name}": int(value)})
