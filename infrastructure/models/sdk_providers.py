"""The SDK-backed providers, made on demand: the one place the ``openai`` and ``anthropic`` extras are imported.

Importing an SDK costs a command hundreds of milliseconds and the extras are
optional, so :mod:`.openai_chat` and :mod:`.anthropic_chat` (which import
them at their top) are imported here, inside the functions, when a provider
is first made.  A missing extra is an EffectProviderError naming the extra to
install, which the program sees as ``effect-unavailable``, like a provider
that is not configured.
"""

from __future__ import annotations

from tapevm.domain.errors import EffectProviderError
from tapevm.domain.secrets import Secrets
from tapevm.infrastructure.models.chat import ChatProvider
from tapevm.infrastructure.models.retries import RetryPolicy


def _missing(extra: str, error: ImportError) -> EffectProviderError:
    return EffectProviderError(f"the {extra} provider needs the {extra!r} extra ({error.name} is not installed): "
                               f"pip install 'tapevm[{extra}]'")


def openai_chat(base_url: str, api_key: str | None, model: str | None, timeout: float, secrets: Secrets,
                policy: RetryPolicy, authorization: str | None = None) -> ChatProvider:
    """A chat provider for an OpenAI-compatible ``base_url`` (without credentials in it)."""
    try:
        from tapevm.infrastructure.models.openai_chat import OpenAIChat
    except ImportError as e:
        raise _missing("openai", e) from None
    return OpenAIChat(base_url, api_key, model, timeout, secrets, policy, authorization)


def anthropic_chat(base_url: str | None, api_key: str | None, model: str | None, timeout: float, secrets: Secrets,
                   policy: RetryPolicy) -> ChatProvider:
    """A chat provider for Anthropic's messages API (``base_url`` None: the SDK's default)."""
    try:
        from tapevm.infrastructure.models.anthropic_chat import AnthropicChat
    except ImportError as e:
        raise _missing("anthropic", e) from None
    return AnthropicChat(base_url, api_key, model, timeout, secrets, policy)
