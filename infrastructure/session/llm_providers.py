"""Language-model providers for ``(ask prompt ...)`` and ``(chat messages ...)``: the ones ``TAPE_LLM`` names.

* :class:`ScriptedLLM` answers deterministically, offline, from a script (a
  JSON file of rules or a Python function): what the examples and tests use.
  Its ``chat`` can call tools (``infrastructure/models/scripted_chat.py``).
* :class:`OpenAICompatibleLLM` posts to an OpenAI-compatible
  ``/chat/completions`` endpoint configured by environment variables: ``ask``
  over urllib, ``chat`` through the official SDK (the ``openai`` extra).
* ``TAPE_LLM=anthropic``: Anthropic's messages API through its SDK (the
  ``anthropic`` extra), for both.

Whatever a provider answers is recorded by the session (EffectCompleted), so
a replay never calls a provider again.  What the HTTP provider reports of a
failure (the server's text, its own URL) is masked with its secrets
(``domain/secrets.py``: its API key, the credentials in its URL, and those of the
session it serves) *before* it is cut to a readable length, so a cut never
leaves the first half of a key for the session's own masking to miss.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson

from tapevm.domain.errors import EffectProviderError
from tapevm.domain.secrets import MIN_SECRET_LENGTH, Secrets, shortened
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.models.chat import ChatAnswer, ChatProvider, ChatRequest, LLMCallFailed
from tapevm.infrastructure.models.retries import RetryPolicy
from tapevm.infrastructure.models.scripted_chat import ScriptRule, scripted_chat
from tapevm.infrastructure.models.sdk_providers import anthropic_chat, openai_chat

# Environment variables of the HTTP provider and of provider selection.
ENV_PROVIDER = "TAPE_LLM"            # "script:PATH", "echo", "openai" or "anthropic"
ENV_BASE_URL = "TAPE_LLM_BASE_URL"   # e.g. http://127.0.0.1:8000/v1
ENV_API_KEY = "TAPE_LLM_API_KEY"
ENV_MODEL = "TAPE_LLM_MODEL"
ENV_TIMEOUT = "TAPE_LLM_TIMEOUT"     # seconds, default 60
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
SHOWN_CHARS = 200  # of a server's text in an error: enough to read its reason


class LLMProvider(Protocol):
    """Answers one prompt; ``options`` are the ``:keyword value`` pairs of the call (``model``, ``system``...).

    A provider that also has ``chat(request) -> ChatAnswer`` (``models.chat.ChatProvider``) answers ``chat``.
    """

    def complete(self, prompt: str, options: Mapping[str, Any]) -> str: ...


__all__ = ["LLMCallFailed", "LLMProvider", "OpenAICompatibleLLM", "ScriptedLLM", "llm_from_environment"]


class ScriptedLLM:
    """Deterministic answers: the first rule whose regex matches the prompt, else the default.

    A script file is JSON: ``{"rules": [{"match": REGEX, "answer": TEXT}, ...], "default": TEXT}``;
    ``{prompt}`` in an answer is replaced by the prompt.  Made in Python without rules and default
    it echoes the prompt (``TAPE_LLM=echo``); a script file must have one of them.
    """

    def __init__(self, rules: list[tuple[str, str]] | list[tuple[str, str | None, list[dict[str, Any]]]] | None = None,
                 default: str | None = None, rule: Callable[[str, Mapping[str, Any]], str] | None = None,
                 name: str = "script") -> None:
        # a rule is (regex, answer) or, for chat, (regex, answer or None, tool calls)
        self.rules: list[ScriptRule] = [(re.compile(r[0]), r[1], list(r[2]) if len(r) > 2 else [])
                                        for r in (rules or [])]
        self.default = default
        self.rule = rule
        self.name = name

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedLLM:
        """The script in a JSON file; an EffectProviderError saying what a script holds when it is not one.

        The format is closed: an object with ``rules`` (a non-empty list of ``{"match", "answer"}``
        strings) and/or ``default`` (a string).  A file with neither (``{"x": 1}``, a misspelt
        ``"defualt"``) was accepted and answered ``echo: ...``, which looks like a working script.
        """
        try:
            data = orjson.loads(Path(path).read_bytes())
        except FileNotFoundError:
            raise EffectProviderError(f"no LLM script file {path} (set {ENV_PROVIDER}=script:PATH to an existing file)") from None
        except orjson.JSONDecodeError as e:
            raise bad_script(path, f"not JSON ({e})") from None
        except OSError as e:
            raise bad_script(path, str(e)) from None
        return cls(*_script_content(path, data))

    def complete(self, prompt: str, options: Mapping[str, Any]) -> str:
        if self.rule is not None:
            return self.rule(prompt, options)
        for pattern, answer, _ in self.rules:
            if pattern.search(prompt) and answer is not None:
                return answer.replace("{prompt}", prompt)
        if self.default is not None:
            return self.default.replace("{prompt}", prompt)
        return f"echo: {prompt}"

    def chat(self, request: ChatRequest) -> ChatAnswer:
        """The scripted answer to the last message (a rule may call tools: ``models/scripted_chat.py``)."""
        return scripted_chat(self.rules, self.default, self.rule, request, self.name)


SCRIPT_SHAPE = ('{"rules": [{"match": REGEX, "answer": TEXT}, ...], "default": TEXT}, at least one of the two; '
                'for chat a rule may call tools with "tool_calls": [{"name": N, "arguments": {...}}]')


def bad_script(path: str | Path, reason: str) -> EffectProviderError:
    """The error for a script file that is not a script: the reason, and what a script holds."""
    return EffectProviderError(f"bad LLM script {path}: {reason} (expected {SCRIPT_SHAPE})")


def _script_content(path: str | Path, data: Any) -> tuple[list[tuple[str, str | None, list[dict[str, Any]]]],
                                                         str | None]:
    """The rules and default of a decoded script file; an EffectProviderError naming what is wrong."""
    if not isinstance(data, dict):
        raise bad_script(path, f"it is a JSON {type(data).__name__}, not an object")
    unknown = sorted(set(data) - {"rules", "default"})
    if unknown:
        raise bad_script(path, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
    rules, default = data.get("rules", []), data.get("default")
    if not isinstance(rules, list):
        raise bad_script(path, '"rules" is not a list')
    for n, rule in enumerate(rules, 1):
        _check_rule(path, n, rule)
        try:
            re.compile(rule["match"])
        except re.error as e:
            raise bad_script(path, f"rule {n}: {rule['match']!r} is not a regular expression ({e})") from None
    if default is not None and not isinstance(default, str):
        raise bad_script(path, '"default" is not a string')
    if not rules and default is None:
        raise bad_script(path, "it has no rules and no default")
    return [(r["match"], r.get("answer"), r.get("tool_calls", [])) for r in rules], default


def _check_rule(path: str | Path, n: int, rule: Any) -> None:
    """A rule is ``{"match": REGEX}`` with an ``"answer"`` text, ``"tool_calls"`` or both."""
    if not (isinstance(rule, dict) and "match" in rule and set(rule) <= {"match", "answer", "tool_calls"}
            and ("answer" in rule or "tool_calls" in rule) and isinstance(rule["match"], str)
            and isinstance(rule.get("answer", ""), str)):
        raise bad_script(path, f'rule {n} is not {{"match": REGEX, "answer": TEXT}} (both strings), '
                               'with or without "tool_calls"')
    calls = rule.get("tool_calls", [])
    if not (isinstance(calls, list) and all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                            and isinstance(c.get("arguments", {}), dict) for c in calls)):
        raise bad_script(path, f'rule {n}: "tool_calls" is not a list of {{"name": TEXT, "arguments": OBJECT}}')


class OpenAICompatibleLLM:
    """POSTs ``{"model", "messages"}`` to ``<base>/chat/completions``; the answer is the first choice's content.

    ``api_key`` is sent as a Bearer token; credentials in ``base_url`` (``https://user:key@host/v1``)
    are sent as HTTP Basic authentication when there is no ``api_key`` (urllib would take them for
    part of the host name).  Both are :attr:`secrets`, masked in everything the provider reports.
    """

    def __init__(self, base_url: str, api_key: str | None = None, model: str | None = None,
                 timeout: float = 60.0, secrets: Secrets | None = None, retry_policy: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_policy = retry_policy or RetryPolicy()
        self.chat_provider: ChatProvider | None = None
        self.api_key = api_key
        self.model = model
        self.timeout = timeout
        self.secrets = secrets if secrets is not None else Secrets()
        if api_key and len(api_key) >= MIN_SECRET_LENGTH:  # (a placeholder key such as "x" protects nothing)
            self.secrets.add(ENV_API_KEY, api_key)
        self.secrets.add_url(f"{ENV_BASE_URL} password", self.base_url)
        self._url, self._authorization = self._endpoint()
        if self._authorization and self._authorization.startswith("Basic "):  # the URL's credentials, encoded
            self.secrets.add(f"{ENV_BASE_URL} password", self._authorization[len("Basic "):])

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None,
                         secrets: Secrets | None = None) -> OpenAICompatibleLLM:
        env = Settings.from_environment().llm if env is None else env
        base = env.get(ENV_BASE_URL)
        if not base:
            raise EffectProviderError(f"{ENV_PROVIDER}=openai needs {ENV_BASE_URL} (e.g. https://api.openai.com/v1)")
        return cls(parse_base_url(base), env.get(ENV_API_KEY), env.get(ENV_MODEL), parse_timeout(env.get(ENV_TIMEOUT)),
                   secrets, RetryPolicy.from_settings(env))

    def complete(self, prompt: str, options: Mapping[str, Any]) -> str:
        import urllib.error  # here: urllib.request (http, ssl, email) costs every tape command ~10 ms
        import urllib.request

        model = options.get("model", self.model)
        if not model:
            raise LLMCallFailed(f"no model: pass :model or set {ENV_MODEL}")
        messages = []
        if options.get("system"):
            messages.append({"role": "system", "content": str(options["system"])})
        messages.append({"role": "user", "content": prompt})
        body: dict[str, Any] = {"model": model, "messages": messages}
        for name in ("temperature", "max_tokens", "seed"):
            if name in options:
                body[name] = options[name]
        authorization = self._authorization
        request = urllib.request.Request(
            self._url, data=orjson.dumps(body), method="POST",
            headers={"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = orjson.loads(response.read())
        except urllib.error.HTTPError as e:
            raise self._failed(f"HTTP {e.code} from", e.read(64 * 1024).decode(errors="replace")) from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise self._failed("cannot reach", str(e)) from None
        try:
            return str(data["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise self._failed("unexpected answer from", str(data)) from None

    def chat(self, request: ChatRequest) -> ChatAnswer:
        """``chat`` through the official SDK (the ``openai`` extra), with recorded retries."""
        if self.chat_provider is None:
            basic = self._authorization if self._authorization and self._authorization.startswith("Basic ") else None
            self.chat_provider = openai_chat(self._url.removesuffix("/chat/completions"), self.api_key, self.model,
                                             self.timeout, self.secrets, self.retry_policy, basic)
        self.chat_provider.secrets = self.secrets  # type: ignore[attr-defined]  # (the session may have merged them)
        return self.chat_provider.chat(request)

    def _endpoint(self) -> tuple[str, str | None]:
        """The URL to post to (without credentials) and the Authorization header (None: none)."""
        from urllib.parse import unquote, urlsplit

        url = f"{self.base_url}/chat/completions"
        authorization = f"Bearer {self.api_key}" if self.api_key else None
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url, authorization
        userinfo, _, host = parts.netloc.rpartition("@")
        if authorization is None:
            user, _, password = userinfo.partition(":")
            pair = f"{unquote(user)}:{unquote(password)}".encode()
            authorization = f"Basic {base64.b64encode(pair).decode()}"
        return parts._replace(netloc=host).geturl(), authorization

    def _failed(self, what: str, detail: str) -> LLMCallFailed:
        """The failure as the program sees it: ``what`` the URL, then the server's (or urllib's) text, on
        one line, masked before it is cut (see the module docstring)."""
        text = shortened(" ".join(self.secrets.mask(detail).split()), SHOWN_CHARS)
        return LLMCallFailed(f"{what} {self.secrets.mask(self.base_url)}: {text}")


def parse_base_url(value: str) -> str:
    """``TAPE_LLM_BASE_URL`` when it is an http:// or https:// URL with a host, else an EffectProviderError.

    Checked when the provider is made, so the error names the variable: ``notaurl`` and
    ``file:///...`` reached urllib (an 'unknown url type' per call), ``http://[::1`` was
    recorded as urllib's raw ValueError text.
    """
    from urllib.parse import urlsplit  # here, like urllib.request: only an openai provider pays for it

    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - a port that is not a number (or out of range) raises here
        ok = url.scheme in ("http", "https") and bool(url.hostname)
    except ValueError:
        ok = False
    if not ok:
        shown = Secrets()
        shown.add_url(f"{ENV_BASE_URL} password", value)
        raise EffectProviderError(f"{ENV_BASE_URL}={shown.mask(value)!r}: give an http:// or https:// URL with a "
                                  "host (e.g. https://api.openai.com/v1)")
    return value


def parse_timeout(value: str | None) -> float:
    """``TAPE_LLM_TIMEOUT`` in seconds: the default when unset or empty, else a number in (0, 3600].

    Anything else is an EffectProviderError naming the variable and the range.  Only a non-number
    used to be refused: 0 or less, nan and inf reached urllib, whose errors ('Timeout value out of
    range', an OverflowError from inf) were recorded as the call's failure instead of the setting's.
    """
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_TIMEOUT:  # (nan fails too)
        raise EffectProviderError(
            f"{ENV_TIMEOUT}={value!r}: give a number of seconds more than 0 and at most {MAX_TIMEOUT:,.0f}")
    return seconds


def llm_from_environment(env: Mapping[str, str] | None = None, secrets: Secrets | None = None) -> LLMProvider | None:
    """The provider ``TAPE_LLM`` names, or None when it is unset (``ask`` then fails, catchably).

    ``secrets``: the session's, which an HTTP provider masks its reports with (and adds its own to).
    """
    env = Settings.from_environment().llm if env is None else env
    spec = env.get(ENV_PROVIDER, "")
    if not spec:
        return None
    if spec == "echo":
        return ScriptedLLM(name="echo")
    if spec.startswith("script:"):
        return ScriptedLLM.from_file(spec[len("script:"):])
    if spec == "openai":
        return OpenAICompatibleLLM.from_environment(env, secrets)
    if spec == "anthropic":
        return anthropic_from_environment(env, secrets)
    raise EffectProviderError(f"unknown {ENV_PROVIDER}={spec!r}: use 'script:PATH', 'echo', 'openai' or 'anthropic'")


def anthropic_from_environment(env: Mapping[str, str], secrets: Secrets | None = None) -> LLMProvider:
    """``TAPE_LLM=anthropic``: the messages API at ``TAPE_LLM_BASE_URL`` (default: Anthropic's) with
    ``TAPE_LLM_API_KEY``, ``TAPE_LLM_MODEL``, ``TAPE_LLM_TIMEOUT`` and the retry settings."""
    secrets = secrets if secrets is not None else Secrets()
    base = env.get(ENV_BASE_URL)
    if base:
        secrets.add_url(f"{ENV_BASE_URL} password", parse_base_url(base))
    key = env.get(ENV_API_KEY)
    if key and len(key) >= MIN_SECRET_LENGTH:
        secrets.add(ENV_API_KEY, key)
    provider = anthropic_chat(base or None, key, env.get(ENV_MODEL), parse_timeout(env.get(ENV_TIMEOUT)), secrets,
                              RetryPolicy.from_settings(env))
    return provider  # type: ignore[return-value]  # AnthropicChat has complete() too
