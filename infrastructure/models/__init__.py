"""Language-model calls as agents make them: ``(chat ...)``'s request and answer, retries, providers.

Holds the provider-neutral chat request and answer (and their Lisp form), the
retry loop whose attempts are recorded with the answer, and the providers
that speak the OpenAI chat-completions and Anthropic messages APIs through
their official SDKs (the optional extras ``openai`` and ``anthropic``).

May import ``domain``, ``vm``, ``infrastructure.config``, ``infrastructure.logs``
and ``infrastructure.tools`` (a tool's declared schema for ``:tools``); the
SDK-backed modules are imported lazily in one place (``sdk_providers``), so a
session without the extras never pays for them.
"""
