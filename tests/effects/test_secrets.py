"""Secrets never reach the log: every recorded effect text passes through the session's mask.

Against a local OpenAI-compatible server that echoes the key it was sent (tests/effects/
echoing_provider.py) and real stores (SQLite and PostgreSQL); what was recorded is read back
through the store, and a SQLite file's bytes (with its compressed records opened) are searched.
The CLI's side (the error line, ``tape log``, images, exports) is tests/reliability/test_security.py.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from tapevm.domain.errors import UsageError
from tapevm.domain.events import EffectCompleted, EffectRequested, FormEvaluated, FormSubmitted
from tapevm.infrastructure.session.llm_providers import OpenAICompatibleLLM
from tapevm.infrastructure.session.replay import replay
from tapevm.infrastructure.session.service import Session, open_session
from tapevm.infrastructure.stores.factory import open_store
from tests.effects.echoing_provider import echoing_provider, texts_in

KEY = "sk-" + uuid.uuid4().hex


def recorded_texts(session: Session) -> bytes:
    """Every event of the session as JSON, read back through the store."""
    return b"\n".join(orjson.dumps([type(r.event).__name__, r.event.model_dump(mode="json")])
                      for r in session.events())


def store_bytes(store_url: str) -> bytes:
    """A SQLite store's file and WAL, compressed records opened; nothing for PostgreSQL (read through the API)."""
    if "://" in store_url:
        return b""
    return b"".join(texts_in(p.read_bytes()) for p in Path(store_url).parent.glob(Path(store_url).name + "*"))


