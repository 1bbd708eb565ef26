"""Helpers for the VM tests: every case runs in a fresh ``Interpreter(World())``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tapevm.vm.errors import LispError
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.values import ErrorValue
from tapevm.vm.world import World


def fresh() -> Interpreter:
    return Interpreter(World())


def run_source(source: str, interp: Interpreter | None = None) -> Any:
    """Evaluate every form of ``source``; the value of the last one."""
    interp = interp or fresh()
    return interp.eval_string(source)


def error_of(source: str, interp: Interpreter | None = None) -> ErrorValue:
    """The error value a source raises (fails the test if it raises none)."""
    try:
        value = run_source(source, interp)
    except LispError as exc:
        return exc.error
    pytest.fail(f"expected an error from {source!r}, got {to_source(value)}")


@pytest.fixture
def run() -> Callable[[str], Any]:
    return run_source


@pytest.fixture
def show() -> Callable[[str], str]:
    """Evaluate in a fresh interpreter and print the result with to_source."""
    return lambda source: to_source(run_source(source))


@pytest.fixture
def error() -> Callable[[str], ErrorValue]:
    return error_of


@pytest.fixture
def interp() -> Interpreter:
    return fresh()
