"""The shipped model catalogue: what the router knows about each provider's models when the
provider cannot be asked (out of reach, or no key to ask with).

Context length, maximum output and a speed class live here; prices come from the usage
ledger's shipped price catalogue so that one table holds them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from usage import catalogue as price_catalogue

AS_OF = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)

# provider -> [(model id, context length, max output tokens, speed class)]
MODELS: dict[str, list[tuple[str, int, int, str]]] = {
    "groq": [
        ("llama-3.3-70b-versatile", 131_072, 32_768, "fast"),
        ("llama-3.1-8b-instant", 131_072, 131_072, "fastest"),
        ("openai/gpt-oss-120b", 131_072, 65_536, "fast"),
        ("openai/gpt-oss-20b", 131_072, 65_536, "fastest"),
        ("qwen/qwen3-32b", 131_072, 40_960, "fast"),
        ("meta-llama/llama-4-scout-17b-16e-instruct", 131_072, 8_192, "fast"),
    ],
    "openrouter": [
        ("deepseek/deepseek-r1", 163_840, 163_840, "slow"),
        ("deepseek/deepseek-chat-v3-0324", 163_840, 163_840, "medium"),
        ("openai/gpt-4o-mini", 128_000, 16_384, "medium"),
        ("meta-llama/llama-3.3-70b-instruct", 131_072, 16_384, "medium"),
        ("anthropic/claude-3.5-haiku", 200_000, 8_192, "medium"),
        ("deepseek/deepseek-r1:free", 163_840, 163_840, "slow"),
    ],
    "llm7": [
        ("gpt-4o-mini", 128_000, 16_384, "medium"),
        ("deepseek-r1", 64_000, 8_192, "slow"),
        ("mistral-small-3.1-24b-instruct-2503", 32_768, 8_192, "medium"),
        ("qwen2.5-coder-32b-instruct", 32_768, 8_192, "medium"),
    ],
}


def _price(provider: str, model: str, index: int) -> float | None:
    pair = price_catalogue.PRICES.get(provider, {}).get(model)
    return float(pair[index]) if pair else None


def entries(provider: str) -> list[dict[str, Any]]:
    """The catalogue's models for ``provider`` in the public model-list shape."""
    return [
        {
            "id": model,
            "context_length": context,
            "max_output": max_output,
            "price_in_per_m": _price(provider, model, 0),
            "price_out_per_m": _price(provider, model, 1),
            "speed": speed,
        }
        for model, context, max_output, speed in MODELS.get(provider, [])
    ]


def lookup(provider: str, model: str) -> dict[str, Any] | None:
    return next((e for e in entries(provider) if e["id"] == model), None)


_MAX_OUTPUT = {
    (provider, model): max_output
    for provider, rows in MODELS.items()
    for model, _, max_output, _ in rows
}


def max_output(provider: str, model: str) -> int | None:
    """The model's maximum output tokens, when the catalogue knows the model."""
    return _MAX_OUTPUT.get((provider, model))
