"""The version stamped on every checkpoint: checkpoints of another version are never read.

Bump it when the fold, the state codec or the frame layout changes; older checkpoints are then
dropped when a session's are listed (a cache: they are written again from the log).  The
checkpoint tables register it so that rows of it read back under its name.
"""

from __future__ import annotations

# fold-2/state-3: blob entries may be pieces (ContentStored v2); frame-4: the events hash of checkpoint_hash.py;
# frame-5: a fork's events hash starts at its fork point; fold-3/state-4: State.merged;
# frame-6: the bindings a delta frame sets are columns (positions in the base's order, integers from a reference)
# frame-7: those integers are Rice-coded; frame-8: a checkpoint carries roots, no content (the store's
# content index serves it: issue 20); frame-9: the tip is the checkpoint's seal (its stream, event,
# record count and chain link) and the payload checksums are taken over the seals (seal.py); frame-10: the
# seal holds no record count (the store's witness of deleted records finds holes: deleted_records.py)
PROJECTION_VERSION = "fold-3/state-4/frame-10"
