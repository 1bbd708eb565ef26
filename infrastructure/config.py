"""tapevm's settings from the environment: the one module that reads ``TAPE_*`` variables.

:meth:`Settings.from_environment` takes one snapshot of the variables when a
command or a session starts (opening a store, opening a session), never at
import: a program (or a test's ``monkeypatch.setenv``) that sets a variable
before it opens a store is seen.  The snapshot is passed down, and hot paths
get their values when they are built (the event store its chain key, a lease
its timeout), not by reading the environment again.

Each value is parsed when it is first asked for, with the error a user sees
today: a bad ``TAPE_LEASE_TIMEOUT`` fails what takes or checks a lease, not
``tape log``.  The parsers are pure functions, so they can be tested alone.
``TAPE_CHECKPOINT_INTERVAL`` and ``TAPE_INLINE_CHECKPOINTS`` are read here
too and handed to the checkpoint projection (``projections.checkpoints``),
which takes them as constructor values.

:meth:`Settings.secrets` gathers what must never be recorded or printed
(``domain/secrets.py``): ``TAPE_LLM_API_KEY``, ``TAPE_CHAIN_KEY``, the
credentials in ``TAPE_STORE`` and ``TAPE_LLM_BASE_URL``, and the values of the
variables ``TAPE_SECRETS`` names (the only variables not named ``TAPE_*`` read
here: their values are taken into the snapshot, so a later change is not seen).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tapevm.domain.errors import UsageError
from tapevm.domain.secrets import MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, Secrets
from tapevm.projections.checkpoints.policy import DEFAULT_INTERVAL, parse_interval
from tapevm.vm.limits import LIMIT_NAMES, FormLimits, env_of

ENV_HOME = "TAPE_HOME"
ENV_STORE = "TAPE_STORE"
ENV_DURABILITY = "TAPE_DURABILITY"
ENV_LEASE_TIMEOUT = "TAPE_LEASE_TIMEOUT"
ENV_CHAIN_KEY = "TAPE_CHAIN_KEY"
ENV_CHECKPOINT_INTERVAL = "TAPE_CHECKPOINT_INTERVAL"
ENV_INLINE_CHECKPOINTS = "TAPE_INLINE_CHECKPOINTS"
ENV_TOOLS = "TAPE_TOOLS"              # MODULE:ATTR specs of Python tools, separated by commas or spaces
ENV_LOG_FORMAT = "TAPE_LOG_FORMAT"    # text (key=value lines, the default) or json (one object a line)
LOG_FORMATS = ("text", "json")
ENV_SECRETS = "TAPE_SECRETS"          # names of variables whose values are secret: GITHUB_TOKEN,DB_PASSWORD
LLM_PREFIX = "TAPE_LLM"
ENV_LLM_API_KEY = "TAPE_LLM_API_KEY"
ENV_UI_URL = "TAPE_UI_URL"            # where `tape ui` is reached: the base of the links `--ui` prints
ENV_UI_TOKEN = "TAPE_UI_TOKEN"        # the token `tape ui` asks for when it listens beyond this machine
ENV_LLM_BASE_URL = "TAPE_LLM_BASE_URL"
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

DEFAULT_DURABILITY = "full"
DEFAULT_LEASE_TIMEOUT = 30.0
MAX_LEASE_TIMEOUT = 86_400.0


@dataclass(frozen=True)
class Settings:
    """The ``TAPE_*`` variables (and ``XDG_DATA_HOME``) as they were when a command or session started.

    Raw strings (None when unset); the methods parse them.  ``llm`` holds the
    ``TAPE_LLM*`` variables for the effect providers, which parse them.
    """

    home: str | None = None
    xdg_data_home: str | None = None
    store: str | None = None
    durability: str | None = None
    lease_timeout: str | None = None
    chain_key: str | None = None
    checkpoint_interval: str | None = None
    inline_checkpoints: str | None = None
    llm: Mapping[str, str] = field(default_factory=dict)
    secret_names: str | None = None                                     # TAPE_SECRETS as given
    secret_values: Mapping[str, str] = field(default_factory=dict)      # the values of the variables it names
    limits: Mapping[str, str] = field(default_factory=dict)  # TAPE_MAX_STEPS ... by limit name
    ui_token: str | None = None                                         # TAPE_UI_TOKEN
    ui_url: str = "http://127.0.0.1:8765"                              # TAPE_UI_URL
    tools: str | None = None                                            # TAPE_TOOLS as given
    log_format: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(home=env.get(ENV_HOME), xdg_data_home=env.get("XDG_DATA_HOME"), store=env.get(ENV_STORE),
                   durability=env.get(ENV_DURABILITY), lease_timeout=env.get(ENV_LEASE_TIMEOUT),
                   chain_key=env.get(ENV_CHAIN_KEY), checkpoint_interval=env.get(ENV_CHECKPOINT_INTERVAL),
                   inline_checkpoints=env.get(ENV_INLINE_CHECKPOINTS),
                   llm={k: v for k, v in env.items() if k.startswith(LLM_PREFIX)},
                   secret_names=env.get(ENV_SECRETS),
                   secret_values={k: env[k] for k in _listed_names(env.get(ENV_SECRETS)) if k in env},
                   limits={name: env[env_of(name)] for name in LIMIT_NAMES if env_of(name) in env},
                   ui_token=env.get(ENV_UI_TOKEN), ui_url=env.get(ENV_UI_URL) or "http://127.0.0.1:8765",
                   tools=env.get(ENV_TOOLS),
                   log_format=env.get(ENV_LOG_FORMAT))

    def tape_home(self) -> Path:
        """tapevm's own directory (see :func:`tape_home`)."""
        return tape_home(self.home, self.xdg_data_home)

    def store_location(self) -> str:
        """``TAPE_STORE``, else ``$TAPE_HOME/store.db``."""
        return self.store or str(self.tape_home() / "store.db")

    def store_durability(self) -> str:
        """``TAPE_DURABILITY`` (``full`` when unset; the store refuses an unknown one)."""
        return self.durability if self.durability is not None else DEFAULT_DURABILITY

    def log_format_name(self) -> str:
        """``TAPE_LOG_FORMAT``: ``text`` (unset or empty) or ``json``; a UsageError for anything else."""
        name = (self.log_format or "text").strip().lower()
        if name not in LOG_FORMATS:
            raise UsageError(f"{ENV_LOG_FORMAT}={self.log_format!r}: give text (key=value lines) or json "
                             "(one JSON object a line)")
        return name

    def lease_timeout_seconds(self) -> float:
        return parse_lease_timeout(self.lease_timeout)

    def chain_key_bytes(self) -> bytes | None:
        return parse_chain_key(self.chain_key)

    def checkpoint_interval_events(self) -> int | None:
        """``TAPE_CHECKPOINT_INTERVAL``: None when unset (the store's setting decides), the default when
        set but empty; a UsageError when it is not a whole number of events in range."""
        interval = parse_interval(self.checkpoint_interval)
        return DEFAULT_INTERVAL if interval is None and self.checkpoint_interval is not None else interval

    def secrets(self, strict: bool = True) -> Secrets:
        """What must never be recorded or printed, each under the variable it came from.

        ``TAPE_LLM_API_KEY`` and ``TAPE_CHAIN_KEY`` (unless shorter than a secret can be: a
        local server's placeholder key such as ``x`` protects nothing and is not masked), the
        credentials in ``TAPE_STORE`` and ``TAPE_LLM_BASE_URL`` (``[secret TAPE_STORE password]``),
        and each variable ``TAPE_SECRETS`` names.  A UsageError when ``TAPE_SECRETS`` holds
        something that is not a variable name, or names a variable whose value is too short to
        mask (or too long to be a key); a named variable that is unset has nothing to mask and is passed over.  Not ``strict``
        (masking the line that reports such an error): what cannot be a secret is passed over too.
        """
        secrets = Secrets()
        for name, value in ((ENV_LLM_API_KEY, self.llm.get(ENV_LLM_API_KEY)), (ENV_CHAIN_KEY, self.chain_key),
                            (ENV_UI_TOKEN, self.ui_token)):
            if value and MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH:
                secrets.add(name, value)
        for name, url in ((ENV_STORE, self.store), (ENV_LLM_BASE_URL, self.llm.get(ENV_LLM_BASE_URL))):
            if url and len(url) <= MAX_SECRET_LENGTH:
                secrets.add_url(f"{name} password", url)
        for name in _listed_names(self.secret_names, strict):
            value = self.secret_values.get(name)
            if not value:
                continue
            if MIN_SECRET_LENGTH <= len(value) <= MAX_SECRET_LENGTH:
                secrets.add(name, value)
            elif strict:
                raise UsageError(f"{ENV_SECRETS} names {name}, whose value is "
                                 f"{'shorter' if len(value) < MIN_SECRET_LENGTH else 'longer'} than a secret can be "
                                 f"({MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH:,} characters; a shorter one would "
                                 f"hide ordinary text): remove it from {ENV_SECRETS}, or give the whole secret")
        return secrets

    def writes_inline_checkpoints(self) -> bool:
        """Whether sessions write checkpoints after their commits (``TAPE_INLINE_CHECKPOINTS=0``: no, a
        ``tape follow`` process keeps them)."""
        return self.inline_checkpoints != "0"

    def form_limits(self) -> FormLimits:
        """The limits each form runs under (``TAPE_MAX_STEPS``, ``_TIME``, ``_OUTPUT``, ``_EFFECTS``,
        ``_JOURNAL``; unset or empty: the default, 0: no limit); a UsageError for a bad value."""
        return FormLimits().with_values(**{f"max_{name}": parse_limit(name, value, env_of(name))
                                          for name, value in self.limits.items() if value})


