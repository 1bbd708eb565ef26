"""A suspended form's continuation as a Lisp value, and back: what the log keeps of a form that awaits.

The machine's continuation (:mod:`tapevm.vm.machine`) is a list of frames of plain
data: kind constants, code nodes, environments, values, resumer names and their
state.  Everything but the code nodes is already a value the value encoder stores
(environments are its FRAME nodes, closures and atoms included), so the
continuation is turned into ONE Lisp value and stored through the content-addressed
encoding: nodes already in the log are not stored again (structural sharing between
two captures of a growing stack, and with the session's state), and cycles
(``letrec``, internal ``define``) are kept.

Code nodes are not values: a frame names its node by *where it is*, as
``(depth . path)``: ``depth`` environments up from the frame's environment is the
call frame of the closure whose code holds the node (``-1``: the top-level unit the
form was running), and ``path`` the child indexes from that code's root
(:func:`node_children` fixes the order).  A call frame carries its code while it is
encoded under the hidden key :data:`CODE` (its ``lambda``'s parameters, expanded body,
name and namespace), and the top-level unit is kept as its macro-expanded source, so
decoding recompiles exactly the code that ran (``expand=False``: no macro runs again,
no gensym changes).

The value (version :data:`CONTINUATION_FORMAT`)::

    [format, [unit-source, unit-ns], frames, journal, gensyms, effect-ordinal, rest-forms]

``journal`` is the form's mutations so far (``[kind, args...]``): the live World is
rolled back when the form suspends, and they are made again (journaled again) when it
resumes.  ``rest-forms`` are the top-level forms of a ``begin`` still to run.

Limits (a suspension there is refused with ``await-unsupported``): code compiled by
``eval`` (no source to name it by), a resumer state holding something that is not a
value, a list or a tuple.  Two distinct environments with the same bindings and parent
are stored once (content addressing), so after a resume they are one object; frames
are not changed after their code has set them up (``set!`` of a local is refused), so
this shows only if both were still being filled by internal ``define`` s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from tapevm.vm.errors import LispError, lisp_error
from tapevm.vm.nodes import Lambda, Node
from tapevm.vm.printer import to_source
from tapevm.vm.suspension import AWAIT_UNSUPPORTED
from tapevm.vm.values import NIL, Env, Keyword, Symbol
from tapevm.vm.world import (
    ASSIGN,
    ATOM_CREATE,
    ATOM_RESET,
    DEFINE,
    ENTER_NS,
    FACT_ASSERT,
    FACT_RETRACT,
    FILE_DELETE,
    FILE_WRITE,
    OUTPUT,
    SESSION_REQUESTS,
    Mutation,
    World,
)

CONTINUATION_FORMAT = 1
CODE = Symbol("%code")  # the hidden key a call frame carries its code under while stored
_FN = Keyword("%fn")
_LIST = Keyword("%list")
_TUPLE = Keyword("%tuple")
_BYTES = Keyword("%bytes")
_NO_FN = Keyword("%no-fn")

# frame kinds whose second element is a code node and third an environment (vm/machine.py)
_K_ARGS, _K_RESUME, _K_INNS = 0, 11, 12
_NODE_FRAMES = frozenset((0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10))

_SLOTS: dict[type, tuple[str, ...]] = {}


def node_children(node: Node) -> list[Node]:
    """A node's child nodes in a fixed order (slot names sorted, tuple elements in order)."""
    t = type(node)
    slots = _SLOTS.get(t)
    if slots is None:
        names: set[str] = set()
        for k in t.__mro__:
            names.update(getattr(k, "__slots__", ()))
        slots = _SLOTS[t] = tuple(sorted(names))
    out: list[Node] = []
    for name in slots:
        v = getattr(node, name, None)
        if isinstance(v, Node):
            out.append(v)
        elif type(v) is tuple:
            out.extend(x for x in v if isinstance(x, Node))
    return out


def node_paths(root: Node) -> dict[int, tuple[int, ...]]:
    """Every node under ``root`` (by id) to its path of child indexes; the first path wins."""
    paths: dict[int, tuple[int, ...]] = {}
    todo: list[tuple[Node, tuple[int, ...]]] = [(root, ())]
    while todo:
        node, path = todo.pop()
        if id(node) in paths:
            continue
        paths[id(node)] = path
        for i, child in enumerate(node_children(node)):
            todo.append((child, (*path, i)))
    return paths


def node_at(root: Node, path: tuple[int, ...]) -> Node:
    node = root
    for i in path:
        node = node_children(node)[i]
    return node


def unsupported(why: str) -> LispError:
    return lisp_error(AWAIT_UNSUPPORTED, f"await: the form cannot be suspended here: {why}")


