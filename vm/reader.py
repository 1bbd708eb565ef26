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
from tapevm.vm.numtext import (
    MAX_LITERAL_DIGITS,
    parse_number,
    text_to_int,
    too_long_integer,
    too_long_message,
)
from tapevm.vm.values import NIL, Keyword, LMap, Pair, Symbol

# The scanner: one regex, matched once per token (finditer), whose numbered group says what
# the token is.  Whitespace and comments before a token are part of its match; the skip is
# possessive (``*+``) so it is never given back to a token alternative.  Every position
# matches some alternative (``_OTHER`` takes any character, ``_END`` the end of the text),
# so finditer never silently skips text.  The rare tokens whose grammar a regex does not
# capture well (strings or |symbols| with escapes, unterminated ones) are ``_OTHER`` and
# are read by ``read_delimited``, after which scanning restarts behind them.
#
# ``_FLAT`` is the fast path for the most common shape, a list of plain atoms such as
# ``(define x1 42)``: one match for the whole list, split on whitespace (``str.split`` and
# the regex's ``\s`` agree on what whitespace is).  When one of its atoms needs the general
# path (``.``, or a token that is not valid syntax, so that the error has its position),
# the list is scanned again token by token.
_DELIMITERS = r"\s()\[\]{}\"';`,|"
_SKIP = r"(?:\s+|;[^\n]*)*+"  # whitespace and comments before a token
_FLAT_INSIDE = r"[^()\[\]{}\"';`,|@]*"  # the inside of a list of plain atoms
_LEX = re.compile(
    _SKIP
    + r"(?:"
    rf"\(({_FLAT_INSIDE})\)"  # 1 a list of plain atoms (no brackets, quotes, prefixes, comments)
    r"|([(\[{])"  # 2 an opening bracket
    r"|([)\]}])"  # 3 a closing bracket
    rf"|((?!:\|)[^{_DELIMITERS}@][^{_DELIMITERS}]*)"  # 4 an atom (number, symbol, keyword, constant, '.')
    r'|"([^"\\]*)"'  # 5 a string without escapes
    r"|(,@|['`,@])"  # 6 a quote prefix
    r"|\|([^|\\]*)\|"  # 7 a |symbol| without escapes
    r"|:\|([^|\\]*)\|"  # 8 a :|keyword| without escapes
    r"|(\Z)"  # 9 the end of the text
    r"|(.)"  # 10 anything else: the start of a string, |symbol| or :|keyword| read by read_delimited
    r")",
    re.DOTALL,
)
# A run of plain-atom lists inside a list (the body of a ``begin`` of definitions, a ``let``'s
# bindings...): found in one match, their insides in one ``findall``, read without going
# through the scanner loop once per list.  Same alternative and same skip as ``_LEX``'s.
_FLAT_RUN = re.compile(rf"\({_FLAT_INSIDE}\)(?:{_SKIP}\({_FLAT_INSIDE}\))*")
_FLAT_ITEM = re.compile(rf"{_SKIP}\(({_FLAT_INSIDE})\)")
_FLAT, _OPEN, _CLOSE, _ATOM, _STRING, _PREFIX, _BAR_SYMBOL, _BAR_KEYWORD, _END, _OTHER = range(1, 11)
# How far before its group a token starts (the opening paren, quote, bar or colon-bar), by group number.
_TOKEN_OFFSET = (0, 1, 0, 0, 0, 1, 0, 1, 2, 0, 0)
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
# Atom token -> value, for the tokens that always read as the same value: the constants, and
# symbols and keywords as they are first read (they are interned for the whole process anyway,
# so this cache grows no faster than Symbol's and Keyword's own tables).  Numbers are not kept.
_ATOMS: dict[str, Any] = dict(_CONSTANTS)
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


def _atom(token: str) -> Any:
    """The value of an atom token, or None if it is not valid syntax (or is ``.``)."""
    value = _ATOMS.get(token)
    if value is not None:
        return value
    if len(token) > MAX_LITERAL_DIGITS and too_long_integer(token):
        return None  # (reported by Reader.dot, which knows where it is)
    if token.isdigit() and token.isascii():
        # int() refuses long digit strings (sys.get_int_max_str_digits, at least 640)
        return int(token) if len(token) < 640 else text_to_int(token)
    if token == ".":
        return None
    value = classify_token(token)
    if type(value) is Symbol or type(value) is Keyword:
        _ATOMS[token] = value
    return value


