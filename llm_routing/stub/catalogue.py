"""The models each stubbed provider lists, in that provider's own response shape, built
from the shipped catalogue (``llm_routing.catalogue``)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from llm_routing import catalogue


def _per_token(price_per_m: float | None) -> str:
    return format(Decimal(str(price_per_m or 0)) / 1_000_000, "f")


def price_per_token(provider: str, model: str) -> tuple[float, float]:
    entry = catalogue.lookup(provider, model) or {}
    return (
        float(_per_token(entry.get("price_in_per_m", 1.0))),
        float(_per_token(entry.get("price_out_per_m", 2.0))),
    )


def models_body(provider: str) -> Any:
    rows = catalogue.entries(provider) or catalogue.entries("llm7")
    created = int(time.time()) - 86400
    if provider == "groq":
        return {
            "object": "list",
            "data": [
                {
                    "id": m["id"],
                    "object": "model",
                    "created": created,
                    "owned_by": "stub",
                    "active": True,
                    "context_window": m["context_length"],
                    "public_apps": None,
                    "max_completion_tokens": m["max_output"],
                }
                for m in rows
            ],
        }
    if provider == "openrouter":
        return {
            "data": [
                {
                    "id": m["id"],
                    "canonical_slug": m["id"],
                    "name": m["id"].split("/")[-1],
                    "context_length": m["context_length"],
                    "pricing": {
                        "prompt": _per_token(m["price_in_per_m"]),
                        "completion": _per_token(m["price_out_per_m"]),
                        "request": "0",
                        "image": "0",
                    },
                    "top_provider": {
                        "context_length": m["context_length"],
                        "max_completion_tokens": m["max_output"],
                        "is_moderated": False,
                    },
                    "supported_parameters": ["max_tokens", "temperature", "top_p"],
                }
                for m in rows
            ]
        }
    # LLM7 (and any other provider): a bare array.
    return [{"id": m["id"], "object": "model", "context_length": m["context_length"]} for m in rows]