class _Encoding:
    """One continuation being turned into a value: the paths of each code root, the marked frames."""

    def __init__(self, top: Node) -> None:
        self.top = top
        self.paths: dict[int, dict[int, tuple[int, ...]]] = {}
        self.marked: list[Env] = []
        self.markers: dict[int, tuple[Any, ...]] = {}

    def paths_of(self, root: Node) -> dict[int, tuple[int, ...]]:
        found = self.paths.get(id(root))
        if found is None:
            found = self.paths[id(root)] = node_paths(root)
        return found

    def ref(self, node: Node, env: Env | None) -> tuple[int, tuple[int, ...]]:
        depth, e = 0, env
        while e is not None and e.code is None:
            depth, e = depth + 1, e.parent
        if e is not None:
            self.mark(e)
            path = self.paths_of(e.code).get(id(node))
            if path is not None:
                return depth, path
        path = self.paths_of(self.top).get(id(node))
        if path is None:
            raise unsupported("it runs code made by eval")
        return -1, path

    def mark(self, env: Env) -> None:
        if CODE not in env.vars:
            code: Lambda = env.code
            marker = self.markers.get(id(code))
            if marker is None:  # one value per code: a deep recursion's frames share it
                marker = self.markers[id(code)] = (_FN, code.params_src, tuple(code.body_src), code.name or NIL,
                                                   code.ns)
            env.vars[CODE] = marker
            self.marked.append(env)

    def unmark(self) -> None:
        for env in self.marked:
            env.vars.pop(CODE, None)


def _plain(x: Any) -> Any:
    """A resumer's state as a value: Python lists and tuples tagged, values as they are."""
    t = type(x)
    if t is list:
        return (_LIST, *(_plain(v) for v in x))
    if t is tuple:
        return (_TUPLE, *(_plain(v) for v in x))
    if t is bytes:
        return (_BYTES, x.decode("latin-1"))
    return x


def _unplain(x: Any) -> Any:
    if type(x) is tuple and x:
        head = x[0]
        if head is _LIST:
            return [_unplain(v) for v in x[1:]]
        if head is _TUPLE:
            return tuple(_unplain(v) for v in x[1:])
        if head is _BYTES:
            return x[1].encode("latin-1")
    return x


def _frame_value(enc: _Encoding, frame: tuple[Any, ...]) -> tuple[Any, ...]:
    k = frame[0]
    if k == _K_RESUME:
        return (k, frame[1], _plain(frame[2]))
    env = frame[2]
    ref = NIL if frame[1] is None else enc.ref(frame[1], env)
    envv = NIL if env is None else env
    if k == _K_ARGS:
        fn = _NO_FN if frame[3] is None else frame[3]
        return (k, ref, envv, fn, tuple(frame[4]), frame[5])
    return (k, ref, envv, *frame[3:])


def journal_value(mutations: list[Mutation]) -> tuple[Any, ...]:
    """A form's mutations so far as a value (a file's previous content is not kept: it is read again)."""
    out = []
    for m in mutations:
        args = m.args[:2] if m.kind == FILE_WRITE else m.args
        out.append((m.kind, *(_plain(a) for a in args)))
    return tuple(out)


def continuation_value(stack: list[tuple[Any, ...]], unit: tuple[Any, str, Node], mutations: list[Mutation],
                       gensyms: int, ordinal: int, rest_forms: list[Any],
                       encode: Callable[[Any], Any]) -> Any:
    """``encode`` (the session's value encoder) applied to the continuation's value; its encoding.

    A LispError ``await-unsupported`` when the continuation cannot be kept (see the module docstring).
    """
    source, ns, top = unit
    enc = _Encoding(top)
    try:
        frames = tuple(_frame_value(enc, f) for f in stack)
        value = (CONTINUATION_FORMAT, (source, ns), frames, journal_value(mutations), gensyms, ordinal,
                 tuple(rest_forms))
        return encode(value)
    finally:
        enc.unmark()


class Continuation(NamedTuple):
    """A stored continuation made live again: the stack to resume, and what the form had still to do."""

    stack: list[tuple[Any, ...]]
    unit: tuple[Any, str, Node]  # the top-level unit it runs: (expanded source, namespace, code)
    gensyms: int
    ordinal: int
    rest_forms: list[Any]


class CodeMaker(NamedTuple):
    """What decoding needs of the interpreter: recompiling a unit and a closure's code."""

    compile_unit: Callable[[Any, str], Node]
    compile_lambda: Callable[[Any, tuple[Any, ...], Env | None, str | None, str], Lambda]


def _env_or_none(v: Any) -> Env | None:
    return None if v is NIL else v


def _unmark_chain(env: Env | None, make: CodeMaker, compiled: dict[tuple[int, int], Lambda]) -> None:
    """Give each call frame of ``env``'s chain its code back (from its CODE entry), once."""
    e = env
    while e is not None:
        marker = e.vars.pop(CODE, None)
        if marker is not None:
            key = (id(marker), id(e.parent))
            code = compiled.get(key)
            if code is None:
                _, params, body, name, ns = marker
                code = compiled[key] = make.compile_lambda(params, tuple(body), e.parent,
                                                          None if name is NIL else name, ns)
            e.code = code
        e = e.parent


def _node_of(ref: Any, env: Env | None, top: Node) -> Node:
    depth, path = ref[0], tuple(ref[1])
    if depth < 0:
        return node_at(top, path)
    e = env
    for _ in range(depth):
        e = e.parent  # type: ignore[union-attr]
    return node_at(e.code, path)  # type: ignore[union-attr]


