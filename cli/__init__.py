"""The ``tape`` command: one module per command family, a thin layer over the library.

May import everything else in tapevm; nothing imports ``cli`` but the
``tape`` entry point.
"""
