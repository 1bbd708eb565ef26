"""Global state goes through the World: every mutation is journaled (and becomes an event)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tapevm.vm.errors import LispError
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.printer import to_source
from tapevm.vm.values import Symbol
from tapevm.vm.world import World


def journal(source: str, interp: Interpreter | None = None) -> list[tuple[str, tuple[Any, ...]]]:
    """Evaluate ``source`` as one form after world.begin(); the journal's (kind, args)."""
    interp = interp or Interpreter(World())
    interp.world.begin()
    for form, *_ in interp.read_forms(source):
        interp.eval_form(form)
    return [(m.kind, m.args) for m in interp.world.take_mutations()]


# (source, kinds of the mutations it makes, in order)
KINDS = [
    ("(define x 1)", ["define"]),
    ("(define x 1) (set! x 2)", ["define", "assign"]),
    ("(define (f) 1)", ["define"]),
    ("(define-macro (m) 1)", ["define"]),
    ("(in-ns foo)", ["enter-ns"]),
    ("(atom 1)", ["atom-create"]),
    ("(define a (atom 1)) (reset! a 2)", ["atom-create", "define", "atom-reset"]),
    ("(define a (atom 1)) (swap! a inc)", ["atom-create", "define", "atom-reset"]),
    ("(define a (atom 1)) (swap! a (lambda (x) (* x 10)))", ["atom-create", "define", "atom-reset"]),
    ("(assert! '(p 1))", ["fact-assert"]),
    ("(assert! '(p 1)) (assert! '(p 1))", ["fact-assert"]),
    ("(assert! '(p 1)) (retract! '(p 1))", ["fact-assert", "fact-retract"]),
    ("(retract! '(p 1))", []),
    ('(write-file! "a.txt" "hi")', ["file-write"]),
    ('(write-file! "a.txt" "hi") (delete-file! "a.txt")', ["file-write", "file-delete"]),
    ('(append-file! "log" "a") (append-file! "log" "b")', ["file-write", "file-write"]),
    ('(print "x")', ["output"]),
    ('(println "x" 1)', ["output"]),
    ("(newline)", ["output"]),
    ("(let ((x 1)) (define y 2) (+ x y))", []),
    ("(define (f) (define z 1) z) (f)", ["define"]),
    ("(+ 1 2)", []),
    ("(car '(1))", []),
]


@pytest.mark.parametrize("source, kinds", KINDS)
def test_mutation_kinds(source: str, kinds: list[str]) -> None:
    assert [k for k, _ in journal(source)] == kinds


def test_mutation_arguments() -> None:
    entries = journal('(define x 42) (print "a" 1) (write-file! "d/f.txt" "é") (append-file! "d/f.txt" "!")')
    assert entries[0] == ("define", ("user", "x", 42))
    assert entries[1] == ("output", ("a 1",))
    assert entries[2] == ("file-write", ("d/f.txt", "é".encode(), None))  # (path, new content, old content)
    assert entries[3] == ("file-write", ("d/f.txt", "é!".encode(), "é".encode()))


def test_output_texts(run: Callable[[str], Any]) -> None:
    interp = Interpreter(World())
    interp.world.begin()
    interp.eval_string('(print "a" "b") (println " c" 1 [2 "x"]) (display "d") (newline) (display :k)')
    out = "".join(m.args[0] for m in interp.world.take_mutations() if m.kind == "output")
    assert out == 'a b c 1 [2 "x"]\nd\n:k'


def test_error_leaves_mutations_journaled_for_the_session_to_roll_back() -> None:
    interp = Interpreter(World())
    world = interp.world
    interp.eval_string("(define x 1)")
    world.commit()
    world.begin()
    (form, *_), = interp.read_forms('(begin (set! x 2) (print "before") (car 5))')
    with pytest.raises(LispError) as info:
        interp.eval_form(form)
    assert info.value.error.kind == "type-error"
    assert [m.kind for m in world.take_mutations()] == ["assign", "output"]
    assert world.lookup("user", "x") == 2  # live until the session rolls back
    printed = world.rollback()
    assert [m.args for m in printed] == [("before",)]
    assert world.lookup("user", "x") == 1


def test_caught_errors_keep_their_mutations() -> None:
    kinds = [k for k, _ in journal("(define x 1) (try (begin (set! x 2) (car 5)) (catch e x))")]
    assert kinds == ["define", "assign"]


