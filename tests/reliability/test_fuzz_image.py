"""Fuzz the image loader: a damaged or hostile image file fails with a clear TapeError, never a traceback.

Arbitrary bytes through the real loader (``image_ops.load_state``, which
reads, checks and decodes every section); 10,000 inputs in the ci profile.
Damaged real images (bytes overwritten, truncated) are fuzzed next to the
image code in tests/infrastructure.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapevm.domain.errors import TapeError

from ._fuzz import FUZZ_EXAMPLES


def load(data: bytes) -> object:
    import tempfile
    from pathlib import Path

    from tapevm.infrastructure.images.operations import load_state

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed.tvm"
        path.write_bytes(data)
        return load_state(path)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=4000))
def test_image_loader_on_arbitrary_bytes(data: bytes) -> None:
    try:
        load(data)
    except TapeError as e:
        assert str(e) and "\n" not in str(e)
