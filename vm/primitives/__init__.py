"""The built-in functions of the language, one module per family.

Each module registers its primitives in ``registry``.  May import ``domain``
and the rest of ``vm``.
"""