def tape_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Every ``TAPE_*`` variable and its value, by name (``tape`` refuses one that is not UTF-8)."""
    env = os.environ if environ is None else environ
    return sorted((name, value) for name, value in env.items() if name.startswith("TAPE_"))


def _listed_names(text: str | None, strict: bool = False) -> list[str]:
    """The variable names of a ``TAPE_SECRETS`` value (separated by commas or spaces).

    ``strict``: a UsageError naming the first item that is not a variable name; else such
    items are passed over (the snapshot takes values early; :meth:`Settings.secrets` refuses).
    """
    names = [item for item in re.split(r"[,\s]+", text or "") if item]
    for item in names:
        if strict and not VARIABLE_NAME.fullmatch(item):
            raise UsageError(f"{ENV_SECRETS}={text!r}: {item!r} is not an environment variable name; give the "
                             "names of the variables whose values are secret, separated by commas "
                             f"(e.g. {ENV_SECRETS}=GITHUB_TOKEN,DB_PASSWORD)")
    return [item for item in names if VARIABLE_NAME.fullmatch(item)]


def tape_home(home: str | None, xdg_data_home: str | None) -> Path:
    """tapevm's own directory: ``$TAPE_HOME``, else ``$XDG_DATA_HOME/tapevm`` (``~/.local/share/tapevm``).

    A UsageError when it names a file, or lies under one: making the store's directory there failed
    with the OS's "File exists" (or "Not a directory"), which did not say the variable was wrong.
    """
    if home:
        path = Path(home)
    else:
        data = xdg_data_home or os.path.join(os.path.expanduser("~"), ".local", "share")
        path = Path(data) / "tapevm"
    blocker = _file_in_the_way(path)
    if blocker is not None:
        named = f"TAPE_HOME={home!r}" if home else f"TAPE_HOME (by default {str(path)!r})"
        where = "names a file" if blocker == path else f"lies under {str(blocker)!r}, a file"
        raise UsageError(f"{named} {where}, not a directory: set TAPE_HOME to a directory (created if missing)")
    return path


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing one of ``path`` and its parents when it is not a directory, else None."""
    try:
        for p in (path, *path.parents):
            if p.exists():
                return None if p.is_dir() else p
    except OSError:  # (unreadable: left to whoever creates or opens something there to report)
        return None
    return None


