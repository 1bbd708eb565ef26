"""Every text recorded from a chat provider is masked: its answers, its errors, its URL (for each provider)."""

from __future__ import annotations

import json
import socket

import pytest

from tapevm.infrastructure.session.llm_providers import llm_from_environment
from tapevm.infrastructure.session.service import open_session
from tests.agents.fake_models import anthropic_text, fake_model, openai_text

KEY = "sk-provider-key-5555-abcd"
PASSWORD = "url-pass-7777"


def recorded_text(store_url: str, name: str) -> str:
    with open_session(name, store_url, create=False) as s:
        return json.dumps([r.event.__dict__ for r in s.events()], default=str)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_key_in_the_models_answer_is_masked_before_the_program_or_the_log_sees_it(store_url: str, kind: str) -> None:
    with fake_model(kind) as server:
        leak = f"the key is {KEY}"
        server.then(openai_text(leak) if kind == "openai" else anthropic_text(leak))
        env = {"TAPE_LLM": kind, "TAPE_LLM_BASE_URL": server.url, "TAPE_LLM_API_KEY": KEY, "TAPE_LLM_MODEL": "m"}
        with open_session("echo", store_url) as s:
            s.effects.providers.llm = llm_from_environment(env)
            content = s.eval('(get (chat [{:role "user" :content "leak it"}]) :content)')
    assert content == "the key is [secret TAPE_LLM_API_KEY]"
    assert KEY not in recorded_text(store_url, "echo")


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_the_password_of_the_base_url_never_reaches_an_error(store_url: str, kind: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://user:{PASSWORD}@127.0.0.1:{port}" + ("/v1" if kind == "openai" else "")
    env = {"TAPE_LLM": kind, "TAPE_LLM_BASE_URL": base, "TAPE_LLM_MODEL": "m", "TAPE_LLM_RETRIES": "0"}
    with open_session("url", store_url) as s:
        s.effects.providers.llm = llm_from_environment(env, secrets=s.effects.secrets)
        message = s.eval('(try (chat [{:role "user" :content "hi"}]) (catch e (error-message e)))')
    assert "cannot connect" in message and f"127.0.0.1:{port}" in message and PASSWORD not in message
    assert PASSWORD not in recorded_text(store_url, "url")
