"""Every stored continuation round-trips: decoded and made live in a fresh VM, it encodes to the very same value."""

from __future__ import annotations

from pathlib import Path

import pytest

from tapevm import open_session
from tapevm.domain.errors import FormPending
from tapevm.domain.events import FormSuspended
from tapevm.infrastructure.session.service import Session
from tapevm.vm.continuation_codec import CodeMaker, continuation_of, continuation_value, replay_journal
from tapevm.vm.value_codec import ValueEncoder
from tapevm.vm.world_state import make_decoder

PROGRAMS = [
    "(define (down n) (if (= n 0) (await 'bottom) (+ 1 (down (- n 1))))) (define r (down 300))",
    """(define a (atom 1))
       (define r (letrec ((ev? (lambda (n) (if (= n 0) #t (od? (- n 1))))) (od? (lambda (n) (if (= n 0) #f (ev? (- n 1))))))
         (define (g y) (+ y (deref a)))
         (reset! a 5) (print "x") (assert! '(p 1)) (write-file! "f.txt" "data")
         (try (map (lambda (i) (g (* i (await 'each :payload i)))) '(1 2 3)) (catch e e))))""",
    "(begin (define b (list 1 (await 'one))) (in-ns 'other) (define c (vector b (await 'two))))",
]


def _roundtrip(s: Session, e: FormSuspended) -> None:
    interp = s.interpreter
    decoder = make_decoder(s.live_state, s.world, interp)
    make = CodeMaker(interp.compile_unit, lambda p, b, env, n, ns: interp.make_closure(p, b, env, n, ns).code)
    s.world.begin()
    try:
        cont, journal = continuation_of(decoder.decode(e.continuation), make)
        replay_journal(s.world, journal)
        again = continuation_value(cont.stack, cont.unit, s.world.take_mutations(), cont.gensyms, cont.ordinal,
                                   cont.rest_forms, ValueEncoder(s.live_state.nodes).encode)
    finally:
        s.world.rollback()
    assert again == e.continuation


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_stored_continuation_roundtrips(tmp_path: Path, program: str) -> None:
    store = str(tmp_path / "s.db")
    tags = iter(range(100))
    s = open_session("w", store)
    for form, line, column, text in s.interpreter.read_forms(program):
        try:
            assert s.run_form(form, line, column, text, "<t>").ok
        except FormPending as pending:
            s.close()
            tag = pending.tag
            while True:
                with open_session("w", store) as fresh:  # a fresh VM: the round trip of the latest capture
                    last = [r.event for r in fresh.events() if type(r.event) is FormSuspended][-1]
                    _roundtrip(fresh, last)
                    try:
                        fresh.answer(tag, next(tags))
                        break
                    except FormPending as again:
                        tag = again.tag
            s = open_session("w", store)
    assert s.pending() == []
    assert sum(1 for r in s.events() if type(r.event) is FormSuspended) >= 1
    s.close()