def _flat_list(text: str) -> Any:
    """The list of the atoms in ``text`` (a list's inside), or None if one of them is not a plain atom."""
    result: Any = NIL
    known = _ATOMS.get
    for token in reversed(text.split()):
        value = known(token)  # the cache and integers inline: most atoms are one or the other
        if value is None:
            if token.isdigit() and token.isascii() and len(token) < 640:
                value = int(token)
            else:
                value = _atom(token)
                if value is None:
                    return None
        result = Pair(value, result)
    return result


def _read_flat_run(src: str, start: int, stop: int, items: list[Any]) -> int:
    """Append the lists of the run ``src[start:stop]`` (plain-atom lists, see ``_FLAT_RUN``) to ``items``.

    Returns where scanning goes on: ``stop``, or the opening parenthesis of the
    first list that needs the general path (``.``, invalid syntax), read no further.
    """
    append = items.append
    known = _ATOMS.get
    for i, text in enumerate(_FLAT_ITEM.findall(src, start, stop)):
        tokens = text.split()
        if len(tokens) == 3:  # ``(define name value)``, the commonest list of all: no loop
            a, b, c = tokens
            va, vb, vc = known(a), known(b), known(c)
            if vc is None:
                vc = int(c) if c.isdigit() and c.isascii() and len(c) < 640 else _atom(c)
            if va is None:
                va = _atom(a)
            if vb is None:
                vb = _atom(b)
            if va is None or vb is None or vc is None:
                return _flat_item_start(src, start, stop, i)
            append(Pair(va, Pair(vb, Pair(vc, NIL))))
            continue
        datum: Any = NIL
        for token in reversed(tokens):  # _flat_list, inlined: this loop runs for every definition
            value = known(token)
            if value is None:
                if token.isdigit() and token.isascii() and len(token) < 640:
                    value = int(token)
                else:
                    value = _atom(token)
                    if value is None:
                        return _flat_item_start(src, start, stop, i)
            datum = Pair(value, datum)
        append(datum)
    return stop


