"""Decimal text of integers of any size, and the number syntax shared by reader and printer.

CPython refuses ``int(text)`` and ``str(n)`` beyond a process-wide digit limit
(4300 digits by default).  The VM has arbitrary precision integers, so these
helpers split long numbers into chunks that stay under that limit; nothing
here depends on (or changes) the process setting.
"""

from __future__ import annotations

import math
import re

_CHUNK = 2000  # digits per conversion, well under CPython's default limit

INT_RE = re.compile(r"[+-]?[0-9]+\Z")
FLOAT_RE = re.compile(
    r"[+-]?(?:[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)\Z"
)
SPECIAL_FLOATS = {"+inf.0": math.inf, "-inf.0": -math.inf, "+nan.0": math.nan}

# The longest integer that source text (and string->number) may write out.  Converting decimal text
# costs more than linear time (5 million digits took minutes); 100,000 digits take milliseconds.
# Larger integers are computed ((expt 10 1000000)), and stored values are not limited.
MAX_LITERAL_DIGITS = 100_000


def too_long_integer(text: str) -> bool:
    """Whether ``text`` is integer syntax with more than :data:`MAX_LITERAL_DIGITS` digits."""
    return len(text) > MAX_LITERAL_DIGITS and len(text.lstrip("+-")) > MAX_LITERAL_DIGITS and bool(INT_RE.match(text))


def too_long_message(text: str) -> str:
    return (f"an integer literal of {len(text.lstrip('+-')):,} digits is longer than the {MAX_LITERAL_DIGITS:,} "
            "digits source may write: compute it instead (e.g. with expt)")


def text_to_int(text: str) -> int:
    """Parse a decimal integer (already validated by :data:`INT_RE`)."""
    sign = 1
    if text[:1] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    return sign * _digits_to_int(text)


def _digits_to_int(digits: str) -> int:
    if len(digits) <= _CHUNK:
        return int(digits)
    half = len(digits) // 2
    high, low = digits[:-half], digits[-half:]
    return _digits_to_int(high) * 10**half + _digits_to_int(low)  # type: ignore[no-any-return]


def int_to_text(n: int) -> str:
    """The decimal text of ``n``."""
    if n.bit_length() < _CHUNK * 3:  # about 1800 digits: always under the limit
        return str(n)
    if n < 0:
        return "-" + _int_digits(-n, 0)
    return _int_digits(n, 0)


def _int_digits(n: int, width: int) -> str:
    """Digits of ``n >= 0``, zero-padded to ``width`` (0: no padding)."""
    if n.bit_length() < _CHUNK * 3:
        text = str(n)
        return text.zfill(width) if width else text
    # Split around a power of ten near half the number of digits.
    digits = int(n.bit_length() * 0.30103) + 1
    half = digits // 2
    high, low = divmod(n, 10**half)
    head = _int_digits(high, width - half if width else 0)
    return head + _int_digits(low, half)


def float_to_text(x: float) -> str:
    """Re-readable text of a float (``1.5``, ``1e+16``, ``+inf.0``, ``+nan.0``)."""
    if math.isnan(x):
        return "+nan.0"
    if x == math.inf:
        return "+inf.0"
    if x == -math.inf:
        return "-inf.0"
    return repr(x)


def parse_number(text: str) -> int | float | None:
    """The number a token denotes, or None if it is not number syntax."""
    if INT_RE.match(text):
        return text_to_int(text)
    if FLOAT_RE.match(text):
        return float(text)
    special = SPECIAL_FLOATS.get(text)
    if special is not None:
        return special
    return None