# -- atoms, facts, files ----------------------------------------------------------------
CASES = [
    ("(define a (atom 1)) (list @a (deref a))", "(1 1)"),
    ("(define a (atom 1)) (reset! a 5)", "5"),
    ("(define a (atom 1)) (swap! a + 1 2)", "4"),
    ("(define a (atom {})) (swap! a assoc :k 1) @a", "{:k 1}"),
    ("(define a (atom 0)) (define (inc!) (swap! a inc)) (inc!) (inc!) @a", "2"),
    ("(atom 1)", "#<atom 1>"),
    ("(atom 1) (atom 2)", "#<atom 2>"),
    # facts
    ("(assert! '(parent alice bob))", "#t"),
    ("(assert! '(p 1)) (assert! '(p 1))", "#f"),
    ("(assert! '(p 1)) (assert! '(q 2)) (facts)", "((p 1) (q 2))"),
    ("(assert! '(p 1)) (fact? '(p 1))", "#t"),
    ("(fact? '(p 1))", "#f"),
    ("(assert! '(p 1)) (retract! '(p 1)) (facts)", "nil"),
    ("(retract! '(nope))", "#f"),
    ("""(assert! '(parent alice bob)) (assert! '(parent alice carol)) (assert! '(parent bob dave))
        (facts '(parent alice ?child))""", "({?child bob} {?child carol})"),
    ("""(assert! '(parent alice bob)) (assert! '(parent bob dave))
        (facts '(parent ?p ?c))""", "({?p alice ?c bob} {?p bob ?c dave})"),
    ("(assert! '(same 1 1)) (assert! '(same 1 2)) (facts '(same ?x ?x))", "({?x 1})"),
    ("(assert! '(p 1 2)) (facts '(p ? _))", "({})"),
    ("(assert! '(p 1 2 3)) (facts '(p . ?rest))", "({?rest (1 2 3)})"),
    ("(assert! [:edge 1 2]) (facts '[:edge ?a ?b])", "({?a 1 ?b 2})"),
    ("(assert! '(p (1 2))) (facts '(p (?a ?b)))", "({?a 1 ?b 2})"),
    ("(assert! '(p 1)) (facts '(q ?x))", "nil"),
    ("(assert! '(age bob 30)) (map (lambda (m) (get m '?a)) (facts '(age bob ?a)))", "(30)"),
    # files
    ('(write-file! "notes/a.txt" "héllo") (read-file "notes/a.txt")', '"héllo"'),
    ('(write-file! "b" "1") (write-file! "a" "2") (write-file! "c/d" "3") (list-files)', '("a" "b" "c/d")'),
    ('(write-file! "x/1" "") (write-file! "y/1" "") (list-files "x/")', '("x/1")'),
    ('(write-file! "f" "x") (file-exists? "f")', "#t"),
    ('(file-exists? "f")', "#f"),
    ('(write-file! "f" "x") (delete-file! "f") (file-exists? "f")', "#f"),
    ('(append-file! "log" "a") (append-file! "log" "b") (read-file "log")', '"ab"'),
    ('(write-file! "./x" "1")', ""),
    # a leading / is the world's root: one file, stored (and listed) without it
    ('(write-file! "/etc/passwd" "x") (list (read-file "etc/passwd") (list-files "/etc"))', '("x" ("etc/passwd"))'),
]


@pytest.mark.parametrize("source, expected", CASES)
def test_world_primitives(show: Callable[[str], str], error: Callable[[str], Any], source: str,
                          expected: str) -> None:
    if expected == "":
        assert error(source).kind == "bad-path"
    else:
        assert show(source) == expected


ERRORS = [
    ('(read-file "missing")', "file-not-found", "missing"),
    ('(delete-file! "missing")', "file-not-found", "missing"),
    ('(write-file! "/" "x")', "bad-path", "the world's root, not a file"),
    ('(write-file! "//etc" "x")', "bad-path", "empty"),
    ('(write-file! "../up" "x")', "bad-path", ".."),
    ('(read-file "a\\\\b")', "bad-path", "backslash"),
    ('(write-file! "" "x")', "bad-path", "non-empty"),
    ("(write-file! 5 \"x\")", "bad-path", "string"),
    ('(write-file! "f" 5)', "type-error", "write-file!: expected a string"),
    ("(deref 5)", "type-error", "deref: expected an atom"),
]


@pytest.mark.parametrize("source, kind, fragment", ERRORS)
def test_world_errors_are_catchable_lisp_errors(error: Callable[[str], Any], show: Callable[[str], str],
                                                source: str, kind: str, fragment: str) -> None:
    err = error(source)
    assert err.kind == kind
    assert fragment in err.message
    caught = show(f"(try {source} (catch e (error-kind e)))")
    assert caught == to_source(Symbol(kind))


def test_facts_are_returned_in_assertion_order() -> None:
    interp = Interpreter(World())
    names = [f"n{i}" for i in (5, 3, 9, 1, 7)]
    for n in names:
        interp.eval_string(f"(assert! '(item {n}))")
    result = interp.eval_string("(map (lambda (m) (get m '?x)) (facts '(item ?x)))")
    assert [s.name for s in result] == names


def test_journal_entries_are_mutations_however_they_are_built() -> None:
    from tapevm.vm.world import ASSIGN, DEFINE, Mutation, World

    w = World()
    w.begin()
    w.define("user", "x", 1)
    w.assign("user", "x", 2)
    entries = w.take_mutations()
    assert entries == [Mutation(DEFINE, ("user", "x", 1)), Mutation(ASSIGN, ("user", "x", 2))]
    assert all(type(m) is Mutation for m in entries)
    assert [m.kind for m in entries] == [DEFINE, ASSIGN]


def test_binding_many_names_lazily_makes_no_object_per_name() -> None:
    """Opening a session of 100,000 bindings made a tuple and a partial per name, 200,000 containers
    the cyclic GC then walked again and again (300 ms of a 0.55 s open); now two dict copies."""
    import gc

    from tapevm.vm.world import LAZY as _LAZY

    encoded = {f"n{i}": ["f", float(i)] for i in range(20_000)}
    world = World()
    gc.collect()
    before = len(gc.get_objects())
    world.bind_lazy_all("user", encoded, lambda enc: enc[1])
    assert len(gc.get_objects()) - before < 50
    assert world.namespaces["user"]["n7"] is _LAZY and world.lookup("user", "n7") == 7.0
    assert world.namespaces["user"]["n7"] == 7.0 and world.namespaces["user"]["n8"] is _LAZY
    world.bind_lazy_all("user", {"extra": ["f", 0.5]}, lambda enc: -enc[1])  # a namespace bound twice
    assert world.lookup("user", "extra") == -0.5 and world.lookup("user", "n8") == 8.0
