"""The OpenAI-compatible endpoint (``/v1/...``): see llm_routing/gateway/app.py."""
