"""The reader: source text to Lisp data.

Syntax::

    42  -7  123456789012345678901234567890     integers (any size)
    1.5  -2e3  .5  +inf.0  -inf.0  +nan.0       floats
    "text\\n\\t\\"\\\\\\u00e9\\u{1F600}"             strings with escapes
    foo  ns/name  |odd symbol|                  symbols (bars allow any characters)
    :key  :|odd key|                            keywords
    #t  #f  true  false  nil                    booleans and nil (the empty list)
    (a b c)  (a . b)  ()                        lists and dotted pairs
    [a b c]                                     vectors (Python tuples)
    {k v ...}                                   maps (LMap, in written order)
    'x  `x  ,x  ,@x  @x                         quote quasiquote unquote unquote-splicing deref
    ; comment to the end of the line

Nesting is handled with an explicit stack, not Python recursion, so a list
nested 100,000 deep reads fine.  Errors are :class:`ReadError` with the line
and column (1-based) where the problem is.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from tapevm.vm.errors import ReadError
from tapevm.vm.numtext import parse_number
from tapevm.vm.values import NIL, Keyword, LMap, Pair, Symbol

_SKIP = re.compile(r"(?:\s+|;[^\n]*)+")
_TOKEN = re.compile(r"[^\s()\[\]{}\"';`,|]+")
_STRING_CHUNK = re.compile(r'[^"\\]+')
_BAR_CHUNK = re.compile(r"[^|\\]+")
_HEX = re.compile(r"[0-9a-fA-F]{4}")
_HEX_BRACED = re.compile(r"\{([0-9a-fA-F]{1,6})\}")
_LOW_SURROGATE = re.compile(r"\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)

_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", '"': '"', "\\": "\\", "|": "|"}
_CONSTANTS: dict[str, Any] = {
    "nil": NIL, "#t": True, "#f": False, "#true": True, "#false": False, "true": True, "false": False,
}
_PREFIXES = {
    "'": Symbol("quote"), "`": Symbol("quasiquote"), ",": Symbol("unquote"),
    ",@": Symbol("unquote-splicing"), "@": Symbol("deref"),
}
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_NAMES = {"(": "list", "[": "vector", "{": "map"}

Form = tuple[Any, int, int, str]


def read_forms(source: str, filename: str = "<input>") -> list[Form]:
    """Every top-level form of ``source`` as ``(form, line, column, source_text)``."""
    return _Reader(source, filename).read_all()


def read_one(source: str, filename: str = "<string>") -> Any:
    """The first form of ``source``; ReadError if there is none."""
    forms = read_forms(source, filename)
    if not forms:
        raise ReadError("no form to read", 1, 1, filename)
    return forms[0][0]


def classify_token(token: str) -> Any:
    """The value of an atom token (number, constant, keyword or symbol)."""
    value = _CONSTANTS.get(token)
    if value is not None:
        return value
    first = token[0]
    if first.isdigit() or first in "+-.":
        number = parse_number(token)
        if number is not None:
            return number
    if first == ":":
        if len(token) == 1:
            return None
        return Keyword(token[1:])
    if first == "#":
        return None
    return Symbol(token)


class _Open:
    """An open list, vector or map (or a pending quote prefix) on the reader's stack."""

    __slots__ = ("dot", "items", "kind", "pos", "prefix")

    def __init__(self, kind: str, pos: int, prefix: Symbol | None = None) -> None:
        self.kind = kind          # "(", "[", "{", or "'" for a prefix
        self.items: list[Any] = []
        self.pos = pos
        self.dot = -1             # index in items where the dotted tail goes, for lists
        self.prefix = prefix


