"""The built-in functions of the language, one module per family.

Each module registers its primitives in ``registry`` when imported; importing
this package imports every one of them, so ``registry.all_primitives()`` is
complete whoever asks.  May import ``domain`` and the rest of ``vm`` (never
the interpreter, the compiler or the machine: a primitive that calls Lisp code
returns a request, see :mod:`tapevm.vm.requests`).
"""

from tapevm.vm.primitives import (  # noqa: F401 - imported for their registrations
    effects,
    higher_order,
    lists,
    maps,
    misc,
    numbers,
    predicates,
    strings,
    time_travel,
    world_io,
)
from tapevm.vm.primitives.registry import all_primitives

__all__ = ["all_primitives"]
