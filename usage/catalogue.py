"""The shipped price catalogue: list prices for the default models, as published on the
providers' pricing pages when this catalogue was compiled (CATALOGUE_DATE).

Migration 0003 loads a frozen copy into the Price table; operators change prices in the
admin afterwards (add a row with a later ``effective_from``; old requests keep old prices).
USD per million tokens, (input, output).
"""

CATALOGUE_DATE = "2025-06-01"
CATALOGUE_SOURCE = f"shipped catalogue {CATALOGUE_DATE}"

PRICES = {
    "groq": {
        "llama-3.3-70b-versatile": ("0.59", "0.79"),
        "llama-3.1-8b-instant": ("0.05", "0.08"),
        "openai/gpt-oss-120b": ("0.15", "0.75"),
        "openai/gpt-oss-20b": ("0.10", "0.50"),
        "qwen/qwen3-32b": ("0.29", "0.59"),
        "meta-llama/llama-4-scout-17b-16e-instruct": ("0.11", "0.34"),
    },
    "openrouter": {
        "deepseek/deepseek-r1": ("0.55", "2.19"),
        "deepseek/deepseek-chat-v3-0324": ("0.27", "1.10"),
        "openai/gpt-4o-mini": ("0.15", "0.60"),
        "meta-llama/llama-3.3-70b-instruct": ("0.13", "0.40"),
        "anthropic/claude-3.5-haiku": ("0.80", "4.00"),
        "deepseek/deepseek-r1:free": ("0", "0"),
    },
    "llm7": {
        "gpt-4o-mini": ("0.15", "0.60"),
        "deepseek-r1": ("0.55", "2.19"),
        "mistral-small-3.1-24b-instruct-2503": ("0.10", "0.30"),
        "qwen2.5-coder-32b-instruct": ("0.06", "0.15"),
    },
}
