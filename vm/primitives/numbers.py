"""Arithmetic and comparison.

Integers are exact and unbounded; ``/`` of two integers is an exact integer
when the division is exact and a float otherwise.  Booleans are not numbers.
``=`` is structural equality on any values (``(= 1 1.0)`` is true); ``<`` and
friends compare numbers, or strings with strings.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from tapevm.vm.errors import (
    ARITHMETIC_ERROR,
    DIVISION_BY_ZERO,
    TYPE_ERROR,
    VALUE_ERROR,
    lisp_error,
    type_error,
)
from tapevm.vm.primitives.registry import primitive
from tapevm.vm.primitives.support import integer, number
from tapevm.vm.printer import describe
from tapevm.vm.values import Keyword, NilType, Symbol, lisp_equal

MAX_RESULT_BITS = 10_000_000  # expt refuses results larger than this (about 3 million digits)


@primitive("+")
def add(*xs: Any) -> Any:
    if len(xs) == 2:
        a, b = xs
        if type(a) is int and type(b) is int:
            return a + b
    total: Any = 0
    for x in xs:
        total += number(x, "+")
    return total


@primitive("-")
def sub(a: Any, *more: Any) -> Any:
    if len(more) == 1:
        b = more[0]
        if type(a) is int and type(b) is int:
            return a - b
    result = number(a, "-")
    if not more:
        return -result
    for x in more:
        result -= number(x, "-")
    return result


@primitive("*")
def mul(*xs: Any) -> Any:
    if len(xs) == 2:
        a, b = xs
        if type(a) is int and type(b) is int:
            return a * b
    result: Any = 1
    for x in xs:
        result *= number(x, "*")
    return result


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        raise lisp_error(DIVISION_BY_ZERO, f"/: division of {describe(a)} by zero")
    if type(a) is int and type(b) is int:
        q, r = divmod(a, b)
        if r == 0:
            return q
    return a / b


@primitive("/")
def div(a: Any, *more: Any) -> Any:
    """``(/ a b ...)`` divides left to right; ``(/ x)`` is ``1/x``. Exact when integers divide evenly."""
    result = number(a, "/")
    if not more:
        return _divide(1, result)
    for x in more:
        result = _divide(result, number(x, "/"))
    return result


def _int_division(who: str, a: Any, b: Any) -> tuple[Any, Any]:
    number(a, who)
    number(b, who)
    if b == 0:
        raise lisp_error(DIVISION_BY_ZERO, f"{who}: division of {describe(a)} by zero")
    return a, b


@primitive("quot")
def quot(a: Any, b: Any) -> Any:
    """Quotient truncated toward zero: ``(quot -7 2)`` is -3."""
    a, b = _int_division("quot", a, b)
    if type(a) is int and type(b) is int:
        q = abs(a) // abs(b)
        return q if (a < 0) == (b < 0) else -q
    return float(math.trunc(a / b))


@primitive("rem")
def rem(a: Any, b: Any) -> Any:
    """Remainder with the sign of the dividend: ``(rem -7 2)`` is -1."""
    a, b = _int_division("rem", a, b)
    if type(a) is int and type(b) is int:
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return math.fmod(a, b)


@primitive("mod")
def mod(a: Any, b: Any) -> Any:
    """Modulo with the sign of the divisor: ``(mod -7 2)`` is 1."""
    a, b = _int_division("mod", a, b)
    return a % b


@primitive("abs")
def abs_(x: Any) -> Any:
    return abs(number(x, "abs"))


@primitive("min")
def min_(x: Any, *more: Any) -> Any:
    best = number(x, "min")
    for y in more:
        if number(y, "min") < best:
            best = y
    return best


@primitive("max")
def max_(x: Any, *more: Any) -> Any:
    best = number(x, "max")
    for y in more:
        if number(y, "max") > best:
            best = y
    return best


@primitive("inc")
def inc(x: Any) -> Any:
    return number(x, "inc") + 1


@primitive("dec")
def dec(x: Any) -> Any:
    return number(x, "dec") - 1


@primitive("expt")
def expt(base: Any, power: Any) -> Any:
    """``base`` to the ``power``; exact for an integer base and a non-negative integer power."""
    number(base, "expt")
    number(power, "expt")
    if type(base) is int and type(power) is int:
        if power < 0:
            if base == 0:
                raise lisp_error(DIVISION_BY_ZERO, "expt: 0 to a negative power")
            return float(base) ** power
        if abs(base) > 1 and power * base.bit_length() > MAX_RESULT_BITS:
            raise lisp_error(ARITHMETIC_ERROR, f"expt: the result of (expt {base} {power}) would be too large")
        return base**power
    if base == 0 and power < 0:
        raise lisp_error(DIVISION_BY_ZERO, "expt: 0 to a negative power")
    try:
        result = float(base) ** power
    except OverflowError:
        raise lisp_error(ARITHMETIC_ERROR, f"expt: the result of (expt {base} {power}) is too large for a float") from None
    if type(result) is complex:
        raise lisp_error(VALUE_ERROR, f"expt: ({base} to the {power}) is not a real number")
    return result


@primitive("sqrt")
def sqrt(x: Any) -> Any:
    """Exact for perfect squares of integers (``(sqrt 16)`` is 4), else a float."""
    number(x, "sqrt")
    if x < 0:
        raise lisp_error(VALUE_ERROR, f"sqrt: negative argument {describe(x)}")
    if type(x) is int:
        r = math.isqrt(x)
        if r * r == x:
            return r
    return math.sqrt(x)


def _to_int(x: Any, who: str, fn: Any) -> int:
    number(x, who)
    if type(x) is int:
        return x
    if math.isinf(x) or math.isnan(x):
        raise lisp_error(VALUE_ERROR, f"{who}: cannot convert {describe(x)} to an integer")
    return int(fn(x))


@primitive("floor")
def floor(x: Any) -> int:
    return _to_int(x, "floor", math.floor)


@primitive("ceil", "ceiling")
def ceil(x: Any) -> int:
    return _to_int(x, "ceil", math.ceil)


@primitive("round")
def round_(x: Any) -> int:
    """Nearest integer; halves go to the even neighbour (``(round 2.5)`` is 2)."""
    return _to_int(x, "round", round)


@primitive("truncate", "int")
def truncate(x: Any) -> int:
    """Toward zero: ``(truncate -2.7)`` is -2."""
    return _to_int(x, "truncate", math.trunc)


@primitive("float")
def to_float(x: Any) -> float:
    return float(number(x, "float"))


# -- comparison ------------------------------------------------------------------
def _comparable(who: str, a: Any, b: Any) -> None:
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return
    if ta is str and tb is str:
        return
    if ta is tb and (ta is Symbol or ta is Keyword):
        raise lisp_error(TYPE_ERROR, f"{who}: symbols and keywords are not ordered; compare their names")
    if ta is int or ta is float or ta is str:
        raise type_error(who, f"a value comparable with {describe(a)}", b)
    raise type_error(who, "numbers or strings", a)


def _chain(who: str, op: Any, a: Any, more: tuple[Any, ...]) -> bool:
    items = (a, *more)
    if not more:
        _comparable(who, a, a)
    for x, y in zip(items, more):
        _comparable(who, x, y)
    return all(op(x, y) for x, y in zip(items, more))


def _fast(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    return (ta is int or ta is float) and (tb is int or tb is float)


@primitive("<")
def lt(a: Any, *more: Any) -> bool:
    if len(more) == 1 and _fast(a, more[0]):
        return a < more[0]  # type: ignore[no-any-return]
    return _chain("<", operator.lt, a, more)


@primitive(">")
def gt(a: Any, *more: Any) -> bool:
    if len(more) == 1 and _fast(a, more[0]):
        return a > more[0]  # type: ignore[no-any-return]
    return _chain(">", operator.gt, a, more)


@primitive("<=")
def le(a: Any, *more: Any) -> bool:
    if len(more) == 1 and _fast(a, more[0]):
        return a <= more[0]  # type: ignore[no-any-return]
    return _chain("<=", operator.le, a, more)


@primitive(">=")
def ge(a: Any, *more: Any) -> bool:
    if len(more) == 1 and _fast(a, more[0]):
        return a >= more[0]  # type: ignore[no-any-return]
    return _chain(">=", operator.ge, a, more)


@primitive("=")
def eq_num(a: Any, *more: Any) -> bool:
    """Structural equality of all arguments (numbers compare by value: ``(= 1 1.0)``)."""
    if len(more) == 1:
        b = more[0]
        if type(a) is int and type(b) is int:
            return a == b
        return _num_or_structural(a, b)
    return all(_num_or_structural(a, x) for x in more)


def _num_or_structural(a: Any, b: Any) -> bool:
    if type(a) in (int, float) and type(b) in (int, float):
        return bool(a == b)
    return lisp_equal(a, b)


@primitive("not=")
def not_eq(a: Any, *more: Any) -> bool:
    return not eq_num(a, *more)


@primitive("equal?")
def equal(a: Any, b: Any) -> bool:
    return lisp_equal(a, b)


_BY_VALUE = (int, float, str, bool, Symbol, Keyword, NilType)


@primitive("eq?", "eqv?")
def eq(a: Any, b: Any) -> bool:
    """Identity: same number, string, symbol, keyword, boolean or nil; the very same list/vector/map/function."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta in _BY_VALUE:
        return bool(a == b)
    return a is b


@primitive("zero?")
def zero(x: Any) -> bool:
    return number(x, "zero?") == 0


@primitive("positive?")
def positive(x: Any) -> bool:
    return number(x, "positive?") > 0


@primitive("negative?")
def negative(x: Any) -> bool:
    return number(x, "negative?") < 0


@primitive("even?")
def even(x: Any) -> bool:
    return integer(x, "even?") % 2 == 0


@primitive("odd?")
def odd(x: Any) -> bool:
    return integer(x, "odd?") % 2 == 1


@primitive("gcd")
def gcd(*xs: Any) -> int:
    return math.gcd(*(integer(x, "gcd") for x in xs))