def _flat_item_start(src: str, start: int, stop: int, i: int) -> int:
    """Where the ``i``-th list of a run of plain-atom lists opens."""
    for j, m in enumerate(_FLAT_ITEM.finditer(src, start, stop)):
        if j == i:
            return m.start(1) - 1
    raise AssertionError("a run has fewer lists than findall found")  # pragma: no cover


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
        """Every top-level form.  One pass of the scanner per stretch of text; a slow path that
        reads past the scanner (an escaped string, a list to read token by token) sets
        ``resume`` and the scan starts again from there."""
        src = self.src
        forms: list[Form] = []
        stack: list[_Open] = []
        top: _Open | None = None  # stack[-1], or None at top level
        start = 0  # where the current top-level form began
        pos = 0
        while True:
            resume = -1  # set when a slow path read past the scanner: scan again from there
            for m in _LEX.finditer(src, pos):
                k: int = m.lastindex  # type: ignore[assignment]  # never None: every alternative is a group
                if top is None:
                    start = m.start(k) - _TOKEN_OFFSET[k]
                if k == _FLAT:
                    datum, resume = self.read_flat(m, top, stack)
                    if resume >= 0:  # a run of lists read into top, or a list to read the general way
                        top = stack[-1] if stack else None
                        break
                elif k == _ATOM:
                    datum = _atom(m.group(k))
                    if datum is None:  # '.' (which marks top as dotted), or an error
                        self.dot(top, m.group(k), m.start(k))
                        continue
                elif k == _OPEN or k == _PREFIX:
                    text = m.group(k)
                    top = _Open(text, m.start(k)) if k == _OPEN else _Open("'", m.start(k), _PREFIXES[text])
                    stack.append(top)
                    continue
                elif k == _CLOSE:
                    datum = self.close(top, m.group(k), m.start(k))
                    stack.pop()
                    top = stack[-1] if stack else None
                elif k == _STRING:
                    datum = m.group(k)
                elif k == _BAR_SYMBOL or k == _BAR_KEYWORD:
                    datum = (Symbol if k == _BAR_SYMBOL else Keyword)(m.group(k))
                elif k == _END:
                    break
                else:  # _OTHER: a string with escapes, |symbol| or :|keyword| with escapes, or unterminated
                    datum, resume = self.read_escaped(m.start(k))
                end = m.end() if resume < 0 else resume
                # A complete datum: wrap it in pending prefixes, then add it to its container.
                while top is not None and top.kind == "'":
                    datum = Pair(top.prefix, Pair(datum, NIL))
                    stack.pop()
                    top = stack[-1] if stack else None
                if top is None:
                    line, column = self.position(start)
                    forms.append((datum, line, column, src[start:end]))
                else:
                    if top.dot >= 0 and len(top.items) > top.dot:
                        raise self.error("only one form may follow '.' in a dotted list", end - 1)
                    top.items.append(datum)
                if resume >= 0:
                    break
            if resume < 0:
                break
            pos = resume
        self.check_closed(top)
        return forms

    def read_flat(self, m: re.Match[str], top: _Open | None, stack: list[_Open]) -> tuple[Any, int]:
        """A ``_FLAT`` match: (the list, -1), or (None, where to scan again) when it read a run of
        such lists into ``top`` or pushed the list to be read token by token (``.`` or an error inside)."""
        inside = m.start(_FLAT)
        if top is not None and top.dot < 0 and top.kind != "'":
            first = inside - 1
            stop = _FLAT_RUN.match(self.src, first).end()  # type: ignore[union-attr]  # m matched one
            if stop > m.end():  # more plain lists follow this one: read them all at once
                resume = _read_flat_run(self.src, first, stop, top.items)
                if resume > first:
                    return None, resume
                # the first one needs the general path
        datum = _flat_list(m.group(_FLAT))
        if datum is None:  # '.' or an error inside: read this list the general way
            stack.append(_Open("(", inside - 1))
            return None, inside
        return datum, -1

    def dot(self, top: _Open | None, text: str, pos: int) -> None:
        """An atom token that reads as nothing: a ``.`` in its place (``top`` is now dotted), or an error."""
        if text != ".":
            raise self.error(too_long_message(text) if too_long_integer(text) else f"unknown syntax {text!r}", pos)
        if top is None or top.kind != "(" or not top.items or top.dot >= 0:
            raise self.error("unexpected '.' (only one '.' may come before the last form of a list)", pos)
        top.dot = len(top.items)

    def read_escaped(self, i: int) -> tuple[Any, int]:
        """The string, |symbol| or :|keyword| opening at ``i`` (escapes, or unterminated): (datum, its end)."""
        c = self.src[i]
        if c == '"':
            return self.read_string(i)
        if c == "|":
            name, end = self.read_bar(i)
            return Symbol(name), end
        name, end = self.read_bar(i + 1)  # ":" followed by "|"
        return Keyword(name), end

    def check_closed(self, top: _Open | None) -> None:
        """At the end of the text: an error if it ends inside ``top`` (more input could complete it)."""
        if top is None:
            return
        if top.kind == "'":
            raise self.error(f"expected a form after {_prefix_text(top.prefix)}", top.pos, incomplete=True)
        raise self.error(f"unterminated {_NAMES[top.kind]}", top.pos, incomplete=True)

    def close(self, top: _Open | None, c: str, pos: int) -> Any:
        """The datum ``top`` makes, closed by the bracket ``c`` at ``pos`` (an error if it does not match)."""
        if top is None:
            raise self.error(f"unexpected '{c}' (nothing to close)", pos)
        if top.kind == "'":
            raise self.error(f"expected a form after {_prefix_text(top.prefix)} but found '{c}'", pos)
        if top.kind != _CLOSERS[c]:
            line, col = self.position(top.pos)
            raise self.error(f"'{c}' does not match the '{top.kind}' opened at line {line}, column {col}", pos)
        return self.build(top, pos)

    def build(self, top: _Open, pos: int) -> Any:
        """The list, vector or map of a closed ``top``."""
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
