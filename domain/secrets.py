"""Secrets and the one masking step that keeps them out of everything recorded or printed.

The log cannot be purged: a key recorded once stays in every copy, image and export of it.
So every text that is recorded (an effect's arguments, results and error messages, the URLs
providers name) or printed (the CLI's error lines) passes through :meth:`Secrets.mask` before it
is written.  Each occurrence of a secret becomes ``[secret NAME]``: the reader learns *which*
secret stood there (``[secret TAPE_LLM_API_KEY]``), never any of its characters.

Contracts:

* one pass, longest secret first, so a secret that contains another is masked whole;
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
    object (the session's providers) sees them at once.  Masking a text costs one regular
    expression search when any secret is registered, nothing otherwise.
    """

    def __init__(self, named: Iterable[tuple[str, str]] = ()) -> None:
        self._names: dict[str, str] = {}   # value -> name
        self._pattern: re.Pattern[str] | None = None
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
        if value not in self._names:
            self._names[value] = name
            self._pattern = None

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
        """``text`` with every secret in it replaced by its :func:`masked_form` (see the module docstring)."""
        if not self._names or not text:
            return text
        pattern = self._pattern
        if pattern is None:
            values = sorted(self._names, key=len, reverse=True)
            pattern = self._pattern = re.compile("|".join([_MASKED.pattern, *map(re.escape, values)]))
        names = self._names

        def replace(found: re.Match[str]) -> str:
            name = names.get(found.group())
            return found.group() if name is None else masked_form(name)  # (a mask already there stays)

        return pattern.sub(replace, text)
