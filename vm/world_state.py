"""Between a folded State and a live VM World, in both directions.

``load_world`` materialises a State as a World (opening a session, restoring
a snapshot); ``capture_state`` encodes a live World back into a State (what
the property tests compare with the fold, and what an image of a live VM is).

Bindings are decoded lazily, on first use: opening a session with many large
bindings costs one dictionary entry per name until the program touches one.
Atoms, facts and files are materialised at once (atoms first, as placeholders,
because any value may refer to an atom).
"""

from __future__ import annotations

from tapevm.domain.content import ContentTable
from tapevm.domain.state import State, fact_entry, fact_key, paused_gc, split_fact
from tapevm.vm.interpreter import Interpreter
from tapevm.vm.value_codec import ValueDecoder, ValueEncoder
from tapevm.vm.values import Atom
from tapevm.vm.values import typed_key as live_fact_key
from tapevm.vm.world import World


def make_decoder(state: State, world: World, interpreter: Interpreter) -> ValueDecoder:
    def atom(atom_id: int) -> Atom:
        found = world.atoms.get(atom_id)
        if found is None:
            found = world.atoms[atom_id] = Atom(atom_id, None)
        return found

    return ValueDecoder(state.nodes.get, interpreter.make_closure, interpreter.primitive, atom, state.nodes.get_many)


def load_world(state: State, world: World, interpreter: Interpreter) -> ValueDecoder:
    """Fill ``world`` (fresh) from ``state``; returns the decoder, whose cache keeps sharing.

    With the cyclic GC paused, as for any bulk building of state: on a session of 100,000
    bindings the collections its new objects triggered walked every live object again and
    again (300 ms of a 0.55 s open, with the per-name objects ``bind_lazy_all`` made then).
    """
    decoder = make_decoder(state, world, interpreter)
    with paused_gc():
        for atom_id in state.atoms:
            world.atoms[atom_id] = Atom(atom_id, None)
        for atom_id, enc in state.atoms.items():
            world.atoms[atom_id].value = decoder.decode(enc)
        world.next_atom_id = state.next_atom_id
        for ns, bindings in state.namespaces.items():
            world.bind_lazy_all(ns, bindings, decoder.decode)
        world.current_ns = state.current_ns
        for entry in state.facts.values():
            enc, evidence = split_fact(entry)
            fact = decoder.decode(enc)
            world.facts[key := live_fact_key(fact)] = fact
            if evidence is not None:
                world.fact_evidence[key] = decoder.decode(evidence)
        for path, key in state.files.items():
            world.files[path] = state.blobs.get(key)
    return decoder


def capture_state(world: World, session: str = "", seq: int = 0) -> State:
    """Encode everything the VM can observe into a fresh State (with its own content)."""
    nodes = ContentTable()
    encoder = ValueEncoder(nodes)
    state = State(session=session, seq=seq, current_ns=world.current_ns, namespaces={}, nodes=nodes)
    for ns in world.namespaces:
        state.namespaces[ns] = {name: encoder.encode(value) for name, value in world.bindings(ns)}
    for atom_id, atom in world.atoms.items():
        state.atoms[atom_id] = encoder.encode(atom.value)
    for key, fact in world.facts.items():
        enc = encoder.encode(fact)
        evidence = world.fact_evidence.get(key)
        state.facts[fact_key(enc)] = fact_entry(enc, None if evidence is None else encoder.encode(evidence))
    for path, data in world.files.items():
        key, _ = state.blobs.key_for(data)
        state.blobs.add(key, data)
        state.files[path] = key
    encoder.commit()
    return state
