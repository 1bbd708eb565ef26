"""The language: reader, compiler, explicit-stack machine, printer, primitives.

The VM's live world (bindings, atoms, facts, files, output) journals every
mutation so the session can turn a form into events; values are encoded as
content-addressed nodes.  May import ``domain`` only.
"""