def _frame(raw: tuple[Any, ...], top: Node, make: CodeMaker,
           compiled: dict[tuple[int, int], Lambda]) -> tuple[Any, ...]:
    k = raw[0]
    if k == _K_RESUME:
        return (k, raw[1], _unplain(raw[2]))
    env = _env_or_none(raw[2])
    _unmark_chain(env, make, compiled)
    node = None if raw[1] is NIL else _node_of(raw[1], env, top)
    if k == _K_ARGS:
        fn = None if raw[3] is _NO_FN else raw[3]
        return (k, node, env, fn, list(raw[4]), raw[5])
    return (k, node, env, *raw[3:])


def continuation_of(value: Any, make: CodeMaker) -> tuple[Continuation, list[tuple[Any, ...]]]:
    """A decoded continuation value made live: the continuation, and its journal to make again
    (:func:`replay_journal`).  ValueError on a value of another format."""
    if type(value) is not tuple or len(value) != 7 or value[0] != CONTINUATION_FORMAT:
        raise ValueError("not a stored continuation of this tapevm (format "
                         f"{value[0] if type(value) is tuple and value else '?'})")
    _, (source, ns), frames, journal, gensyms, ordinal, rest = value
    top = make.compile_unit(source, ns)
    compiled: dict[tuple[int, int], Lambda] = {}
    stack = [_frame(f, top, make, compiled) for f in frames]
    return Continuation(stack, (source, ns, top), gensyms, ordinal, list(rest)), list(journal)


def replay_journal(world: World, journal: list[tuple[Any, ...]]) -> None:
    """Make a suspended form's mutations again, journaled, in a World whose form has just begun.

    Atoms the continuation refers to were decoded as placeholders in ``world.atoms``; the atom a
    replayed ``atom-create`` makes is that placeholder, so every reference stays one atom.
    """
    hook, world.output_hook = world.output_hook, None  # shown when first printed: not echoed again
    try:
        for kind, *raw in journal:
            args = [_unplain(a) for a in raw]
            _replay_one(world, kind, args)
    finally:
        world.output_hook = hook


def _replay_one(world: World, kind: str, args: list[Any]) -> None:
    if kind == DEFINE:
        world.define(*args)
    elif kind == ASSIGN:
        world.assign(*args)
    elif kind == ENTER_NS:
        world.enter_ns(args[0])
    elif kind == ATOM_CREATE:
        placeholder = world.atoms.get(args[0])
        atom = world.atom_create(args[1])
        if placeholder is not None and placeholder is not atom:
            placeholder.value = atom.value
            world.atoms[atom.id] = placeholder
    elif kind == ATOM_RESET:
        world.atom_reset(world.atoms[args[0]], args[1])
    elif kind == FACT_ASSERT:
        world.fact_assert(args[0])
    elif kind == FACT_RETRACT:
        world.fact_retract(args[0])
    elif kind == FILE_WRITE:
        world.file_write(args[0], args[1])
    elif kind == FILE_DELETE:
        world.file_delete(args[0])
    elif kind == OUTPUT:
        world.output(args[0])
    elif kind in SESSION_REQUESTS:
        world.request(kind, *args)
    else:
        raise ValueError(f"unknown mutation kind {kind!r} in a stored continuation")


def stack_summary(stack: list[tuple[Any, ...]], where: str, limit: int = 20) -> list[dict[str, Any]]:
    """The activations of a continuation, innermost first: the function (``<form>`` for the top level),
    where it is, its locals shown briefly.  At most ``limit``; the rest are counted in a last entry."""
    seen: list[tuple[Env | None, Env | None]] = []  # (the activation's call frame, its innermost environment)
    for frame in stack:
        if frame[0] == _K_RESUME or len(frame) < 3:
            continue
        inner = e = frame[2]
        while e is not None and e.code is None:
            e = e.parent
        if seen and seen[-1][0] is e:
            seen[-1] = (e, inner)
        else:
            seen.append((e, inner))
    out: list[dict[str, Any]] = []
    for call, inner in reversed(seen[-limit:]):
        local = {s.name: to_source(v, 40) for s, v in _locals(inner, call)}
        if call is None:
            out.append({"function": "<form>", "where": where, "locals": local})
        else:
            code = call.code
            out.append({"function": code.name or "<lambda>", "where": f"{code.ns} ({where})", "locals": local})
    if len(seen) > limit:
        out.append({"function": f"... {len(seen) - limit} more", "where": "", "locals": {}})
    return out


def _locals(inner: Env | None, call: Env | None) -> Iterator[tuple[Symbol, Any]]:
    """The bindings from ``inner`` out to ``call`` (inclusive; to the top without one), innermost first."""
    e = inner
    shown: set[Symbol] = set()
    while e is not None:
        for s, v in e.vars.items():
            if s is not CODE and type(s) is Symbol and s not in shown:
                shown.add(s)
                yield s, v
        if e is call:
            break
        e = e.parent