def parse_lease_timeout(value: str | None) -> float:
    """``TAPE_LEASE_TIMEOUT`` in seconds: the default when unset or empty, else a number from 1 to a day.

    Anything else is a UsageError.  It is read when a lease is checked, not at import: a value that
    is not a number failed every command with a traceback; 0 or less made every live writer's lease
    look dead, so a second writer took it over; inf or nan broke the heartbeat thread.
    """
    if not value:
        return DEFAULT_LEASE_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 1 <= seconds <= MAX_LEASE_TIMEOUT:  # (nan fails too)
        raise UsageError(f"TAPE_LEASE_TIMEOUT={value!r}: give a number of seconds from 1 to {MAX_LEASE_TIMEOUT:,.0f}")
    return seconds


def parse_chain_key(value: str | None) -> bytes | None:
    """``TAPE_CHAIN_KEY`` as a BLAKE2b key (None when unset or empty: links are not keyed)."""
    if not value:
        return None
    data = value.encode()
    if len(data) > 64:  # BLAKE2b's key limit; longer secrets are hashed down
        data = hashlib.blake2b(data).digest()
    return data


def parse_limit(name: str, value: str, given_as: str) -> int | float | None:
    """A form limit's value as a person gave it (``given_as``: the variable or the option): a whole
    number (``time``: a number of seconds) from 0; 0 means no limit (None)."""
    try:
        number: float = float(value) if name == "time" else int(value)
    except ValueError:
        number = math.nan
    if not (number >= 0 and math.isfinite(number)):  # (nan fails too)
        kind = "a number of seconds" if name == "time" else "a whole number"
        raise UsageError(f"{given_as}={value!r}: give {kind} from 0 (0: no limit)")
    return None if number == 0 else number
