"""Talk to LLMs on behalf of a tenant: ``complete``, ``acomplete`` and ``RoutingError``.

The names resolve lazily so that ``llm_routing.providers`` (imported by ``tenants``) can
load without pulling the router, and with it the tenant models, into app loading.
"""

__all__ = ["complete", "acomplete", "RoutingError", "RoutingResult", "Attempt"]


def __getattr__(name: str):
    if name in __all__:
        from llm_routing import router

        return getattr(router, name)
    raise AttributeError(f"module 'llm_routing' has no attribute {name!r}")
