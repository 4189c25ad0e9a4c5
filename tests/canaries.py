"""The one set of canary key factories for every test that looks for a leaked key.

A canary is a random, well-formed key made at run time (never committed): finding it, or
any 12-character slice of it, anywhere it must not be is proof of a leak. There is one
factory per provider shape, including an operator-added provider with an odd key shape
(``ODD_PROVIDER``, for ``settings.LLM_EXTRA_PROVIDERS``).
"""

from __future__ import annotations

import secrets
import string

_ALNUM = string.ascii_letters + string.digits

# An extra provider whose keys share no shape with the built-in ones: punctuation inside,
# no known prefix. Tests add it with ``odd_provider_spec(base_url)``.
ODD_PROVIDER = "oddai"
ODD_KEY_PATTERN = r"ok![A-Z]{6}\*[0-9a-f]{12}~[A-Za-z0-9]{10}"


def odd_provider_spec(base_url: str) -> dict:
    return {
        "name": ODD_PROVIDER,
        "label": "Odd AI",
        "base_url": base_url,
        "default_model": "odd-model",
        "key_pattern": ODD_KEY_PATTERN,
    }


def _pick(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def canary_key(provider: str) -> str:
    """A random key of ``provider``'s real shape (LLM7's and unknown providers': 40
    letters and digits)."""
    if provider == "groq":
        return "gsk_" + _pick(_ALNUM, 52)
    if provider == "openrouter":
        return "sk-or-v1-" + secrets.token_hex(32)
    if provider == ODD_PROVIDER:
        return (
            f"ok!{_pick(string.ascii_uppercase, 6)}*{secrets.token_hex(6)}~{_pick(_ALNUM, 10)}"
        )
    return _pick(_ALNUM, 40)


def canary_keys(*providers: str) -> dict[str, str]:
    """provider -> canary key, for the built-in providers unless others are named."""
    return {p: canary_key(p) for p in providers or ("groq", "openrouter", "llm7")}


def key_traces(key: str) -> list[str]:
    """The key and every 12-character slice of it: none may appear where keys must not."""
    return [key] + [key[i : i + 12] for i in range(0, len(key) - 11)]


def assert_no_trace(text: str, keys) -> None:
    for key in keys:
        for trace in key_traces(key):
            assert trace not in text, "a provider key (or a slice of it) leaked"