def llm_environment(monkeypatch: pytest.MonkeyPatch, base: str, key: str | None = KEY) -> None:
    for name, value in {"TAPE_LLM": "openai", "TAPE_LLM_BASE_URL": base, "TAPE_LLM_MODEL": "m",
                        "TAPE_LLM_API_KEY": key}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_a_key_the_server_echoes_is_masked_in_the_error_and_the_log(
        monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    with echoing_provider(good_key="sk-the-right-one") as server:
        llm_environment(monkeypatch, server.url)
        with open_session("k", store_url) as s:
            caught = s.run('(try (ask "hi") (catch e (error-message e)))')[0]
            uncaught = s.run('(ask "hi")')[0]
            assert server.authorizations == [f"Bearer {KEY}"] * 2  # the provider still sends the real key
            assert "[secret TAPE_LLM_API_KEY]" in caught.value and KEY[:8] not in caught.value
            assert not uncaught.ok and "Bearer [secret TAPE_LLM_API_" in (uncaught.error_message or "")
            events = [r.event for r in s.events()]
            completed = [e for e in events if isinstance(e, EffectCompleted)]
            assert [c.ok for c in completed] == [False, False]
            assert all("Incorrect API key provided: Bearer [secret TAPE_LLM_API_" in (c.error_message or "")
                       for c in completed)
            failed = [e for e in events if isinstance(e, FormEvaluated) and not e.ok]
            assert failed and "[secret TAPE_LLM_API_" in (failed[0].error_message or "")
            text = recorded_texts(s)
        # not even the half of the key before the provider's cut at 200 characters
        assert KEY[:8].encode() not in text and KEY[-8:].encode() not in text
        assert KEY[:8].encode() not in store_bytes(store_url)
        with open_store(store_url) as store:
            assert replay(store, "k", verify=True).ok  # what the program saw is what was recorded


def test_credentials_in_the_base_url_are_sent_and_masked(monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    password = "pw-" + uuid.uuid4().hex
    with echoing_provider(good_key="unused") as server:
        base = server.url.replace("http://", f"http://bob:{password}@")
        llm_environment(monkeypatch, base, key=None)
        with open_session("u", store_url) as s:
            message = s.run('(try (ask "hi") (catch e (error-message e)))')[0].value
            basic = base64.b64encode(f"bob:{password}".encode()).decode()
            assert server.authorizations == [f"Basic {basic}"]  # sent as HTTP Basic, not taken for the host
            assert message.startswith("ask: HTTP 401 from http://bob:[secret TAPE_LLM_BASE_URL password]@127.0.0.1:")
            assert "Basic [secret TAPE_LLM_BASE_URL password]" in message
            text = recorded_texts(s)
        assert password.encode() not in text and basic[:12].encode() not in text
        assert password.encode() not in store_bytes(store_url)


def test_a_base_url_that_cannot_be_used_is_refused_without_its_password(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    password = "pw-" + uuid.uuid4().hex
    llm_environment(monkeypatch, f"http://bob:{password}@[::1/v1")
    with open_session("b", str(tmp_path / "s.db")) as s:
        out = s.run('(try (ask "hi") (catch e (list (error-kind e) (error-message e))))')[0]
        assert out.printed.startswith('(effect-unavailable "ask: TAPE_LLM_BASE_URL=\'http://bob:[secret TAPE_LLM_')
        assert password.encode() not in recorded_texts(s)


def test_registered_secrets_are_masked_in_arguments_results_and_errors(
        monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    token, deploy, typed = "tok-" + uuid.uuid4().hex, "dep-" + uuid.uuid4().hex, "typed-" + uuid.uuid4().hex
    monkeypatch.setenv("DEPLOY_TOKEN", deploy)
    monkeypatch.setenv("TAPE_SECRETS", "DEPLOY_TOKEN, UNSET_ONE")
    with open_session("r", store_url) as s:
        s.secret(token, "GITHUB_TOKEN")
        s.secret(typed)

        @s.tool("credentials")
        def credentials() -> Any:
            return {"token": token, "deploy": deploy}

        @s.tool("login")
        def login(given: str) -> Any:
            raise PermissionError(f"bad token {given}, expected {token}")

        out = s.run('(tool "credentials")')[0]
        assert out.printed == '{"token" "[secret GITHUB_TOKEN]" "deploy" "[secret DEPLOY_TOKEN]"}'
        failed = s.run('(tool "login" "wrong")')[0]
        assert failed.error_message == "tool login: PermissionError: bad token wrong, expected [secret GITHUB_TOKEN]"
        s.run(f'(try (tool "login" "{typed}") (catch e 0))')
        requests = [r.event for r in s.events() if isinstance(r.event, EffectRequested)]
        assert requests[-1].args == ["login", "[secret #1]"]
        text = recorded_texts(s)
        # (a form's source is the program's own text, recorded as typed: only that holds ``typed``)
        sources = b"".join(orjson.dumps(r.event.source) for r in s.events() if isinstance(r.event, FormSubmitted))
    assert token.encode() not in text and deploy.encode() not in text
    assert text.count(typed.encode()) == sources.count(typed.encode()) == 1
    assert token.encode() not in store_bytes(store_url) and deploy.encode() not in store_bytes(store_url)


def test_a_provider_made_in_python_lends_the_session_its_secrets(tmp_path: Path) -> None:
    with echoing_provider(good_key="sk-the-right-one") as server, open_session("p", str(tmp_path / "s.db")) as s:
        server.answer = f"your key is {KEY}"
        s.effects.providers.llm = OpenAICompatibleLLM(server.url, api_key="sk-the-right-one", model="m")
        s.secret(KEY, "OLD_KEY")
        assert s.eval('(ask "what is my key")') == "your key is [secret OLD_KEY]"
        s.effects.providers.llm = OpenAICompatibleLLM(server.url, api_key=KEY, model="m")
        assert "Bearer [secret OLD_KEY]" in s.run('(try (ask "x") (catch e (error-message e)))')[0].value
        assert KEY.encode() not in recorded_texts(s)


@pytest.mark.parametrize(("value", "says"), [
    ("GITHUB_TOKEN,bad-name", "'bad-name' is not an environment variable name"),
    ("SHORT", r"TAPE_SECRETS names SHORT, whose value is shorter than a secret can be \(4 to 65,536 characters"),
])
def test_tape_secrets_that_cannot_be_used_are_refused_at_open(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, says: str) -> None:
    monkeypatch.setenv("SHORT", "ab")
    monkeypatch.setenv("TAPE_SECRETS", value)
    with pytest.raises(UsageError, match=says):
        open_session("x", str(tmp_path / "s.db"))


def test_short_or_unnamed_secrets_are_refused(tmp_path: Path) -> None:
    with open_session("x", str(tmp_path / "s.db")) as s:
        with pytest.raises(UsageError, match="shorter than 4 characters"):
            s.secret("abc")
        with pytest.raises(UsageError, match="visible characters without ']'"):
            s.secret("abcdef", "a]b")
