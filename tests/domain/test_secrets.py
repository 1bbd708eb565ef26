"""The masking step (``domain/secrets.py``) and the secrets the environment configures (``Settings.secrets``).

End to end (providers, the log, the CLI) they are tested in tests/effects/test_secrets.py and
tests/reliability/test_security.py.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from tapevm.domain.secrets import Secrets, shortened, url_credentials
from tapevm.infrastructure.config import Settings


def test_settings_gather_the_configured_secrets() -> None:
    settings = Settings.from_environment({
        "TAPE_LLM_API_KEY": "sk-abcdef", "TAPE_CHAIN_KEY": "chain-key", "TAPE_SECRETS": "A B,,C",
        "TAPE_STORE": "postgresql://bob:dbpass@host/db", "TAPE_LLM_BASE_URL": "https://x:y@h/v1",  # y: too short
        "A": "alpha-1", "C": "gamma-3"})
    secrets = settings.secrets()
    assert secrets.names() == ["TAPE_LLM_API_KEY", "TAPE_CHAIN_KEY", "TAPE_STORE password", "A", "C"]
    assert secrets.mask("sk-abcdef chain-key dbpass alpha-1 gamma-3 y") == (
        "[secret TAPE_LLM_API_KEY] [secret TAPE_CHAIN_KEY] [secret TAPE_STORE password] [secret A] [secret C] y")
    assert not Settings.from_environment({"TAPE_LLM_API_KEY": "x"}).secrets()  # a placeholder key: nothing to mask


def test_a_cut_never_splits_a_mask() -> None:
    masked = "x" * 190 + "Bearer [secret TAPE_LLM_API_KEY] and more"
    assert shortened(masked, 200) == "x" * 190 + "Bearer [secret TAPE_LLM_API_KEY]…"
    assert shortened("short", 200) == "short"
    assert shortened("y" * 300, 200) == "y" * 199 + "…"


def test_url_credentials() -> None:
    assert url_credentials("https://user:pa%40ss@host/v1") == "pa%40ss"
    assert url_credentials("postgresql://postgres@host/db") is None  # a user name alone is not secret
    assert url_credentials("http://u:p@[::1") == "p"
    assert url_credentials("https://host/v1") is None
    secrets = Secrets()
    secrets.add_url("U", "https://user:pa%40ss@host/v1")
    assert secrets.mask("pa%40ss pa@ss") == "[secret U] [secret U]"


SECRET_ALPHABET = "0123456789ABCDEF-"  # no character of a mask ("[secret x]"), so any left would be a leak


@given(st.lists(st.text(SECRET_ALPHABET, min_size=4, max_size=12), min_size=1, max_size=4, unique=True),
       st.lists(st.one_of(st.text(SECRET_ALPHABET + " []", max_size=20), st.integers(0, 3)), max_size=12))
def test_masking_leaves_no_secret_and_is_idempotent(values: list[str], pieces: list[str | int]) -> None:
    secrets = Secrets((f"{'xyzw'[i]}", v) for i, v in enumerate(values))
    text = "".join(values[p % len(values)] if isinstance(p, int) else p for p in pieces)
    masked = secrets.mask(text)
    assert not any(v in masked for v in values)
    assert secrets.mask(masked) == masked
    assert ("[secret " in masked) == any(v in text for v in values)
    assert masked == _one_regex_pass({v: "xyzw"[i] for i, v in enumerate(values)}, text)


def _one_regex_pass(names: dict[str, str], text: str) -> str:
    """What masking means, written as the regular expression it is (masks already there first, then the
    secrets longest first): the faster search must give the same text."""
    pattern = re.compile("|".join([r"\[secret [^\]\n]{1,200}\]",
                                   *map(re.escape, sorted(names, key=len, reverse=True))]))
    return pattern.sub(lambda m: f"[secret {names[m.group()]}]" if m.group() in names else m.group(), text)


@given(st.lists(st.text("ab[] secrtx", min_size=4, max_size=9), min_size=1, max_size=3, unique=True),
       st.lists(st.one_of(st.text("ab[] secrtx", max_size=12), st.integers(0, 2)), max_size=10))
def test_masking_is_one_regular_expression_pass_even_over_masks(values: list[str], pieces: list[str | int]) -> None:
    """Secrets made of the letters of a mask, texts full of masks and near-masks: the same as one pass."""
    secrets = Secrets((f"n{i}", v) for i, v in enumerate(values))
    text = "".join(values[p % len(values)] if isinstance(p, int) else p for p in pieces)
    assert secrets.mask(text) == _one_regex_pass({v: f"n{i}" for i, v in enumerate(values)}, text)
