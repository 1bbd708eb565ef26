"""Secrets and the one masking step that keeps them out of everything recorded or printed.

The log cannot be purged: a key recorded once stays in every copy, image and export of it.
So every text that is recorded (an effect's arguments, results and error messages, the URLs
providers name) or printed (the CLI's error lines) passes through :meth:`Secrets.mask` before it
is written.  Each occurrence of a secret becomes ``[secret NAME]``: the reader learns *which*
secret stood there (``[secret TAPE_LLM_API_KEY]``), never any of its characters.

Contracts:

* as one pass: leftmost occurrence first, a longer secret before a shorter one at the same
  place (so a secret that contains another is masked whole);
* idempotent: a mask already in the text is left as it is (even when a secret's value is
  a word of the mask itself), so masking twice is masking once;
* a value shorter than :data:`MIN_SECRET_LENGTH` characters is refused: masking every ``ab``
  of every text would hide ordinary words and protect nothing;
* a URL's password is a secret too (:meth:`Secrets.add_url`), in the URL's (percent-encoded)
  form and as sent (decoded).

Pure: no I/O, no environment (``infrastructure/config.py`` reads the variables).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from tapevm.domain.errors import UsageError

MIN_SECRET_LENGTH = 4
MAX_SECRET_LENGTH = 65_536
_MASKED = re.compile(r"\[secret [^\]\n]{1,200}\]")


def masked_form(name: str) -> str:
    """What an occurrence of the secret called ``name`` becomes."""
    return f"[secret {name}]"


def url_credentials(url: str) -> str | None:
    """The password of a URL's ``user:password@``; None without one (a user name alone is not secret:
    ``postgresql://postgres@host`` would mask every ``postgres``)."""
    try:
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    except ValueError:  # (a URL that does not parse: the text between '://' and '@' is all we have)
        found = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/@]*)@", url)
        userinfo = found.group(1) if found else ""
    if not userinfo:
        return None
    return userinfo.partition(":")[2] or None


def shortened(masked: str, limit: int) -> str:
    """A masked text cut to ``limit`` characters and an ellipsis, never inside a mask (one that would be
    cut is kept whole, so the reader still learns which secret stood there)."""
    if len(masked) <= limit:
        return masked
    end = limit - 1
    for found in _MASKED.finditer(masked, max(0, end - 210), end + 210):
        if found.start() < end < found.end():
            end = found.end()
    return masked[:end] + "…"


class Secrets:
    """The secret texts of a session or a command, each with the name its mask shows.

    Mutable: a session registers more as it goes (``Session.secret``), and whoever shares the
    object (the session's providers) sees them at once.  Masking costs a substring search per
    secret (C speed: a few microseconds per 10 KiB), and a rewrite of the texts that hold one.
    """

    def __init__(self, named: Iterable[tuple[str, str]] = ()) -> None:
        self._names: dict[str, str] = {}   # value -> name
        for name, value in named:
            self.add(name, value)

    def __bool__(self) -> bool:
        return bool(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def names(self) -> list[str]:
        """The names of the registered secrets, each once, in registration order."""
        return list(dict.fromkeys(self._names.values()))

    def add(self, name: str, value: str) -> None:
        """Register ``value`` as the secret called ``name``; a UsageError for a value too short to mask
        or a name a mask cannot show.  Registering a value again keeps its first name."""
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            raise UsageError(f"the secret {name!r} is shorter than {MIN_SECRET_LENGTH} characters: masking it "
                             "would hide ordinary text; give the whole secret")
        if not name or len(name) > 200 or not name.isprintable() or "]" in name:
            raise UsageError(f"a secret's name {name!r} must be 1 to 200 visible characters without ']'")
        if len(value) > MAX_SECRET_LENGTH:
            raise UsageError(f"the secret {name!r} is longer than {MAX_SECRET_LENGTH:,} characters: give a key, "
                             "not a document")
        if value not in self._names:
            self._names[value] = name

    def add_url(self, name: str, url: str) -> None:
        """Register the credentials of ``url`` (if it has any) as the secret called ``name``, as written in
        the URL and as sent (percent-decoded).  Credentials too short to mask are left out."""
        secret = url_credentials(url)
        if secret is None:
            return
        for form in dict.fromkeys((secret, unquote(secret))):
            if len(form) >= MIN_SECRET_LENGTH:
                self.add(name, form)

    def merge(self, other: Secrets) -> None:
        """Register every secret of ``other`` here too (a no-op for those already here)."""
        for value, name in other._names.items():
            if value not in self._names:
                self.add(name, value)

    def mask(self, text: str) -> str:
        """``text`` with every secret in it replaced by its :func:`masked_form` (see the module docstring).

        The secrets the text holds are found by substring search (C speed), and the occurrences
        chosen as one regular expression pass would: leftmost first, at one place a mask already
        there before a secret, a longer secret before a shorter.  (An alternation of the secrets
        costs ~0.35 ms per 10 KiB in ``re``; this, a few microseconds.)
        """
        names = self._names
        if not names:
            return text
        present = [value for value in names if value in text]
        if not present:
            return text
        # (start, rank, end, the secret there or None for a mask already there)
        found: list[tuple[int, int, int, str | None]] = [(m.start(), 0, m.end(), None) for m in _MASKED.finditer(text)]
        for value in present:
            at = text.find(value)
            while at != -1:
                found.append((at, 1 + MAX_SECRET_LENGTH - len(value), at + len(value), value))
                at = text.find(value, at + 1)
        found.sort()
        out: list[str] = []
        end = 0
        for at, _, stop, secret in found:
            if at < end:  # (inside what an earlier occurrence covers)
                continue
            out += (text[end:at], text[at:stop] if secret is None else masked_form(names[secret]))
            end = stop
        out.append(text[end:])
        return "".join(out)