class _Reader:
    def __init__(self, source: str, filename: str) -> None:
        self.src = source
        self.filename = filename
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def position(self, pos: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, pos)
        return line, pos - self.line_starts[line - 1] + 1

    def error(self, message: str, pos: int, incomplete: bool = False) -> ReadError:
        line, column = self.position(pos)
        return ReadError(message, line, column, self.filename, incomplete=incomplete)

    def read_all(self) -> list[Form]:
        src = self.src
        n = len(src)
        forms: list[Form] = []
        stack: list[_Open] = []
        i = 0
        start = 0  # where the current top-level form began
        while True:
            m = _SKIP.match(src, i)
            if m:
                i = m.end()
            if i >= n:
                break
            c = src[i]
            if not stack:
                start = i
            datum: Any
            if c in "([{":
                stack.append(_Open(c, i))
                i += 1
                continue
            if c in ")]}":
                if not stack:
                    raise self.error(f"unexpected '{c}' (nothing to close)", i)
                top = stack[-1]
                if top.kind == "'":
                    raise self.error(f"expected a form after {_prefix_text(top.prefix)} but found '{c}'", i)
                if top.kind != _CLOSERS[c]:
                    line, col = self.position(top.pos)
                    raise self.error(
                        f"'{c}' does not match the '{top.kind}' opened at line {line}, column {col}", i
                    )
                stack.pop()
                datum = self.close(top, i)
                i += 1
            elif c in "'`,@":
                if c == "," and src.startswith(",@", i):
                    stack.append(_Open("'", i, _PREFIXES[",@"]))
                    i += 2
                else:
                    stack.append(_Open("'", i, _PREFIXES[c]))
                    i += 1
                continue
            elif c == '"':
                datum, i = self.read_string(i)
            elif c == "|":
                name, i = self.read_bar(i)
                datum = Symbol(name)
            elif c == ":" and src.startswith(":|", i):
                name, i = self.read_bar(i + 1)
                datum = Keyword(name)
            else:
                m = _TOKEN.match(src, i)
                assert m is not None
                token = m.group()
                if token == ".":
                    top = stack[-1] if stack else None
                    if top is None or top.kind != "(" or not top.items or top.dot >= 0:
                        raise self.error("unexpected '.' (only one '.' may come before the last form of a list)", i)
                    top.dot = len(top.items)
                    i = m.end()
                    continue
                datum = classify_token(token)
                if datum is None:
                    raise self.error(f"unknown syntax {token!r}", i)
                i = m.end()
            # A complete datum: wrap it in pending prefixes, then add it to its container.
            while stack and stack[-1].kind == "'":
                datum = Pair(stack.pop().prefix, Pair(datum, NIL))
            if stack:
                top = stack[-1]
                if top.dot >= 0 and len(top.items) > top.dot:
                    raise self.error("only one form may follow '.' in a dotted list", i - 1)
                top.items.append(datum)
            else:
                line, column = self.position(start)
                forms.append((datum, line, column, src[start:i]))
        if stack:
            top = stack[-1]
            if top.kind == "'":
                raise self.error(f"expected a form after {_prefix_text(top.prefix)}", top.pos, incomplete=True)
            raise self.error(f"unterminated {_NAMES[top.kind]}", top.pos, incomplete=True)
        return forms

    def close(self, top: _Open, pos: int) -> Any:
        items = top.items
        if top.kind == "(":
            tail: Any = NIL
            if top.dot >= 0:
                if len(items) != top.dot + 1:
                    raise self.error("expected one form after '.' in a dotted list", pos)
                tail = items.pop()
            result = tail
            for item in reversed(items):
                result = Pair(item, result)
            return result
        if top.kind == "[":
            return tuple(items)
        if len(items) % 2:
            raise self.error("a map literal needs an even number of forms (key value ...)", top.pos)
        return LMap((items[k], items[k + 1]) for k in range(0, len(items), 2))

    def read_string(self, start: int) -> tuple[str, int]:
        text, end = self.read_delimited(start, '"', _STRING_CHUNK)
        return text, end

    def read_bar(self, start: int) -> tuple[str, int]:
        return self.read_delimited(start, "|", _BAR_CHUNK)

    def read_delimited(self, start: int, quote: str, chunk: re.Pattern[str]) -> tuple[str, int]:
        """Read from the opening ``quote`` at ``start`` to its closing one, handling escapes."""
        src = self.src
        n = len(src)
        parts: list[str] = []
        i = start + 1
        while True:
            m = chunk.match(src, i)
            if m:
                parts.append(m.group())
                i = m.end()
            if i >= n:
                what = "string" if quote == '"' else "|symbol|"
                raise self.error(f"unterminated {what}", start, incomplete=True)
            c = src[i]
            if c == quote:
                return "".join(parts), i + 1
            # a backslash escape
            if i + 1 >= n:
                raise self.error("unterminated string" if quote == '"' else "unterminated |symbol|", start,
                                 incomplete=True)
            e = src[i + 1]
            simple = _SIMPLE_ESCAPES.get(e)
            if simple is not None:
                parts.append(simple)
                i += 2
            elif e == "u":
                hm = _HEX.match(src, i + 2)
                code = -1
                if hm:
                    code = int(hm.group(), 16)
                    if 0xD800 <= code < 0xDC00:  # a UTF-16 surrogate pair written as two escapes
                        low = _LOW_SURROGATE.match(src, hm.end())
                        if low:
                            code = 0x10000 + ((code - 0xD800) << 10) + (int(low.group(1), 16) - 0xDC00)
                            hm = low
                else:
                    hm = _HEX_BRACED.match(src, i + 2)
                    if hm:
                        code = int(hm.group(1), 16)
                if hm is None or code > 0x10FFFF:
                    raise self.error("bad \\u escape: use \\uXXXX (4 hex digits) or \\u{X...}", i)
                if 0xD800 <= code <= 0xDFFF:
                    raise self.error("\\u escape of a lone UTF-16 surrogate (not a character)", i)
                parts.append(chr(code))
                i = hm.end()
            else:
                raise self.error(f"unknown escape \\{e} (known: \\n \\t \\r \\0 \\\" \\\\ \\uXXXX)", i)


def _prefix_text(prefix: Symbol | None) -> str:
    for text, sym in _PREFIXES.items():
        if sym is prefix:
            return text
    return "'"
