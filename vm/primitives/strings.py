"""Strings, symbols and keywords.

Strings are immutable sequences of Unicode characters; there is no separate
character type (a character is a string of length 1).  Indexes count
characters.  ``format`` uses ``{}`` placeholders (see :func:`format_`).
"""

from __future__ import annotations

from typing import Any

from tapevm.vm.errors import INDEX_ERROR, TYPE_ERROR, VALUE_ERROR, lisp_error, type_error
from tapevm.vm.numtext import float_to_text, int_to_text, parse_number, too_long_integer, too_long_message
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import NO_ARG, integer, number, seq_items, string
from tapevm.vm.printer import display, to_source
from tapevm.vm.values import Keyword, Symbol, make_list


@primitive("str", "string-append")
def str_(*xs: Any) -> str:
    """Concatenate the display text of the arguments: ``(str "a" 1 :k)`` is ``"a1:k"``."""
    return "".join(display(x) for x in xs)


@primitive("pr-str")
def pr_str(*xs: Any) -> str:
    """The re-readable text of the arguments, separated by spaces: ``(pr-str "a")`` is ``"\\"a\\""``."""
    return " ".join(to_source(x) for x in xs)


@primitive("string-length")
def string_length(s: Any) -> int:
    return len(string(s, "string-length"))


@primitive("substring")
def substring(s: object, start: Any, end: Any = NO_ARG) -> str:
    """Characters ``start`` (inclusive) to ``end`` (exclusive, default: the end)."""
    s = string(s, "substring")
    begin = integer(start, "substring")
    stop = len(s) if end is NO_ARG else integer(end, "substring")
    if not 0 <= begin <= stop <= len(s):
        raise lisp_error(
            INDEX_ERROR, f"substring: range {begin}..{stop} is out of bounds for a string of length {len(s)}"
        )
    return s[begin:stop]


@primitive("string-split")
def string_split(s: Any, sep: Any = NO_ARG) -> Any:
    """Split on ``sep``; without it, on runs of whitespace; with ``""``, into characters."""
    s = string(s, "string-split")
    if sep is NO_ARG:
        return make_list(s.split())
    sep = string(sep, "string-split")
    if sep == "":
        return make_list(list(s))
    return make_list(s.split(sep))


@primitive("string-join")
def string_join(coll: Any, sep: object = "") -> str:
    """Join the display text of a list's elements with ``sep``."""
    sep = string(sep, "string-join")
    return sep.join(display(x) for x in seq_items(coll, "string-join"))


@primitive("upcase", "string-upcase")
def upcase(s: Any) -> str:
    return string(s, "upcase").upper()


@primitive("downcase", "string-downcase")
def downcase(s: Any) -> str:
    return string(s, "downcase").lower()


@primitive("string-trim")
def string_trim(s: Any) -> str:
    return string(s, "string-trim").strip()


@primitive("string-contains?")
def string_contains(s: Any, sub: Any) -> bool:
    return string(sub, "string-contains?") in string(s, "string-contains?")


@primitive("string-starts-with?")
def string_starts_with(s: Any, prefix: Any) -> bool:
    return string(s, "string-starts-with?").startswith(string(prefix, "string-starts-with?"))


@primitive("string-ends-with?")
def string_ends_with(s: Any, suffix: Any) -> bool:
    return string(s, "string-ends-with?").endswith(string(suffix, "string-ends-with?"))


@primitive("string-index")
def string_index(s: Any, sub: Any) -> Any:
    """Index of the first occurrence of ``sub`` in ``s``, or #f."""
    i = string(s, "string-index").find(string(sub, "string-index"))
    return i if i >= 0 else False


@primitive("string-replace")
def string_replace(s: Any, old: Any, new: Any) -> str:
    """Replace every occurrence of ``old`` (non-empty) with ``new``."""
    old = string(old, "string-replace")
    if not old:
        raise lisp_error(VALUE_ERROR, "string-replace: the string to replace must not be empty")
    return string(s, "string-replace").replace(old, string(new, "string-replace"))


@primitive("string->list")
def string_to_list(s: Any) -> Any:
    """The characters of a string, as a list of one-character strings."""
    return make_list(list(string(s, "string->list")))


@primitive("string->symbol", "symbol")
def string_to_symbol(s: Any) -> Symbol:
    s = string(s, "string->symbol")
    if not s:
        raise lisp_error(VALUE_ERROR, "string->symbol: a symbol name cannot be empty")
    return Symbol(s)


@primitive("symbol->string")
def symbol_to_string(s: Any) -> str:
    if type(s) is not Symbol:
        raise type_error("symbol->string", "a symbol", s)
    return s.name


@primitive("string->keyword", "keyword")
def string_to_keyword(s: Any) -> Keyword:
    if type(s) is Symbol:
        return Keyword(s.name)
    s = string(s, "string->keyword")
    if not s:
        raise lisp_error(VALUE_ERROR, "string->keyword: a keyword name cannot be empty")
    return Keyword(s)


@primitive("keyword->string", "name")
def keyword_to_string(k: Any) -> str:
    """The name of a keyword or symbol (without the colon), or a string unchanged."""
    if type(k) is Keyword or type(k) is Symbol:
        return k.name
    if type(k) is str:
        return k
    raise type_error("name", "a keyword, symbol or string", k)


@primitive("string->number")
def string_to_number(s: Any) -> Any:
    """The number written in ``s`` (Lisp number syntax, surrounding spaces allowed), or #f."""
    text = string(s, "string->number").strip()
    if too_long_integer(text):
        raise lisp_error(VALUE_ERROR, f"string->number: {too_long_message(text)}")
    value = parse_number(text)
    return False if value is None else value


@primitive("number->string")
def number_to_string(x: Any) -> str:
    x = number(x, "number->string")
    return int_to_text(x) if type(x) is int else float_to_text(x)


@primitive("format")
def format_(template: Any, *args: Any) -> str:
    """Fill ``{}`` placeholders with the display text of the arguments, in order.

    ``(format "x = {}, y = {}" 1 "two")`` is ``"x = 1, y = two"``.  Write ``{{``
    and ``}}`` for literal braces.  The number of placeholders must equal the
    number of arguments.  Nothing else is interpreted (no field names, no
    format specs): it is plain substitution.
    """
    template = string(template, "format")
    out: list[str] = []
    used = 0
    i = 0
    n = len(template)
    while i < n:
        c = template[i]
        if c == "{":
            if template.startswith("{{", i):
                out.append("{")
                i += 2
                continue
            if template.startswith("{}", i):
                if used >= len(args):
                    raise lisp_error(
                        TYPE_ERROR, f"format: the template has more {{}} placeholders than the {len(args)} argument(s) given"
                    )
                out.append(display(args[used]))
                used += 1
                i += 2
                continue
            raise lisp_error(VALUE_ERROR, f"format: unexpected '{{' at position {i}; use {{}} for a value, {{{{ for a brace")
        if c == "}":
            if template.startswith("}}", i):
                out.append("}")
                i += 2
                continue
            raise lisp_error(VALUE_ERROR, f"format: unexpected '}}' at position {i}; use }}}} for a literal brace")
        j = i
        while j < n and template[j] not in "{}":
            j += 1
        out.append(template[i:j])
        i = j
    if used != len(args):
        raise lisp_error(
            TYPE_ERROR, f"format: {len(args)} argument(s) given but the template has only {used} {{}} placeholder(s)"
        )
    return "".join(out)
