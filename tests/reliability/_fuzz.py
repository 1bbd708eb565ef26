"""Sizes of the fuzz runs: at least 10,000 inputs per target in the thorough (ci) run."""

from __future__ import annotations

import os

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
FUZZ_EXAMPLES = 10_000 if THOROUGH else 300
EXAMPLES_FOR_SLOW_TARGETS = 2_000 if THOROUGH else 100
