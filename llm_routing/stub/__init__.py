"""A loopback OpenAI-compatible provider for tests and the demo (see ``server.py``)."""

from llm_routing.stub.server import Behaviour, StubProvider

__all__ = ["Behaviour", "StubProvider"]
