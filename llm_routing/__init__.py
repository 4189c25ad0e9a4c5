"""Talk to LLMs on behalf of a tenant: ``complete``, ``acomplete``, ``stream``, ``astream``,
``RoutingError``, ``StreamError`` and ``BudgetExceeded``.

The names resolve lazily so that ``llm_routing.providers`` (imported by ``tenants``) can
load without pulling the router, and with it the tenant models, into app loading.
"""

_EXPORTS = {
    "complete": "llm_routing.router",
    "acomplete": "llm_routing.router",
    "RoutingError": "llm_routing.router",
    "StreamError": "llm_routing.router",
    "BudgetExceeded": "llm_routing.router",
    "stream": "llm_routing.streaming",
    "astream": "llm_routing.streaming",
    "Chunk": "llm_routing.sse",
    "RoutingResult": "llm_routing.router",
    "Attempt": "llm_routing.router",
    "KeyTestResult": "llm_routing.keycheck",
    "test_key": "llm_routing.keycheck",
    "test_stored_key": "llm_routing.keycheck",
    "available_models": "llm_routing.model_lists",
    "provider_status": "llm_routing.status",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'llm_routing' has no attribute {name!r}")
